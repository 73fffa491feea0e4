"""Figure sets: a snapshot's figures grouped by scope and campaign wave, hashed once each,
and the snapshot hashed from them."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from services.reporting.figures import (
    FigureRow,
    content_sha256,
    figure_sets,
    sets_sha256,
    snapshot_sha256,
    sorted_rows,
)

scope = st.tuples(
    st.sampled_from(["municipality", "chamber", "nation"]),
    st.sampled_from(["GM0344", "GM0363", "KVK-MN", "NL", "GM0003"]),
    st.sampled_from(["mg-2025", "mg-2026", "Mg-2026", "kto-ü"]),
    st.integers(min_value=1, max_value=4),
)
figure = st.tuples(
    st.sampled_from(["all", "channel=phone", "survey/counter", "standing/all", "Scope"]),
    st.sampled_from(["n", "mean", "band", "mean:GM0344", "Z", "é"]),
    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    st.one_of(st.none(), st.sampled_from(["green", "red", "é"])),
)


@st.composite
def snapshot_rows(draw: st.DrawFn) -> list[FigureRow]:
    """Rows as a snapshot holds them: each scope and campaign wave has one name, and each
    breakdown one value per metric."""
    rows: dict[tuple[object, ...], FigureRow] = {}
    for kind, scope_id, campaign, wave in draw(st.lists(scope, max_size=6, unique=True)):
        name = f"{kind} {scope_id}"
        for breakdown, metric, value, label in draw(st.lists(figure, min_size=1, max_size=8)):
            row = FigureRow(kind, scope_id, campaign, wave, name, breakdown, metric, value, label)
            rows[row.sort_key] = row
    return draw(st.permutations(list(rows.values())))


@given(snapshot_rows())
def test_a_snapshot_is_one_figure_set_per_scope_and_hashes_from_them(
    rows: list[FigureRow],
) -> None:
    sets = figure_sets(rows)
    assert snapshot_sha256(rows) == sets_sha256(s.content_sha256 for s in sets)
    assert snapshot_sha256(reversed(rows)) == snapshot_sha256(rows)
    assert [r for s in sets for r in s.rows] == sorted_rows(rows)
    keys = [s.scope.sort_key[:4] for s in sets]
    assert keys == sorted(set(keys))  # one set per scope and campaign wave, in order
    for s in sets:
        assert {r.sort_key[:4] for r in s.rows} == {s.scope.sort_key[:4]}
        assert s.content_sha256 == content_sha256(s.rows)


def test_equal_figures_hash_equal_and_any_difference_shows() -> None:
    row = FigureRow("municipality", "GM0344", "mg-2026", 1, "Gemeente", "all", "mean", 6.5)
    (one,) = figure_sets([row])
    assert figure_sets([replace(row)])[0].content_sha256 == one.content_sha256
    for changed in (
        replace(row, value=6.500001),
        replace(row, scope_name="Gemeente X"),
        replace(row, label="green"),
        replace(row, wave=2),
    ):
        assert figure_sets([changed])[0].content_sha256 != one.content_sha256


def test_a_snapshots_hash_changes_with_any_figure_and_not_with_order() -> None:
    rows = [
        FigureRow("municipality", code, "mg-2026", 1, code, "all", "mean", mean)
        for code, mean in (("GM0344", 6.5), ("GM0363", 7.0))
    ]
    assert snapshot_sha256(rows) == snapshot_sha256(rows[::-1])
    assert snapshot_sha256(rows) != snapshot_sha256([rows[0], replace(rows[1], value=7.01)])
    assert snapshot_sha256(rows) != snapshot_sha256(rows[:1])
    assert snapshot_sha256([]) == sets_sha256([])
