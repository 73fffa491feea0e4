"""Time the full national set of reports: every municipality, every Chamber and the national
report, in HTML and in PDF (issue 5's targets on this machine: ≤ 20 s HTML, ≤ 120 s PDF).

    python bench/reports.py [--municipalities N] [--waves 2] [--workers 2] [--formats html pdf]

Generates a national campaign (all 342 municipalities unless --municipalities), scores and
aggregates it with the batch oracle, de-identifies every call report and mail with deduce
(timed apart: it happens once, when texts are stored), then renders the set. PDF rendering
runs in `--workers` processes (default: the CPU count); HTML in one.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.reference import ReferenceData
from services.demo.campaign import CampaignSpec, campaign_waves
from services.recompute import recompute
from services.reporting.contacts import contact_texts
from services.reporting.deidentify import default_deidentifier
from services.reporting.figures import figure_rows
from services.reporting.reports import Kind, ReportSet
from services.reporting.tips import default_tips
from services.runtime.app import load_models
from services.runtime.settings import Settings

_SET: ReportSet | None = None  # inherited by forked workers


def _render(job: tuple[Kind, str, str]) -> tuple[int, float]:
    """Bytes rendered and the CPU seconds it took (the machine may be shared)."""
    assert _SET is not None
    kind, scope_id, fmt = job
    start = time.process_time()
    size = len(_SET.render(kind, scope_id, fmt))  # type: ignore[arg-type]
    return size, time.process_time() - start


def main(args: argparse.Namespace) -> None:
    global _SET
    reference = ReferenceData.load()
    models, active = load_models(Settings())
    started = time.perf_counter()
    spec = CampaignSpec(municipalities=args.municipalities, surveys_per_municipality=12)
    events = campaign_waves(spec, args.waves, reference)
    result = recompute(events, models.by_key, active, reference)
    rows = [r for b in result.benchmarks for r in figure_rows(b)]
    took = time.perf_counter() - started
    print(f"campaign: {len(events):,} events, {len(rows):,} figures in {took:.1f} s")

    start = time.perf_counter()
    deidentify = default_deidentifier()
    deidentify("Laden.", "")
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    texts = contact_texts(events, deidentify)
    took = time.perf_counter() - start
    print(
        f"de-identification: {len(texts):,} texts in {took:.1f} s "
        f"({len(texts) / took:,.0f} texts/s; loading deduce {loaded:.1f} s)"
    )

    _SET = ReportSet.build(rows, active, default_tips(), reference.chamber_of, texts)
    jobs = list(_SET.all_reports())
    counts = {
        k: sum(1 for kind, _ in jobs if kind == k) for k in ("national", "chamber", "municipality")
    }
    print(
        f"report set: {counts['municipality']} municipalities, {counts['chamber']} Chambers, "
        f"{counts['national']} national = {len(jobs)} reports "
        f"(wave {_SET.meta.campaign}/{_SET.meta.wave})"
    )
    targets = {"html": 20.0, "pdf": 120.0}
    for fmt in args.formats:
        start = time.perf_counter()
        work = [(kind, scope_id, fmt) for kind, scope_id in jobs]
        load = os.getloadavg()[0]
        if fmt == "pdf" and args.workers > 1:
            with multiprocessing.get_context("fork").Pool(args.workers) as pool:
                done = pool.map(_render, work, chunksize=4)
        else:
            done = [_render(job) for job in work]
        took = time.perf_counter() - start
        cpu = sum(c for _, c in done)
        workers = args.workers if fmt == "pdf" else 1
        target = targets.get(fmt)
        verdict = ""
        if target is not None:
            verdict = (" ✓" if took <= target else " ✗") + f" (target ≤ {target:g} s)"
        print(
            f"{fmt}: {len(work)} reports in {took:.1f} s wall{verdict}, "
            f"{sum(n for n, _ in done) / 1e6:.1f} MB; {cpu:.1f} CPU s "
            f"({cpu / len(work) * 1000:.0f} ms per report, {cpu / workers:.1f} s on {workers} "
            f"idle core{'s' if workers > 1 else ''}); load average {load:.1f} at the start"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--municipalities", type=int, default=None, help="default: all 342")
    parser.add_argument("--waves", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--formats", nargs="+", default=["html", "pdf"], choices=["html", "pdf", "csv", "json"]
    )
    main(parser.parse_args())
