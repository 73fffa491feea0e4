"""A bad MEETLAT_ setting, a scoring model that cannot be used, an unreachable database or
broker, or a broker that did not store what was published is named in one line and an exit
code, not a traceback; a database URL's password is never echoed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from services.cli import app, main
from services.runtime.app import SERVICES
from services.runtime.broker import EmbeddedBroker, free_port
from services.runtime.settings import Settings
from tests.conftest import free_port_block


def run(env: dict[str, str], tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        app,
        list(args or ["db", "upgrade"]),
        env={"COLUMNS": "300", "MEETLAT_DATA_DIR": str(tmp_path), **env},
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"MEETLAT_METRICS_PORT": "abc"},
            "MEETLAT_METRICS_PORT: Input should be a valid integer, unable to parse string as an "
            "integer (got 'abc')",
        ),
        (
            {"MEETLAT_PARTITIONS": "0"},
            "MEETLAT_PARTITIONS: Input should be greater than or equal to 1 (got '0')",
        ),
        (
            {"MEETLAT_DATABASE_URL": "mysql://meetlat:s3cret@db/meetlat"},
            "MEETLAT_DATABASE_URL: Meetlat keeps its data in SQLite or PostgreSQL, not 'mysql'",
        ),
        (
            {"MEETLAT_DATABASE_URL": "s3cret"},
            "MEETLAT_DATABASE_URL: not a database URL (e.g. postgresql://user@host/db)",
        ),
        (
            {"MEETLAT_API_TOKEN": "  "},
            "MEETLAT_API_TOKEN: an empty API token would let anyone write: set one, or unset it",
        ),
    ],
)
def test_a_bad_setting_is_named(env: dict[str, str], expected: str, tmp_path: Path) -> None:
    result = run(env, tmp_path)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert result.stderr.strip() == expected
    assert "s3cret" not in result.output


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "meetlat.example.org", "192.168.1.20"])
def test_serve_beyond_loopback_asks_for_an_api_token(host: str, tmp_path: Path) -> None:
    result = run({}, tmp_path, "serve", "--host", host)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        f"meetlat serve: not listening on {host} without an API token: whoever reached it could "
        "put in events and take snapshots; set MEETLAT_API_TOKEN, or listen on 127.0.0.1"
    )
    assert not (tmp_path / "meetlat.db").exists()  # refused before anything was touched


def test_only_sqlite_and_postgresql_urls_are_settings() -> None:
    assert Settings(database_url="postgres://u@h/d").database_url == "postgres://u@h/d"
    assert Settings(database_url="sqlite:///x.db").database_url == "sqlite:///x.db"
    assert Settings(database_url="", data_dir=Path("d")).sqlalchemy_url.endswith("/d/meetlat.db")


@pytest.mark.parametrize("command", ["snapshots", "worker"])
def test_an_unreachable_database_is_named_without_its_password(
    tmp_path: Path, command: str
) -> None:
    port = free_port()  # a loopback port nobody listens on
    url = f"postgresql://meetlat:s3cret@127.0.0.1:{port}/meetlat"
    result = run({"MEETLAT_DATABASE_URL": url}, tmp_path, command)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.stderr.startswith(
        f"cannot use the database at postgresql://meetlat:***@127.0.0.1:{port}/meetlat: "
    )
    assert "Traceback" not in result.output and "s3cret" not in result.output


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({}, ["model", "show", "nope"], "no scoring model 'nope'; available: kvk-mystery-guest@"),
        (
            {"MEETLAT_SCORING_MODEL": "nope"},
            ["recompute", "/dev/null"],
            "no scoring model 'nope'; available: kvk-mystery-guest@",
        ),
        (
            {"MEETLAT_MODELS_DIR": "/nonexistent"},
            ["model", "show"],
            "/nonexistent: not a directory",
        ),
    ],
)
def test_a_scoring_model_that_cannot_be_used_is_named(
    env: dict[str, str],
    args: list[str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MEETLAT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "300")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["meetlat", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith(expected)


def test_a_broker_that_cannot_be_reached_is_named(tmp_path: Path) -> None:
    # A worker that wrote its embedded broker's URL and is gone: the command gives up after
    # 5 s (kafka-python's own default, 30 s, is kept for a configured broker).
    port = free_port()  # a loopback port nobody listens on
    (tmp_path / "broker.url").write_text(f"tansu://127.0.0.1:{port}")
    (tmp_path / "events.jsonl").write_text("{}\n")
    env = {**os.environ, "COLUMNS": "300", "MEETLAT_DATA_DIR": str(tmp_path)}
    env.pop("MEETLAT_BROKER_URL", None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "ingest", str(tmp_path / "events.jsonl")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert time.monotonic() - started < 25
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(
        f"cannot reach the broker at tansu://127.0.0.1:{port} (read from "
        f"{tmp_path / 'broker.url'}: is the `meetlat worker` that wrote it still running?): "
    ), result.stderr


@pytest.mark.parametrize("processes", ["one", "per-service"])
def test_a_metrics_port_in_use_is_named(tmp_path: Path, processes: str) -> None:
    # below the ephemeral range, so that no client socket of the workers takes a port of theirs
    first = free_port_block(len(SERVICES))
    # per service, the port taken is the second worker's (scoring)
    port = first if processes == "one" else first + 1
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("0.0.0.0", port))
        taken.listen()
        env = {**os.environ, "COLUMNS": "300", "MEETLAT_DATA_DIR": str(tmp_path)}
        env.update(MEETLAT_METRICS_PORT=str(first), MEETLAT_WORKER_PROCESSES=processes)
        env.pop("MEETLAT_BROKER_URL", None)
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", "worker"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert result.returncode == 1, result.stderr
    named = (
        f"cannot serve /metrics on 0.0.0.0:{port}: Address already in use (MEETLAT_METRICS_PORT; "
        "with a worker process per service, each service after the first takes the next port)"
    )
    if processes == "one":
        assert result.stderr.strip() == named
    else:  # (the scoring worker's process says it; the supervisor stops the rest)
        assert named in result.stderr
        assert "the scoring worker exited with status 1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "broker.url").exists()


# The broker goes away after the command has connected: kafka-python gives up on the records
# after its delivery timeout (two minutes), which this stands in for.
_BROKER_GONE = """
import sys
from services.ingest import publisher
def flush(self):
    raise publisher.PublishError("the broker did not store 1 of 1 records: KafkaTimeoutError")
publisher.KafkaPublisher.flush = flush
from services.cli import main
sys.argv = ["meetlat", "ingest", sys.argv[1]]
main()
"""


@pytest.mark.broker
def test_events_the_broker_did_not_store_are_named(tmp_path: Path, broker: EmbeddedBroker) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"type": "call.placed", "event_id": "gone-1", "contact_id": "c", "municipality": '
        '"GM0599", "campaign": "mg", "wave": 1, "case": "x", "occurred_at": '
        '"2026-03-02T09:00:00+00:00"}\n'
    )
    env = {**os.environ, "COLUMNS": "300", "MEETLAT_DATA_DIR": str(tmp_path)}
    env["MEETLAT_BROKER_URL"] = broker.url
    result = subprocess.run(
        [sys.executable, "-c", _BROKER_GONE, str(events)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "the broker did not store 1 of 1 records: KafkaTimeoutError; what was archived stays in "
        "the SQL event archive: run the command again once the broker answers (it is "
        "idempotent), or `meetlat replay`"
    ), result.stderr
    assert "Traceback" not in result.stderr
