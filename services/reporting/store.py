"""Materialised benchmarks and immutable snapshots in SQL.

`BenchmarkStore.apply` folds a batch of `BenchmarkUpdated` events from the benchmarks topic
into the latest figures, together with the offsets consumed, in one transaction: a scope is
replaced only by a higher version, so replays, duplicates and out-of-order batches are
harmless, and `positions()` says exactly which part of the topic SQL reflects.

The latest figures are kept as one document per scope and wave (`scope_state.document`, the
`BenchmarkUpdated` as JSON): a new version is one row written, which keeps an update's way into
SQL short. A retracted wave (its contacts and responses moved to another wave) keeps its row,
marked `retracted`, so that an older version read again does not bring it back; no reader
sees it.

`take_snapshot` freezes the latest figures (and that position) into `snapshot`. Its figures
are flat rows, one per figure, for querying and comparing, grouped in figure sets (one scope in
one campaign wave, `figure_set` / `figure_set_figure`) that are stored once, by content hash, and
that every snapshot holding them refers to (`snapshot_scope`). A campaign measured years ago
is then not copied into every later snapshot, and a snapshot writes only the figure sets that
changed since any earlier one. The view `snapshot_figure` shows a snapshot's figures as one
table. Nothing in Meetlat ever updates or deletes a snapshot or a figure set (migration 0008
computed the earlier snapshots' hashes anew, as figure sets hash).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    bindparam,
    delete,
    false,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from schemas.benchmarks import BenchmarkUpdated
from schemas.events import ONE_LINE
from services.reporting.figures import (
    FigureQuery,
    FigureRow,
    FigureSet,
    RowKey,
    SnapshotInfo,
    figure_rows,
    figure_sets,
    sets_sha256,
    sorted_rows,
)
from services.reporting.metrics import SNAPSHOT_SECONDS
from services.runtime.db import (
    Base,
    JsonText,
    UTCDateTime,
    database_failure,
    one_at_a_time,
    upsert_insert,
    utcnow,
    write_transaction,
)

log = logging.getLogger(__name__)

__all__ = [
    "BenchmarkStore",
    "FigureRow",
    "FigureSetFigure",
    "FigureSetRecord",
    "ScopeState",
    "Snapshot",
    "SnapshotInfo",
    "SnapshotScope",
    "StreamPosition",
]


class ScopeState(Base):
    """The latest figure set of a scope's campaign wave: the `BenchmarkUpdated` document."""

    __tablename__ = "scope_state"

    scope_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign: Mapped[str] = mapped_column(String(120), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # A retraction's version (the wave has nothing left): kept against older updates read
    # again, left out by every reader.
    retracted: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # The figure set a snapshot stored this document as (None until one has): a cache that
    # spares later snapshots reading and flattening documents that did not change.
    figure_set_id: Mapped[int | None] = mapped_column(Integer)


class StreamPosition(Base):
    """Highest consumed offset per partition of the benchmarks topic that SQL reflects."""

    __tablename__ = "stream_position"

    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    offset: Mapped[int] = mapped_column(BigInteger)


MAX_LABEL = 200
MAX_REQUEST_ID = 120
MAX_SNAPSHOT_ID = 2**31 - 1  # the id is a 32-bit integer on PostgreSQL


def snapshot_request_problem(label: str, request_id: str | None) -> str | None:
    """Why a snapshot cannot carry this label or request id, or None: each is one line of
    text (PostgreSQL refuses NUL) that fits its column."""
    for name, value, limit in (
        ("label", label, MAX_LABEL),
        ("request id", request_id, MAX_REQUEST_ID),
    ):
        if value is None:
            continue
        if len(value) > limit:
            return f"the snapshot's {name} is {len(value)} characters long; at most {limit}"
        if re.fullmatch(ONE_LINE, value) is None:  # (search would let a final "\n" pass)
            return f"the snapshot's {name} {value!r} holds a control character"
    return None


class Snapshot(Base):
    """An immutable copy of the latest figures at one moment."""

    __tablename__ = "snapshot"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    label: Mapped[str] = mapped_column(String(MAX_LABEL), default="")
    position: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    figure_count: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(MAX_REQUEST_ID), unique=True)


