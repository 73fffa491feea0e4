"""What the pipeline's topology costs alone: agents that forward every event and do nothing else.

DESIGN.md fixes the services an event passes: ingest → observations → scoring → scores →
aggregation → benchmarks → reporting (this pipeline adds combining, between aggregation and
reporting, for its two-level Chamber and national figures). Whatever a service does with an
event, consuming it costs at least what the bare agent spends, and sending something on costs
more. A chain of such agents, as many as the services, each in a process of its own as
`meetlat worker` runs them (the last one counts, the others forward each batch unchanged with
the scorer's bulk sends), measures what the hops alone cost on this machine when every event
crosses every hop. It writes no changelog, no SQL and no archive, and decodes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from common import cpu_seconds_of, raw_app, until

from schemas.events import EVENT_ADAPTER, Event
from services.ingest.publisher import KafkaPublisher
from services.runtime.sending import BulkSend
from services.runtime.settings import Settings
from services.runtime.topics import TopicSpec, ensure_topics
from services.runtime.worker import faust_worker, tune_collector

BATCH = 2000
BATCH_SECONDS = 0.04  # as the scorer takes its batches


async def _relay(
    settings: Settings, broker_url: str, source: str, target: str, ready: Any, stop: Any
) -> None:
    app, topic = raw_app(f"bench-relay-{source}", settings, broker_url, source)
    partitions: dict[tuple[str, bytes], int] = {}

    @app.agent(topic)
    async def relay(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=BATCH_SECONDS):
            send = BulkSend(await app.maybe_start_producer(), partitions)
            for event in events:
                key = event.key or b""
                send.add(target, await send.partition(target, key), key, event.value)
            await send.submit()  # faust flushes the producer before it commits the offsets

    worker = faust_worker(app, settings, daemon=False, loop=asyncio.get_running_loop())
    tune_collector()  # as the real workers do
    await worker.start()
    ready.set()
    await asyncio.to_thread(stop.wait)
    await worker.stop()


def relay_process(*args: Any) -> None:
    """A relay hop in a process of its own (a `multiprocessing` target)."""
    asyncio.run(_relay(*args))


def publish(broker_url: str, topic: str, events: list[Event], started: Any) -> None:
    """The load, in a process of its own, as `meetlat ingest` would be (without its archive)."""
    publisher = KafkaPublisher(broker_url)
    values = [(e.contact_id.encode(), EVENT_ADAPTER.dump_json(e)) for e in events]
    started.put(time.monotonic())  # CLOCK_MONOTONIC: the same clock in every process
    for key, value in values:
        publisher.send(topic, key, value)
    publisher.close()


@dataclass(frozen=True)
class Relayed:
    hops: int
    events: int
    seconds: float  # from the first event published to the last one through every hop
    cpu_seconds: float  # of the relay processes and the counting sink, over the same span

    @property
    def rate(self) -> float:
        return self.events / self.seconds


@contextlib.contextmanager
def _relays(
    settings: Settings, broker_url: str, topics: list[str]
) -> Iterator[list[multiprocessing.process.BaseProcess]]:
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    processes = []
    try:
        for source, target in itertools.pairwise(topics):
            ready = context.Event()
            process = context.Process(
                target=relay_process, args=(settings, broker_url, source, target, ready, stop)
            )
            process.start()
            processes.append(process)
            if not ready.wait(120):
                raise RuntimeError(f"the relay from {source} did not start")
        yield processes
    finally:
        stop.set()
        for process in processes:
            process.join(60)
            if process.is_alive():
                process.kill()


async def relay_chain(
    settings: Settings, broker_url: str, events: list[Event], hops: int, warm_up: Event
) -> Relayed:
    """Publish `events` (from a separate process) through `hops` consuming agents: `hops - 1`
    relays, then a counting sink in this process; time them from the first publish to the
    last count."""
    topics = [f"relay{hops}.hop{i}" for i in range(hops)]
    ensure_topics(broker_url, [TopicSpec(t, settings.partitions) for t in topics])
    app, last = raw_app(f"bench-relay-sink-{hops}", settings, broker_url, topics[-1])
    seen = [0]

    @app.agent(last)
    async def count(stream: Any) -> None:
        async for _ in stream.events():
            seen[0] += 1

    context = multiprocessing.get_context("spawn")
    with _relays(settings, broker_url, topics) as relays:
        worker = faust_worker(app, settings, daemon=False, loop=asyncio.get_running_loop())
        tune_collector()
        await worker.start()
        try:
            # every hop consuming (its partitions assigned) before the timed load
            await asyncio.to_thread(publish, broker_url, topics[0], [warm_up], context.Queue())
            deadline = time.monotonic() + 120
            while not seen[0]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the warm-up event did not pass {hops} relays")
                await asyncio.sleep(0.01)
            started_at = context.Queue()
            load = context.Process(target=publish, args=(broker_url, topics[0], events, started_at))
            load.start()
            started = await asyncio.to_thread(started_at.get)
            pids = [p.pid for p in relays if p.pid is not None]
            cpu = cpu_seconds_of(pids) + time.process_time()
            await until(lambda: seen[0] - 1, len(events))
            elapsed = time.monotonic() - started
            cpu = cpu_seconds_of(pids) + time.process_time() - cpu
            await asyncio.to_thread(load.join)
        finally:
            await worker.stop()
    return Relayed(hops, len(events), elapsed, cpu)
