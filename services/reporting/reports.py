"""One snapshot's reports: which exist, their content and their rendering in every format.

`ReportSet` is pure (figure rows, texts and configuration in; bytes out); the CLI, the API
and the benchmark build it from SQL or from the batch oracle.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from schemas.benchmarks import NATION_ID
from schemas.scoring_model import ScoringModel
from services.reporting.contacts import ContactText
from services.reporting.figures import FigureRow, SnapshotInfo
from services.reporting.model import (
    FigureIndex,
    ReportMeta,
    chamber_report,
    make_meta,
    municipality_report,
    national_report,
    report_wave,
)
from services.reporting.render import (
    FileLinks,
    Format,
    Links,
    Report,
    render_csv,
    render_html,
    render_json,
    render_pdf,
)
from services.reporting.tips import TipLibrary

Kind = Literal["municipality", "chamber", "national"]
SCOPE_KIND: dict[str, str] = {
    "municipality": "municipality",
    "chamber": "chamber",
    "national": "nation",
}


@dataclass
class ReportSet:
    """Every report of one snapshot and campaign wave."""

    index: FigureIndex
    meta: ReportMeta
    model: ScoringModel
    tips: TipLibrary
    chamber_of: Mapping[str, str]
    texts: Sequence[ContactText] = ()
    _texts_by: dict[str, list[ContactText]] = field(default_factory=dict, init=False)

    @classmethod
    def build(
        cls,
        rows: Sequence[FigureRow],
        model: ScoringModel,
        tips: TipLibrary,
        chamber_of: Mapping[str, str],
        texts: Sequence[ContactText] = (),
        snapshot: SnapshotInfo | None = None,
        campaign: str | None = None,
        wave: int | None = None,
    ) -> ReportSet:
        index = FigureIndex(rows)
        if campaign is None or wave is None:
            campaign, wave = report_wave(index.kinds(), campaign, wave)
        meta = make_meta(
            model,
            campaign,
            wave,
            snapshot.id if snapshot else None,
            snapshot.label if snapshot else "",
            snapshot.taken_at if snapshot else None,
            snapshot.content_sha256 if snapshot else "",
        )
        made = cls(index, meta, model, tips, chamber_of, texts)
        for t in texts:
            made._texts_by.setdefault(t.municipality, []).append(t)
        return made

    # ---------------------------------------------------------------- what exists

    def municipalities(self) -> list[tuple[str, str]]:
        """(code, name) of every municipality with figures, by name."""
        return [(s.id, s.name) for s in self.index.of_kind("municipality", *self._wave)]

    def chambers(self) -> list[tuple[str, str]]:
        return [(s.id, s.name) for s in self.index.of_kind("chamber", *self._wave)]

    @property
    def _wave(self) -> tuple[str, int]:
        return self.meta.campaign, self.meta.wave

    def all_reports(self) -> Iterator[tuple[Kind, str]]:
        yield "national", NATION_ID
        for chamber_id, _ in self.chambers():
            yield "chamber", chamber_id
        for code, _ in self.municipalities():
            yield "municipality", code

    # ---------------------------------------------------------------- content

    def report(self, kind: Kind, scope_id: str = NATION_ID) -> Report:
        """LookupError when the snapshot has no figures for that scope."""
        if kind == "municipality":
            return municipality_report(
                self.index,
                scope_id,
                self.meta,
                self.model,
                self.tips,
                self.chamber_of,
                self._texts_by.get(scope_id, []),
            )
        if kind == "chamber":
            return chamber_report(self.index, scope_id, self.meta, self.model, self.tips)
        return national_report(self.index, self.meta, self.model, self.tips)

    def rows(self, kind: Kind, scope_id: str = NATION_ID) -> list[FigureRow]:
        """The snapshot's figures of the report's own scope and wave (what CSV/JSON hold)."""
        return self.index.scope_rows(SCOPE_KIND[kind], scope_id, *self._wave)

    def render(
        self,
        kind: Kind,
        scope_id: str,
        fmt: Format,
        links: Links | None = None,
        nav: bool = False,
    ) -> bytes:
        report = self.report(kind, scope_id)
        if kind == "national":
            scope_id = NATION_ID
        if fmt == "csv":
            data = render_csv(self.rows(kind, scope_id)).encode("utf-8")
        elif fmt == "json":
            data = render_json(report, self.rows(kind, scope_id)).encode("utf-8")
        else:
            html = render_html(report, links or FileLinks(), nav=nav, printing=fmt == "pdf")
            data = html.encode("utf-8") if fmt == "html" else render_pdf(html)
        return data


def file_name(kind: Kind, scope_id: str, fmt: Format) -> str:
    if kind == "national":
        return f"national.{fmt}"
    return f"{kind}-{scope_id}.{fmt}"