class FigureSetRecord(Base):
    """One scope's figures in one campaign wave, as some snapshot froze them; stored once."""

    __tablename__ = "figure_set"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    content_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(64))
    campaign: Mapped[str] = mapped_column(String(120))
    wave: Mapped[int] = mapped_column(Integer)
    scope_name: Mapped[str] = mapped_column(String(200))
    figure_count: Mapped[int] = mapped_column(Integer)


class FigureSetFigure(Base):
    """One figure of a figure set."""

    __tablename__ = "figure_set_figure"

    figure_set_id: Mapped[int] = mapped_column(
        ForeignKey("figure_set.id"), primary_key=True, autoincrement=False
    )
    breakdown: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(200))


class SnapshotScope(Base):
    """A figure set that a snapshot holds."""

    __tablename__ = "snapshot_scope"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("snapshot.id"), primary_key=True, autoincrement=False
    )
    figure_set_id: Mapped[int] = mapped_column(
        ForeignKey("figure_set.id"), primary_key=True, autoincrement=False
    )


_FIGURES = select(
    FigureSetRecord.scope_kind,
    FigureSetRecord.scope_id,
    FigureSetRecord.campaign,
    FigureSetRecord.wave,
    FigureSetRecord.scope_name,
    FigureSetFigure.breakdown,
    FigureSetFigure.metric,
    FigureSetFigure.value,
    FigureSetFigure.label,
).join(FigureSetFigure, FigureSetFigure.figure_set_id == FigureSetRecord.id)
"""Figures with their figure set's scope, in FigureRow's order of fields."""


def _latest_rows(conn: Connection) -> list[FigureRow]:
    return sorted_rows(row for update in _latest(conn) for row in figure_rows(update))


def _latest(conn: Connection) -> list[BenchmarkUpdated]:
    documents = conn.execute(select(ScopeState.document).where(~ScopeState.retracted)).scalars()
    return [BenchmarkUpdated.model_validate(document) for document in documents]


def _positions(conn: Connection) -> dict[tuple[str, int], int]:
    stmt = select(StreamPosition.topic, StreamPosition.partition, StreamPosition.offset)
    return {(topic, partition): offset for topic, partition, offset in conn.execute(stmt)}


_SNAPSHOT_COLUMNS = (
    Snapshot.id,
    Snapshot.taken_at,
    Snapshot.label,
    Snapshot.position,
    Snapshot.figure_count,
    Snapshot.content_sha256,
)


