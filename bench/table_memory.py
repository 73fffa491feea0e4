"""What the decoded values the scorer and the aggregator keep cost in memory, and what bounding
them costs in time, in one run on the embedded broker.

    python bench/table_memory.py [--years 4] [--calls 6] [--mails 4]

Generates `--years` of national campaigns (all 342 municipalities, four waves a year, a quarter
apart) and loads them onto an observations topic in event-time order. Then the scorer, the
municipality aggregator and the scope combiner, in one worker process of their own, consume all
of it and aggregate every revision, twice, each time in a fresh process: with the default
settings (`MEETLAT_SCORER_CONTACTS_KEPT`, `MEETLAT_AGGREGATOR_LEDGERS_KEPT`,
`MEETLAT_COMBINED_SCOPES_KEPT`) and with every decoded value kept (as before the settings
existed). For each it prints events/s and CPU µs per event (from
the first event scored until the worker has drained its topics), the process's peak memory
(RSS) and its growth over the run, and per table the decoded values kept at the end and the
decodes done; then the default's figures as multiples of the other's.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Consumed, load_topic

from schemas.reference import ReferenceData
from services.demo.campaign import CampaignSpec, generate_campaign
from services.runtime.broker import EmbeddedBroker
from services.runtime.settings import Settings

EVERY_VALUE = 10**9
TABLES = ("contacts", "municipality-ledgers", "scope-contributions")


@dataclass(frozen=True)
class Run:
    consumed: Consumed
    baseline_mb: float  # RSS before the worker started
    peak_mb: float
    kept: dict[str, float]  # table → decoded values kept at the end
    decodes: dict[str, float]  # table → values decoded during the run


def measure(settings: Settings, broker_url: str, total: int) -> Run:
    """In a fresh process: the scorer and the aggregators over `total` events."""
    from prometheus_client import REGISTRY

    from services.scoring.agent import METRICS as SCORING

    def sample(name: str, table: str) -> float:
        return REGISTRY.get_sample_value(name, {"table": table}) or 0.0

    async def run() -> Run:
        from services.runtime.worker import running_pipeline, wait_until_drained

        baseline = _status_mb("VmRSS")
        async with running_pipeline(
            settings, broker_url, services=("scoring", "aggregation", "combining")
        ) as pipeline:
            while SCORING.consumed_total == 0:
                await asyncio.sleep(0.005)
            started, cpu = time.perf_counter(), time.process_time()
            # (the first batch's events are counted once it is done: the span starts then)
            first = SCORING.consumed_total
            # a guard against a stalled pipeline, not a target: on the slowest machines the
            # four years take more than half an hour (the 1,800 s this waited until 2026-12-07)
            await wait_until_drained(pipeline, broker_url, timeout=max(1800, total / 20))
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        return Run(
            consumed=Consumed(total - first, seconds, cpu_seconds),
            baseline_mb=baseline,
            peak_mb=_status_mb("VmHWM"),
            kept={t: sample("meetlat_table_values_kept", t) for t in TABLES},
            decodes={t: sample("meetlat_table_values_decoded_total", t) for t in TABLES},
        )

    return asyncio.run(run())


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MB. (Not `ru_maxrss`: a
    process started by fork and exec keeps its parent's peak there, here the generated
    history's.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


def main(args: argparse.Namespace) -> None:
    reference = ReferenceData.load()
    events = []
    for year in range(args.years):
        for wave in range(1, 5):
            spec = CampaignSpec(
                seed=year * 4 + wave,
                campaign=f"mg-{2026 + year}",
                wave=wave,
                calls_per_municipality=args.calls,
                mails_per_municipality=args.mails,
                start=CampaignSpec.start + timedelta(days=91 * (year * 4 + wave - 1)),
            )
            events += generate_campaign(spec, reference)
    events.sort(key=lambda e: e.occurred_at)
    contacts = len({e.contact_id for e in events})
    defaults = Settings()
    print(
        f"{len(events):,} events of {contacts:,} contacts, {args.years} yearly campaigns of four "
        f"waves ({342 * args.years:,} municipality ledgers); default settings keep "
        f"{defaults.scorer_contacts_kept:,} contacts, {defaults.aggregator_ledgers_kept:,} "
        f"ledgers and {defaults.combined_scopes_kept} combined scopes decoded",
        flush=True,
    )
    variants = {
        "default settings": {},
        "every value kept": {
            "scorer_contacts_kept": EVERY_VALUE,
            "aggregator_ledgers_kept": EVERY_VALUE,
            "combined_scopes_kept": EVERY_VALUE,
        },
    }
    runs: dict[str, Run] = {}
    spawn = multiprocessing.get_context("spawn")  # (a fresh interpreter: its own peak RSS)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        for number, (name, kept) in enumerate(variants.items()):
            settings = Settings(
                data_dir=Path(tmp) / f"run{number}",
                app_id=f"bench-tables-{number}",
                topic_prefix=f"bench{number}",
                partitions=args.partitions,
                metrics_port=0,
                **kept,
            )
            load_topic(broker.url, f"bench{number}.observations", args.partitions, events)
            with ProcessPoolExecutor(1, mp_context=spawn) as process:
                run = runs[name] = process.submit(
                    measure, settings, broker.url, len(events)
                ).result()
            rate, cpu_us = run.consumed.rate, run.consumed.cpu_us
            print(
                f"{name}: {rate:,.0f} events/s, {cpu_us:.0f} CPU µs per event; peak "
                f"RSS {run.peak_mb:,.0f} MB ({run.peak_mb - run.baseline_mb:,.0f} MB over the "
                f"run); decoded values kept: "
                + ", ".join(
                    f"{t} {run.kept[t]:,.0f} ({run.decodes[t]:,.0f} decodes)" for t in TABLES
                ),
                flush=True,
            )
    bounded, every = runs.values()
    print(
        "the default settings against every value kept: "
        f"{(bounded.peak_mb - bounded.baseline_mb) / (every.peak_mb - every.baseline_mb):.2f}× "
        f"the memory growth, {bounded.peak_mb / every.peak_mb:.2f}× the peak RSS, "
        f"{bounded.consumed.cpu_us / every.consumed.cpu_us:.2f}× the CPU per event"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--mails", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=4)
    main(parser.parse_args())
