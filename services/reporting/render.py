"""Rendering reports: self-contained HTML (Jinja2, autoescaped, charts as inline SVG), PDF
(WeasyPrint from that HTML), CSV and JSON of the figures.

Everything that came from outside (call reports, mail bodies, reviews, names) is escaped by
Jinja's autoescape; nothing is marked safe, so a mail cannot run script in a report.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import io
import json
import threading
from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from types import ModuleType
from typing import Any, Literal, Protocol

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel

from services.reporting.charts import LABEL_SIZE, Bar
from services.reporting.figures import FigureRow
from services.reporting.model import ChamberReport, MunicipalityReport, NationalReport

Format = Literal["html", "pdf", "csv", "json"]
FORMATS: tuple[Format, ...] = ("html", "pdf", "csv", "json")
MEDIA_TYPES: dict[str, str] = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
Report = MunicipalityReport | ChamberReport | NationalReport


class Links(Protocol):
    """Where a report links to: files beside it, or the dashboard's pages."""

    def municipality(self, code: str) -> str: ...
    def chamber(self, chamber_id: str) -> str: ...
    def national(self) -> str: ...
    def bar(self, bar: Bar) -> str: ...


class FileLinks:
    """Links between the files `meetlat report all` writes into one folder."""

    def municipality(self, code: str) -> str:
        return f"municipality-{code}.html"

    def chamber(self, chamber_id: str) -> str:
        return f"chamber-{chamber_id}.html"

    def national(self) -> str:
        return "national.html"

    def bar(self, bar: Bar) -> str:
        if bar.link_kind == "municipality":
            return self.municipality(bar.key)
        if bar.link_kind == "chamber":
            return self.chamber(bar.key)
        return ""


def nl_number(value: float | int | None, digits: int = 2) -> str:
    """Dutch notation: decimal comma; '–' for no value."""
    if value is None:
        return "–"
    return f"{value:.{digits}f}".replace(".", ",")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("services.reporting", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["nl"] = nl_number
    env.filters["svg_data_url"] = svg_data_url
    env.globals["LABEL_SIZE"] = f"{LABEL_SIZE:g}"
    return env


def svg_data_url(svg: str) -> str:
    """An SVG document as a data: URL (for an <img>; the markup is already escaped)."""
    return "data:image/svg+xml;base64," + base64.b64encode(str(svg).encode()).decode("ascii")


def nav_for(report: Report, links: Links) -> list[tuple[str, str]]:
    nav = [(links.national(), "Nederland")]
    if isinstance(report, ChamberReport):
        nav.append((links.chamber(report.id), report.name))
    elif isinstance(report, MunicipalityReport):
        if report.chamber_id and report.chamber_name:
            nav.append((links.chamber(report.chamber_id), report.chamber_name))
        nav.append((links.municipality(report.code), report.name))
    return nav


def render_html(report: Report, links: Links, nav: bool = False, printing: bool = False) -> str:
    """The report as one self-contained page. `printing` (for the PDF) leaves out what only a
    screen uses — tooltips on chart bars, which WeasyPrint would lay out for nothing."""
    template = {
        MunicipalityReport: "municipality.html.j2",
        ChamberReport: "chamber.html.j2",
        NationalReport: "national.html.j2",
    }[type(report)]
    return (
        environment()
        .get_template(template)
        .render(
            r=report,
            meta=report.meta,
            links=links,
            nav=nav_for(report, links) if nav else [],
            printing=printing,
        )
    )


ERROR_HEADINGS = {
    404: "Niet gevonden",
    422: "Ongeldig verzoek",
    503: "Tijdelijk niet beschikbaar",
}


def render_error_page(status: int, detail: str) -> str:
    """A dashboard page for an error: what went wrong, and the way back."""
    heading = ERROR_HEADINGS.get(status, "Er ging iets mis")
    return (
        environment()
        .get_template("error.html.j2")
        .render(status=status, heading=heading, detail=detail)
    )


# Debian's packages of what WeasyPrint loads (`scripts/test` installs them)
PDF_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core"


class PdfUnavailable(RuntimeError):
    """PDF cannot be rendered here: a library WeasyPrint loads is missing."""


_weasyprint: ModuleType | None = None
_weasyprint_lock = threading.Lock()  # (one import at a time: each swaps sys.stdout)


def weasyprint() -> ModuleType:
    """WeasyPrint (a heavy import, only for PDF). It loads Pango, HarfBuzz and fontconfig
    when imported; without them it raises `PdfUnavailable`, which says what to install."""
    global _weasyprint
    with _weasyprint_lock:
        if _weasyprint is None:
            try:
                # (where it fails, WeasyPrint prints a hint to stdout: where `-o -` writes)
                with contextlib.redirect_stdout(io.StringIO()):
                    import weasyprint as module
            except OSError as exc:
                raise PdfUnavailable(
                    "PDF reports need Pango and HarfBuzz, which WeasyPrint could not load "
                    f"({exc}); on Debian or Ubuntu: apt-get install {PDF_PACKAGES}"
                ) from None
            _weasyprint = module
        return _weasyprint


_fonts = threading.local()


def _font_config() -> Any:
    """This thread's WeasyPrint font configuration, made once: WeasyPrint would make a new one
    (a fresh fontconfig set-up and Pango font map, every font opened again) per document.
    Pango font maps are not thread-safe, so API threads do not share one."""
    config = getattr(_fonts, "config", None)
    if config is None:
        from weasyprint.text.fonts import FontConfiguration

        config = _fonts.config = FontConfiguration()
    return config


def render_pdf(html: str) -> bytes:
    """The report as PDF (`PdfUnavailable` where WeasyPrint's libraries are missing)."""
    HTML = weasyprint().HTML

    from services.reporting.svgtext import install as draw_svg_labels_whole

    draw_svg_labels_whole()
    pdf = HTML(string=html).write_pdf(font_config=_font_config())
    assert pdf is not None
    return bytes(pdf)


CSV_COLUMNS = (
    "scope_kind",
    "scope_id",
    "scope_name",
    "campaign",
    "wave",
    "breakdown",
    "metric",
    "value",
    "label",
)


def render_csv(rows: Sequence[FigureRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.scope_kind,
                r.scope_id,
                r.scope_name,
                r.campaign,
                r.wave,
                r.breakdown,
                r.metric,
                "" if r.value is None else repr(r.value),
                r.label or "",
            ]
        )
    return out.getvalue()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render_json(report: Report, rows: Sequence[FigureRow]) -> str:
    kind = {
        MunicipalityReport: "municipality",
        ChamberReport: "chamber",
        NationalReport: "national",
    }[type(report)]
    document = {
        "report": kind,
        "meta": dataclasses.asdict(report.meta),
        "figures": [dataclasses.asdict(r) for r in rows],
        "content": dataclasses.asdict(report),
    }
    return json.dumps(document, ensure_ascii=False, default=_plain, indent=1)
