"""Rendering many reports at once (`meetlat report all`, and `bench/reports.py`, which times
exactly this): the reports are independent and WeasyPrint keeps one core busy for most of a
second per PDF, so they are spread over worker processes.

The workers are forked once, after the `ReportSet` is built, so they share it without
pickling it. Each tunes its collector as a pipeline worker does (`tune_collector`): a PDF
allocates millions of short-lived objects, and with the default thresholds the collector keeps
walking everything the worker inherited (≈ 10 % of a PDF's CPU).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed

from services.reporting.metrics import render_counted
from services.reporting.render import Format, weasyprint
from services.reporting.reports import Kind, ReportSet
from services.runtime.worker import tune_collector

Job = tuple[Kind, str, Format]

_reports: ReportSet | None = None  # a worker's report set, inherited through fork


def _start_worker(reports: ReportSet) -> None:
    global _reports
    _reports = reports
    tune_collector()


def _render(job: Job) -> tuple[Job, bytes]:
    assert _reports is not None, "not a worker started by render_all"
    return job, render_counted(_reports, *job)


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def render_all(
    reports: ReportSet, jobs: Sequence[Job], workers: int | None = None
) -> Generator[tuple[Job, bytes], None, None]:
    """Each job with its bytes, in the order they finish. With more than one worker the
    processes are forked *now*, before the caller starts threads (a progress bar), and the
    pool is shut down when the generator is exhausted or closed. PDF jobs where WeasyPrint's
    libraries are missing raise `PdfUnavailable` now, before any report is rendered."""
    if any(fmt == "pdf" for _, _, fmt in jobs):
        weasyprint()  # (imported once here, it is shared by the forked workers)
    workers = min(workers or default_workers(), len(jobs))
    if workers <= 1:
        return ((job, render_counted(reports, *job)) for job in jobs)
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(reports,),
    )
    # The workers are forked at the first submit. Frozen, the heap they inherit (the report
    # set, and whatever the caller holds: a benchmark's whole campaign) is left out of their
    # collector, so `tune_collector` does not walk it — and copy every page it touches — once
    # more in each worker. The parent collects it as before once the workers exist (unless it
    # had frozen its own heap already: then it stays frozen, as the caller chose).
    frozen_before = gc.get_freeze_count()
    gc.freeze()
    try:
        futures = [pool.submit(_render, job) for job in jobs]
    finally:
        if not frozen_before:
            gc.unfreeze()
    return _finished(pool, futures)


def _finished(
    pool: ProcessPoolExecutor, futures: list[Future[tuple[Job, bytes]]]
) -> Generator[tuple[Job, bytes], None, None]:
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
