"""Pure running-benchmark maths.

Two levels, so no single partition has to hold every contact:

1. A municipality keeps a *ledger*: the latest revision of each of its contacts. A revision
   replaces the contact's earlier one (duplicates and older revisions change nothing), and the
   municipality's *partials* (mergeable sums per breakdown) are recomputed from the ledger.
2. A Chamber or the nation keeps the latest partials of each of its municipalities and merges
   them.

Sums use `math.fsum`, which is exactly rounded and so independent of order; with the same
two-level path in the batch oracle, streaming and batch figures are bit-for-bit equal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.benchmarks import Figures
from schemas.events import CHANNELS
from schemas.scores import ScoreRevision

ALL = "all"
BREAKDOWNS: tuple[str, ...] = (ALL, *(f"channel={c}" for c in CHANNELS))


@dataclass(frozen=True)
class LedgerEntry:
    """What a scope needs of a contact's latest revision."""

    revision: int
    channel: str
    total: float
    potential: float | None

    def to_json(self) -> list[object]:
        return [self.revision, self.channel, self.total, self.potential]

    @classmethod
    def from_json(cls, raw: Sequence[Any]) -> LedgerEntry:
        revision, channel, total, potential = raw
        return cls(
            int(revision),
            str(channel),
            float(total),
            None if potential is None else float(potential),
        )


Ledger = dict[str, LedgerEntry]


def apply_revision(ledger: Ledger, revision: ScoreRevision) -> bool:
    """Record `revision` in the ledger if it is newer than what the ledger has; True if so."""
    current = ledger.get(revision.contact_id)
    if current is not None and current.revision >= revision.revision:
        return False
    ledger[revision.contact_id] = LedgerEntry(
        revision.revision, revision.channel, revision.total, revision.potential
    )
    return True


@dataclass(frozen=True)
class Partial:
    """Mergeable summary of a set of contact scores."""

    n: int
    total: float
    low: float | None
    high: float | None
    potential_n: int
    potential_total: float

    def to_json(self) -> list[object]:
        return [self.n, self.total, self.low, self.high, self.potential_n, self.potential_total]

    @classmethod
    def from_json(cls, raw: Sequence[Any]) -> Partial:
        n, total, low, high, pn, ptotal = raw
        return cls(int(n), float(total), low, high, int(pn), float(ptotal))


EMPTY = Partial(0, 0.0, None, None, 0, 0.0)


def partial_of(entries: Iterable[LedgerEntry]) -> Partial:
    items = list(entries)
    totals = [e.total for e in items]
    potentials = [e.potential for e in items if e.potential is not None]
    return Partial(
        n=len(totals),
        total=math.fsum(totals),
        low=min(totals) if totals else None,
        high=max(totals) if totals else None,
        potential_n=len(potentials),
        potential_total=math.fsum(potentials),
    )


def merge(partials: Iterable[Partial]) -> Partial:
    items = [p for p in partials if p.n or p.potential_n]
    lows = [p.low for p in items if p.low is not None]
    highs = [p.high for p in items if p.high is not None]
    return Partial(
        n=sum(p.n for p in items),
        total=math.fsum(p.total for p in items),
        low=min(lows) if lows else None,
        high=max(highs) if highs else None,
        potential_n=sum(p.potential_n for p in items),
        potential_total=math.fsum(p.potential_total for p in items),
    )


def ledger_partials(ledger: Mapping[str, LedgerEntry]) -> dict[str, Partial]:
    """Breakdown key → partial, for one municipality's ledger."""
    entries = list(ledger.values())
    out = {ALL: partial_of(entries)}
    for channel in CHANNELS:
        out[f"channel={channel}"] = partial_of(e for e in entries if e.channel == channel)
    return out


def merge_partials(parts: Iterable[Mapping[str, Partial]]) -> dict[str, Partial]:
    """Merge municipalities' partials breakdown by breakdown."""
    collected = list(parts)
    return {key: merge(p.get(key, EMPTY) for p in collected) for key in BREAKDOWNS}


def figures(partial: Partial) -> Figures:
    return Figures(
        n=partial.n,
        mean=partial.total / partial.n if partial.n else None,
        min=partial.low,
        max=partial.high,
        potential_n=partial.potential_n,
        potential_mean=partial.potential_total / partial.potential_n
        if partial.potential_n
        else None,
    )


def breakdown_figures(partials: Mapping[str, Partial]) -> dict[str, Figures]:
    return {key: figures(partials.get(key, EMPTY)) for key in BREAKDOWNS}
