"""Running the pipeline: as a long-lived worker (`meetlat worker`), or in-process for the demo,
tests and benchmarks (`running_pipeline`), plus waiting until every event has been processed."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast

import faust
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec

from services.runtime.app import SERVICES, Pipeline, create_pipeline
from services.runtime.broker import broker_for, die_with_parent, exit_when_lost
from services.runtime.clients import connected
from services.runtime.db import upgrade
from services.runtime.metrics import serve_metrics
from services.runtime.settings import Settings, bootstrap_servers
from services.runtime.topics import Topics, ensure_topics
from services.runtime.transport import faust_broker_url, fetched_highwaters

log = logging.getLogger(__name__)


def prepare(pipeline: Pipeline, broker_url: str) -> None:
    """Everything a worker needs before it consumes: topics and the SQL schema."""
    ensure_topics(broker_url, pipeline.topic_specs(), pipeline.settings.replication_factor)
    upgrade(pipeline.engine)


def faust_worker(
    app: faust.App,
    settings: Settings,
    worker_class: type[faust.Worker] = faust.Worker,
    **options: Any,
) -> faust.Worker:
    """A faust worker for `app` logging at the settings' level, without faust's terminal
    spinner: with the spinner, faust sets the root logger to DEBUG (the spinner turns on every
    record), so every debug call in faust and aiokafka builds a record that the handler then
    drops — 3-4 % of each worker process's CPU under load (py-spy, bench/pipeline.py)."""
    worker = worker_class(app, loglevel=settings.log_level, quiet=True, **options)
    worker.spinner = None
    return worker


class StopRequested(SystemExit):
    """SIGINT or SIGTERM came while the worker was starting, before faust handles them."""


