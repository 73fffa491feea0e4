"""Full-pipeline throughput and ingest → SQL latency, in one run on the embedded broker.

    python bench/pipeline.py [--municipalities 342] [--rate 200] [--seconds 30]
                             [--processes per-service|one]

The pipeline runs as `meetlat worker` with one process per service (`--processes
per-service`, MEETLAT_WORKER_PROCESSES; each its own consumer group, as deployed in
production), or with every service in one worker inside this process (`--processes one`).

1. Throughput: a generated campaign (calls, mails, KTO responses) is loaded onto a topic and a
   bare faust agent that only counts the events consumes it; then the whole pipeline (ingest
   with its SQL archive → scorer → aggregators → SQL materialiser, one worker, SQLite) takes
   the same events through `ingest` — from a separate process, as `meetlat ingest` would —
   and we time until every topic is drained and committed (so SQL reflects everything).
   Prints both rates and their ratio (target ≥ 0.75), and the records and bytes the pipeline
   wrote to the broker per ingested event, by topic (changelogs included). Before it, the
   topology alone (`relay.py`): as many agents as the services, each in a process of its own,
   that only forward each event to the next, with the same load; their rate against the bare
   agent's shows how much of the target the hops alone leave.
2. Latency: with the pipeline running, background events of a second wave are ingested at
   `--rate` events/s; twice a second a *probe* — a new assessed call in a campaign of its own
   — is ingested too, and SQL is polled (every 2 ms) until that municipality's benchmark of the
   probe campaign counts the probe's contact. Prints p50/p95/p99/max of
   ingest → visible in SQL (target p99 ≤ 250 ms), and where that time goes: each probe's record
   timestamps on the observations, scores and benchmarks topics split it into ingest (SQL
   archive + publish), scoring, aggregation and materialising (→ SQL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bare_agent, cpu_seconds_of, load_topic
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from relay import relay_chain
from sqlalchemy import select

from schemas.benchmarks import BenchmarkUpdated, scope_key
from schemas.events import EVENT_ADAPTER, CallAssessed, Event
from schemas.reference import ReferenceData
from schemas.scores import ScoreRevision
from services.demo.campaign import CampaignSpec, generate_campaign
from services.ingest.archive import EventArchive
from services.ingest.parsing import Accepted
from services.ingest.publisher import KafkaPublisher
from services.ingest.service import ingest
from services.reporting.store import ScopeState
from services.runtime.broker import EmbeddedBroker
from services.runtime.db import make_engine
from services.runtime.settings import Settings, bootstrap_servers
from services.runtime.topics import Topics
from services.runtime.transport import faust_broker_url
from services.runtime.worker import (
    pipeline_groups,
    running_pipeline,
    settings_environment,
    wait_for_groups,
)

RELAY_HOPS = (
    (3, "DESIGN.md's services: scoring, aggregation, reporting"),
    (4, "this pipeline's: scoring, aggregation, combining, reporting"),
)


def accepted(events: list[Event]) -> list[Accepted]:
    return [Accepted("bench", i, e, EVENT_ADAPTER.dump_json(e)) for i, e in enumerate(events, 1)]


class ProbeWatcher(threading.Thread):
    """Polls SQL for the probe municipality's contact count; records when each count shows."""

    def __init__(self, database_url: str, municipality: str, campaign: str) -> None:
        super().__init__(daemon=True)
        self.engine = make_engine(database_url)
        self.query = select(ScopeState.document).where(
            ScopeState.scope_kind == "municipality",
            ScopeState.scope_id == municipality,
            ScopeState.campaign == campaign,
        )
        self.seen: dict[int, float] = {}  # probe → wall-clock time its contact showed
        self.stop = threading.Event()

    def run(self) -> None:
        shown = 0
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                document = conn.execute(self.query).scalar()
                conn.rollback()  # a fresh snapshot on the next read
                count = int(document["contacts"]) if document else 0
                now = time.time()
                for k in range(shown + 1, count + 1):
                    self.seen[k] = now
                shown = max(shown, count)
                time.sleep(0.002)


def probe(municipality: str, k: int, at: datetime, campaign: str = "bench-probe") -> CallAssessed:
    contact = f"probe-{k}" if campaign == "bench-probe" else f"{campaign}-{k}"
    return CallAssessed(
        event_id=f"{contact}-1",
        contact_id=contact,
        municipality=municipality,
        campaign=campaign,
        wave=1,
        case="standplaatsvergunning",
        occurred_at=at,
        answers={"vriendelijkheid_aanname": "vriendelijk"},
    )


