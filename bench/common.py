"""What the benchmarks share: the bare faust agent every throughput ratio is measured against,
and loading events onto a topic of the broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust

from schemas.events import EVENT_ADAPTER, Event
from services.ingest.publisher import KafkaPublisher
from services.runtime.app import faust_settings
from services.runtime.settings import Settings
from services.runtime.topics import TopicSpec, ensure_topics
from services.runtime.worker import faust_worker, tune_collector


def load_topic(broker_url: str, topic: str, partitions: int, events: Iterable[Event]) -> None:
    """Create `topic` and publish the events onto it, keyed by contact (as ingest does)."""
    ensure_topics(broker_url, [TopicSpec(topic, partitions)])
    publisher = KafkaPublisher(broker_url)
    for event in events:
        publisher.send(topic, event.contact_id.encode(), EVENT_ADAPTER.dump_json(event))
    publisher.close()


def cpu_seconds_of(pids: Sequence[int]) -> float:
    """User and system CPU seconds the processes have used so far (Linux /proc); a process
    that has ended counts nothing."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@dataclass(frozen=True)
class Consumed:
    """How fast an agent consumed `events`: wall-clock events/s from the first event seen to
    the last, and this process's CPU time per event over the same span (all its threads; a
    figure a busy neighbour on a shared machine disturbs less than wall-clock time)."""

    events: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.events * 1e6


async def until(count: Any, total: int, timeout: float = 900) -> Consumed:
    """Wait until count() reaches total, measuring from the first event counted."""
    deadline = time.perf_counter() + timeout
    first: tuple[float, float, int] | None = None
    while time.perf_counter() < deadline:
        seen = count()
        now, cpu = time.perf_counter(), time.process_time()
        if seen and first is None:
            first = (now, cpu, seen)
        if seen >= total:
            start, start_cpu, before = first or (now, cpu, seen)
            # what was counted at the first look is not part of the span (nor of its CPU)
            if seen <= before:
                raise RuntimeError(f"all {seen} events were consumed at once: use more events")
            return Consumed(seen - before, now - start, cpu - start_cpu)
        await asyncio.sleep(0.005)
    raise TimeoutError(f"only {count()} of {total} events consumed")


def raw_app(name: str, settings: Settings, broker_url: str, topic: str) -> tuple[faust.App, Any]:
    """A faust app of the benchmark's settings and its source topic, taken as raw bytes."""
    app = faust.App(name, **faust_settings(settings, broker_url))
    source = app.topic(
        topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    return app, source


async def bare_agent(settings: Settings, broker_url: str, topic: str, total: int) -> Consumed:
    """How fast a faust agent that only counts the `total` events on `topic` consumes them."""
    app, source = raw_app(f"bench-bare-{uuid.uuid4().hex[:6]}", settings, broker_url, topic)
    seen = [0]

    @app.agent(source)
    async def count(stream: Any) -> None:
        async for _ in stream.events():
            seen[0] += 1

    worker = faust_worker(app, settings, daemon=False, loop=asyncio.get_running_loop())
    tune_collector()  # as running_pipeline does for the real agents
    await worker.start()
    try:
        return await until(lambda: seen[0], total)
    finally:
        await worker.stop()