class BenchmarkStore:
    """The reporting database: latest figures, stream positions and snapshots."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ latest figures

    def apply(
        self,
        updates: Sequence[BenchmarkUpdated],
        positions: Mapping[tuple[str, int], int],
        documents: Sequence[bytes] | None = None,
    ) -> int:
        """Fold a batch of updates and the offsets consumed into SQL, in one transaction.

        A scope's figures are replaced only by a higher version than the stored one (within
        the batch too: the highest version of a scope wins). Offsets only move forward.
        `documents`: each update's JSON as it was validated from, stored as it is (dumping a
        benchmark again took about 150 µs, against about 200 µs to validate it). Returns the
        number of scopes whose figures changed.
        """
        if documents is not None and len(documents) != len(updates):
            raise ValueError(f"{len(documents)} documents for {len(updates)} updates")
        newest: dict[tuple[str, str, str, int], tuple[BenchmarkUpdated, bytes | None]] = {}
        for index, benchmark in enumerate(updates):
            key = (benchmark.scope_kind, benchmark.scope_id, benchmark.campaign, benchmark.wave)
            held = newest.get(key)
            if held is None or benchmark.version > held[0].version:
                newest[key] = (benchmark, None if documents is None else documents[index])

        dialect = self.engine.dialect.name
        now = utcnow()
        with write_transaction(self.engine) as conn:
            changed: set[tuple[str, str, str, int]] = set()
            if newest:
                # The conditional upsert both decides which scopes win and locks their
                # scope_state rows, which serialises concurrent writers of one scope.
                ins = upsert_insert(dialect, ScopeState)
                stmt = ins.on_conflict_do_update(
                    index_elements=[
                        ScopeState.scope_kind,
                        ScopeState.scope_id,
                        ScopeState.campaign,
                        ScopeState.wave,
                    ],
                    set_={
                        "name": ins.excluded["name"],
                        "version": ins.excluded["version"],
                        "updated_at": ins.excluded["updated_at"],
                        "document": ins.excluded["document"],
                        "retracted": ins.excluded["retracted"],
                        "figure_set_id": None,  # a new document: no snapshot holds it yet
                    },
                    where=ScopeState.version < ins.excluded["version"],
                ).returning(
                    ScopeState.scope_kind,
                    ScopeState.scope_id,
                    ScopeState.campaign,
                    ScopeState.wave,
                )
                params = [
                    {
                        "scope_kind": u.scope_kind,
                        "scope_id": u.scope_id,
                        "campaign": u.campaign,
                        "wave": u.wave,
                        "name": u.name,
                        "version": u.version,
                        "updated_at": now,
                        "document": u.model_dump(mode="json")
                        if raw is None
                        else JsonText(raw.decode()),
                        "retracted": u.retracted,
                    }
                    for _, (u, raw) in sorted(newest.items())  # one lock order for every writer
                ]
                changed = {(k, i, c, w) for k, i, c, w in conn.execute(stmt, params)}
            if positions:
                pins = upsert_insert(dialect, StreamPosition)
                pstmt = pins.on_conflict_do_update(
                    index_elements=[StreamPosition.topic, StreamPosition.partition],
                    set_={"offset": pins.excluded["offset"]},
                    where=StreamPosition.offset < pins.excluded["offset"],
                )
                conn.execute(
                    pstmt,
                    [
                        {"topic": topic, "partition": partition, "offset": offset}
                        for (topic, partition), offset in sorted(positions.items())
                    ],
                )
        return len(changed)

    def latest(self) -> list[FigureRow]:
        """The latest figures, ordered by scope_kind, scope_id, breakdown, metric."""
        with self.engine.connect() as conn:
            return _latest_rows(conn)

    def latest_benchmarks(self) -> list[BenchmarkUpdated]:
        """The latest figure set of every scope and wave, as published."""
        with self.engine.connect() as conn:
            return sorted(_latest(conn), key=lambda b: b.scope_key)

    def positions(self) -> dict[tuple[str, int], int]:
        """(topic, partition) → highest consumed offset reflected in SQL."""
        with self.engine.connect() as conn:
            return _positions(conn)

    def reset_materialised(self) -> None:
        """Forget the latest figures and positions (never snapshots, never the archive).

        Needed when the stream itself starts over — a fresh embedded broker keeps nothing, so
        scope versions restart at 1 and would otherwise lose against the stale ones in SQL.
        """
        with write_transaction(self.engine) as conn:
            conn.execute(delete(ScopeState))
            conn.execute(delete(StreamPosition))

    # ------------------------------------------------------------------ snapshots

    def take_snapshot(self, label: str = "", request_id: str | None = None) -> SnapshotInfo:
        """Freeze the latest figures and the stream position, consistently, in one transaction.

        With a `request_id`, retry-safe: a request id that already made a snapshot gets that
        snapshot back and nothing is written (also when two retries race: the id is unique).
        ValueError for a label or request id the store cannot hold."""
        problem = snapshot_request_problem(label, request_id)
        if problem is not None:
            raise ValueError(problem)
        if request_id is not None:
            made = self.snapshot_of_request(request_id)
            if made is not None:
                return made
        with SNAPSHOT_SECONDS.time():
            try:
                return self._take_snapshot(label, request_id)
            except IntegrityError:
                made = self.snapshot_of_request(request_id) if request_id else None
                if made is None:
                    raise
                return made

    def snapshot_of_request(self, request_id: str) -> SnapshotInfo | None:
        """The snapshot a request id made, if it made one."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(*_SNAPSHOT_COLUMNS).where(Snapshot.request_id == request_id)
            ).first()
        if found is None:
            return None
        id_, taken_at, label, position, figure_count, digest = found
        return SnapshotInfo(id_, taken_at, label, list(position), figure_count, digest)

    def _take_snapshot(self, label: str, request_id: str | None) -> SnapshotInfo:
        options: dict[str, Any] = {}
        if self.engine.dialect.name == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        # One snapshot at a time, so that two never store the same new figure set at once.
        with (
            one_at_a_time(self.engine, _SNAPSHOT_LOCK_KEY),
            write_transaction(self.engine, **options) as conn,
        ):
            held = _held_figure_sets(conn)
            fresh = _unheld_scopes(conn)
            stored = _stored_figure_sets(conn, [made for _, made in fresh])
            held.extend(
                _HeldSet(
                    made.scope.sort_key[:4],
                    stored[made.content_sha256],
                    made.content_sha256,
                    len(made.rows),
                )
                for _, made in fresh
            )
            held.sort()  # (by scope: the canonical order the hash takes them in)
            position = [
                {"topic": topic, "partition": partition, "offset": offset}
                for (topic, partition), offset in sorted(_positions(conn).items())
            ]
            taken_at = utcnow()
            digest = sets_sha256(h.content_sha256 for h in held)
            figure_count = sum(h.figure_count for h in held)
            snapshot_id = conn.execute(
                insert(Snapshot)
                .values(
                    taken_at=taken_at,
                    label=label,
                    position=position,
                    figure_count=figure_count,
                    content_sha256=digest,
                    request_id=request_id,
                )
                .returning(Snapshot.id)
            ).scalar_one()
            if held:
                conn.execute(
                    insert(SnapshotScope),
                    [{"snapshot_id": snapshot_id, "figure_set_id": h.set_id} for h in held],
                )
        self._remember_figure_sets(
            [(document, stored[made.content_sha256]) for document, made in fresh]
        )
        return SnapshotInfo(
            id=snapshot_id,
            taken_at=taken_at,
            label=label,
            position=position,
            figure_count=figure_count,
            content_sha256=digest,
        )

    def _remember_figure_sets(self, stored: Sequence[tuple[_Document, int]]) -> None:
        """Note in `scope_state` which figure set each document a snapshot read is, so that
        later snapshots take the set without reading the document. After the snapshot, in a
        READ COMMITTED transaction of its own: a document replaced meanwhile (its version and
        time of writing differ) keeps none. Only a cache: when this fails, the next snapshot
        reads those documents again."""
        if not stored:
            return
        stmt = (
            update(ScopeState)
            .where(
                ScopeState.scope_kind == bindparam("k"),
                ScopeState.scope_id == bindparam("i"),
                ScopeState.campaign == bindparam("c"),
                ScopeState.wave == bindparam("w"),
                ScopeState.version == bindparam("v"),
                ScopeState.updated_at == bindparam("t"),
            )
            .values(figure_set_id=bindparam("set_id"))
        )
        params = [
            {"k": k, "i": i, "c": c, "w": w, "v": v, "t": t, "set_id": set_id}
            for (k, i, c, w, v, t), set_id in sorted(stored)
        ]
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(stmt, params)
        except DBAPIError as exc:
            log.warning(
                "snapshot taken; noting its figure sets for the next one failed (%s): "
                "the next snapshot reads those scopes again",
                database_failure(exc),
            )

    def snapshots(self) -> list[SnapshotInfo]:
        """Every snapshot, oldest first (newest last)."""
        with self.engine.connect() as conn:
            found = conn.execute(select(*_SNAPSHOT_COLUMNS).order_by(Snapshot.id))
            return [
                SnapshotInfo(
                    id=id_,
                    taken_at=taken_at,
                    label=label,
                    position=list(position),
                    figure_count=figure_count,
                    content_sha256=digest,
                )
                for id_, taken_at, label, position, figure_count, digest in found
            ]

    def snapshot(self, snapshot_id: int | None = None) -> SnapshotInfo:
        """One snapshot (default: the newest); KeyError when there is none."""
        found = self.snapshots()
        if snapshot_id is None:
            if not found:
                raise KeyError("no snapshot yet")
            return found[-1]
        for info in found:
            if info.id == snapshot_id:
                return info
        raise KeyError(snapshot_id)

    def snapshot_figures(self, snapshot_id: int, campaign: str | None = None) -> list[FigureRow]:
        """The figures frozen in a snapshot, or only those of one campaign (KeyError for an
        unknown id)."""
        stmt = _FIGURES.join(
            SnapshotScope, SnapshotScope.figure_set_id == FigureSetRecord.id
        ).where(SnapshotScope.snapshot_id == snapshot_id)
        if campaign is not None:
            # Only a campaign the snapshot holds goes into SQL: a name from a request may hold
            # what PostgreSQL refuses in a parameter (NUL), and it would find nothing anyway.
            if campaign not in {c for _, c, _ in self.snapshot_scopes(snapshot_id)}:
                return []
            stmt = stmt.where(FigureSetRecord.campaign == campaign)
        else:
            self._known(snapshot_id)
        with self.engine.connect() as conn:
            return sorted_rows(FigureRow(*row) for row in conn.execute(stmt))

    def figures_page(
        self,
        snapshot_id: int,
        limit: int,
        after: RowKey | None = None,
        wanted: FigureQuery | None = None,
    ) -> tuple[list[FigureRow], RowKey | None]:
        """Up to `limit` figures of a snapshot that `wanted` selects, in canonical order, from
        the first after the row key `after`; and the key of the page's last figure when more
        may follow (None at the end). Reads only the figure sets the page takes (KeyError for
        an unknown id)."""
        query = wanted or FigureQuery()
        self._known(snapshot_id)
        stmt = select(
            FigureSetRecord.scope_kind,
            FigureSetRecord.scope_id,
            FigureSetRecord.campaign,
            FigureSetRecord.wave,
            FigureSetRecord.id,
            FigureSetRecord.figure_count,
        ).join(SnapshotScope, SnapshotScope.figure_set_id == FigureSetRecord.id)
        with self.engine.connect() as conn:
            # a snapshot holds a few thousand sets: chosen and ordered here, not in SQL, where
            # strings from a request could hold what PostgreSQL refuses and collations differ
            held = sorted(
                (
                    ((kind, scope, campaign, wave), id_, count)
                    for kind, scope, campaign, wave, id_, count in conn.execute(
                        stmt.where(SnapshotScope.snapshot_id == snapshot_id)
                    )
                    if query.holds(kind, scope, campaign, wave)
                ),
                key=itemgetter(0),
            )
            if after is not None:
                held = [s for s in held if s[0] >= after[:4]]
            rows: list[FigureRow] = []
            taken = 0
            while taken < len(held) and len(rows) < limit:
                chunk = [held[taken]]  # at least one set; then as many as the limit wants
                wants = limit - len(rows) - held[taken][2]
                while wants > 0 and taken + len(chunk) < len(held) and len(chunk) < _IDS_PER_QUERY:
                    wants -= held[taken + len(chunk)][2]
                    chunk.append(held[taken + len(chunk)])
                taken += len(chunk)
                found = _figures_of_sets(conn, (id_ for _, id_, _ in chunk), query.breakdown)
                rows.extend(r for r in found if after is None or r.sort_key > after)
        page = rows[:limit]
        more = len(rows) > limit or taken < len(held)
        return page, page[-1].sort_key if more and page else None

    def changed_figures(self, before: int, after: int) -> tuple[list[FigureRow], list[FigureRow]]:
        """The figures of two snapshots, of the figure sets that only one of them holds: all
        that a diff compares, since a set both hold did not change (KeyError for an unknown
        id)."""
        self._known(before)
        self._known(after)
        with self.engine.connect() as conn:
            held_before, held_after = (
                set(
                    conn.scalars(
                        select(SnapshotScope.figure_set_id).where(SnapshotScope.snapshot_id == i)
                    )
                )
                for i in (before, after)
            )
            return (
                _figures_of_sets(conn, held_before - held_after),
                _figures_of_sets(conn, held_after - held_before),
            )

    def snapshot_scopes(self, snapshot_id: int) -> list[tuple[str, str, int]]:
        """(scope kind, campaign, wave) of every figure set a snapshot holds, without reading
        a figure (KeyError for an unknown id)."""
        self._known(snapshot_id)
        stmt = (
            select(FigureSetRecord.scope_kind, FigureSetRecord.campaign, FigureSetRecord.wave)
            .join(SnapshotScope, SnapshotScope.figure_set_id == FigureSetRecord.id)
            .where(SnapshotScope.snapshot_id == snapshot_id)
            .distinct()
        )
        with self.engine.connect() as conn:
            return sorted((kind, c, w) for kind, c, w in conn.execute(stmt))

    def _known(self, snapshot_id: int) -> None:
        if not 1 <= snapshot_id <= MAX_SNAPSHOT_ID:  # no such id, and no query PostgreSQL takes
            raise KeyError(snapshot_id)
        with self.engine.connect() as conn:
            if conn.scalar(select(Snapshot.id).where(Snapshot.id == snapshot_id)) is None:
                raise KeyError(snapshot_id)


