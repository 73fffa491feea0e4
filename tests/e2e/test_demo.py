"""The whole pipeline: `meetlat demo` streams a generated campaign through the live pipeline
on the embedded broker; every figure of its SQL snapshot must equal `meetlat recompute`."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.benchmarks import BenchmarkUpdated
from services.reporting.figures import figure_rows
from services.reporting.store import BenchmarkStore
from services.runtime.db import make_engine

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


def demo_matches_recompute(tmp_path: Path, database_url: str | None) -> None:
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETLAT_")}
    env.update(MEETLAT_METRICS_PORT="0", COLUMNS="160")
    if database_url:
        env["MEETLAT_DATABASE_URL"] = database_url
    demo = run(["demo", "--municipalities", "36", "--seed", "11", "--out", str(out)], env)
    assert "equal to the batch oracle" in demo.stdout

    engine = make_engine(database_url or f"sqlite:///{out / 'meetlat.db'}")
    store = BenchmarkStore(engine)
    snapshot = store.snapshots()[-1]
    assert snapshot.label == "demo"
    streamed = {
        (r.scope_kind, r.scope_id, r.breakdown, r.metric): r.value
        for r in store.snapshot_figures(snapshot.id)
    }

    oracle = json.loads(run(["recompute", str(out / "events.jsonl"), "--json"], env).stdout)
    expected = {
        (r.scope_kind, r.scope_id, r.breakdown, r.metric): r.value
        for b in oracle["benchmarks"]
        for r in figure_rows(BenchmarkUpdated.model_validate(b))
    }
    assert set(streamed) == set(expected)
    kinds = {key[0] for key in expected}
    assert kinds == {"municipality", "chamber", "nation"}
    assert sum(1 for k in expected if k[0] == "municipality" and k[2:] == ("all", "n")) == 36
    for key, value in expected.items():
        got = streamed[key]
        assert got == value or (
            got is not None and value is not None and math.isclose(got, value, rel_tol=1e-12)
        ), key
    assert expected[("nation", "NL", "all", "n")] == len(oracle["scores"])

    reports = out / "reports"
    assert (
        (reports / "nationaal.md")
        .read_text(encoding="utf-8")
        .startswith("# Landelijke samenvatting")
    )
    assert len(list(reports.glob("kamer-*.md"))) == 12
    engine.dispose()


def test_demo_on_sqlite_equals_batch_oracle(tmp_path: Path) -> None:
    demo_matches_recompute(tmp_path, None)


@pytest.mark.postgres
def test_demo_on_postgresql_equals_batch_oracle(tmp_path: Path, postgres_database_url: str) -> None:
    demo_matches_recompute(tmp_path, postgres_database_url)
