"""The SQL layer on SQLite and PostgreSQL: migrations and the benchmark store."""

from __future__ import annotations

import itertools
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Text, cast, func, inspect, select, text

import services.ingest.archive
import services.ingest.mail_store
import services.reporting.store  # registers the reporting tables on Base.metadata
import services.reporting.text_store
from schemas.benchmarks import BenchmarkUpdated, Figures
from services.aggregation.benchmarks import retraction
from services.aggregation.process import figures_of_records
from services.aggregation.statistics import band
from services.reporting.diff import diff_snapshots
from services.reporting.figures import (
    FigureQuery,
    FigureRow,
    RowKey,
    content_sha256,
    figure_rows,
    snapshot_sha256,
)
from services.reporting.store import (
    BenchmarkStore,
    FigureSetFigure,
    FigureSetRecord,
    ScopeState,
    SnapshotScope,
)
from services.runtime.db import (
    Base,
    alembic_config,
    make_engine,
    one_at_a_time,
    upgrade,
    utcnow,
)

TOPIC = "meetlat.benchmarks"


def figures(n: int, mean: float | None, potential_mean: float | None = None) -> Figures:
    return Figures(
        n=n,
        mean=mean,
        sd=None if mean is None else 0.5,
        ci_low=None if mean is None else mean - 0.25,
        ci_high=None if mean is None else mean + 0.25,
        min=None if mean is None else mean - 1,
        max=None if mean is None else mean + 1,
        median=mean,
        potential_n=n,
        potential_mean=potential_mean,
        band=band(mean),
    )


NO_PROCESS = figures_of_records([])


def bench(
    scope_id: str,
    version: int,
    mean: float | None,
    *,
    kind: str = "municipality",
    name: str | None = None,
    phone: bool = True,
    campaign: str = "mg-2026",
) -> BenchmarkUpdated:
    breakdowns = {"all": figures(version, mean, None if mean is None else mean + 0.5)}
    if phone:
        breakdowns["channel=phone"] = figures(1, mean)
    return BenchmarkUpdated.model_validate(
        {
            "scope_kind": kind,
            "scope_id": scope_id,
            "name": name or f"Gemeente {scope_id}",
            "campaign": campaign,
            "wave": 1,
            "version": version,
            "as_of": None,
            "contacts": version,
            "breakdowns": breakdowns,
            "process": NO_PROCESS,
            "surveys": {},
        }
    )


def expected(*updates: BenchmarkUpdated) -> list[FigureRow]:
    rows = [row for update in updates for row in figure_rows(update)]
    return sorted(rows, key=lambda r: r.sort_key)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


# ---------------------------------------------------------------- engine and migrations


def test_make_engine_sqlite_creates_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "meetlat.db"
    eng = make_engine(f"sqlite:///{path}")
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert path.parent.is_dir()
        assert eng.pool._pre_ping
    finally:
        eng.dispose()


def test_make_engine_uses_psycopg3_for_postgresql() -> None:
    eng = make_engine("postgresql://someone@db.invalid:5432/meetlat")
    assert eng.dialect.driver == "psycopg"
    assert eng.url.drivername == "postgresql+psycopg"
    eng.dispose()


def test_upgrade_twice_is_a_noop(database_url: str) -> None:
    eng = make_engine(database_url)
    try:
        upgrade(eng)
        tables = sorted(inspect(eng).get_table_names())
        with eng.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        upgrade(eng)
        assert sorted(inspect(eng).get_table_names()) == tables
        with eng.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v for (v,) in versions] == [head_revision()]
        assert set(tables) >= {
            "event_archive",
            "scope_state",
            "stream_position",
            "snapshot",
            "figure_set",
            "figure_set_figure",
            "snapshot_scope",
        }
        assert inspect(eng).get_view_names() == ["snapshot_figure"]
    finally:
        eng.dispose()