_Document = tuple[str, str, str, int, int, datetime]
"""A latest document as it was read: scope kind, scope id, campaign, wave, version, updated_at."""


class _HeldSet(NamedTuple):
    """A figure set a snapshot holds, for the latest document of a scope."""

    scope: tuple[str, str, str, int]  # scope kind, scope id, campaign, wave
    set_id: int
    content_sha256: str
    figure_count: int


def _held_figure_sets(conn: Connection) -> list[_HeldSet]:
    """The figure sets of every latest document that an earlier snapshot stored as one."""
    stmt = select(
        ScopeState.scope_kind,
        ScopeState.scope_id,
        ScopeState.campaign,
        ScopeState.wave,
        FigureSetRecord.id,
        FigureSetRecord.content_sha256,
        FigureSetRecord.figure_count,
    ).join(FigureSetRecord, FigureSetRecord.id == ScopeState.figure_set_id)
    return [_HeldSet((k, i, c, w), id_, sha, n) for k, i, c, w, id_, sha, n in conn.execute(stmt)]


def _unheld_scopes(conn: Connection) -> list[tuple[_Document, FigureSet]]:
    """Every latest document that no snapshot has stored yet, as its figure set."""
    stmt = select(
        ScopeState.scope_kind,
        ScopeState.scope_id,
        ScopeState.campaign,
        ScopeState.wave,
        ScopeState.version,
        ScopeState.updated_at,
        ScopeState.document,
    ).where(ScopeState.figure_set_id.is_(None), ~ScopeState.retracted)
    found = []
    for k, i, c, w, version, updated_at, document in conn.execute(stmt):
        (made,) = figure_sets(figure_rows(BenchmarkUpdated.model_validate(document)))
        found.append(((k, i, c, w, version, updated_at), made))
    return found


