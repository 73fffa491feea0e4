"""kafka-python clients that wait for a broker a set time, and leave nothing running when
none answers; and a reader of a whole topic (`read_to_end`).

kafka-python 3.0.12 connects in the constructor (trying again until `bootstrap_timeout_ms`,
30 s by default). When no broker answers, the constructor raises but leaves the client's IO
thread running: a caller that tries again (the HTTP intake on every request, a worker waiting
for its broker) would gather one thread per attempt. `connected` hands kafka-python a factory
for its network client and closes what that made when the constructor fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.net.compat import KafkaNetClient

from services.runtime.settings import bootstrap_servers

Client = TypeVar("Client")


def connected(
    client: Callable[..., Client], broker_url: str, timeout_s: float = 30.0, **config: Any
) -> Client:
    """`client` (KafkaProducer, KafkaConsumer, KafkaAdminClient) made with `config` and
    connected to `broker_url`; raises kafka-python's KafkaTimeoutError ("Unable to
    bootstrap") when no broker answered within `timeout_s`."""
    made: list[KafkaNetClient] = []

    def network_client(**network_config: Any) -> KafkaNetClient:
        made.append(KafkaNetClient(**network_config))
        return made[-1]

    try:
        return client(
            bootstrap_servers=bootstrap_servers(broker_url),
            bootstrap_timeout_ms=max(1, int(timeout_s * 1000)),
            kafka_client=network_client,
            **config,
        )
    except BaseException:
        for network in made:
            network.close()
        raise


def read_to_end(
    broker_url: str,
    topic: str,
    client_id: str,
    until: Mapping[int, int] | None = None,
    timeout: float = 60.0,
    connect_timeout_s: float = 30.0,
) -> Iterator[ConsumerRecord]:
    """Every record of `topic`, from the start of each partition to its end as it was when
    reading began (what a new reader of the topic would see), in offset order within
    each partition. With `until` (partition → last offset) only up to and including those
    offsets, and only the partitions it names. Raises TimeoutError when the records stop
    coming for `timeout` seconds before the end, kafka-python's KafkaTimeoutError when no
    broker answers within `connect_timeout_s`."""
    consumer = connected(
        KafkaConsumer,
        broker_url,
        connect_timeout_s,
        enable_auto_commit=False,
        group_id=None,
        client_id=client_id,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        # records at or past `limit` are not read; the end offsets only say when to stop
        # (the embedded broker's end offsets do not always match its record offsets)
        limit = None
        if until is not None:
            limit = {tp: until.get(tp.partition, -1) + 1 for tp in partitions}
        remaining = {tp for tp in partitions if end[tp] > 0 and (limit is None or limit[tp] > 0)}
        idle = 0
        while remaining:
            batches = consumer.poll(timeout_ms=500)
            idle = 0 if batches else idle + 1
            if idle * 0.5 > timeout:
                raise TimeoutError(f"{topic}: could not read up to {end}")
            for tp, records in batches.items():
                for record in records:
                    if limit is None or record.offset < limit[tp]:
                        yield record
                position = consumer.position(tp)
                if position >= end[tp] or (limit is not None and position >= limit[tp]):
                    remaining.discard(tp)
    finally:
        consumer.close()
