"""Snapshot figures by scope, for the demo's terminal summary (the reports themselves are
built by `services.reporting.model`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.reporting.figures import FigureRow


@dataclass(frozen=True)
class ScopeFigures:
    kind: str
    id: str
    name: str
    values: dict[tuple[str, str], float | None]

    def get(self, breakdown: str, metric: str) -> float | None:
        return self.values.get((breakdown, metric))

    def mean(self, channel: str) -> float | None:
        return self.get(f"channel={channel}", "mean")

    def potential(self, channel: str) -> float | None:
        return self.get(f"channel={channel}", "potential_mean")

    def n(self, channel: str) -> int:
        return int(self.get(f"channel={channel}", "n") or 0)


def by_scope(rows: Iterable[FigureRow]) -> dict[tuple[str, str], ScopeFigures]:
    """Each scope's figures of its latest campaign wave."""
    items = list(rows)
    latest: dict[tuple[str, str], tuple[str, int]] = {}
    for row in items:
        key = (row.scope_kind, row.scope_id)
        latest[key] = max(latest.get(key, (row.campaign, row.wave)), (row.campaign, row.wave))
    scopes: dict[tuple[str, str], ScopeFigures] = {}
    for row in items:
        key = (row.scope_kind, row.scope_id)
        if (row.campaign, row.wave) != latest[key]:
            continue
        if key not in scopes:
            scopes[key] = ScopeFigures(row.scope_kind, row.scope_id, row.scope_name, {})
        scopes[key].values[(row.breakdown, row.metric)] = row.value
    return scopes


def band(score: float | None, sufficient: float = 5.5, norm: float = 7.0) -> str:
    """Slide 24's colours: red below 5.5, yellow from 5.5, green from the norm 7."""
    if score is None:
        return "–"
    if score >= norm:
        return "green"
    return "yellow" if score >= sufficient else "red"


BAND_NL = {"green": "groen", "yellow": "geel", "red": "rood", "–": "–"}


def fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}".replace(".", ",")


def ranked(scopes: Iterable[ScopeFigures], channel: str) -> list[ScopeFigures]:
    """Highest mean first; scopes without contacts on the channel are left out."""
    present = [s for s in scopes if s.mean(channel) is not None]
    return sorted(present, key=lambda s: (-(s.mean(channel) or 0.0), s.id))
