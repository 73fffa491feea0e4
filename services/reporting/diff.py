"""What changed between two snapshots, and why (pure).

A figure changes because contacts were added to its sample (new contacts: n grew) or because
contacts already counted were revised (late revisions: a late callback or mail reply, an
assessment corrected, a rescoring — n unchanged). Figures without a sample of their own
(process, surveys, standings, quadrants) take the reason of their scope's contact count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from services.reporting.figures import FigureRow

Key = tuple[str, str, str, int, str, str]
Reason = Literal["new contacts", "late revisions", "fewer contacts", "new scope", "scope gone"]


@dataclass(frozen=True)
class FigureChange:
    scope_kind: str
    scope_id: str
    campaign: str
    wave: int
    breakdown: str
    metric: str
    before: float | str | None
    after: float | str | None
    reason: Reason


@dataclass
class ScopeChange:
    scope_kind: str
    scope_id: str
    name: str
    campaign: str
    wave: int
    contacts_before: int | None
    contacts_after: int | None
    reasons: dict[str, int] = field(default_factory=dict)
    changes: list[FigureChange] = field(default_factory=list)


@dataclass
class SnapshotDiff:
    before_id: int
    after_id: int
    scopes: list[ScopeChange]

    @property
    def figures_changed(self) -> int:
        return sum(len(s.changes) for s in self.scopes)

    def by_reason(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for s in self.scopes:
            for reason, n in s.reasons.items():
                totals[reason] += n
        return dict(sorted(totals.items()))


def _key(r: FigureRow) -> Key:
    return (r.scope_kind, r.scope_id, r.campaign, r.wave, r.breakdown, r.metric)


def _value(r: FigureRow | None) -> float | str | None:
    if r is None:
        return None
    return r.label if r.label is not None else r.value


def _reason(n_before: float | None, n_after: float | None) -> Reason:
    if n_before is None and n_after is not None:
        return "new contacts"
    if n_before is not None and n_after is None:
        return "fewer contacts"
    if n_before is None or n_after is None or n_after == n_before:
        return "late revisions"
    return "new contacts" if n_after > n_before else "fewer contacts"


_DERIVED = ("process", "survey/", "standing/", "quadrant", "scope")


def diff_snapshots(
    before_id: int, before: Iterable[FigureRow], after_id: int, after: Iterable[FigureRow]
) -> SnapshotDiff:
    old = {_key(r): r for r in before}
    new = {_key(r): r for r in after}

    def n(rows: dict[Key, FigureRow], scope: tuple[str, str, str, int], bd: str) -> float | None:
        row = rows.get((*scope, bd, "n"))
        return row.value if row else None

    def contacts(rows: dict[Key, FigureRow], scope: tuple[str, str, str, int]) -> float | None:
        row = rows.get((*scope, "scope", "contacts"))
        return row.value if row else None

    scopes_old = {k[:4] for k in old}
    scopes_new = {k[:4] for k in new}
    changes: dict[tuple[str, str, str, int], ScopeChange] = {}
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if _value(a) == _value(b):
            continue
        if key[4] == "scope" and key[5] in {"version", "as_of"}:
            continue  # bookkeeping, not a figure
        scope = key[:4]
        if scope not in scopes_old:
            reason: Reason = "new scope"
        elif scope not in scopes_new:
            reason = "scope gone"
        elif key[4].startswith(_DERIVED):
            reason = _reason(contacts(old, scope), contacts(new, scope))
        else:
            reason = _reason(n(old, scope, key[4]), n(new, scope, key[4]))
        held = changes.get(scope)
        if held is None:
            c_old, c_new = contacts(old, scope), contacts(new, scope)
            named = b if b is not None else a
            held = ScopeChange(
                scope_kind=scope[0],
                scope_id=scope[1],
                name=named.scope_name if named is not None else "",
                campaign=scope[2],
                wave=scope[3],
                contacts_before=None if c_old is None else int(c_old),
                contacts_after=None if c_new is None else int(c_new),
            )
            changes[scope] = held
        held.changes.append(FigureChange(*key, before=_value(a), after=_value(b), reason=reason))
        held.reasons[reason] = held.reasons.get(reason, 0) + 1
    return SnapshotDiff(before_id, after_id, [changes[k] for k in sorted(changes)])
