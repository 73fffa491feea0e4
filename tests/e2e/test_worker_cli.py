"""`meetlat worker` as an operator runs it: embedded broker, `meetlat ingest` from another
process, Ctrl-C, and a restart that rebuilds everything from the SQL event archive; with all
services in one process, and with one worker process per service."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.cli import INGEST_PARTLY_REJECTED
from services.reporting.store import BenchmarkStore
from services.runtime.app import SERVICES
from services.runtime.db import make_engine
from tests.conftest import free_port_block, serving
from tests.e2e.processes import children, embedded_broker, killed_if_left, stopped, wait_for

pytestmark = pytest.mark.broker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def lines() -> list[str]:
    def event(n: int, kind: str, at: timedelta, **fields: object) -> str:
        return json.dumps(
            {
                "type": kind,
                "event_id": f"w-{n}",
                "contact_id": "w-call",
                "municipality": "GM0599",
                "campaign": "mg-test",
                "wave": 1,
                "case": "terrasvergunning",
                "occurred_at": (T0 + at).isoformat(),
                **fields,
            }
        )

    return [
        event(1, "call.placed", timedelta()),
        event(2, "call.answered", timedelta(seconds=40), seconds_waited=40),
        event(
            3,
            "call.assessed",
            timedelta(minutes=9),
            answers={"vriendelijkheid_aanname": "neutraal", "juist_antwoord": "deels juist"},
        ),
        '{"type": "call.placed"}',
    ]


def start_worker(
    env: dict[str, str], data: Path, own_session: bool = False
) -> subprocess.Popen[bytes]:
    """`meetlat worker`; `own_session`: in a process group of its own, as a terminal's job."""
    log = (data / "worker.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=own_session,
    )


