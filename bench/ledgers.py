"""What the municipality aggregator's work on a batch costs as a municipality's history grows.

    python bench/ledgers.py [--years 10] [--batches 200]

A research team remeasures every year (four waves a campaign). The aggregator keeps each
municipality's ledger per campaign; earlier versions kept one ledger of all its campaigns.
After a batch that changed a municipality's wave, the aggregator recomputes the affected
waves' benchmarks and writes the whole ledger to its table's changelog. This times that step
(`municipality_updates` and the ledger's JSON, as the agent makes them) for one municipality
after `--years` campaigns, with each layout, in one run: a batch changes one contact of the
newest wave (a late callback), with the newest campaign's ledger and with a ledger of every
campaign. The CPU per batch and the bytes written to the changelog per batch are printed for
each, and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.reference import ReferenceData
from schemas.scores import ScoreRevision
from services.aggregation.benchmarks import (
    AggregationRules,
    Ledger,
    municipality_updates,
    rules_for,
)
from services.demo.campaign import CampaignSpec, generate_campaign
from services.recompute import score_all
from services.runtime.app import load_models
from services.runtime.settings import Settings

MUNICIPALITY = "GM0344"


def main(args: argparse.Namespace) -> None:
    reference = ReferenceData.load()
    # (the generator plays each municipality on its own: one is enough)
    alone = replace(
        reference, municipalities={MUNICIPALITY: reference.municipalities[MUNICIPALITY]}
    )
    models, active = load_models(Settings())
    rules = rules_for(active, models.by_key)
    events = []
    for year in range(args.years):
        for wave in range(1, 5):
            spec = CampaignSpec(
                seed=year * 4 + wave,
                campaign=f"mg-{2027 - args.years + year}",
                wave=wave,
                calls_per_municipality=args.calls,
                mails_per_municipality=args.mails,
            )
            events += generate_campaign(spec, alone)
    scores, _ = score_all(events, models.by_key, active)
    history = sorted(scores.values(), key=lambda r: (r.campaign, r.wave, r.contact_id))
    late = history[-1]  # a contact of the newest wave
    print(
        f"{MUNICIPALITY}: {len(events):,} events of {args.years} yearly campaigns of four waves, "
        f"{len(history):,} contacts; each batch changes one contact of the newest wave",
        flush=True,
    )
    layouts = {
        "the newest campaign's ledger (this version)": [
            r for r in history if r.campaign == late.campaign
        ],
        "one ledger of every campaign (earlier versions)": history,
    }
    measured = {}
    for name, revisions in layouts.items():
        cpu_ms, written = per_batch(revisions, late, rules, reference, args.batches)
        measured[name] = (cpu_ms, written)
        print(
            f"{name}: {len(revisions):,} contacts; {cpu_ms:.2f} CPU ms per batch, "
            f"{written / 1024:,.0f} KB to the changelog per batch",
            flush=True,
        )
    (new_ms, new_bytes), (old_ms, old_bytes) = measured.values()
    print(
        f"every campaign in one ledger against the campaign's: {old_ms / new_ms:.1f}× the CPU "
        f"and {old_bytes / new_bytes:.1f}× the changelog bytes per batch"
    )


def per_batch(
    revisions: list[ScoreRevision],
    late: ScoreRevision,
    rules: AggregationRules,
    reference: ReferenceData,
    batches: int,
) -> tuple[float, int]:
    """CPU ms per batch and bytes written per batch, the median of three rounds."""
    ledger = Ledger()
    for revision in revisions:
        ledger.apply_revision(revision, rules.phases)
    rounds = []
    number = late.revision
    written = 0
    for _ in range(3):
        started = time.process_time()
        for _ in range(batches):
            number += 1
            # a late fact: the contact's total moves, so its wave's figures change
            total = round((late.total + number * 0.37) % 10, 2)
            ledger.apply_revision(
                late.model_copy(update={"revision": number, "total": total}), rules.phases
            )
            municipality_updates(
                MUNICIPALITY, ledger, {(late.campaign, late.wave)}, reference, rules
            )
            written = len(orjson.dumps(ledger.to_json()))
        rounds.append((time.process_time() - started) * 1000 / batches)
    return sorted(rounds)[1], written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--calls", type=int, default=24)
    parser.add_argument("--mails", type=int, default=16)
    main(parser.parse_args())
