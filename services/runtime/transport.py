"""Faust's aiokafka transport with a short consumer fetch wait, for the embedded broker.

faust-streaming creates its consumer with `fetch_max_wait_ms=1500` and no setting to change
it. Kafka answers a waiting fetch as soon as data arrives, so the wait costs nothing there;
the embedded Tansu broker held such fetches for about 450 ms (measured with four partitions),
so every hop of the pipeline (observations → scores → benchmarks) added that much latency. This
transport ("tansu://" URLs, registered as a `faust.transports` entry point) asks for at most
`FETCH_MAX_WAIT_MS` instead; a production Kafka keeps faust's own transport ("kafka://").

Tansu also answers ListOffsets(latest) with the base offset of a partition's last record batch
plus one, not with the offset after its last record: five records produced as one batch end
"at 1". faust recovers a table by reading its changelog up to that offset, so it missed the
changelog's last batch (the scorer's bulk writes are one batch per partition) and workers
resumed from stale or missing state. This transport takes the high watermark of a fetch
instead, which Tansu reports correctly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

FETCH_MAX_WAIT_MS = 20
SCHEME = "tansu"


class ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when the consumer starts and hands it to its fetcher
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        consumer = self._ensure_consumer()
        listed = await consumer.end_offsets(partitions)
        return await fetched_highwaters(consumer._client._bootstrap_servers, listed)


async def fetched_highwaters(bootstrap: Any, listed: Mapping[Any, int]) -> dict[Any, int]:
    """The offset after each partition's last record: the high watermark of a fetch from its
    last batch (found from Tansu's ListOffsets answer, see the module doc). `listed` is keyed
    by any (topic, partition) pair — faust's, aiokafka's or kafka-python's; so is the result."""
    out = dict(listed)
    todo = {
        aiokafka.TopicPartition(tp.topic, tp.partition): (tp, offset)
        for tp, offset in listed.items()
        if offset > 0
    }
    if not todo:
        return out
    reader = aiokafka.AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        reader.assign(list(todo))
        for tp, (_, offset) in todo.items():
            reader.seek(tp, offset - 1)  # the last batch's base offset
        deadline = asyncio.get_running_loop().time() + 30
        while todo:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no high watermark fetched for {sorted(todo)}")
            await reader.getmany(*todo, timeout_ms=200)
            for tp, (key, offset) in list(todo.items()):
                highwater = reader.highwater(tp)
                if highwater is not None:
                    out[key] = max(highwater, offset)
                    del todo[tp]
    finally:
        await reader.stop()
    return out


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    Consumer = Consumer


def faust_broker_url(broker_url: str, tansu: bool) -> str:
    """The broker URL faust gets: a Tansu broker through this transport."""
    if not tansu:
        return broker_url
    return f"{SCHEME}://{broker_url.split('://', 1)[-1]}"
