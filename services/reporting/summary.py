"""Pure report content from snapshot figures: the national summary and a small report per
Chamber (Markdown). The full reports of the seed (slide 20) come with the reporting issue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.reporting.figures import FigureRow, SnapshotInfo


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


def _figures_table(scopes: Iterable[ScopeFigures]) -> list[str]:
    lines = [
        "| | telefonie | potentie | n | e-mail | potentie | n |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scopes:
        lines.append(
            f"| {s.name} | {fmt(s.mean('phone'))} | {fmt(s.potential('phone'))} | {s.n('phone')} "
            f"| {fmt(s.mean('mail'))} | {fmt(s.potential('mail'))} | {s.n('mail')} |"
        )
    return lines


def _header(title: str, snapshot: SnapshotInfo) -> list[str]:
    return [
        f"# {title}",
        "",
        f"Snapshot {snapshot.id} ({snapshot.label or 'zonder label'}), "
        f"genomen {snapshot.taken_at:%Y-%m-%d %H:%M} UTC; "
        f"inhoud sha256 `{snapshot.content_sha256[:12]}`.",
        "",
    ]


def national_summary(rows: list[FigureRow], snapshot: SnapshotInfo, top: int = 5) -> str:
    scopes = by_scope(rows)
    nation = next((s for s in scopes.values() if s.kind == "nation"), None)
    chambers = sorted((s for s in scopes.values() if s.kind == "chamber"), key=lambda s: s.name)
    municipalities = [s for s in scopes.values() if s.kind == "municipality"]
    out = _header("Landelijke samenvatting mystery guest-onderzoek", snapshot)
    if nation:
        out += ["## Nederland", "", *_figures_table([nation]), ""]
    out += ["## Kamers van Koophandel", "", *_figures_table(chambers), ""]
    for channel, label in (("phone", "Telefonie"), ("mail", "E-mail")):
        order = ranked(municipalities, channel)
        if not order:
            continue
        out += [f"## {label}: beste en slechtste gemeenten", ""]
        out += ["| | gemeente | gemiddelde | kleur |", "|---|---|---:|---|"]
        for position, s in enumerate(order[:top], start=1):
            out.append(
                f"| {position} | {s.name} | {fmt(s.mean(channel))} "
                f"| {BAND_NL[band(s.mean(channel))]} |"
            )
        out.append("| … | | | |")
        for position, s in list(enumerate(order, start=1))[-top:]:
            out.append(
                f"| {position} | {s.name} | {fmt(s.mean(channel))} "
                f"| {BAND_NL[band(s.mean(channel))]} |"
            )
        out.append("")
    return "\n".join(out)


def chamber_report(
    rows: list[FigureRow],
    chamber_id: str,
    municipality_codes: Iterable[str],
    snapshot: SnapshotInfo,
) -> str:
    scopes = by_scope(rows)
    chamber = scopes.get(("chamber", chamber_id))
    nation = scopes.get(("nation", "NL"))
    name = chamber.name if chamber else chamber_id
    out = _header(f"{name}: gemeenten vergeleken", snapshot)
    out += ["## Gemiddelden", "", *_figures_table([s for s in (chamber, nation) if s]), ""]
    members = [
        scopes[("municipality", c)] for c in municipality_codes if ("municipality", c) in scopes
    ]
    for channel, label in (("phone", "Telefonie"), ("mail", "E-mail")):
        order = ranked(members, channel)
        if not order:
            continue
        out += [
            f"## {label}",
            "",
            "| | gemeente | gemiddelde | potentie | n | kleur |",
            "|---|---|---:|---:|---:|---|",
        ]
        for position, s in enumerate(order, start=1):
            out.append(
                f"| {position} | {s.name} | {fmt(s.mean(channel))} | {fmt(s.potential(channel))} "
                f"| {s.n(channel)} | {BAND_NL[band(s.mean(channel))]} |"
            )
        out.append("")
    out.append("Kleuren: rood onder 5,5 (onvoldoende), geel vanaf 5,5, groen vanaf de norm 7.")
    return "\n".join(out)
