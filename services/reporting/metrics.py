"""Prometheus metrics of the reporting service (snapshots, reports, API)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram

if TYPE_CHECKING:
    from services.reporting.render import Format, Links
    from services.reporting.reports import Kind, ReportSet

SNAPSHOT_SECONDS = Histogram(
    "meetlat_snapshot_seconds",
    "Time taken to write one snapshot.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
REPORTS_RENDERED = Counter(
    "meetlat_reports_rendered_total",
    "Reports rendered, by report kind and format.",
    ["kind", "format"],
)
REPORT_SECONDS = Histogram(
    "meetlat_report_render_seconds",
    "Time taken to render one report, by format.",
    ["format"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
API_SECONDS = Histogram(
    "meetlat_api_request_seconds",
    "Latency of API and dashboard requests, by route template, method and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def render_counted(
    reports: ReportSet,
    kind: Kind,
    scope_id: str,
    fmt: Format,
    links: Links | None = None,
    nav: bool = False,
) -> bytes:
    """`ReportSet.render`, counted and timed (what the CLI and the API call)."""
    start = time.perf_counter()
    data = reports.render(kind, scope_id, fmt, links, nav)
    REPORTS_RENDERED.labels(kind, fmt).inc()
    REPORT_SECONDS.labels(fmt).observe(time.perf_counter() - start)
    return data
