"""The whole pipeline: `meetlat demo` streams a generated campaign through the live pipeline
on the embedded broker; every figure of its SQL snapshot must equal `meetlat recompute`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import SQLAlchemyError

from schemas.benchmarks import BenchmarkUpdated
from services.demo.run import compare_with_oracle
from services.ingest.archive import EventArchive
from services.reporting.figures import figure_rows
from services.reporting.store import BenchmarkStore
from services.runtime.db import make_engine
from tests.e2e.processes import embedded_broker, killed_if_left, wait_for

pytestmark = pytest.mark.broker

MEETLAT = [sys.executable, "-m", "services.cli"]


def run(
    args: list[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*MEETLAT, *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"meetlat {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result


def demo_matches_recompute(tmp_path: Path, database_url: str | None, **settings: str) -> None:
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETLAT_")}
    env.update(MEETLAT_METRICS_PORT="0", COLUMNS="160", **settings)
    if database_url:
        env["MEETLAT_DATABASE_URL"] = database_url
    sample = ["--municipalities", "36", "--seed", "11", "--waves", "2", "--surveys", "12"]
    demo = run(["demo", *sample, "--out", str(out)], env)
    # the demo itself compares its snapshot and the compacted benchmarks topic with the oracle
    assert "snapshot and benchmarks topic equal to the batch oracle" in demo.stdout
    # its progress bars are its own output, not log records of the worker (faust's default)
    progress = re.findall(r"^(ingest|pipeline) +━+ (\d+)/\2 ", demo.stdout, re.MULTILINE)
    assert [label for label, _ in progress] == ["ingest", "pipeline"], demo.stdout + demo.stderr

    engine = make_engine(database_url or f"sqlite:///{out / 'meetlat.db'}")
    store = BenchmarkStore(engine)
    snapshot = store.snapshots()[-1]
    assert snapshot.label == "demo"
    streamed = store.snapshot_figures(snapshot.id)

    # and the oracle as a separate command (`meetlat recompute --json`), compared here, in
    # two worker processes: the streamed figures equal the sharded oracle's too
    command = ["recompute", str(out / "events.jsonl"), "--json", "--workers", "2"]
    oracle = json.loads(run(command, env).stdout)
    benchmarks = [BenchmarkUpdated.model_validate(b) for b in oracle["benchmarks"]]
    expected = [r for b in benchmarks for r in figure_rows(b)]
    assert compare_with_oracle(streamed, expected) == []
    assert {(b.scope_kind, b.wave) for b in benchmarks} == {
        (kind, wave) for kind in ("municipality", "chamber", "nation") for wave in (1, 2)
    }
    assert sum(1 for b in benchmarks if b.scope_kind == "municipality" and b.wave == 2) == 36
    nation = {b.wave: b for b in benchmarks if b.scope_kind == "nation"}
    assert nation[1].breakdowns["all"].n + nation[2].breakdowns["all"].n == len(oracle["scores"])
    # the remeasurement carries the previous wave, the surveys and the benchmark matrix
    phone = nation[2].breakdowns["channel=phone"]
    assert nation[2].previous_wave == 1
    assert phone.previous_mean == nation[1].breakdowns["channel=phone"].mean
    assert phone.change == pytest.approx(phone.mean - phone.previous_mean)
    assert nation[2].wave_test.startswith("Welch")
    assert nation[2].surveys["all"].respondents == 36 * 12
    assert len(nation[2].quadrants) == 36
    assert len(nation[2].standings["all"]) == 36
    assert {r.label for r in streamed if r.breakdown == "quadrant"} <= {
        "KTO+ MC+",
        "KTO+ MC-",
        "KTO- MC+",
        "KTO- MC-",
    }

    reports = out / "reports"
    assert "<h1>Landelijk rapport</h1>" in (reports / "national.html").read_text(encoding="utf-8")
    assert len(list(reports.glob("chamber-*.html"))) == 12
    engine.dispose()


def test_demo_on_sqlite_equals_batch_oracle(tmp_path: Path) -> None:
    # with few contacts, ledgers and scopes kept decoded: most are read back from the tables
    kept = {
        "MEETLAT_SCORER_CONTACTS_KEPT": "10",
        "MEETLAT_AGGREGATOR_LEDGERS_KEPT": "4",
        "MEETLAT_COMBINED_SCOPES_KEPT": "2",
    }
    demo_matches_recompute(tmp_path, None, **kept)


@pytest.mark.postgres
def test_demo_on_postgresql_equals_batch_oracle(tmp_path: Path, postgres_database_url: str) -> None:
    demo_matches_recompute(tmp_path, postgres_database_url)


def test_a_demo_whose_embedded_broker_dies_stops_at_once(tmp_path: Path) -> None:
    """The embedded broker took the campaign's topics with it: the demo says so and exits with
    an error while it ingests, instead of waiting for good on a broker that is gone (before
    2026-12-07 it logged connection errors until it was killed)."""
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETLAT_")}
    env.update(MEETLAT_METRICS_PORT="0")
    log_file = tmp_path / "demo.log"
    with log_file.open("wb") as log:
        demo = subprocess.Popen(
            [*MEETLAT, "demo", "--municipalities", "120", "--out", str(out)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    with killed_if_left(demo):
        broker = embedded_broker(demo)

        def ingesting() -> bool:
            assert demo.poll() is None, log_file.read_text()[-3000:]
            return archived(out / "meetlat.db") > 0

        wait_for(ingesting, 120, "the demo to ingest")
        os.kill(broker, signal.SIGKILL)
        demo.wait(timeout=30)
    text = log_file.read_text()
    assert demo.returncode == 1, text[-3000:]
    assert (
        "meetlat demo: the embedded broker exited with status -9; the demo stops; run it again, "
        "it starts over" in text
    )
    assert "Traceback" not in text


def archived(database: Path) -> int:
    """Events in the SQLite event archive at `database` (0 before it is made)."""
    if not database.exists():
        return 0
    engine = make_engine(f"sqlite:///{database}")
    try:
        return EventArchive(engine).count()
    except SQLAlchemyError:  # its tables not there yet
        return 0
    finally:
        engine.dispose()