def ingest_all(settings: Settings, broker_url: str, events: list[Event], started: Any) -> None:
    """The throughput phase's load: its own process, as `meetlat ingest FILE` would be."""
    archive = EventArchive(make_engine(settings.sqlalchemy_url))
    publisher = KafkaPublisher(broker_url)
    batch = accepted(events)
    started.put(time.monotonic())  # CLOCK_MONOTONIC: the same clock in every process
    ingest(batch, archive, publisher, Topics.for_settings(settings))
    publisher.close()


def drive(
    settings: Settings,
    broker_url: str,
    background: list[Event],
    probe_municipality: str,
    rate: float,
    seconds: float,
    results: Any,
) -> None:
    """The load: its own process (as `meetlat ingest` would be), so it does not compete with
    the pipeline for the interpreter. Ingests background events at `rate` and a probe twice a
    second; reports (events sent, achieved rate, probe → (sent, visible in SQL), wall-clock
    seconds)."""
    topics = Topics.for_settings(settings)
    archive = EventArchive(make_engine(settings.sqlalchemy_url))
    publisher = KafkaPublisher(broker_url)
    watcher = ProbeWatcher(settings.sqlalchemy_url, probe_municipality, "bench-probe")
    watcher.start()
    sent: dict[int, float] = {}
    start = time.monotonic()
    tick = 0.05  # one archive commit and one flush per tick, as a batching ingest would
    owed = 0.0
    cursor = probes = 0
    at = max(e.occurred_at for e in background)
    while time.monotonic() - start < seconds and cursor < len(background):
        owed += rate * tick
        batch = background[cursor : cursor + int(owed)]
        cursor += len(batch)
        owed -= len(batch)
        if batch:
            ingest(accepted(batch), archive, publisher, topics)
        elapsed = time.monotonic() - start
        if elapsed >= probes * 0.5:
            probes += 1
            at += timedelta(seconds=1)
            sent[probes] = time.time()
            ingest(accepted([probe(probe_municipality, probes, at)]), archive, publisher, topics)
        time.sleep(max(0.0, start + (elapsed // tick + 1) * tick - time.monotonic()))
    achieved = cursor / (time.monotonic() - start)
    deadline = time.monotonic() + 30
    while len(watcher.seen) < probes and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.stop.set()
    publisher.close()
    results.put(
        (cursor, achieved, {k: (sent[k], watcher.seen[k]) for k in sent if k in watcher.seen})
    )


async def latency(
    settings: Settings,
    broker_url: str,
    background: list[Event],
    probe_municipality: str,
    rate: float,
    seconds: float,
) -> dict[int, tuple[float, float]]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(
        target=drive,
        args=(settings, broker_url, background, probe_municipality, rate, seconds, results),
    )
    process.start()
    sent, achieved, probes = await asyncio.to_thread(results.get)
    await asyncio.to_thread(process.join)
    print(
        f"latency phase: {sent:,} background events at {achieved:,.0f}/s from a separate "
        f"process, {len(probes)} probes seen in SQL"
    )
    return probes


def record_times(broker_url: str, topic: str, probe_of: Any) -> dict[int, float]:
    """Probe → timestamp (s) of the first record on `topic` that `probe_of(record)` (a probe
    number or None) recognises; the topic is read from the start to its end."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker_url), enable_auto_commit=False, group_id=None
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        seen: dict[int, float] = {}
        quiet = 0
        while quiet < 3 and any(consumer.position(tp) < end[tp] for tp in partitions):
            batches = consumer.poll(timeout_ms=500)
            quiet = 0 if batches else quiet + 1
            for records in batches.values():
                for record in records:
                    k = probe_of(record)
                    if k is not None and k not in seen:
                        seen[k] = record.timestamp / 1000
        return seen
    finally:
        consumer.close()


def stages(
    broker_url: str, topics: Topics, municipality: str, probes: dict[int, tuple[float, float]]
) -> dict[str, list[float]]:
    """Each stage's share of every probe's latency, in ms (probes seen on every topic)."""

    def observed(record: Any) -> int | None:
        key = (record.key or b"").decode()
        return int(key.removeprefix("probe-")) if key.startswith("probe-") else None

    def scored(record: Any) -> int | None:
        if not record.value.startswith(b"{") or b'"probe-' not in record.value:
            return None
        contact = ScoreRevision.model_validate_json(record.value).contact_id
        return int(contact.removeprefix("probe-")) if contact.startswith("probe-") else None

    probe_scope = scope_key("municipality", municipality, "bench-probe", 1).encode()

    def benchmarked(record: Any) -> int | None:
        if record.key != probe_scope:
            return None
        return BenchmarkUpdated.model_validate_json(record.value).contacts

    times = [
        record_times(broker_url, topics.observations, observed),
        record_times(broker_url, topics.scores, scored),
        record_times(broker_url, topics.benchmarks, benchmarked),
    ]
    names = ["ingest", "scoring", "aggregation", "materialising"]
    out: dict[str, list[float]] = {name: [] for name in names}
    for k, (sent, visible) in probes.items():
        if all(k in t for t in times):
            marks = [sent, *(t[k] for t in times), visible]
            for name, start, stop in zip(names, marks, marks[1:], strict=False):
                out[name].append(1000 * (stop - start))
    return out


def broker_traffic(broker_url: str, topics: list[str]) -> dict[str, tuple[int, int]]:
    """Topic → (records, bytes of their keys and values) on it, read from the start to its end."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers(broker_url),
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    try:
        volume: dict[str, tuple[int, int]] = {}
        for topic in topics:
            numbers = consumer.partitions_for_topic(topic) or ()
            partitions = [TopicPartition(topic, p) for p in numbers]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            end = consumer.end_offsets(partitions)
            count = size = 0
            while any(consumer.position(tp) < end[tp] for tp in partitions):
                for records in consumer.poll(timeout_ms=500).values():
                    count += len(records)
                    size += sum(len(r.key or b"") + len(r.value or b"") for r in records)
            volume[topic] = (count, size)
        return volume
    finally:
        consumer.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class WorkerProcesses:
    """`meetlat worker` with one process per service, on the benchmark's broker and settings:
    its processes' CPU time is read from /proc (Linux)."""

    def __init__(self, settings: Settings, broker_url: str) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("MEETLAT_")}
        environment.update(settings_environment(settings))
        environment.update(
            MEETLAT_BROKER_URL=faust_broker_url(broker_url, tansu=True),
            MEETLAT_WORKER_PROCESSES="per-service",
        )
        self.log_file = settings.data_dir / "worker.log"
        self.log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker"],
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_started(self, timeout: float = 120) -> None:
        """Until the worker has prepared topics and SQL and started its processes."""
        deadline = time.monotonic() + timeout
        while b"one process per service" not in self.log_file.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"meetlat worker did not start: see {self.log_file}")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """User and system CPU of the worker processes (running ones; they outlive the run)."""
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        ).stdout.split()
        return cpu_seconds_of([self.process.pid, *map(int, found)])

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()