def worker_env(data: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETLAT_")}
    env.update(MEETLAT_DATA_DIR=str(data), MEETLAT_METRICS_PORT="0")
    env.update({f"MEETLAT_{name.upper()}": value for name, value in settings.items()})
    return env


def wait_until_ready(worker: subprocess.Popen[bytes], data: Path, processes: str) -> None:
    """Until each faust worker process logged that it is ready (partitions assigned)."""
    expected = len(SERVICES) if processes == "per-service" else 1

    def ready() -> bool:
        assert worker.poll() is None, (data / "worker.log").read_text()[-3000:]
        return (data / "worker.log").read_text().count("meetlat worker ready") >= expected

    wait_for(ready, 90, "the worker to be ready")


def phone_mean(data: Path) -> float | None:
    engine = make_engine(f"sqlite:///{data / 'meetlat.db'}")
    try:
        rows = BenchmarkStore(engine).latest()
    except Exception:  # tables not there yet
        return None
    finally:
        engine.dispose()
    return next(
        (
            r.value
            for r in rows
            if (r.scope_kind, r.breakdown, r.metric) == ("nation", "channel=phone", "mean")
        ),
        None,
    )


def dead_letters(env: dict[str, str]) -> list[dict[str, object]]:
    """`meetlat deadletter --json`, without where they are on the topic."""
    listed = subprocess.run(
        [sys.executable, "-m", "services.cli", "deadletter", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    return [
        {k: v for k, v in json.loads(line).items() if k not in ("partition", "offset")}
        for line in listed.stdout.splitlines()
    ]


@pytest.mark.parametrize("processes", ["one", "per-service"])
def test_worker_ingest_ctrl_c_and_restart_from_archive(tmp_path: Path, processes: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # per service, each worker serves /metrics on its own port, counted up in service order
    # (ingest, scoring, …): the scoring worker's is the next one
    metrics_port = free_port_block(len(SERVICES))
    scoring_metrics = metrics_port if processes == "one" else metrics_port + 1
    env = worker_env(
        data, metrics_port=str(metrics_port), partitions="2", worker_processes=processes
    )
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines()) + "\n", encoding="utf-8")

    worker = start_worker(env, data)
    try:
        wait_for((data / "broker.url").exists, 60, "the worker's broker URL")
        ingest = subprocess.run(
            [sys.executable, "-m", "services.cli", "ingest", str(events)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # the bad line is named and dead-lettered; the status says the file was not all good
        assert ingest.returncode == INGEST_PARTLY_REJECTED, ingest.stderr
        assert "events.jsonl:4" in ingest.stderr and "4 records: 3 accepted" in ingest.stdout
        # speed (40 s) 6, neutraal 4, no transfers 10, deels juist 2·5: 30 / 5 = 6.0
        wait_for(lambda: phone_mean(data) == 6.0, 90, "figures in SQL")
        # closing the wave snapshots the figures once; closing it again returns that snapshot
        closed = [
            subprocess.run(
                [sys.executable, "-m", "services.cli", "wave", "close", "mg-test", "1"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            for _ in range(2)
        ]
        assert [c.returncode for c in closed] == [0, 0], closed[0].stderr + closed[1].stderr
        snapshots = BenchmarkStore(make_engine(f"sqlite:///{data / 'meetlat.db'}")).snapshots()
        assert [s.label for s in snapshots] == ["mg-test wave 1 closed"]
        assert f"snapshot {snapshots[0].id} " in closed[1].stdout
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{scoring_metrics}/metrics").read()
        assert b'meetlat_events_in_total{service="scoring",type="call.assessed"} 1.0' in metrics
        started = children(worker.pid)
        workers = [pid for pid, command in started.items() if "services.cli worker" in command]
        assert len(workers) == (0 if processes == "one" else len(SERVICES)), started
        # the Chamber/nation merges yield the CPU to the stages on an event's own path
        niceness = {
            command.rsplit(" ", 1)[-1]: os.getpriority(os.PRIO_PROCESS, pid)
            for pid, command in started.items()
            if pid in workers
        }
        if processes == "per-service":
            assert niceness == {s: 10 if s == "combining" else 0 for s in SERVICES}, niceness
        refused = dead_letters(env)
        assert [(d["kind"], d["source"]) for d in refused] == [("invalid_event", "events.jsonl:4")]
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=60)
    assert worker.returncode == 0, (data / "worker.log").read_text()[-3000:]
    assert not (data / "broker.url").exists()
    # the broker and every worker process stop with it
    wait_for(lambda: all(stopped(pid) for pid in started), 10, "the worker's processes to stop")

    # The embedded broker kept nothing; a new worker replays the archive (3 events, the
    # heartbeat of the ingest and the one that closed the wave) and rebuilds the figures.
    worker = start_worker(env, data)
    try:
        wait_for(
            lambda: "replayed 5 archived events" in (data / "worker.log").read_text(),
            60,
            "the archive replay",
        )
        wait_for(lambda: phone_mean(data) == 6.0, 90, "figures rebuilt from the archive")
        # and what ingest refused is on the new broker's dead-letter topic, as it was
        assert dead_letters(env) == refused
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=60)


def test_events_posted_to_serve_reach_the_benchmarks(tmp_path: Path) -> None:
    # a caller's form posted to `meetlat serve`, which finds the worker's embedded broker
    # through the data dir, as `meetlat ingest` does
    data = tmp_path / "data"
    data.mkdir()
    env = worker_env(data, partitions="2")
    worker = start_worker(env, data)
    try:
        wait_for((data / "broker.url").exists, 60, "the worker's broker URL")
        with serving(env, data / "serve.log") as base:
            request = urllib.request.Request(
                f"{base}/api/events",
                data=("[" + ",".join(lines()[:3]) + "]").encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=60) as answer:
                assert answer.status == 202
                assert json.load(answer) == {"events": 3, "new_in_archive": 3, "deadlettered": 0}
            wait_for(lambda: phone_mean(data) == 6.0, 90, "figures in SQL")
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=60)
    assert worker.returncode == 0, (data / "worker.log").read_text()[-3000:]


@pytest.mark.parametrize("processes", ["one", "per-service"])
def test_a_worker_whose_embedded_broker_dies_exits_with_an_error(
    tmp_path: Path, processes: str
) -> None:
    """The embedded broker kept every topic in memory: its worker cannot go on, and exits for
    its supervisor to restart it (which replays the archive into a new broker), rather than
    trying to reach a broker that is gone for good."""
    data = tmp_path / "data"
    data.mkdir()
    with killed_if_left(start_worker(worker_env(data, worker_processes=processes), data)) as worker:
        wait_until_ready(worker, data, processes)
        os.kill(embedded_broker(worker), signal.SIGKILL)
        worker.wait(timeout=90)
    log = (data / "worker.log").read_text()
    assert worker.returncode == 1, log[-3000:]
    assert "the embedded broker exited with status -9; the worker exits, to be restarted" in log
    assert not (data / "broker.url").exists()


def test_ctrl_c_in_a_terminal_stops_the_worker_before_its_broker(tmp_path: Path) -> None:
    """A terminal sends Ctrl-C's SIGINT to its whole foreground process group; the embedded
    broker is not in it, so the worker stops first (with status 0) and then stops the broker."""
    data = tmp_path / "data"
    data.mkdir()
    with killed_if_left(start_worker(worker_env(data), data, own_session=True)) as worker:
        wait_until_ready(worker, data, "one")
        broker = embedded_broker(worker)
        os.killpg(worker.pid, signal.SIGINT)
        worker.wait(timeout=60)
    text = (data / "worker.log").read_text()
    assert worker.returncode == 0, text[-3000:]
    assert "embedded broker exited" not in text
    wait_for(lambda: stopped(broker), 10, "the broker to stop")


@pytest.mark.parametrize("processes", ["one", "per-service"])
@pytest.mark.parametrize(("what", "status"), [("SIGINT", 0), ("SIGTERM", 0), ("broker killed", 1)])
@pytest.mark.parametrize("moment", ["broker started", "broker URL written"])
def test_a_worker_stopped_while_it_starts_stops_at_once(
    tmp_path: Path, processes: str, what: str, status: int, moment: str
) -> None:
    """A stop signal, or the broker's death, before faust handles signals: while the worker
    replays the archive (the broker has started) or while faust starts (the broker URL is
    written just before). The worker stops without a traceback and with its broker, and says
    why: it used to raise KeyboardInterrupt into faust's start-up and then wait for good."""
    data = tmp_path / "data"
    data.mkdir()
    with killed_if_left(start_worker(worker_env(data, worker_processes=processes), data)) as worker:
        broker = embedded_broker(worker)
        if moment == "broker URL written":
            wait_for((data / "broker.url").exists, 60, "the worker's broker URL")
        if what == "broker killed":
            os.kill(broker, signal.SIGKILL)
        else:
            worker.send_signal(getattr(signal, what))
        worker.wait(timeout=60)
    log = (data / "worker.log").read_text()
    assert worker.returncode == status, log[-3000:]
    # (a traceback only where Python swallowed the stop raised in a garbage-collector
    # callback: the start-up then stopped where faust's would have begun)
    assert log.count("Traceback") == log.count("Exception ignored in"), log[-3000:]
    assert "KeyboardInterrupt" not in log, log[-3000:]
    if what == "broker killed":  # (at once, or while it started)
        assert re.search("the embedded broker (.Tansu. )?exited with status -9", log), log
    wait_for(lambda: stopped(broker), 10, "the broker to stop")
    assert not (data / "broker.url").exists()
