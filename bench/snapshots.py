"""What a snapshot costs as the years of campaigns grow, with figure sets stored once and with
every figure copied into every snapshot (as earlier versions did), in one run.

    python bench/snapshots.py [--years 5] [--waves 2] [--municipalities N] [--database URL]

The reporting store holds every campaign ever measured, and a research team takes snapshots
continually (`meetlat snapshot --every`). This generates one national campaign of `--waves`
waves with the batch oracle and files its benchmarks under `--years` yearly campaign names
(each year's figures alike, their number real) in a fresh SQLite database (or `--database`,
an empty PostgreSQL database). It takes a first snapshot, then moves one municipality of the
newest wave (a late callback: that municipality, its Chamber and the nation get new figures)
and takes a second. For the second it prints the time and what was written: with figure sets
(`BenchmarkStore.take_snapshot`) and by copying every figure into a table shaped as
`snapshot_figure` was before migration 0008, the way `take_snapshot` did then. Then what
building one campaign's reports reads, and what a diff of the two snapshots reads, each way;
and what the API's pages of a snapshot's figures cost.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas.benchmarks import BenchmarkUpdated
from schemas.reference import ReferenceData
from services.demo.campaign import CampaignSpec, campaign_waves
from services.recompute import recompute
from services.reporting.api import FIGURES_PAGE
from services.reporting.diff import diff_snapshots
from services.reporting.figures import FigureRow, content_sha256, sorted_rows
from services.reporting.store import BenchmarkStore
from services.runtime.app import load_models
from services.runtime.db import make_engine, upgrade, write_transaction
from services.runtime.settings import Settings

T = TypeVar("T")
TOPIC = "meetlat.benchmarks"

# `snapshot_figure` as migrations 0001–0007 left it: one row per figure per snapshot.
_copies = sa.MetaData()
COPY = sa.Table(
    "snapshot_figure_copy",
    _copies,
    sa.Column("snapshot_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("scope_kind", sa.String(16), primary_key=True),
    sa.Column("scope_id", sa.String(64), primary_key=True),
    sa.Column("campaign", sa.String(120), primary_key=True),
    sa.Column("wave", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("breakdown", sa.String(200), primary_key=True),
    sa.Column("metric", sa.String(64), primary_key=True),
    sa.Column("value", sa.Float),
    sa.Column("label", sa.String(200)),
    sa.Column("scope_name", sa.String(200), nullable=False),
)
ROW_COLUMNS = (
    "scope_kind",
    "scope_id",
    "campaign",
    "wave",
    "scope_name",
    "breakdown",
    "metric",
    "value",
    "label",
)


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    made = work()
    return made, time.perf_counter() - started


def database_bytes(engine: sa.Engine) -> int:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            return int(pages) * int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
        return int(conn.scalar(sa.text("SELECT pg_database_size(current_database())")) or 0)


def copy_every_figure(store: BenchmarkStore, snapshot_id: int) -> int:
    """What `take_snapshot` did before figure sets: flatten the latest figures, hash them and
    insert every one (here under the id of the snapshot just taken)."""
    with write_transaction(store.engine) as conn:
        rows = store.latest()
        content_sha256(rows)
        conn.execute(
            sa.insert(COPY),
            [{"snapshot_id": snapshot_id, **_fields(r)} for r in rows],
        )
    return len(rows)


def _fields(row: FigureRow) -> dict[str, object]:
    return {name: getattr(row, name) for name in ROW_COLUMNS}


def copied_figures(engine: sa.Engine, snapshot_id: int) -> list[FigureRow]:
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(*(COPY.c[name] for name in ROW_COLUMNS)).where(
                COPY.c.snapshot_id == snapshot_id
            )
        )
        return sorted_rows(FigureRow(*row) for row in found)


def years_of(benchmarks: Sequence[BenchmarkUpdated], years: int) -> list[BenchmarkUpdated]:
    return [
        b.model_copy(update={"campaign": f"mg-{2027 - years + year}"})
        for year in range(years)
        for b in benchmarks
    ]


def main(args: argparse.Namespace) -> None:
    reference = ReferenceData.load()
    models, active = load_models(Settings())
    spec = CampaignSpec(municipalities=args.municipalities, surveys_per_municipality=12)
    events = campaign_waves(spec, args.waves, reference)
    result, took = timed(lambda: recompute(events, models.by_key, active, reference))
    history = years_of(result.benchmarks, args.years)
    newest = history[-1].campaign
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database or f"sqlite:///{scratch}/meetlat.db"
        engine = make_engine(url)
        upgrade(engine)
        _copies.create_all(engine)
        store = BenchmarkStore(engine)
        store.apply(history, {(TOPIC, 0): 1})
        figures = len(store.latest())
        print(
            f"{len(events):,} events, one campaign of {args.waves} waves aggregated in "
            f"{took:.1f} s; filed under {args.years} yearly campaigns: {len(history):,} scopes, "
            f"{figures:,} figures ({engine.dialect.name})",
            flush=True,
        )
        first = store.take_snapshot("first")
        copy_every_figure(store, first.id)

        moved = late_callback(history, reference)
        store.apply(moved, {(TOPIC, 0): 2})

        size = database_bytes(engine)
        second, with_sets = timed(lambda: store.take_snapshot("second"))
        grew_sets = database_bytes(engine) - size
        with engine.connect() as conn:
            written = conn.scalar(
                sa.text(
                    "SELECT SUM(f.figure_count) FROM snapshot_scope s JOIN figure_set f"
                    " ON f.id = s.figure_set_id WHERE s.snapshot_id = :second AND s.figure_set_id"
                    " NOT IN (SELECT figure_set_id FROM snapshot_scope WHERE snapshot_id = :first)"
                ),
                {"first": first.id, "second": second.id},
            )
        size = database_bytes(engine)
        copied, with_copies = timed(lambda: copy_every_figure(store, second.id))
        grew_copies = database_bytes(engine) - size
        print(
            f"second snapshot, {len(moved)} scopes moved: figure sets {with_sets:.2f} s, "
            f"{written:,} figures written, database +{grew_sets / 1e6:.2f} MB; every figure "
            f"copied {with_copies:.2f} s, {copied:,} figures written, database "
            f"+{grew_copies / 1e6:.1f} MB: {with_copies / with_sets:.1f}× the time, "
            f"{copied / max(written or 0, 1):,.0f}× the figures",
            flush=True,
        )

        campaign_rows, campaign_read = timed(
            lambda: store.snapshot_figures(second.id, campaign=newest)
        )
        all_rows, all_read = timed(lambda: store.snapshot_figures(second.id))
        copy_rows, copy_read = timed(lambda: copied_figures(engine, second.id))
        assert all_rows == copy_rows, "the two layouts hold different figures"
        print(
            f"one campaign's figures for its reports: {len(campaign_rows):,} in "
            f"{campaign_read:.2f} s; every campaign's (as reports read them before) "
            f"{len(copy_rows):,} from the copies in {copy_read:.2f} s "
            f"({len(all_rows):,} from figure sets in {all_read:.2f} s)",
            flush=True,
        )

        def every_page() -> tuple[list[FigureRow], int]:
            rows: list[FigureRow] = []
            after, pages = None, 0
            while pages == 0 or after is not None:
                page, after = store.figures_page(second.id, FIGURES_PAGE, after)
                rows.extend(page)
                pages += 1
            return rows, pages

        _, first_page = timed(lambda: store.figures_page(second.id, FIGURES_PAGE))
        (paged, pages), paging = timed(every_page)
        assert paged == all_rows, "the pages hold other figures than the snapshot"
        print(
            f"the API's figures a page at a time ({FIGURES_PAGE:,} figures): the first page in "
            f"{first_page:.2f} s; all {pages:,} pages in {paging:.1f} s "
            f"({paging / pages * 1000:.0f} ms a page)",
            flush=True,
        )

        def diff_changed() -> int:
            before, after = store.changed_figures(first.id, second.id)
            return diff_snapshots(first.id, before, second.id, after).figures_changed

        def diff_copies() -> int:
            before, after = copied_figures(engine, first.id), copied_figures(engine, second.id)
            return diff_snapshots(first.id, before, second.id, after).figures_changed

        changed, diff_sets = timed(diff_changed)
        changed_copies, diff_copied = timed(diff_copies)
        assert changed == changed_copies, "the diffs differ"
        print(
            f"diff of the two snapshots ({changed:,} figures changed): figure sets that "
            f"differ {diff_sets:.2f} s, every copied figure {diff_copied:.2f} s "
            f"({diff_copied / diff_sets:.0f}×)"
        )
        engine.dispose()


def late_callback(
    history: Sequence[BenchmarkUpdated], reference: ReferenceData
) -> list[BenchmarkUpdated]:
    """New versions of a municipality of the newest campaign wave, its Chamber and the nation,
    with one figure moved (what a late callback does to them)."""
    newest = max((b.campaign, b.wave) for b in history)
    wave = [b for b in history if (b.campaign, b.wave) == newest]
    town = next(b for b in wave if b.scope_kind == "municipality")
    chamber = reference.chamber_of.get(town.scope_id)
    touched = [
        b
        for b in wave
        if b.scope_kind == "nation"
        or b.scope_id == town.scope_id
        or (b.scope_kind == "chamber" and b.scope_id == chamber)
    ]
    return [
        b.model_copy(update={"version": b.version + 1, "contacts": b.contacts + 1}) for b in touched
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--waves", type=int, default=2)
    parser.add_argument("--municipalities", type=int, default=None)
    parser.add_argument("--database", default=None, help="an empty database (default SQLite)")
    main(parser.parse_args())
