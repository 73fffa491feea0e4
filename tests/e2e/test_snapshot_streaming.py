"""A snapshot taken while events keep flowing is internally consistent: every figure it holds
is exactly what the benchmarks topic says up to the stream position the snapshot recorded —
no figure from before or after that position."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas.reference import ReferenceData
from services.demo.campaign import CampaignSpec, generate_campaign, write_jsonl
from services.reporting.figures import SnapshotInfo, figure_rows, sorted_rows
from services.reporting.store import BenchmarkStore
from services.reporting.topic import latest_benchmarks
from services.runtime.db import make_engine
from services.runtime.settings import Settings
from services.runtime.topics import Topics

from .test_worker_cli import start_worker, wait_for

pytestmark = pytest.mark.broker


def test_snapshots_while_streaming_are_consistent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETLAT_")}
    env.update(MEETLAT_DATA_DIR=str(data), MEETLAT_METRICS_PORT="0", MEETLAT_PARTITIONS="2")
    events = generate_campaign(
        CampaignSpec(municipalities=60, surveys_per_municipality=12), ReferenceData.load()
    )
    events_file = tmp_path / "events.jsonl"
    write_jsonl(events, events_file)
    topic = Topics.for_settings(Settings(data_dir=data)).benchmarks

    worker = start_worker(env, data)
    snapshots: list[SnapshotInfo] = []
    try:
        wait_for((data / "broker.url").exists, 60, "the worker's broker URL")
        broker_url = (data / "broker.url").read_text().strip()
        wait_for((data / "meetlat.db").exists, 60, "the database")
        ingest = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "ingest", str(events_file)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        engine = make_engine(f"sqlite:///{data / 'meetlat.db'}")
        store = BenchmarkStore(engine)
        deadline = time.monotonic() + 240
        quiet = 0
        while time.monotonic() < deadline and quiet < 8:
            try:
                snapshots.append(store.take_snapshot("streaming"))
            except Exception:  # tables not migrated yet
                time.sleep(0.3)
                continue
            same = len(snapshots) > 1 and snapshots[-1].position == snapshots[-2].position
            settled = same and bool(snapshots[-1].position) and ingest.poll() is not None
            quiet = quiet + 1 if settled else 0
            time.sleep(0.5)
        assert ingest.wait(timeout=120) == 0
        moving = [s for s in snapshots if s.position]
        positions = {str(s.position) for s in moving}
        assert len(positions) >= 3, "no snapshot was taken while figures were flowing"
        for info in moving:
            until = {p["partition"]: p["offset"] for p in info.position if p["topic"] == topic}
            on_topic = latest_benchmarks(broker_url, topic, until=until)
            expected = sorted_rows(r for b in on_topic.values() for r in figure_rows(b))
            assert store.snapshot_figures(info.id) == expected, (
                f"snapshot {info.id} at {info.position} differs from the topic up to it"
            )
        engine.dispose()
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=60)
