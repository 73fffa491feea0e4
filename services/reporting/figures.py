"""Benchmark figures as flat rows: the shape reporting stores, snapshots and serves.

Pure Python (no SQL): `services.reporting.store` persists these rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.benchmarks import BenchmarkUpdated

# The fields of `schemas.benchmarks.Figures`, each stored as one metric.
METRICS: tuple[str, ...] = ("n", "mean", "min", "max", "potential_n", "potential_mean")


@dataclass(frozen=True, slots=True)
class FigureRow:
    """One number: a metric of one breakdown of one scope."""

    scope_kind: str
    scope_id: str
    scope_name: str
    breakdown: str
    metric: str
    value: float | None

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.scope_kind, self.scope_id, self.breakdown, self.metric)


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
    """Flatten a scope's figure set into rows (ints as float), ordered by breakdown, metric."""
    rows: list[FigureRow] = []
    for breakdown, figures in update.breakdowns.items():
        for metric in METRICS:
            raw = getattr(figures, metric)
            rows.append(
                FigureRow(
                    scope_kind=update.scope_kind,
                    scope_id=update.scope_id,
                    scope_name=update.name,
                    breakdown=breakdown,
                    metric=metric,
                    value=None if raw is None else float(raw),
                )
            )
    rows.sort(key=lambda row: row.sort_key)
    return rows


def sorted_rows(rows: Iterable[FigureRow]) -> list[FigureRow]:
    """Rows in the canonical order: scope_kind, scope_id, breakdown, metric (code points)."""
    return sorted(rows, key=lambda row: row.sort_key)


def content_sha256(rows: Iterable[FigureRow]) -> str:
    """SHA-256 of the canonical JSON of the rows, sorted: equal content, equal hash."""
    canonical = [
        [r.scope_kind, r.scope_id, r.scope_name, r.breakdown, r.metric, r.value]
        for r in sorted_rows(rows)
    ]
    text = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
