"""Rendering a report set in worker processes (`meetlat report all`) gives what rendering in
this process gives."""

from __future__ import annotations

import gc
import io
import multiprocessing

from pypdf import PdfReader

from services.reporting.batch import Job, render_all

from .conftest import Fixture


def test_workers_render_what_this_process_renders(campaign: Fixture) -> None:
    reports = campaign.reports
    code, name = reports.municipalities()[0]
    chamber = reports.chambers()[0][0]
    jobs: list[Job] = [
        ("national", "NL", "html"),
        ("chamber", chamber, "json"),
        ("municipality", code, "html"),
        ("municipality", code, "csv"),
        ("municipality", code, "pdf"),
    ]
    tuned = gc.get_freeze_count() > 0  # an earlier test in this process tuned the collector
    gc.unfreeze()
    try:
        rendered = dict(render_all(reports, jobs, workers=2))
        assert gc.get_freeze_count() == 0  # frozen only while the workers were forked
    finally:
        if tuned:
            gc.freeze()
    assert set(rendered) == set(jobs)
    for job in jobs[:-1]:
        assert rendered[job] == reports.render(*job)
    pdf = PdfReader(io.BytesIO(rendered[jobs[-1]]))
    assert name in "\n".join(page.extract_text() or "" for page in pdf.pages)


def test_closing_early_stops_the_workers(campaign: Fixture) -> None:
    reports = campaign.reports
    jobs: list[Job] = [("municipality", code, "html") for code, _ in reports.municipalities()]
    rendered = render_all(reports, jobs, workers=2)
    assert len(multiprocessing.active_children()) == 2
    assert next(rendered)[0] in jobs
    rendered.close()
    assert multiprocessing.active_children() == []
