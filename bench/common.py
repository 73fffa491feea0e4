"""What the benchmarks share: the bare faust agent every throughput ratio is measured against,
and loading events onto a topic of the broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from typing import Any

import faust

from schemas.events import EVENT_ADAPTER, Event
from services.ingest.publisher import KafkaPublisher
from services.runtime.app import faust_settings
from services.runtime.settings import Settings
from services.runtime.topics import TopicSpec, ensure_topics
from services.runtime.worker import tune_collector


def load_topic(broker_url: str, topic: str, partitions: int, events: Iterable[Event]) -> None:
    """Create `topic` and publish the events onto it, keyed by contact (as ingest does)."""
    ensure_topics(broker_url, [TopicSpec(topic, partitions)])
    publisher = KafkaPublisher(broker_url)
    for event in events:
        publisher.send(topic, event.contact_id.encode(), EVENT_ADAPTER.dump_json(event))
    publisher.close()


async def until(count: Any, total: int, timeout: float = 900) -> tuple[float, float]:
    """Wait until count() reaches total; returns (time of the first event, time of the last)."""
    deadline = time.perf_counter() + timeout
    first = None
    while time.perf_counter() < deadline:
        seen = count()
        now = time.perf_counter()
        if seen and first is None:
            first = now
        if seen >= total:
            return first or now, now
        await asyncio.sleep(0.005)
    raise TimeoutError(f"only {count()} of {total} events consumed")


async def bare_agent(settings: Settings, broker_url: str, topic: str, total: int) -> float:
    """Events/s of a faust agent that only counts the `total` events on `topic`."""
    conf = faust_settings(settings, broker_url)
    app = faust.App(f"bench-bare-{uuid.uuid4().hex[:6]}", **conf)
    source = app.topic(
        topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    seen = [0]

    @app.agent(source)
    async def count(stream: Any) -> None:
        async for _ in stream.events():
            seen[0] += 1

    worker = faust.Worker(
        app, loglevel="warn", quiet=True, daemon=False, loop=asyncio.get_running_loop()
    )
    worker.spinner = None
    tune_collector()  # as running_pipeline does for the real agents
    await worker.start()
    try:
        first, last = await until(lambda: seen[0], total)
    finally:
        await worker.stop()
    return total / (last - first)
