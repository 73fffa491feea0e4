"""Materialised benchmarks and immutable snapshots in SQL.

`BenchmarkStore.apply` folds a batch of `BenchmarkUpdated` events from the benchmarks topic
into the latest figures, together with the offsets consumed, in one transaction: a scope is
replaced only by a higher version, so replays, duplicates and out-of-order batches are
harmless, and `positions()` says exactly which part of the topic SQL reflects.

The latest figures are kept as one document per scope and wave (`scope_state.document`, the
`BenchmarkUpdated` as JSON): a new version is one row written, which keeps an update's way into
SQL short. Snapshots store the flat rows (`snapshot_figure`), one per figure, for querying and
comparing.

`take_snapshot` freezes the latest figures (and that position) into `snapshot` /
`snapshot_figure`. Nothing in Meetlat ever updates or deletes a snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    delete,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from schemas.benchmarks import BenchmarkUpdated
from schemas.events import ONE_LINE
from services.reporting.figures import (
    FigureRow,
    SnapshotInfo,
    content_sha256,
    figure_rows,
    sorted_rows,
)
from services.reporting.metrics import SNAPSHOT_SECONDS
from services.runtime.db import (
    Base,
    JsonText,
    UTCDateTime,
    upsert_insert,
    utcnow,
    write_transaction,
)

__all__ = [
    "BenchmarkStore",
    "FigureRow",
    "ScopeState",
    "Snapshot",
    "SnapshotFigure",
    "SnapshotInfo",
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


class SnapshotFigure(Base):
    """One figure as it was when its snapshot was taken."""

    __tablename__ = "snapshot_figure"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("snapshot.id"), primary_key=True, autoincrement=False
    )
    scope_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign: Mapped[str] = mapped_column(String(120), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    breakdown: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(200))
    scope_name: Mapped[str] = mapped_column(String(200))


def _latest_rows(conn: Connection) -> list[FigureRow]:
    return sorted_rows(row for update in _latest(conn) for row in figure_rows(update))


def _latest(conn: Connection) -> list[BenchmarkUpdated]:
    documents = conn.execute(select(ScopeState.document)).scalars()
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
        for index, update in enumerate(updates):
            key = (update.scope_kind, update.scope_id, update.campaign, update.wave)
            held = newest.get(key)
            if held is None or update.version > held[0].version:
                newest[key] = (update, None if documents is None else documents[index])

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
        with write_transaction(self.engine, **options) as conn:
            rows = _latest_rows(conn)
            position = [
                {"topic": topic, "partition": partition, "offset": offset}
                for (topic, partition), offset in sorted(_positions(conn).items())
            ]
            taken_at = utcnow()
            digest = content_sha256(rows)
            snapshot_id = conn.execute(
                insert(Snapshot)
                .values(
                    taken_at=taken_at,
                    label=label,
                    position=position,
                    figure_count=len(rows),
                    content_sha256=digest,
                    request_id=request_id,
                )
                .returning(Snapshot.id)
            ).scalar_one()
            if rows:
                conn.execute(
                    insert(SnapshotFigure),
                    [
                        {
                            "snapshot_id": snapshot_id,
                            "scope_kind": row.scope_kind,
                            "scope_id": row.scope_id,
                            "campaign": row.campaign,
                            "wave": row.wave,
                            "breakdown": row.breakdown,
                            "metric": row.metric,
                            "value": row.value,
                            "label": row.label,
                            "scope_name": row.scope_name,
                        }
                        for row in rows
                    ],
                )
        return SnapshotInfo(
            id=snapshot_id,
            taken_at=taken_at,
            label=label,
            position=position,
            figure_count=len(rows),
            content_sha256=digest,
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

    def snapshot_figures(self, snapshot_id: int) -> list[FigureRow]:
        """The figures frozen in a snapshot (KeyError for an unknown id)."""
        if not 1 <= snapshot_id <= MAX_SNAPSHOT_ID:  # no such id, and no query PostgreSQL takes
            raise KeyError(snapshot_id)
        with self.engine.connect() as conn:
            exists = conn.scalar(select(Snapshot.id).where(Snapshot.id == snapshot_id))
            if exists is None:
                raise KeyError(snapshot_id)
            stmt = select(
                SnapshotFigure.scope_kind,
                SnapshotFigure.scope_id,
                SnapshotFigure.campaign,
                SnapshotFigure.wave,
                SnapshotFigure.scope_name,
                SnapshotFigure.breakdown,
                SnapshotFigure.metric,
                SnapshotFigure.value,
                SnapshotFigure.label,
            ).where(SnapshotFigure.snapshot_id == snapshot_id)
            return sorted_rows(FigureRow(*row) for row in conn.execute(stmt))
