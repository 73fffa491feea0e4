"""Read the compacted benchmarks topic back: the latest figure set of every scope."""

from __future__ import annotations

from collections.abc import Mapping

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.benchmarks import BenchmarkUpdated
from services.runtime.clients import connected


def latest_benchmarks(
    broker_url: str,
    topic: str,
    timeout: float = 60.0,
    until: Mapping[int, int] | None = None,
) -> dict[str, BenchmarkUpdated]:
    """Scope key → highest version on the topic, read from the start to the current end of
    every partition (what a new reader of the compacted topic would rebuild). With `until`
    (partition → last offset, as a snapshot records its position) only up to and including
    those offsets; partitions not named are not read. A record that is not a valid
    `BenchmarkUpdated` is passed over, as the materialiser passes it over (and dead-letters
    it): the result is what SQL holds."""
    consumer = connected(
        KafkaConsumer,
        broker_url,
        enable_auto_commit=False,
        group_id=None,
        client_id="meetlat-benchmarks-reader",
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
        latest: dict[str, BenchmarkUpdated] = {}
        remaining = {tp for tp in partitions if end[tp] > 0 and (limit is None or limit[tp] > 0)}
        polls = 0
        while remaining:
            batches = consumer.poll(timeout_ms=500)
            polls += 1
            if not batches and polls * 0.5 > timeout:
                raise TimeoutError(f"{topic}: could not read up to {end}")
            for tp, records in batches.items():
                for record in records:
                    if limit is not None and record.offset >= limit[tp]:
                        continue
                    try:
                        update = BenchmarkUpdated.model_validate_json(record.value)
                    except ValidationError:
                        continue
                    held = latest.get(update.scope_key)
                    if held is None or update.version > held.version:
                        latest[update.scope_key] = update
                position = consumer.position(tp)
                if position >= end[tp] or (limit is not None and position >= limit[tp]):
                    remaining.discard(tp)
        return latest
    finally:
        consumer.close()