def test_concurrent_upgrades_at_start(database_url: str) -> None:
    """Several workers starting at once on an empty database: one migrates, none fails."""
    engines = [make_engine(database_url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(upgrade, engines))
        with engines[0].connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    finally:
        for eng in engines:
            eng.dispose()


def test_upgrade_keeps_data(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    store.apply([bench("GM0344", 1, 7.0)], {(TOPIC, 0): 1})
    upgrade(engine)
    assert store.latest() == expected(bench("GM0344", 1, 7.0))


def test_migrations_match_models(engine: Engine) -> None:
    assert services.ingest.archive.ArchivedEvent.__tablename__ in Base.metadata.tables
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


# ---------------------------------------------------------------- latest figures


def test_figure_rows_flattens_every_metric() -> None:
    update = bench("GM0344", 3, None)
    rows = figure_rows(update)
    by_key = {(r.breakdown, r.metric): (r.value, r.label) for r in rows}
    assert by_key[("all", "n")] == (3.0, None)
    assert isinstance(by_key[("all", "n")][0], float)
    assert ("all", "mean") not in by_key  # missing figures get no row
    assert by_key[("channel=phone", "potential_n")] == (1.0, None)
    assert by_key[("all", "significant")] == (0.0, None)
    assert by_key[("scope", "version")] == (3.0, None)
    assert by_key[("process", "calls")] == (0.0, None)
    assert {r.scope_name for r in rows} == {"Gemeente GM0344"}
    assert {(r.campaign, r.wave) for r in rows} == {("mg-2026", 1)}
    assert rows == sorted(rows, key=lambda r: r.sort_key)
    labelled = figure_rows(bench("GM0344", 3, 7.5))
    assert {(r.breakdown, r.metric, r.value, r.label) for r in labelled if r.label} == {
        ("all", "band", None, "green"),
        ("channel=phone", "band", None, "green"),
    }


def test_apply_stores_latest_figures(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    a = bench("GM0344", 1, 6.5)
    b = bench("GM0363", 1, 7.25)
    nl = bench("NL", 1, 6.9, kind="nation", name="Nederland", phone=False)
    assert store.apply([a, b, nl], {(TOPIC, 0): 10}) == 3
    latest = store.latest()
    assert latest == expected(a, b, nl)
    assert latest == sorted(latest, key=lambda r: r.sort_key)
    assert latest[0].scope_kind == "municipality"


def test_newer_version_wins_older_is_ignored(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    assert store.apply([bench("GM0344", 2, 6.0)], {}) == 1
    assert store.apply([bench("GM0344", 1, 9.0)], {}) == 0
    assert store.latest() == expected(bench("GM0344", 2, 6.0))
    # A newer version replaces every row of the scope, including breakdowns it no longer has.
    newer = bench("GM0344", 3, 8.0, phone=False, name="Utrecht")
    assert store.apply([newer], {}) == 1
    assert store.latest() == expected(newer)
    assert {r.breakdown for r in store.latest()} == {"all", "scope", "process"}
    assert store.apply([bench("GM0344", 3, 1.0)], {}) == 0  # equal version: not newer
    assert store.latest() == expected(newer)


def test_documents_as_received_are_stored_as_they_are(engine: Engine) -> None:
    """The materialiser hands over each update's JSON as it came off the topic; SQL keeps that
    text (not a new dump of the model), and the highest version still wins."""
    store = BenchmarkStore(engine)
    older, newer = bench("GM0344", 1, 9.0), bench("GM0344", 2, 6.0)
    received = [u.model_dump_json(indent=1).encode() for u in (newer, older)]
    assert store.apply([newer, older], {}, received) == 1
    assert store.latest_benchmarks() == [newer]
    assert store.latest() == expected(newer)
    with engine.connect() as conn:
        text = conn.execute(select(cast(ScopeState.document, Text))).scalar_one()
    assert text == received[0].decode()
    with pytest.raises(ValueError, match="1 documents for 2 updates"):
        store.apply([newer, older], {}, received[:1])


def test_applying_the_same_batch_twice_changes_nothing(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    batch = [bench("GM0344", 1, 6.0), bench("GM0363", 4, 7.0)]
    positions = {(TOPIC, 0): 7, (TOPIC, 1): 3}
    assert store.apply(batch, positions) == 2
    latest, pos = store.latest(), store.positions()
    assert store.apply(batch, positions) == 0
    assert store.latest() == latest
    assert store.positions() == pos == positions


def test_several_versions_of_one_scope_in_one_batch(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    batch = [
        bench("GM0344", 2, 6.0),
        bench("GM0344", 5, 8.5),
        bench("GM0363", 1, 5.0),
        bench("GM0344", 3, 7.0),
        bench("GM0344", 5, 8.5),  # duplicate delivery inside the batch
    ]
    assert store.apply(batch, {}) == 2
    assert store.latest() == expected(bench("GM0344", 5, 8.5), bench("GM0363", 1, 5.0))
    # Later batch with a mix: only the newer scope version counts.
    assert store.apply([bench("GM0344", 4, 1.0), bench("GM0363", 2, 5.5)], {}) == 1
    assert store.latest() == expected(bench("GM0344", 5, 8.5), bench("GM0363", 2, 5.5))


def test_positions_keep_the_maximum(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    assert store.positions() == {}
    store.apply([], {(TOPIC, 0): 5, (TOPIC, 1): 3})
    store.apply([bench("GM0344", 1, 6.0)], {(TOPIC, 0): 2, (TOPIC, 1): 9, (TOPIC, 2): 0})
    store.apply([], {("other", 0): 1_000_000_000_000})
    assert store.positions() == {
        (TOPIC, 0): 5,
        (TOPIC, 1): 9,
        (TOPIC, 2): 0,
        ("other", 0): 1_000_000_000_000,
    }


def test_apply_of_nothing_is_harmless(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    assert store.apply([], {}) == 0
    assert store.latest() == []
    assert store.positions() == {}


def test_concurrent_writers_converge(engine: Engine) -> None:
    """Writers racing on the same scopes (and snapshots in between) never lose the newest."""
    scopes = ["GM0344", "GM0363", "GM0599"]

    def work(seed: int) -> None:
        store = BenchmarkStore(engine)
        rng = random.Random(seed)
        versions = list(range(1, 31))
        rng.shuffle(versions)
        for i, version in enumerate(versions):
            batch = [bench(s, version, version / 4) for s in rng.sample(scopes, 2)]
            store.apply(batch, {(TOPIC, seed): version, (TOPIC, 99): version})
            if i % 10 == 0:
                store.take_snapshot(f"w{seed}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(4)))
    store = BenchmarkStore(engine)
    winners = [bench(s, 30, 30 / 4) for s in scopes]
    store.apply(winners, {})  # scopes a writer never drew at version 30
    assert store.latest() == expected(*winners)
    assert store.positions() == {**{(TOPIC, seed): 30 for seed in range(4)}, (TOPIC, 99): 30}
    for info in store.snapshots():
        assert store.snapshot_figures(info.id) and info.figure_count == len(
            store.snapshot_figures(info.id)
        )


# ---------------------------------------------------------------- snapshots


def test_snapshot_copies_latest_figures_and_positions(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    store.apply(
        [bench("GM0344", 1, 6.5), bench("KVK-MN", 2, 7.0, kind="chamber", name="Midden")],
        {(TOPIC, 1): 4, (TOPIC, 0): 12},
    )
    info = store.take_snapshot("1-meting")
    assert info.label == "1-meting"
    assert info.figure_count == len(store.latest()) == 2 * len(figure_rows(bench("x", 1, 6.0)))
    assert info.position == [
        {"topic": TOPIC, "partition": 0, "offset": 12},
        {"topic": TOPIC, "partition": 1, "offset": 4},
    ]
    assert info.taken_at.tzinfo is not None
    assert info.content_sha256 == snapshot_sha256(store.latest())
    assert len(info.content_sha256) == 64
    assert store.snapshot_figures(info.id) == store.latest()
    assert {r.scope_name for r in store.snapshot_figures(info.id)} == {
        "Gemeente GM0344",
        "Midden",
    }


def test_snapshot_is_unaffected_by_later_applies(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    first = bench("GM0344", 1, 6.5)
    store.apply([first], {(TOPIC, 0): 1})
    info = store.take_snapshot()
    frozen = store.snapshot_figures(info.id)

    second = bench("GM0344", 2, 9.0, phone=False)
    store.apply([second, bench("GM0363", 1, 5.0)], {(TOPIC, 0): 8})
    assert store.latest() == expected(second, bench("GM0363", 1, 5.0))
    assert store.snapshot_figures(info.id) == frozen == expected(first)
    [listed] = store.snapshots()
    assert listed == info
    assert listed.position == [{"topic": TOPIC, "partition": 0, "offset": 1}]


def test_snapshot_listing_and_lookup(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    assert store.snapshots() == []
    empty = store.take_snapshot("leeg")
    assert empty.figure_count == 0
    assert store.snapshot_figures(empty.id) == []
    store.apply([bench("GM0344", 1, 6.5)], {(TOPIC, 0): 3})
    one = store.take_snapshot("een")
    store.apply([bench("GM0344", 2, 7.5)], {(TOPIC, 0): 4})
    two = store.take_snapshot()
    listed = store.snapshots()
    assert [s.id for s in listed] == [empty.id, one.id, two.id]
    assert [s.label for s in listed] == ["leeg", "een", ""]
    assert listed == [empty, one, two]
    assert listed[0].taken_at <= listed[1].taken_at <= listed[2].taken_at
    assert store.snapshot_figures(one.id) == expected(bench("GM0344", 1, 6.5))
    assert store.snapshot_figures(two.id) == expected(bench("GM0344", 2, 7.5))


def test_unknown_snapshot_raises_key_error(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    with pytest.raises(KeyError):
        store.snapshot_figures(12345)
    info = store.take_snapshot()
    with pytest.raises(KeyError):
        store.snapshot_figures(info.id + 1)
    # ids no snapshot can have: before, the out-of-range ones failed PostgreSQL's query
    for impossible in (0, -1, 2**31, 2**63, 10**20):
        with pytest.raises(KeyError):
            store.snapshot_figures(impossible)


@pytest.mark.parametrize(
    ("label", "request_id", "problem"),
    [
        ("a\x00b", None, "label 'a\\x00b' holds a control character"),
        ("x" * 201, None, "label is 201 characters long; at most 200"),
        ("ok", "r\n1", "request id 'r\\n1' holds a control character"),
        ("line\n", None, "label 'line\\n' holds a control character"),
        ("ok", "r" * 121, "request id is 121 characters long; at most 120"),
    ],
)
def test_a_snapshot_label_the_store_cannot_hold_is_refused(
    engine: Engine, label: str, request_id: str | None, problem: str
) -> None:
    store = BenchmarkStore(engine)
    with pytest.raises(ValueError, match=re.escape(problem)):
        store.take_snapshot(label, request_id)
    assert store.snapshots() == []
    assert store.take_snapshot("x" * 200, "r" * 120).label == "x" * 200


def test_content_hash_equal_for_equal_content(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    store.apply([bench("GM0344", 1, 6.5), bench("GM0363", 1, 7.0)], {(TOPIC, 0): 1})
    a = store.take_snapshot("a")
    store.apply([], {(TOPIC, 0): 2})  # offsets moved, figures did not
    b = store.take_snapshot("b")
    assert a.content_sha256 == b.content_sha256
    assert a.id != b.id
    store.apply([bench("GM0363", 2, 7.01)], {})
    c = store.take_snapshot("c")
    assert c.content_sha256 != a.content_sha256
    # The hash depends on content only, not on the order rows were written in.
    assert snapshot_sha256(reversed(store.latest())) == c.content_sha256


def test_snapshot_with_request_id_is_retry_safe(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    store.apply([bench("GM0344", 1, 6.5)], {(TOPIC, 0): 1})
    first = store.take_snapshot("wave 1", request_id="req-1")
    store.apply([bench("GM0344", 2, 7.5)], {(TOPIC, 0): 2})
    retried = store.take_snapshot("wave 1", request_id="req-1")  # the client retried
    assert retried == first
    assert [s.id for s in store.snapshots()] == [first.id]
    assert store.snapshot_figures(first.id) == expected(bench("GM0344", 1, 6.5))
    other = store.take_snapshot("wave 1", request_id="req-2")
    assert other.id != first.id
    assert store.snapshot_figures(other.id) == expected(bench("GM0344", 2, 7.5))
    # racing retries: the unique request id lets exactly one write, the others get it back
    with ThreadPoolExecutor(max_workers=4) as pool:
        raced = list(pool.map(lambda _: store.take_snapshot("race", "req-3"), range(4)))
    assert len({s.id for s in raced}) == 1
    assert [s.label for s in store.snapshots()].count("race") == 1


# ---------------------------------------------------------------- figure sets stored once


def count(engine: Engine, table: type[Base]) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def through_the_view(engine: Engine, snapshot_id: int) -> list[FigureRow]:
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT scope_kind, scope_id, campaign, wave, scope_name, breakdown, metric,"
                " value, label FROM snapshot_figure WHERE snapshot_id = :id"
            ),
            {"id": snapshot_id},
        )
        return sorted((FigureRow(*row) for row in found), key=lambda r: r.sort_key)


def test_a_snapshot_stores_only_the_figure_sets_no_snapshot_holds_yet(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    last_year = [bench(code, 4, 6.0, campaign="mg-2025") for code in ("GM0344", "GM0363")]
    this_year = bench("GM0344", 1, 6.5)
    store.apply([*last_year, this_year], {(TOPIC, 0): 1})
    first = store.take_snapshot()
    assert (count(engine, FigureSetRecord), count(engine, SnapshotScope)) == (3, 3)
    figures_stored = count(engine, FigureSetFigure)
    assert figures_stored == first.figure_count == len(expected(*last_year, this_year))

    moved = bench("GM0344", 2, 7.5)
    store.apply([moved], {(TOPIC, 0): 2})
    second = store.take_snapshot()
    # Only the changed scope is written; last year's campaign is referred to, not copied.
    assert (count(engine, FigureSetRecord), count(engine, SnapshotScope)) == (4, 6)
    assert count(engine, FigureSetFigure) == figures_stored + len(figure_rows(moved))
    assert store.snapshot_figures(first.id) == expected(*last_year, this_year)
    assert store.snapshot_figures(second.id) == expected(*last_year, moved)
    assert second.content_sha256 == snapshot_sha256(store.latest())

    unchanged = store.take_snapshot()
    assert count(engine, FigureSetRecord) == 4
    assert unchanged.content_sha256 == second.content_sha256
    # SQL written against the table that earlier versions kept still reads the same figures.
    for info in (first, second, unchanged):
        assert through_the_view(engine, info.id) == store.snapshot_figures(info.id)


def test_a_snapshots_figures_of_one_campaign(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    last_year = bench("GM0344", 4, 6.0, campaign="mg-2025")
    nation = bench("NL", 3, 6.2, kind="nation", name="Nederland", campaign="mg-2025")
    this_year = bench("GM0344", 1, 6.5)
    store.apply([last_year, nation, this_year], {(TOPIC, 0): 1})
    info = store.take_snapshot()
    assert store.snapshot_figures(info.id, campaign="mg-2025") == expected(last_year, nation)
    assert store.snapshot_figures(info.id, campaign="mg-2026") == expected(this_year)
    assert store.snapshot_figures(info.id, campaign="mg-2027") == []
    assert store.snapshot_figures(info.id, campaign="mg\x002026") == []  # (PostgreSQL: no NUL)
    with pytest.raises(KeyError):
        store.snapshot_figures(info.id + 1, campaign="mg-2026")
    assert store.snapshot_scopes(info.id) == [
        ("municipality", "mg-2025", 1),
        ("municipality", "mg-2026", 1),
        ("nation", "mg-2025", 1),
    ]
    with pytest.raises(KeyError):
        store.snapshot_scopes(info.id + 1)


def every_page(
    store: BenchmarkStore, snapshot_id: int, limit: int, wanted: FigureQuery | None = None
) -> tuple[list[FigureRow], int]:
    """The figures of every page, following each page's cursor; and how many pages."""
    rows: list[FigureRow] = []
    after: RowKey | None = None
    for pages in itertools.count(1):
        page, after = store.figures_page(snapshot_id, limit, after, wanted)
        assert len(page) <= limit
        rows.extend(page)
        if after is None:
            return rows, pages
        assert page and after == page[-1].sort_key
    raise AssertionError("unreachable")


def test_a_snapshots_figures_page_by_page(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    updates = [
        *(bench(code, 2, 6.0, campaign="mg-2025") for code in ("GM0344", "GM0363", "GM0518")),
        bench("NL", 3, 6.2, kind="nation", name="Nederland", campaign="mg-2025"),
        bench("GM0344", 1, 6.5, phone=False),
        bench("KVK-MN", 1, 6.4, kind="chamber", name="Midden-Nederland"),
    ]
    store.apply(updates, {(TOPIC, 0): 1})
    info = store.take_snapshot()
    every = store.snapshot_figures(info.id)
    total = len(every)
    for limit in (1, 2, 3, 7, 40, total - 1, total, total + 1):
        # a page may end within a figure set and the next goes on from there
        assert every_page(store, info.id, limit) == (every, -(-total // limit)), limit

    for wanted in (
        FigureQuery(scope_kind="nation"),
        FigureQuery(scope_id="GM0344"),
        FigureQuery(campaign="mg-2026"),
        FigureQuery(scope_id="GM0344", campaign="mg-2025", breakdown="channel=phone"),
        FigureQuery(breakdown="channel=phone"),
        FigureQuery(wave=2),
        FigureQuery(breakdown="channel=\x00phone"),  # (PostgreSQL: no NUL in a parameter)
        FigureQuery(scope_id="GM\x000344"),
    ):
        selected = [
            r
            for r in every
            if wanted.holds(r.scope_kind, r.scope_id, r.campaign, r.wave)
            and wanted.breakdown in (None, r.breakdown)
        ]
        for limit in (1, 5, total):
            assert every_page(store, info.id, limit, wanted)[0] == selected, (wanted, limit)
    assert store.figures_page(info.id, 3, every[-1].sort_key) == ([], None)
    with pytest.raises(KeyError):
        store.figures_page(info.id + 1, 10)


def withdrawn(update: BenchmarkUpdated, version: int) -> BenchmarkUpdated:
    return retraction(
        update.scope_kind, update.scope_id, update.name, update.campaign, update.wave, version
    )


def test_a_retracted_wave_is_left_out_and_an_older_version_does_not_bring_it_back(
    engine: Engine,
) -> None:
    store = BenchmarkStore(engine)
    kept, moved = bench("GM0363", 1, 7.0), bench("GM0344", 1, 6.5)
    store.apply([kept, moved], {(TOPIC, 0): 1})
    first = store.take_snapshot()
    assert store.apply([withdrawn(moved, 2)], {(TOPIC, 0): 2}) == 1
    assert store.latest() == expected(kept)
    assert [b.scope_key for b in store.latest_benchmarks()] == [kept.scope_key]
    second = store.take_snapshot()
    assert store.snapshot_figures(second.id) == expected(kept)
    assert second.content_sha256 == snapshot_sha256(expected(kept))
    assert store.snapshot_figures(first.id) == expected(kept, moved)  # a snapshot stays

    assert store.apply([moved], {(TOPIC, 0): 1}) == 0  # read again after a rebalance
    assert store.latest() == expected(kept)
    back = bench("GM0344", 3, 5.0)
    assert store.apply([back, withdrawn(kept, 2)], {(TOPIC, 0): 4}) == 2
    assert store.snapshot_figures(store.take_snapshot().id) == expected(back)
    # within a batch too, the highest version wins, a retraction or not
    assert store.apply([withdrawn(back, 5), bench("GM0344", 4, 9.0)], {(TOPIC, 0): 5}) == 1
    assert store.latest() == []


def test_downgrading_below_retractions_forgets_the_retracted_waves(database_url: str) -> None:
    eng = make_engine(database_url)
    try:
        upgrade(eng)
        kept, moved = bench("GM0363", 1, 7.0), bench("GM0344", 1, 6.5)
        BenchmarkStore(eng).apply([kept, withdrawn(moved, 2)], {(TOPIC, 0): 1})
        config = alembic_config()
        with eng.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0008")
        with eng.connect() as conn:  # an earlier version would read a retraction as figures
            assert conn.execute(text("SELECT scope_id FROM scope_state")).scalars().all() == [
                "GM0363"
            ]
        assert "retracted" not in {c["name"] for c in inspect(eng).get_columns("scope_state")}
        upgrade(eng)
        assert BenchmarkStore(eng).latest() == expected(kept)
    finally:
        eng.dispose()


def test_snapshots_made_before_figure_sets_are_moved_into_them(database_url: str) -> None:
    """Migration 0008 on snapshots an earlier version took: their figures read the same, equal
    figure sets are stored once, the snapshot hash is unchanged, and a new snapshot of the same
    figures refers to the moved sets. Downgrading gives the table back, with every figure."""
    eng = make_engine(database_url)
    try:
        config = alembic_config()
        with eng.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0007")
        a, b = bench("GM0344", 1, 6.5), bench("GM0363", 1, 7.0)
        old = bench("GM0344", 1, 6.0, campaign="mg-2025")
        snapshots: dict[int, list[FigureRow]] = {}
        with eng.begin() as conn:  # as 0007 stored them
            for rows in (expected(old, a), expected(old, a, b)):
                snapshot_id = conn.execute(
                    text(
                        "INSERT INTO snapshot (taken_at, label, position, figure_count,"
                        " content_sha256) VALUES (:at, '', '[]', :n, :sha) RETURNING id"
                    ),
                    {"at": utcnow(), "n": len(rows), "sha": content_sha256(rows)},
                ).scalar_one()
                snapshots[snapshot_id] = rows
                conn.execute(
                    text(
                        "INSERT INTO snapshot_figure (snapshot_id, scope_kind, scope_id,"
                        " campaign, wave, scope_name, breakdown, metric, value, label)"
                        " VALUES (:s, :k, :i, :c, :w, :n, :b, :m, :v, :l)"
                    ),
                    [
                        {
                            "s": snapshot_id,
                            "k": r.scope_kind,
                            "i": r.scope_id,
                            "c": r.campaign,
                            "w": r.wave,
                            "n": r.scope_name,
                            "b": r.breakdown,
                            "m": r.metric,
                            "v": r.value,
                            "l": r.label,
                        }
                        for r in rows
                    ],
                )
        upgrade(eng)
        store = BenchmarkStore(eng)
        for snapshot_id, rows in snapshots.items():
            assert store.snapshot_figures(snapshot_id) == rows
            assert through_the_view(eng, snapshot_id) == rows
            assert store.snapshot(snapshot_id).content_sha256 == snapshot_sha256(rows)
        assert count(eng, FigureSetRecord) == 3  # old and a once, though both snapshots hold them
        assert count(eng, SnapshotScope) == 5

        store.apply([old, a, b], {(TOPIC, 0): 1})
        again = store.take_snapshot()
        assert count(eng, FigureSetRecord) == 3  # the moved sets hash as new ones do
        assert store.snapshot_figures(again.id) == expected(old, a, b)

        with eng.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0007")
        assert "snapshot_figure" in inspect(eng).get_table_names()
        with eng.connect() as conn:  # the hash as 0007 gave it
            hashes = dict(conn.execute(text("SELECT id, content_sha256 FROM snapshot")).all())
        assert hashes == {
            **{i: content_sha256(rows) for i, rows in snapshots.items()},
            again.id: content_sha256(expected(old, a, b)),
        }
        assert through_the_view(eng, again.id) == expected(old, a, b)
        for snapshot_id, rows in snapshots.items():
            assert through_the_view(eng, snapshot_id) == rows
        upgrade(eng)
        assert store.snapshot_figures(again.id) == expected(old, a, b)
        assert count(eng, FigureSetRecord) == 3
    finally:
        eng.dispose()


def test_a_diff_reads_only_the_figure_sets_that_changed(engine: Engine) -> None:
    store = BenchmarkStore(engine)
    last_year = bench("GM0344", 4, 6.0, campaign="mg-2025")
    a, b = bench("GM0344", 1, 6.5), bench("GM0363", 1, 7.0)
    store.apply([last_year, a, b], {(TOPIC, 0): 1})
    before = store.take_snapshot()
    moved, new = bench("GM0363", 2, 7.5), bench("GM0599", 1, 5.0)
    store.apply([moved, new], {(TOPIC, 0): 2})
    after = store.take_snapshot()
    old_rows, new_rows = store.changed_figures(before.id, after.id)
    assert old_rows == expected(b)
    assert new_rows == expected(moved, new)
    whole = diff_snapshots(
        before.id,
        store.snapshot_figures(before.id),
        after.id,
        store.snapshot_figures(after.id),
    )
    assert diff_snapshots(before.id, old_rows, after.id, new_rows) == whole
    assert {(s.scope_id, s.campaign) for s in whole.scopes} == {
        ("GM0363", "mg-2026"),
        ("GM0599", "mg-2026"),
    }
    assert store.changed_figures(after.id, after.id) == ([], [])
    with pytest.raises(KeyError):
        store.changed_figures(before.id, after.id + 1)


def held_sets(engine: Engine) -> dict[str, int | None]:
    with engine.connect() as conn:
        found = conn.execute(select(ScopeState.scope_id, ScopeState.figure_set_id))
        return {scope_id: set_id for scope_id, set_id in found}


def test_a_snapshot_reads_only_the_documents_that_changed_since_the_last(
    engine: Engine,
) -> None:
    store = BenchmarkStore(engine)
    store.apply([bench("GM0344", 1, 6.5), bench("GM0363", 1, 7.0)], {(TOPIC, 0): 1})
    assert held_sets(engine) == {"GM0344": None, "GM0363": None}
    first = store.take_snapshot()
    noted = held_sets(engine)
    assert None not in noted.values()

    moved = bench("GM0363", 2, 7.5)
    store.apply([moved], {(TOPIC, 0): 2})
    assert held_sets(engine) == {"GM0344": noted["GM0344"], "GM0363": None}
    second = store.take_snapshot()
    assert store.snapshot_figures(second.id) == expected(bench("GM0344", 1, 6.5), moved)
    assert second.content_sha256 == snapshot_sha256(store.latest())
    assert held_sets(engine)["GM0363"] not in (None, noted["GM0363"])

    # A fresh stream starts versions over: the same version with other figures is read anew.
    store.reset_materialised()
    again = bench("GM0344", 1, 5.0)
    store.apply([again], {(TOPIC, 0): 1})
    third = store.take_snapshot()
    assert store.snapshot_figures(third.id) == expected(again)
    assert store.snapshot_figures(first.id) == expected(
        bench("GM0344", 1, 6.5), bench("GM0363", 1, 7.0)
    )


def test_a_figure_set_is_not_noted_for_a_document_replaced_during_the_snapshot(
    engine: Engine,
) -> None:
    store = BenchmarkStore(engine)
    store.apply([bench("GM0344", 1, 6.5)], {(TOPIC, 0): 1})
    with engine.connect() as conn:
        read = conn.execute(
            select(
                ScopeState.scope_kind,
                ScopeState.scope_id,
                ScopeState.campaign,
                ScopeState.wave,
                ScopeState.version,
                ScopeState.updated_at,
            )
        ).one()
    store.take_snapshot()
    set_id = held_sets(engine)["GM0344"]
    store.apply([bench("GM0344", 2, 7.5)], {(TOPIC, 0): 2})  # (between read and note)
    store._remember_figure_sets([(tuple(read), set_id)])  # type: ignore[list-item]
    assert held_sets(engine) == {"GM0344": None}
    assert store.snapshot_figures(store.take_snapshot().id) == expected(bench("GM0344", 2, 7.5))


def test_one_at_a_time_holds_postgresqls_lock_across_connections(
    postgres_database_url: str,
) -> None:
    eng = make_engine(postgres_database_url)
    inside: list[int] = []
    overlapped: list[list[int]] = []

    def hold(i: int) -> None:
        with one_at_a_time(eng, 4242):
            inside.append(i)
            if len(inside) > 1:
                overlapped.append(list(inside))
            time.sleep(0.05)
            inside.remove(i)

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(hold, range(8)))
        assert overlapped == []
        with eng.connect() as conn:  # every holder let go
            assert conn.scalar(text("SELECT pg_try_advisory_lock(4242)")) is True
    finally:
        eng.dispose()
