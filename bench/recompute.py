"""Throughput of the batch oracle (`meetlat recompute`) over a generated national history.

    python bench/recompute.py [--events 1000000] [--workers N]

Generates waves of national campaigns (all 342 municipalities) until the history holds at least
`--events` events, then times `services.recompute.recompute` over all of it (on every core, as
`meetlat recompute` runs it, or in `--workers` processes) and prints events/s (issue 4's
target: ≥ 100,000 events/s), the CPU seconds of all its processes (steadier than wall time on a
shared machine) and the peak memory of the run (the generated history included) and of its
largest worker process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.events import Event
from schemas.reference import ReferenceData
from services.demo.campaign import CampaignSpec, generate_campaign
from services.recompute import recompute
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
        f"{cpu:.1f} CPU s in all processes; peak RSS {peak_mb:,.0f} MB{largest_worker}"
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
