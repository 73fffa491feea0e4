"""Time the full national set of reports: every municipality, every Chamber and the national
report, in HTML and in PDF (issue 5's targets on this machine: ≤ 20 s HTML, ≤ 120 s PDF).

    python bench/reports.py [--municipalities N] [--waves 2] [--workers 2] [--formats html pdf]

Generates a national campaign (all 342 municipalities unless --municipalities), scores and
aggregates it with the batch oracle, de-identifies every call report and mail with deduce
(timed apart: it happens once, when texts are stored), then renders the set per format the way
`meetlat report all` does (`services.reporting.batch.render_all`, in `--workers` processes,
default one per core). CPU seconds are those of this process and of the workers together.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.reference import ReferenceData
from services.demo.campaign import CampaignSpec, campaign_waves
from services.recompute import recompute
from services.reporting.batch import default_workers, render_all
from services.reporting.contacts import contact_texts
from services.reporting.deidentify import default_deidentifier
from services.reporting.figures import figure_rows
from services.reporting.render import Format
from services.reporting.reports import ReportSet
from services.reporting.tips import default_tips
from services.runtime.app import load_models
from services.runtime.settings import Settings


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the machine may be shared)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _font_subsetter() -> str:
    """Which font subsetter WeasyPrint uses: HarfBuzz's (C), or fontTools (Python, about 40 %
    more CPU per report) when Debian's libharfbuzz-subset0 is missing."""
    from weasyprint.text.ffi import harfbuzz, harfbuzz_subset

    if harfbuzz_subset is not None and harfbuzz.hb_version_atleast(4, 1, 0):
        return "HarfBuzz"
    return "fontTools (install libharfbuzz-subset0 for HarfBuzz's, as scripts/test does)"


def main(args: argparse.Namespace) -> None:
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

    reports = ReportSet.build(rows, active, default_tips(), reference.chamber_of, texts)
    scopes = list(reports.all_reports())
    counts = {
        k: sum(1 for kind, _ in scopes if kind == k)
        for k in ("national", "chamber", "municipality")
    }
    print(
        f"report set: {counts['municipality']} municipalities, {counts['chamber']} Chambers, "
        f"{counts['national']} national = {len(scopes)} reports "
        f"(wave {reports.meta.campaign}/{reports.meta.wave})"
    )
    targets = {"html": 20.0, "pdf": 120.0}
    fmt: Format
    for fmt in args.formats:
        jobs = [(kind, scope_id, fmt) for kind, scope_id in scopes]
        load = os.getloadavg()[0]
        start, cpu_start = time.perf_counter(), cpu_seconds()
        size = sum(len(data) for _, data in render_all(reports, jobs, args.workers))
        took, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        workers = min(args.workers, len(jobs))
        target = targets.get(fmt)
        verdict = ""
        if target is not None:
            verdict = (" ✓" if took <= target else " ✗") + f" (target ≤ {target:g} s)"
        print(
            f"{fmt}: {len(jobs)} reports in {took:.1f} s wall{verdict}, {size / 1e6:.1f} MB; "
            f"{cpu:.1f} CPU s ({cpu / len(jobs) * 1000:.0f} ms per report, {cpu / workers:.1f} s "
            f"on {workers} idle core{'s' if workers > 1 else ''}); "
            f"load average {load:.1f} at the start"
        )
        if fmt == "pdf":
            print(f"  fonts subset with {_font_subsetter()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--municipalities", type=int, default=None, help="default: all 342")
    parser.add_argument("--waves", type=int, default=2)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument(
        "--formats", nargs="+", default=["html", "pdf"], choices=["html", "pdf", "csv", "json"]
    )
    main(parser.parse_args())
