"""Faust's aiokafka transport with a short consumer fetch wait, for the embedded broker.

faust-streaming creates its consumer with `fetch_max_wait_ms=1500` and no setting to change
it. Kafka answers a waiting fetch as soon as data arrives, so the wait costs nothing there;
the embedded Tansu broker held such fetches for about 450 ms (measured with four partitions),
so every hop of the pipeline (observations → scores → benchmarks) added that much latency. This
transport ("tansu://" URLs, registered as a `faust.transports` entry point) asks for at most
`FETCH_MAX_WAIT_MS` instead; a production Kafka keeps faust's own transport ("kafka://").
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as driver

FETCH_MAX_WAIT_MS = 20
SCHEME = "tansu"


class ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when the consumer starts and hands it to its fetcher
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    Consumer = Consumer


def faust_broker_url(broker_url: str, embedded: bool) -> str:
    """The broker URL faust gets: the embedded broker through this transport."""
    if not embedded:
        return broker_url
    return f"{SCHEME}://{broker_url.split('://', 1)[-1]}"
