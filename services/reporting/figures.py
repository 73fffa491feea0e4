"""Benchmark figures as flat rows: the shape reporting stores, snapshots and serves.

Pure Python (no SQL): `services.reporting.store` persists these rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from schemas.benchmarks import BenchmarkUpdated

Value = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class FigureRow:
    """One figure: a metric of one breakdown of one scope in one campaign wave. A number is in
    `value`; a category (band, quadrant, survey status, test name) in `label`."""

    scope_kind: str
    scope_id: str
    campaign: str
    wave: int
    scope_name: str
    breakdown: str
    metric: str
    value: float | None
    label: str | None = None

    @property
    def sort_key(self) -> RowKey:
        return (
            self.scope_kind,
            self.scope_id,
            self.campaign,
            self.wave,
            self.breakdown,
            self.metric,
        )


RowKey = tuple[str, str, str, int, str, str]
"""A figure's place in the canonical order (`FigureRow.sort_key`)."""


@dataclass(frozen=True, slots=True)
class FigureQuery:
    """Which figures of a snapshot are wanted: each field given must match (None: any)."""

    scope_kind: str | None = None
    scope_id: str | None = None
    campaign: str | None = None
    wave: int | None = None
    breakdown: str | None = None

    def holds(self, scope_kind: str, scope_id: str, campaign: str, wave: int) -> bool:
        """Whether the figure set of that scope and campaign wave can hold wanted figures."""
        return (
            (self.scope_kind is None or self.scope_kind == scope_kind)
            and (self.scope_id is None or self.scope_id == scope_id)
            and (self.campaign is None or self.campaign == campaign)
            and (self.wave is None or self.wave == wave)
        )


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """An immutable snapshot of the latest figures and the stream position they reflect."""

    id: int
    taken_at: datetime
    label: str
    position: list[dict[str, Any]]
    figure_count: int
    content_sha256: str


def figure_rows(update: BenchmarkUpdated) -> list[FigureRow]:
    """Flatten a scope's figure set into rows, in canonical order. Breakdowns keep their keys
    (`all`, `channel=phone/criterion=…`); the rest is under `scope`, `process`,
    `survey/<key>`, `standing/<breakdown>` (metric `<field>:<municipality>`) and `quadrant`
    (metric = municipality). Missing figures (None) get no row."""
    data = update.model_dump()  # one call: much cheaper than dumping each part
    items: list[tuple[str, str, Value]] = [
        ("scope", "version", update.version),
        ("scope", "contacts", update.contacts),
        ("scope", "as_of", None if update.as_of is None else update.as_of.isoformat()),
        ("scope", "previous_wave", update.previous_wave),
        ("scope", "wave_test", update.wave_test or None),
        ("scope", "quadrant_reference", update.quadrant_reference or None),
    ]
    for breakdown, figures in data["breakdowns"].items():
        items.extend((breakdown, metric, raw) for metric, raw in figures.items())
    items.extend(("process", metric, raw) for metric, raw in data["process"].items())
    for key, survey in data["surveys"].items():
        for metric, raw in survey.items():
            if metric == "hostmanship":
                for i, item in enumerate(raw or (), start=1):
                    items.append((f"survey/{key}", f"hostmanship_{i}", item))
            else:
                items.append((f"survey/{key}", metric, raw))
    for breakdown, placed in data["standings"].items():
        for code, standing in placed.items():
            items.extend(
                (f"standing/{breakdown}", f"{field}:{code}", raw) for field, raw in standing.items()
            )
    items.extend(("quadrant", code, placed) for code, placed in data["quadrants"].items())
    rows = [
        FigureRow(
            scope_kind=update.scope_kind,
            scope_id=update.scope_id,
            campaign=update.campaign,
            wave=update.wave,
            scope_name=update.name,
            breakdown=breakdown,
            metric=metric,
            value=_number(raw),
            label=raw if isinstance(raw, str) else None,
        )
        for breakdown, metric, raw in items
        if raw is not None
    ]
    rows.sort(key=lambda row: row.sort_key)
    return rows


def _number(raw: Value) -> float | None:
    if isinstance(raw, str) or raw is None:
        return None
    return float(raw)


def sorted_rows(rows: Iterable[FigureRow]) -> list[FigureRow]:
    """Rows in the canonical order: scope, campaign, wave, breakdown, metric (code points)."""
    return sorted(rows, key=lambda row: row.sort_key)


def content_sha256(rows: Iterable[FigureRow]) -> str:
    """SHA-256 of the canonical JSON of the rows, sorted: equal content, equal hash."""
    return _sha256_in_order(sorted_rows(rows))


def _sha256_in_order(rows: Sequence[FigureRow]) -> str:
    return hashlib.sha256(_canonical_json(rows).encode("utf-8")).hexdigest()


def snapshot_sha256(rows: Iterable[FigureRow]) -> str:
    """A snapshot's SHA-256: of its figure sets' `content_sha256`s (see `sets_sha256`)."""
    return sets_sha256(s.content_sha256 for s in figure_sets(rows))


def sets_sha256(set_hashes: Iterable[str]) -> str:
    """SHA-256 of figure sets' SHA-256s (hex, each followed by a newline) in the canonical
    order of their scopes and campaign waves: equal figures, equal hash, and a snapshot hashes
    without reading the figure sets an earlier snapshot already stored."""
    return hashlib.sha256("".join(f"{h}\n" for h in set_hashes).encode("ascii")).hexdigest()


def _canonical_json(rows: Sequence[FigureRow]) -> str:
    canonical = [
        [
            r.scope_kind,
            r.scope_id,
            r.campaign,
            r.wave,
            r.scope_name,
            r.breakdown,
            r.metric,
            r.value,
            r.label,
        ]
        for r in rows
    ]
    return json.dumps(canonical, ensure_ascii=False, separators=(",", ":"), allow_nan=True)


@dataclass(frozen=True, slots=True)
class FigureSet:
    """Every figure of one scope in one campaign wave, in canonical order: what a snapshot
    refers to, stored once however many snapshots hold it."""

    rows: tuple[FigureRow, ...]
    content_sha256: str

    @property
    def scope(self) -> FigureRow:
        """A row that names the set's scope, campaign wave and scope name."""
        return self.rows[0]


def figure_sets(rows: Iterable[FigureRow]) -> list[FigureSet]:
    """The rows as one figure set per scope and campaign wave, in canonical order."""
    grouped = (tuple(same) for _, same in groupby(sorted_rows(rows), key=lambda r: r.sort_key[:4]))
    return [FigureSet(group, _sha256_in_order(group)) for group in grouped]  # (sorted already)
