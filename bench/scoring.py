"""Scorer throughput against a bare faust agent, in one run on the embedded broker.

    python bench/scoring.py [--municipalities 342] [--calls 12] [--mails 8]

Loads a generated campaign onto an observations topic once, then lets (1) a bare faust agent
that only counts the events and (2) the real scorer (table state, deadlines, revisions, the
changelog) each consume all of it from the start, in the same process and on the same broker.
Prints events/s of both and their ratio (target ≥ 0.75), and the CPU time of the process per
event (steadier than wall-clock time on a shared machine). The median of `--runs` runs counts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


from common import Consumed, bare_agent, load_topic, until

from schemas.reference import ReferenceData
from services import native
from services.demo.campaign import CampaignSpec, generate_campaign
from services.runtime.broker import EmbeddedBroker
from services.runtime.settings import Settings
from services.runtime.worker import running_pipeline
from services.scoring.agent import METRICS as SCORING


def _scored() -> int:
    # The scorer's own running count of consumed events, polled every 5 ms in the loop being
    # measured: collecting the Prometheus counter instead took 3-4 % of the scorer run's CPU,
    # overhead the bare agent's plain counter does not have.
    return SCORING.consumed_total


async def scorer(settings: Settings, broker_url: str, total: int) -> Consumed:
    before = _scored()
    async with running_pipeline(settings, broker_url, services=("scoring",)):
        # the scorer counts a batch when it is done: the span starts after its first batch,
        # and so does the count (until 2026-11-30 the first batch's events were counted
        # without its time, which flattered the scorer by up to 2,000 of 26,052 events)
        return await until(lambda: _scored() - before, total)


async def main(args: argparse.Namespace) -> None:
    reference = ReferenceData.load()
    spec = CampaignSpec(
        municipalities=args.municipalities,
        calls_per_municipality=args.calls,
        mails_per_municipality=args.mails,
    )
    events = generate_campaign(spec, reference)
    print(
        f"{len(events):,} events ({args.municipalities} municipalities); scoring modules "
        f"{native.described()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        results: dict[str, list[Consumed]] = {"bare": [], "scorer": []}
        for run in range(args.runs):
            prefix = f"bench{run}"
            settings = Settings(
                data_dir=Path(tmp),
                topic_prefix=prefix,
                app_id=f"bench-scorer-{run}",
                partitions=args.partitions,
                metrics_port=0,
            )
            observations = f"{prefix}.observations"
            load_topic(broker.url, observations, args.partitions, events)
            bare = await bare_agent(settings, broker.url, observations, len(events))
            scored = await scorer(settings, broker.url, len(events))
            results["bare"].append(bare)
            results["scorer"].append(scored)
            print(
                f"run {run + 1}: bare agent {bare.rate:,.0f} events/s ({bare.cpu_us:.0f} CPU µs "
                f"per event), scorer {scored.rate:,.0f} events/s ({scored.cpu_us:.0f} CPU µs "
                f"per event), ratio {scored.rate / bare.rate:.2f}",
                flush=True,
            )
        bare_rate = statistics.median(r.rate for r in results["bare"])
        scorer_rate = statistics.median(r.rate for r in results["scorer"])
        bare_cpu = statistics.median(r.cpu_us for r in results["bare"])
        scorer_cpu = statistics.median(r.cpu_us for r in results["scorer"])
        print(
            f"median: bare agent {bare_rate:,.0f} events/s, scorer {scorer_rate:,.0f} events/s, "
            f"ratio {scorer_rate / bare_rate:.2f} (target ≥ 0.75); CPU per event: bare agent "
            f"{bare_cpu:.0f} µs, scorer {scorer_cpu:.0f} µs, ratio {bare_cpu / scorer_cpu:.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--municipalities", type=int, default=342)
    parser.add_argument("--calls", type=int, default=12)
    parser.add_argument("--mails", type=int, default=8)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