def wait_until_answering(settings: Settings, broker_url: str, municipality: str) -> None:
    """Until a warm-up contact has passed every stage: each worker process is consuming."""
    topics = Topics.for_settings(settings)
    archive = EventArchive(make_engine(settings.sqlalchemy_url))
    publisher = KafkaPublisher(broker_url)
    warm_up = probe(municipality, 1, datetime(2020, 1, 1, tzinfo=UTC), "bench-warm-up")
    ingest(accepted([warm_up]), archive, publisher, topics)
    publisher.close()
    engine = make_engine(settings.sqlalchemy_url)
    query = select(ScopeState.scope_id).where(ScopeState.campaign == "bench-warm-up")
    deadline = time.monotonic() + 120
    with engine.connect() as conn:
        while conn.execute(query).first() is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the worker processes did not process a warm-up contact")
            time.sleep(0.1)
            conn.rollback()


async def main(args: argparse.Namespace) -> None:
    reference = ReferenceData.load()
    spec = CampaignSpec(
        municipalities=args.municipalities,
        calls_per_municipality=args.calls,
        mails_per_municipality=args.mails,
        surveys_per_municipality=args.surveys,
    )
    events = generate_campaign(spec, reference)
    later = replace(spec, wave=2, seed=spec.seed + 1, start=spec.start + timedelta(weeks=26))
    background = generate_campaign(later, reference)
    # probes are a campaign of their own, so their scope counts nothing but probes
    probe_municipality = min(reference.municipalities)
    print(
        f"{len(events):,} events ({args.municipalities} municipalities); pipeline: "
        + (
            "one worker process per service"
            if args.processes == "per-service"
            else "every service in one worker process"
        ),
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        settings = Settings(
            data_dir=Path(tmp),
            topic_prefix="bench",
            app_id="bench-pipeline",
            partitions=args.partitions,
            metrics_port=0,
            worker_processes=args.processes,
        )
        load_topic(broker.url, "bare", settings.partitions, events)
        bare = (await bare_agent(settings, broker.url, "bare", len(events))).rate
        print(f"bare faust agent: {bare:,.0f} events/s", flush=True)
        warm_up = probe(probe_municipality, 0, datetime(2020, 1, 1, tzinfo=UTC), "relay-warm-up")
        for hops, which in RELAY_HOPS:
            relayed = await relay_chain(settings, broker.url, events, hops, warm_up)
            print(
                f"the topology alone, {hops} agents that only forward each event ({which}): "
                f"{relayed.rate:,.0f} events/s, ratio to the bare agent {relayed.rate / bare:.2f}; "
                f"{1000 * relayed.cpu_seconds / relayed.events:.2f} CPU ms per event in the "
                "relays' processes",
                flush=True,
            )
        async with pipeline_running(settings, broker.url, probe_municipality) as cpu_seconds:
            context = multiprocessing.get_context("spawn")
            started_at = context.Queue()
            process = context.Process(
                target=ingest_all, args=(settings, broker.url, events, started_at)
            )
            process.start()
            started = await asyncio.to_thread(started_at.get)
            cpu = cpu_seconds()
            await asyncio.to_thread(process.join)
            groups = pipeline_groups(settings, Topics.for_settings(settings))
            interval = 0.5  # the embedded broker's commit interval
            await asyncio.to_thread(wait_for_groups, broker.url, groups, interval, 600, 1)
            elapsed = time.monotonic() - started
            cpu = cpu_seconds() - cpu
            full = len(events) / elapsed
            print(
                f"full pipeline (ingest → score → aggregate → SQL): {len(events):,} events in "
                f"{elapsed:.1f} s = {full:,.0f} events/s; ratio to the bare agent "
                f"{full / bare:.2f} (target ≥ 0.75); {1000 * cpu / len(events):.2f} CPU ms per "
                "event in the pipeline's processes",
                flush=True,
            )
            prefix = f"{settings.topic_prefix}."
            traffic = await asyncio.to_thread(broker_traffic, broker.url, _pipeline_topics(broker))
            shares = sorted(traffic.items(), key=lambda item: -item[1][1])
            written = sum(size for _, size in traffic.values())
            print(
                f"broker traffic per ingested event: {written / len(events):,.0f} bytes written "
                "(records per event, bytes per event by topic): "
                + ", ".join(
                    f"{_short(name, prefix, settings.app_id)} {count / len(events):.2f}, "
                    f"{size / len(events):,.0f}"
                    for name, (count, size) in shares
                    if size
                ),
                flush=True,
            )
            cpu, started_wall = cpu_seconds(), time.perf_counter()
            probes = await latency(
                settings,
                broker.url,
                background,
                probe_municipality,
                args.rate,
                args.seconds,
            )
            busy = (cpu_seconds() - cpu) / (time.perf_counter() - started_wall)
            print(f"latency phase: the pipeline's processes used {100 * busy:.0f}% of one core")
            split = stages(broker.url, Topics.for_settings(settings), probe_municipality, probes)
        if probes:
            ms = [1000 * (visible - sent) for sent, visible in probes.values()]
            print(
                f"ingest → benchmark visible in SQL at {args.rate:.0f} events/s: "
                f"p50 {statistics.median(ms):.0f} ms, p95 {percentile(ms, 0.95):.0f} ms, "
                f"p99 {percentile(ms, 0.99):.0f} ms, max {max(ms):.0f} ms over {len(ms)} probes "
                "(target p99 ≤ 250 ms)"
            )
            print(
                "  by stage (p50 / p99 ms; record timestamps have 1 ms resolution): "
                + ", ".join(
                    f"{name} {statistics.median(v):.0f} / {percentile(v, 0.99):.0f}"
                    for name, v in split.items()
                    if v
                )
            )


@contextlib.asynccontextmanager
async def pipeline_running(
    settings: Settings, broker_url: str, municipality: str
) -> AsyncIterator[Callable[[], float]]:
    """The pipeline, ready; yields how to read the CPU seconds its processes have used."""
    if settings.worker_processes == "one":
        async with running_pipeline(settings, broker_url):
            yield time.process_time
        return
    workers = WorkerProcesses(settings, broker_url)
    try:
        await asyncio.to_thread(workers.wait_started)
        await asyncio.to_thread(wait_until_answering, settings, broker_url, municipality)
        yield workers.cpu_seconds
    finally:
        await asyncio.to_thread(workers.stop)


def _pipeline_topics(broker: EmbeddedBroker) -> list[str]:
    """Every topic of the run but the bare agent's and the relays': the pipeline's and its
    changelogs."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(broker.url))
    try:
        return sorted(
            t
            for t in admin.list_topics()
            if t != "bare" and not t.startswith(("__", "relay", "bench-relay"))
        )
    finally:
        admin.close()


def _short(topic: str, prefix: str, app_id: str) -> str:
    """A topic's name without the run's prefixes (changelogs keep their service's)."""
    return topic.removeprefix(prefix).removeprefix(f"{app_id}-")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--municipalities", type=int, default=342)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--mails", type=int, default=3)
    parser.add_argument("--surveys", type=int, default=12)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--processes", choices=["per-service", "one"], default="per-service")
    asyncio.run(main(parser.parse_args()))