def _figures_of_sets(
    conn: Connection, set_ids: Iterable[int], breakdown: str | None = None
) -> list[FigureRow]:
    """The figures of the figure sets (of one breakdown only, if given), in canonical order."""
    ids = sorted(set_ids)
    if breakdown is not None and "\x00" in breakdown:
        return []  # no breakdown holds one, and PostgreSQL refuses it in a parameter
    found: list[FigureRow] = []
    for start in range(0, len(ids), _IDS_PER_QUERY):
        stmt = _FIGURES.where(FigureSetRecord.id.in_(ids[start : start + _IDS_PER_QUERY]))
        if breakdown is not None:
            stmt = stmt.where(FigureSetFigure.breakdown == breakdown)
        found.extend(FigureRow(*row) for row in conn.execute(stmt))
    return sorted_rows(found)


_SNAPSHOT_LOCK_KEY = 0x6D6565746C6174 + 1  # (the migrations' key + 1)
_IDS_PER_QUERY = 500  # ids or hashes in one IN (…)


def _stored_figure_sets(conn: Connection, sets: Sequence[FigureSet]) -> dict[str, int]:
    """The ids of the figure sets by hash, storing those not stored yet (with their figures)."""
    by_sha = {s.content_sha256: s for s in sets}
    ids: dict[str, int] = {}
    shas = sorted(by_sha)
    for start in range(0, len(shas), _IDS_PER_QUERY):
        chunk = shas[start : start + _IDS_PER_QUERY]
        found = select(FigureSetRecord.content_sha256, FigureSetRecord.id).where(
            FigureSetRecord.content_sha256.in_(chunk)
        )
        ids.update({sha: id_ for sha, id_ in conn.execute(found)})
    new = [by_sha[sha] for sha in shas if sha not in ids]
    if not new:
        return ids
    made = conn.execute(
        insert(FigureSetRecord).returning(
            FigureSetRecord.content_sha256, FigureSetRecord.id, sort_by_parameter_order=True
        ),
        [
            {
                "content_sha256": s.content_sha256,
                "scope_kind": s.scope.scope_kind,
                "scope_id": s.scope.scope_id,
                "campaign": s.scope.campaign,
                "wave": s.scope.wave,
                "scope_name": s.scope.scope_name,
                "figure_count": len(s.rows),
            }
            for s in new
        ],
    )
    ids.update({sha: id_ for sha, id_ in made})
    conn.execute(
        insert(FigureSetFigure),
        [
            {
                "figure_set_id": ids[s.content_sha256],
                "breakdown": row.breakdown,
                "metric": row.metric,
                "value": row.value,
                "label": row.label,
            }
            for s in new
            for row in s.rows
        ],
    )
    return ids