class StartUpSignals:
    """SIGINT and SIGTERM while a worker starts, before faust handles them (mode installs its
    handlers only once the worker's event loop runs). Until faust's start-up begins (`hold`),
    they stop the start-up as `StopRequested`, through every `with` (the embedded broker stops
    too). From then until faust's handlers are installed they are held, and then handed to
    them: raised into mode's start-up, a signal left its clean-up waiting for good on a
    consumer that had never started."""

    def __init__(self) -> None:
        self.holding = False
        self.received: list[int] = []

    def __call__(self, signum: int, frame: object) -> None:
        self.received.append(signum)
        if not self.holding:
            raise StopRequested(0)

    @contextmanager
    def installed(self) -> Iterator[StartUpSignals]:
        previous = {sig: signal.signal(sig, self) for sig in STOP_SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop_if_requested(self) -> None:
        """Stop the start-up here if a stop signal came: its exception may have been
        swallowed (Python ignores what a garbage-collector callback raises, and a handler may
        run inside one)."""
        if self.received:
            raise StopRequested(0)

    def hold(self) -> None:
        """faust's start-up begins: hold the signals from here on (and stop here for one that
        came before, see `stop_if_requested`)."""
        self.holding = True
        self.stop_if_requested()

    def hand_over(self) -> None:
        """faust's handlers are installed: they get what was held."""
        held, self.received = self.received, []
        for signum in held:
            signal.raise_signal(signum)


class CommandLineWorker(faust.Worker):
    """The faust worker of `meetlat worker`: takes over the stop signals held while it
    started (`StartUpSignals`), and says when it is ready to process."""

    start_up_signals: StartUpSignals | None = None

    def install_signal_handlers(self) -> None:
        super().install_signal_handlers()
        if self.start_up_signals is not None:
            self.start_up_signals.hand_over()

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        # (partitions assigned, tables recovered: what an operator or a test waits for)
        log.warning("meetlat worker ready (consumer group %s)", self.app.conf.id)


# Young objects allowed before a generation-0 collection (CPython's default is 700). A worker
# makes and drops many small objects per event (parsed events, states, scores); collecting
# them every 700 allocations spends a large share of its CPU on the collector. But each
# collection stops the event loop: in bench/pipeline.py's latency phase a young collection
# took 12–18 ms at 10,000 and a middle one 50–85 ms, at 3,000 about 3 and 16 ms, for about
# 2 % more CPU per scored event (bench/scoring.py).
GC_YOUNG_THRESHOLD = 3_000


def tune_collector() -> None:
    """Before a worker consumes: move what already exists (modules, the app, scoring models,
    reference data, anything the caller holds) out of the cyclic collector's way — it lives
    as long as the worker, and every full collection would traverse it again — and collect
    young objects less often. The stream's own objects are collected as before: faust relies
    on `gc.collect()` to drop messages that only garbage still refers to before it stops or
    rebalances, so nothing the stream makes may be frozen."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), middle, old)


@contextmanager
def tuned_collector() -> Iterator[None]:
    """`tune_collector` for the block; then the collector as it was, nothing frozen (an
    in-process pipeline stops and the process goes on: tests, benchmarks)."""
    threshold = gc.get_threshold()
    tune_collector()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def run_worker(settings: Settings, services: Sequence[str] = SERVICES) -> None:
    """Blocking: start the embedded broker if none is configured, then run a faust worker with
    the chosen services until Ctrl-C / SIGTERM (or one worker process per service, see
    `worker_processes`). The broker is stopped on the way out."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    groups = list(settings.consumer_groups(services))
    split = len({group for group, _ in groups}) > 1
    # the /metrics ports (one per worker process, see `supervise`): not the embedded broker's
    metrics_ports = (
        range(settings.metrics_port, settings.metrics_port + (len(groups) if split else 1))
        if settings.metrics_port
        else range(0)
    )
    if not split:  # (first: a port in use is named before anything is started)
        serve_metrics(settings.metrics_port)

    # A new worker, restarted by the supervisor, replays the SQL event archive into a new
    # broker. The per-service worker processes die with this one (see `supervise`).
    broker_exited = exit_when_lost(
        "meetlat worker",
        "the worker exits, to be restarted",
        functools.partial(_forget_embedded_broker, settings),
    )

    try:
        with (
            StartUpSignals().installed() as start_up_signals,
            broker_for(
                settings.broker_url, settings.data_dir / "tansu.log", metrics_ports, broker_exited
            ) as broker_url,
        ):
            try:
                _run_worker(settings, services, broker_url, split, start_up_signals)
            finally:
                _forget_embedded_broker(settings)
    except StopRequested:
        log.warning("meetlat worker: stopped while starting")


def _forget_embedded_broker(settings: Settings) -> None:
    """The worker's embedded broker is gone, or about to be: `meetlat ingest` must not find it."""
    if settings.embedded:
        settings.broker_url_file.unlink(missing_ok=True)


def _run_worker(
    settings: Settings,
    services: Sequence[str],
    broker_url: str,
    split: bool,
    start_up_signals: StartUpSignals,
) -> None:
    pipeline = create_pipeline(settings, broker_url, () if split else services)
    prepare(pipeline, broker_url)
    if settings.embedded:
        restore_embedded(pipeline, broker_url)
        settings.broker_url_file.write_text(broker_url, encoding="utf-8")
    if split:
        start_up_signals.stop_if_requested()  # (from here on, `supervise` handles them)
        supervise(settings, broker_url, services)
        return
    log.warning("meetlat worker (%s) on %s", ", ".join(pipeline.services), broker_url)
    start_up_signals.hold()  # (before the full collection below, which runs callbacks)
    worker = cast(CommandLineWorker, faust_worker(pipeline.app, settings, CommandLineWorker))
    worker.start_up_signals = start_up_signals
    pipeline.on_failure = functools.partial(_terminate, settings)
    tune_collector()
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    if pipeline.failure is not None:
        # a non-zero exit, for the supervisor (systemd, Kubernetes…) to restart the worker
        raise SystemExit(f"meetlat worker stopped: a batch failed: {pipeline.failure!r}")


def supervise(settings: Settings, broker_url: str, services: Sequence[str]) -> None:
    """Run each service in a worker process of its own (its own consumer group) until one
    exits or this process gets SIGINT / SIGTERM; then stop them all (SIGTERM each). A worker
    that exits with an error ends the whole run with an error, for the supervisor above
    (systemd, Kubernetes…) to restart it."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    workers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for index, (group, service) in enumerate(settings.consumer_groups(services)):
            environment = {
                **os.environ,
                **settings_environment(settings),
                "MEETLAT_BROKER_URL": faust_broker_url(broker_url, settings.tansu),
                "MEETLAT_APP_ID": group,
                "MEETLAT_WORKER_PROCESSES": "one",
                # one /metrics port each, counted up from the configured one
                "MEETLAT_METRICS_PORT": str(settings.metrics_port + index)
                if settings.metrics_port
                else "0",
            }
            command = [sys.executable, "-m", "services.cli", "worker", "--service", service]
            # killed if this process dies (by SIGKILL too): their embedded broker died with it,
            # and a consumer killed mid-batch loses nothing (its offsets were not committed)
            workers[service] = subprocess.Popen(
                command, env=environment, preexec_fn=die_with_parent(signal.SIGKILL)
            )
            if service in BACKGROUND_SERVICES:
                os.setpriority(os.PRIO_PROCESS, workers[service].pid, BACKGROUND_NICENESS)
        log.warning(
            "meetlat worker: one process per service (%s) on %s",
            ", ".join(f"{s} pid {w.pid}" for s, w in workers.items()),
            broker_url,
        )
        while not stop.wait(0.2):
            for service, process in workers.items():
                code = process.poll()
                if code:
                    raise SystemExit(
                        f"meetlat worker: the {service} worker exited with status {code}"
                    )
                if code == 0:
                    return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(workers.values())


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
BACKGROUND_SERVICES = frozenset({"combining"})
BACKGROUND_NICENESS = 10
"""The Chamber and national figures are recomputed at most once a second anyway: on a machine
the services share, their merges yield the CPU to the stages an event's own municipality
figures wait for (in bench/pipeline.py's latency phase on two cores, the scheduler otherwise
held every process up for up to ~200 ms at a time)."""


def _stop_all(processes: Iterable[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def settings_environment(settings: Settings) -> dict[str, str]:
    """`MEETLAT_` variables for the settings given explicitly (not through the environment,
    which a child process inherits anyway), so a worker process started for one service runs
    with the same settings. Secrets are left out: a pipeline worker needs none."""
    out = {}
    for name, value in settings.model_dump(mode="json", exclude_unset=True).items():
        if value is None or name in SECRET_SETTINGS:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        out[f"MEETLAT_{name.upper()}"] = text
    return out


SECRET_SETTINGS = frozenset({"imap_password"})


STOP_GRACE_S = 30.0
"""How long a worker whose batch failed may take to stop before it exits at once. faust's stop
can wait for good: an agent that crashed is restarted by its supervisor, and when that happens
before the stop begins, the new actor waits on a stream nothing feeds any more (seen once the
intake was fuzzed; faust-streaming#324 is the same hang). Exiting loses nothing: the failed
batch's offsets were never committed."""


def _terminate(settings: Settings, error: BaseException) -> None:
    # As if the operator sent SIGTERM: the worker shuts down in full (its consumer thread
    # included) before `execute_from_commandline` returns.
    signal.raise_signal(signal.SIGTERM)
    threading.Thread(
        target=_exit_unless_stopped,
        args=(settings, error),
        name="meetlat-stop-deadline",
        daemon=True,
    ).start()


def _exit_unless_stopped(settings: Settings, error: BaseException) -> None:
    time.sleep(STOP_GRACE_S)
    log.critical(
        "meetlat worker did not stop within %g s after a batch failed (%r): exiting at once",
        STOP_GRACE_S,
        error,
    )
    _forget_embedded_broker(settings)  # (it dies with this process: see `die_with_parent`)
    logging.shutdown()  # (flushes the log: os._exit does not)
    os._exit(1)


def stop_on_failure(pipeline: Pipeline, worker: faust.Worker) -> None:
    """Stop `worker`, which runs inside the caller's event loop, when a batch of the
    pipeline fails (see `services.runtime.batches`)."""
    stopping: list[asyncio.Task[None]] = []  # referenced until done (`fail` calls this once)

    def stop(_error: BaseException) -> None:
        stopping.append(asyncio.get_running_loop().create_task(worker.stop()))

    pipeline.on_failure = stop


def restore_embedded(pipeline: Pipeline, broker_url: str) -> int:
    """A fresh embedded broker holds nothing: forget the materialised figures of the previous
    stream, replay the SQL event archive into the new one, and send what ingest refused to its
    dead-letter topic again (what the other services refuse, they refuse again in the replay).
    Returns the events replayed."""
    from services.ingest.archive import EventArchive
    from services.ingest.publisher import KafkaPublisher
    from services.ingest.service import replay, resend_refused
    from services.reporting.store import BenchmarkStore

    BenchmarkStore(pipeline.engine).reset_materialised()
    archive = EventArchive(pipeline.engine)
    publisher = KafkaPublisher(broker_url)
    try:
        count = replay(archive, publisher, pipeline.topics)
        refused = resend_refused(archive, publisher, pipeline.topics)
    finally:
        publisher.close()
    if count or refused:
        log.warning(
            "replayed %d archived events into the embedded broker, and %d dead letters of ingest",
            count,
            refused,
        )
    return count


async def _until_ready(app: faust.App, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        recovery = cast(Any, app.tables).recovery  # faust's type stubs omit it
        recovered = recovery.completed.is_set()
        if app.consumer.assignment() and recovered and not app.rebalancing:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"faust worker not ready within {timeout:.0f}s")


@asynccontextmanager
async def running_pipeline(
    settings: Settings,
    broker_url: str,
    services: Sequence[str] = SERVICES,
    ready_timeout: float = 60,
) -> AsyncIterator[Pipeline]:
    """Run a worker inside the current event loop until the block exits. The process's
    stdout and stderr stay its own: a faust worker turns them into a logger by default, which
    swallowed the demo's progress bars until the pipeline stopped."""
    pipeline = create_pipeline(settings, broker_url, services)
    await asyncio.to_thread(prepare, pipeline, broker_url)
    worker = faust_worker(
        pipeline.app,
        settings,
        daemon=False,
        loop=asyncio.get_running_loop(),
        redirect_stdouts=False,
    )
    stop_on_failure(pipeline, worker)
    with tuned_collector():
        await worker.start()
        try:
            await _until_ready(pipeline.app, ready_timeout)
            yield pipeline
        finally:
            await worker.stop()


class LagProbe:
    """Measures how far a consumer group is behind on some topics (admin client only)."""

    def __init__(self, broker_url: str, group_id: str, topics: Iterable[str]) -> None:
        self.group_id = group_id
        self.servers = bootstrap_servers(broker_url)
        self.admin = connected(KafkaAdminClient, broker_url, client_id="meetlat-lag")
        self.partitions = [
            TopicPartition(described["name"], p["partition_index"])
            for described in self.admin.describe_topics(list(topics))
            for p in described["partitions"]
        ]

    def lag(self) -> int:
        """Messages on the topics that the group has not yet committed. Blocking (it runs an
        event loop of its own: call it from a thread)."""
        listed = self.admin.list_partition_offsets(
            {tp: OffsetSpec.LATEST for tp in self.partitions}
        )
        # Tansu's ListOffsets ends a partition at its last batch, not its last record
        ends = asyncio.run(
            fetched_highwaters(self.servers, {tp: found.offset for tp, found in listed.items()})
        )
        committed = self.admin.list_group_offsets({self.group_id: self.partitions}).get(
            self.group_id, {}
        )
        lag = 0
        for tp in self.partitions:
            done = committed.get(tp)
            offset = done.offset if done is not None and done.offset >= 0 else 0
            lag += max(0, ends[tp] - offset)
        return lag

    def close(self) -> None:
        self.admin.close()


def pipeline_topics(topics: Topics, services: Sequence[str] = SERVICES) -> list[str]:
    """The topics a drained pipeline (or these of its services) has processed and committed
    completely, in pipeline order."""
    consumed = {
        "ingest": [topics.intake],
        "scoring": [topics.observations],
        "aggregation": [topics.scores, topics.surveys],
        "combining": [topics.partials],
        "reporting": [topics.benchmarks],
    }
    return [topic for service in SERVICES if service in services for topic in consumed[service]]


def pipeline_groups(
    settings: Settings, topics: Topics, services: Sequence[str] = SERVICES
) -> dict[str, list[str]]:
    """Consumer group → the topics it consumes, of a `meetlat worker` run with `settings`
    (one group, or one per service: `worker_processes`), in pipeline order."""
    groups: dict[str, list[str]] = {}
    for group, service in settings.consumer_groups(services):
        groups.setdefault(group, []).extend(pipeline_topics(topics, [service]))
    return groups


def wait_for_groups(
    broker_url: str,
    groups: Mapping[str, Sequence[str]],
    interval: float,
    timeout: float = 600,
    settle_checks: int = 2,
) -> None:
    """Blocking: `wait_for_group` for each group in turn. In pipeline order, a stage is
    waited for once the stages that feed it have committed everything."""
    deadline = time.monotonic() + timeout
    for group, topics in groups.items():
        remaining = max(1.0, deadline - time.monotonic())
        wait_for_group(broker_url, group, topics, interval, remaining, settle_checks)


async def wait_until_drained(
    pipeline: Pipeline,
    broker_url: str,
    timeout: float = 600,
    settle_checks: int = 2,
    on_lag: Callable[[int], None] | None = None,
) -> None:
    """Wait until the worker has processed and committed everything on the pipeline topics,
    seen `settle_checks` times in a row (a stage may still be producing into the next)."""
    await asyncio.to_thread(
        wait_for_group,
        broker_url,
        pipeline.app.conf.id,
        pipeline_topics(pipeline.topics, pipeline.services),
        pipeline.app.conf.broker_commit_interval,
        timeout,
        settle_checks,
        on_lag,
    )


def wait_for_group(
    broker_url: str,
    group_id: str,
    topics: Sequence[str],
    interval: float,
    timeout: float = 600,
    settle_checks: int = 2,
    on_lag: Callable[[int], None] | None = None,
) -> None:
    """Blocking: wait until consumer group `group_id` has committed everything on `topics`,
    `settle_checks` times in a row (so a worker in another process can be waited for too)."""
    probe = LagProbe(broker_url, group_id, topics)
    deadline = time.monotonic() + timeout
    quiet = 0
    try:
        while time.monotonic() < deadline:
            lag = probe.lag()
            if on_lag is not None:
                on_lag(lag)
            quiet = quiet + 1 if lag == 0 else 0
            if quiet >= settle_checks:
                return
            time.sleep(interval)
    finally:
        probe.close()
    raise TimeoutError(f"pipeline still has unprocessed messages after {timeout:.0f}s")
