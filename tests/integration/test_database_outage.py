"""A database that goes away while the worker runs (a PostgreSQL restart or fail-over) stalls
the worker's writes instead of stopping it: they are tried again until the database is back,
for up to `MEETLAT_DATABASE_OUTAGE_SECONDS`, and then fail as before. The reporting API
answers 503 with `Retry-After` meanwhile, not 500, and a snapshot schedule skips its turns.

The outage is real: the worker reaches the test's PostgreSQL through a TCP relay that the test
cuts (every open connection closed, new ones refused) and restores on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from services.ingest.archive import EventArchive
from services.ingest.parsing import Accepted, parse_json_record
from services.reporting.api import create_app
from services.reporting.store import BenchmarkStore
from services.runtime.broker import EmbeddedBroker, free_port
from services.runtime.db import make_engine, outlasting_outages, upgrade
from services.runtime.settings import Settings, bootstrap_servers
from services.runtime.worker import running_pipeline, wait_until_drained
from tests.integration.test_pipeline import call

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Relay:
    """A TCP relay to a real server, cut and restored by the test as a network failure or a
    server restart would: cut, it closes every relayed connection and refuses new ones."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        if self._listener is not None:
            return  # open already
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):  # (wakes the thread blocked in accept)
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by `cut`
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def relayed_database_url(postgres_database_url: str) -> Iterator[tuple[str, Relay]]:
    """A fresh PostgreSQL database reached through a `Relay`, and the relay."""
    url = make_url(postgres_database_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield url.set(host="127.0.0.1", port=relay.port).render_as_string(False), relay
    finally:
        relay.cut()


def retries(service: str) -> float:
    return REGISTRY.get_sample_value("meetlat_database_retries_total", {"service": service}) or 0.0


def record(n: int) -> bytes:
    return json.dumps(
        {
            "type": "call.placed",
            "event_id": f"outage-{n}",
            "contact_id": f"outage-c{n}",
            "municipality": "GM0344",
            "campaign": "mg-test",
            "wave": 1,
            "case": "standplaatsvergunning",
            "occurred_at": (T0 + timedelta(minutes=n)).isoformat(),
        }
    ).encode()


def test_a_write_outlasts_an_outage_and_gives_up_after_its_patience(
    relayed_database_url: tuple[str, Relay],
) -> None:
    url, relay = relayed_database_url
    engine = make_engine(url)
    try:
        upgrade(engine)
        archive = EventArchive(engine)
        rows = []
        for n in range(3):
            parsed = parse_json_record(record(n), "test", n, {"GM0344"})
            assert isinstance(parsed, Accepted)
            rows.append((parsed.event, parsed.payload))

        async def through_an_outage() -> float:
            relay.cut()
            write = asyncio.create_task(outlasting_outages("ingest", 30, archive.append, rows))
            await asyncio.sleep(2.0)
            assert not write.done()  # stalled, not failed
            relay.restore()
            started = time.monotonic()
            await write
            return time.monotonic() - started

        before = retries("ingest")
        waited = asyncio.run(through_an_outage())
        assert retries("ingest") - before >= 2
        assert waited < 10  # back within a pause or two of 0.5 → 8 s
        assert archive.count() == 3

        async def too_long() -> None:
            relay.cut()
            await outlasting_outages("ingest", 1.5, archive.append, rows)

        started = time.monotonic()
        with pytest.raises(OperationalError):
            asyncio.run(too_long())
        assert 1.4 < time.monotonic() - started < 10
    finally:
        relay.restore()
        engine.dispose()


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


@pytest.mark.broker
def test_the_pipeline_stalls_through_a_database_outage_and_loses_nothing(
    broker: EmbeddedBroker, settings: Settings, relayed_database_url: tuple[str, Relay]
) -> None:
    """Both of the worker's writers meet the outage: ingest (the event archive) with events on
    the intake topic, the materialiser (the benchmarks) with events put straight onto the
    observations topic."""
    url, relay = relayed_database_url
    settings = settings.model_copy(update={"database_url": url})
    before = {service: retries(service) for service in ("ingest", "reporting")}

    async def scenario() -> tuple[int, dict[tuple[str, str, str], float | None]]:
        async with running_pipeline(settings, broker.url) as pipeline:
            topics = pipeline.topics

            def produce(topic: str, lines: list[str], keyed: bool = False) -> None:
                producer = KafkaProducer(bootstrap_servers=bootstrap_servers(broker.url))
                for line in lines:
                    key = json.loads(line)["contact_id"].encode() if keyed else None
                    producer.send(topic, key=key, value=line.encode())
                producer.flush()
                producer.close()

            await asyncio.to_thread(produce, topics.intake, call("c-1"))
            await wait_until_drained(pipeline, broker.url, timeout=60)
            relay.cut()
            await asyncio.to_thread(produce, topics.intake, call("c-2"))
            await asyncio.to_thread(produce, topics.observations, call("c-3"), True)
            await until(
                lambda: all(retries(service) > before[service] for service in before)
            )  # both wait it out
            relay.restore()
            await wait_until_drained(pipeline, broker.url, timeout=60)
            assert pipeline.failure is None
            figures = {
                (r.scope_kind, r.breakdown, r.metric): r.value
                for r in BenchmarkStore(pipeline.engine).latest()
            }
            return EventArchive(pipeline.engine).count(), figures

    archived, figures = asyncio.run(scenario())
    assert archived == 2 * len(call("c-1"))  # c-3 never passed ingest
    assert figures[("nation", "all", "n")] == 3


def test_the_api_answers_503_while_the_database_is_away(
    relayed_database_url: tuple[str, Relay], tmp_path: Path
) -> None:
    url, relay = relayed_database_url
    engine = make_engine(url)
    try:
        upgrade(engine)
        settings = Settings(data_dir=tmp_path, database_url=url)
        with TestClient(create_app(settings, engine)) as client:
            assert client.get("/api/snapshots").status_code == 200
            relay.cut()
            for path in ("/api/snapshots", "/api/reports/national", "/dashboard"):
                away = client.get(path)
                assert away.status_code == 503, path
                assert away.headers["Retry-After"] == "5"
                told = away.text if path == "/dashboard" else away.json()["detail"]
                assert "the database is unavailable" in told, path
            assert "Tijdelijk niet beschikbaar" in client.get("/dashboard").text
            seen = REGISTRY.get_sample_value(
                "meetlat_api_request_seconds_count",
                {"method": "GET", "route": "/api/snapshots", "status": "503"},
            )
            assert seen and seen >= 1
            relay.restore()
            assert client.get("/api/snapshots").status_code == 200
    finally:
        engine.dispose()


def test_a_snapshot_schedule_skips_its_turns_while_the_database_is_away(
    relayed_database_url: tuple[str, Relay], tmp_path: Path
) -> None:
    url, relay = relayed_database_url
    engine = make_engine(url)
    upgrade(engine)
    store = BenchmarkStore(engine)
    env = {**os.environ, "MEETLAT_DATABASE_URL": url, "MEETLAT_DATA_DIR": str(tmp_path)}
    # A file, not a pipe: the test reads what was printed while the schedule still runs.
    printed = tmp_path / "schedule.out"
    with printed.open("w") as stdout:
        schedule = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "snapshot", "--every", "1", "--label", "hourly"],
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )

    def announced(count: int) -> bool:
        return printed.read_text().count("snapshot ") == count

    try:
        asyncio.run(until(lambda: announced(1)))
        relay.cut()
        time.sleep(3.5)  # three turns or so
        relay.restore()
        store.apply([], {("t.benchmarks", 0): 7})  # the stream moved on: the next turn takes one
        # The printed line, not the row: the row is committed before its line is printed.
        asyncio.run(until(lambda: announced(2)))
        assert len(store.snapshots()) == 2
        assert schedule.poll() is None  # still on schedule
    finally:
        schedule.terminate()
        _, errors = schedule.communicate(timeout=30)
        engine.dispose()
    assert announced(2), printed.read_text()
    assert "no snapshot this turn: the database is unavailable" in errors, errors
    assert "Traceback" not in errors
