"""Throughput of the batch oracle (`meetlat recompute`) over a generated national history.

    python bench/recompute.py [--events 1000000] [--workers N]

Generates waves of national campaigns (all 342 municipalities) until the history holds at least
`--events` events, then times the oracle over all of it (on every core, as `meetlat recompute`
runs it, or in `--workers` processes), twice:

1. `recompute` of the events in memory (scoring and aggregation alone);
2. `recompute_jsonl` of the same history written to a JSONL file, read and parsed as well, as
   `meetlat recompute FILE` does (writing the file is not timed).

For each it prints events/s (issue 4's target: ≥ 100,000 events/s) and the CPU seconds of all
its processes (steadier than wall time on a shared machine); after the first, the peak memory
of the run (the generated history included) and of its largest worker process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.events import EVENT_ADAPTER, Event
from schemas.reference import ReferenceData
from services.demo.campaign import CampaignSpec, generate_campaign
from services.recompute import recompute, recompute_jsonl
from services.runtime.app import load_models
from services.runtime.settings import Settings


def main(args: argparse.Namespace) -> None:
    reference = ReferenceData.load()
    models, active = load_models(Settings())
    started = time.perf_counter()
    events: list[Event] = []
    wave = 0
    while len(events) < args.events:
        wave += 1
        spec = CampaignSpec(
            seed=wave,
            campaign=f"mg-{2000 + (wave - 1) // 4}",
            wave=(wave - 1) % 4 + 1,
            calls_per_municipality=args.calls,
            mails_per_municipality=args.mails,
        )
        events.extend(generate_campaign(spec, reference))
    generated = time.perf_counter() - started
    print(f"generated {len(events):,} events in {wave} waves in {generated:.1f} s", flush=True)

    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    result = recompute(events, models.by_key, active, reference, workers=args.workers)
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # (with one process there are no workers; the largest child is then some helper's)
    largest_worker = "" if args.workers == 1 else f" (largest worker process {worker_mb:,.0f} MB)"
    print(
        f"recompute: {len(events):,} events, {len(result.scores):,} contacts, "
        f"{len(result.benchmarks):,} benchmarks in {elapsed:.1f} s "
        f"({_processes(args.workers)}) = "
        f"{len(events) / elapsed:,.0f} events/s (target ≥ 100,000); "
        f"{cpu:.1f} CPU s in all processes; peak RSS {peak_mb:,.0f} MB{largest_worker}",
        flush=True,
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        with path.open("wb") as out:
            for event in events:
                out.write(EVENT_ADAPTER.dump_json(event) + b"\n")
        count, megabytes = len(events), path.stat().st_size / 1e6
        del events, result
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        from_file, skipped = recompute_jsonl(
            path.read_bytes(), path.name, models.by_key, active, reference, workers=args.workers
        )
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
    assert not skipped, skipped[:3]
    print(
        f"recompute from a {megabytes:,.0f} MB JSONL file (as meetlat recompute FILE): "
        f"{count:,} events, {len(from_file.scores):,} contacts in {elapsed:.1f} s = "
        f"{count / elapsed:,.0f} events/s; {cpu:.1f} CPU s in all processes"
    )


def _processes(workers: int | None) -> str:
    if workers is None:
        return "one process per core"
    return "1 process" if workers == 1 else f"{workers} processes"


def _cpu_seconds() -> float:
    """User and system CPU of this process and of its finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=24)
    parser.add_argument("--mails", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=None, help="processes (default: one per core)"
    )
    main(parser.parse_args())
