"""Snapshot diff: which figures changed, and why."""

from __future__ import annotations

from dataclasses import replace

from services.reporting.diff import diff_snapshots
from services.reporting.figures import FigureRow

from .conftest import Fixture


def row(breakdown: str, metric: str, value: float | None, label: str | None = None) -> FigureRow:
    return FigureRow(
        "municipality", "GM0344", "mg-2026", 1, "Utrecht", breakdown, metric, value, label
    )


BEFORE = [
    row("scope", "contacts", 3),
    row("scope", "version", 4),
    row("channel=phone", "n", 2),
    row("channel=phone", "mean", 6.0),
    row("channel=mail", "n", 1),
    row("channel=mail", "mean", 8.0),
    row("process", "callbacks_kept", 0),
]


def test_same_snapshot_has_no_changes(campaign: Fixture) -> None:
    assert diff_snapshots(1, campaign.rows, 2, campaign.rows).scopes == []


def test_new_contacts_and_late_revisions_are_told_apart() -> None:
    after = [
        row("scope", "contacts", 4),
        row("scope", "version", 7),  # bookkeeping: not a figure change
        row("channel=phone", "n", 2),
        row("channel=phone", "mean", 6.5),  # same n: a late revision (e.g. a late callback)
        row("channel=mail", "n", 2),
        row("channel=mail", "mean", 7.0),  # n grew: a new contact
        row("process", "callbacks_kept", 1),
    ]
    result = diff_snapshots(1, BEFORE, 2, after)
    assert len(result.scopes) == 1
    scope = result.scopes[0]
    assert (scope.contacts_before, scope.contacts_after) == (3, 4)
    why = {(c.breakdown, c.metric): c.reason for c in scope.changes}
    assert why == {
        ("scope", "contacts"): "new contacts",
        ("channel=phone", "mean"): "late revisions",
        ("channel=mail", "n"): "new contacts",
        ("channel=mail", "mean"): "new contacts",
        ("process", "callbacks_kept"): "new contacts",
    }
    assert result.by_reason() == {"late revisions": 1, "new contacts": 4}
    change = next(c for c in scope.changes if c.metric == "mean" and c.breakdown == "channel=phone")
    assert (change.before, change.after) == (6.0, 6.5)


def test_new_scope_and_labels() -> None:
    other = [replace(r, scope_id="GM0363", scope_name="Amsterdam") for r in BEFORE]
    result = diff_snapshots(1, BEFORE, 2, [*BEFORE, *other, row("all", "band", None, "green")])
    reasons = {(s.scope_id, r) for s in result.scopes for r in s.reasons}
    assert ("GM0363", "new scope") in reasons
    label = next(c for s in result.scopes for c in s.changes if c.metric == "band")
    assert (label.before, label.after) == (None, "green")
