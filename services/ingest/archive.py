"""The durable event archive.

Every accepted event is written here, with its original validated JSON bytes, before it is
acknowledged: the broker may keep its log only in memory, and the archive is what a replay
(the batch oracle, or a rebuild of every downstream state) reads.

Appending is idempotent on `event_id`: an event archived before is skipped, so at-least-once
delivery into the archive never duplicates anything. An event id names one fact: an event that
comes again with other content is a conflict (`Appended.conflicts`), which ingest dead-letters
instead of passing it on. So the consumers never see two versions of an event, and a replay of
the archive gives what the live stream gave.

What ingest refuses is kept here too (`Refused`), as it was dead-lettered: the embedded
broker's dead-letter topic lives only as long as the broker, and unlike what the scorer or the
aggregators refuse, it cannot be derived again from the accepted events.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from schemas.events import OBSERVATION_ADAPTER, EventBase, Heartbeat
from services.runtime.db import Base, UTCDateTime, upsert_insert, utcnow, write_transaction


class ArchivedEvent(Base):
    """One accepted event, in archive order (`seq`)."""

    __tablename__ = "event_archive"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(120), unique=True)
    contact_id: Mapped[str] = mapped_column(String(120), index=True)
    municipality: Mapped[str] = mapped_column(String(6))
    event_type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RefusedRecord(Base):
    """One record ingest dead-lettered, in the order it was refused (`seq`)."""

    __tablename__ = "refused_record"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    refused_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(Text, index=True)  # (a record is kept once per source)
    reason: Mapped[str] = mapped_column(Text)
    value: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class Refused:
    """A record ingest refused: its original bytes, why (`kind`, `reason`), where it came
    from (`source`) and when (`at`, the dead letter's timestamp)."""

    kind: str
    source: str
    reason: str
    value: bytes
    at: datetime


def _refused(row: Any) -> Refused:
    """A `refused_record` row as the record it keeps."""
    return Refused(row.kind, row.source, row.reason, bytes(row.value), row.refused_at)


Archivable = EventBase | Heartbeat


def _row(event: Archivable, payload: bytes) -> dict[str, Any]:
    # Heartbeats belong to no contact: they are archived so that a replay advances event time
    # exactly as the original stream did.
    return {
        "event_id": event.event_id,
        "contact_id": getattr(event, "contact_id", ""),
        "municipality": getattr(event, "municipality", ""),
        "event_type": getattr(event, "type"),  # noqa: B009 - only concrete events carry `type`
        "occurred_at": event.occurred_at,
        "payload": bytes(payload),
    }


@dataclass(frozen=True)
class Appended:
    """What `EventArchive.append` did with a batch."""

    new: int  # events archived now
    conflicts: tuple[int, ...]  # positions whose event id is archived with other content


def _stored(conn: Connection, event_ids: Collection[str]) -> dict[str, bytes]:
    """The archived payloads of these event ids, asked for in chunks (a database takes only
    so many parameters in one statement)."""
    ids = sorted(event_ids)
    stored: dict[str, bytes] = {}
    for start in range(0, len(ids), 1000):
        stmt = select(ArchivedEvent.event_id, ArchivedEvent.payload).where(
            ArchivedEvent.event_id.in_(ids[start : start + 1000])
        )
        stored.update((event_id, bytes(payload)) for event_id, payload in conn.execute(stmt))
    return stored


def _conflicting(
    batch: Sequence[tuple[Archivable, bytes]],
    positions: Iterable[int],
    stored: Mapping[str, bytes],
    firsts: Mapping[str, int],
) -> tuple[int, ...]:
    """The positions whose event differs from the archived one with its id or, if none is
    archived, from the first in the batch with its id. Events are compared as facts, not as
    bytes: an archived payload may be an older version's dump of the same event."""
    found = []
    for position in positions:
        event, payload = batch[position]
        archived = stored.get(event.event_id)
        if archived is None:
            same = batch[firsts[event.event_id]][0] == event
        else:
            same = archived == payload or _parsed(archived) == event
        if not same:
            found.append(position)
    return tuple(found)


def _parsed(payload: bytes) -> Archivable | None:
    try:
        return OBSERVATION_ADAPTER.validate_json(payload)
    except ValidationError:
        return None  # (archived before the contract refused it: other content, then)


class EventArchive:
    """Append-only store of accepted events on an engine whose schema is upgraded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def append(self, batch: Sequence[tuple[Archivable, bytes]]) -> Appended:
        """Archive a batch in one transaction.

        An event whose `event_id` is archived already (or occurs earlier in the same batch) is
        skipped: with the same content it is a duplicate (at-least-once delivery, a file sent
        twice); with other content it is a conflict, and the first content stays.
        """
        if not batch:
            return Appended(0, ())
        rows: list[dict[str, Any]] = []
        firsts: dict[str, int] = {}
        for position, (event, payload) in enumerate(batch):
            if firsts.setdefault(event.event_id, position) == position:
                rows.append(_row(event, payload))
        stmt = (
            upsert_insert(self.engine.dialect.name, ArchivedEvent)
            .on_conflict_do_nothing(index_elements=[ArchivedEvent.event_id])
            .returning(ArchivedEvent.event_id)
        )
        with write_transaction(self.engine) as conn:
            inserted = set(conn.scalars(stmt, rows))
            # every event id of the batch is archived now: the rest is compared with that
            skipped = [
                position
                for position, (event, _) in enumerate(batch)
                if event.event_id not in inserted or firsts[event.event_id] != position
            ]
            stored = _stored(conn, {batch[position][0].event_id for position in skipped})
        return Appended(len(inserted), _conflicting(batch, skipped, stored, firsts))

    def conflicts(self, batch: Sequence[tuple[Archivable, bytes]]) -> tuple[int, ...]:
        """The positions in `batch` that `append` would find in conflict now, without
        archiving anything (for a caller that refuses a whole request over one)."""
        firsts: dict[str, int] = {}
        for position, (event, _) in enumerate(batch):
            firsts.setdefault(event.event_id, position)
        with self.engine.connect() as conn:
            stored = _stored(conn, set(firsts))
        return _conflicting(batch, range(len(batch)), stored, firsts)

    def refuse(self, refused: Sequence[Refused]) -> list[Refused]:
        """Keep what ingest dead-letters, before it is sent (one transaction), and return what
        is kept, in the same order. A record refused before from the same source with the
        same bytes (a batch delivered again after a rebalance, a file ingested again) is kept
        once, with its first time, so that its dead letter is the same whenever it is sent."""
        if not refused:
            return []
        with write_transaction(self.engine) as conn:
            earlier = conn.execute(
                select(RefusedRecord)
                .where(RefusedRecord.source.in_({r.source for r in refused}))
                .order_by(RefusedRecord.seq.desc())  # (the first one of a pair made before 0007)
            )
            kept = {(row.source, bytes(row.value)): _refused(row) for row in earlier}
            new: dict[tuple[str, bytes], Refused] = {}
            for r in refused:
                key = (r.source, bytes(r.value))
                if key not in kept:
                    new.setdefault(key, r)
            if new:
                rows = [
                    {
                        "refused_at": r.at,
                        "kind": r.kind,
                        "source": r.source,
                        "reason": r.reason,
                        "value": bytes(r.value),
                    }
                    for r in new.values()
                ]
                conn.execute(insert(RefusedRecord), rows)
        kept.update(new)
        return [kept[r.source, bytes(r.value)] for r in refused]

    def refused(self, batch_size: int = 1000) -> Iterator[Refused]:
        """Everything ingest refused, in the order it was refused."""
        last_seq = 0
        while True:
            stmt = (
                select(RefusedRecord)
                .where(RefusedRecord.seq > last_seq)
                .order_by(RefusedRecord.seq)
                .limit(batch_size)
            )
            with self.engine.connect() as conn:
                page = conn.execute(stmt).all()
            for row in page:
                last_seq = row.seq
                yield _refused(row)
            if len(page) < batch_size:
                return

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(ArchivedEvent)) or 0)

    def payloads(self, batch_size: int = 1000) -> Iterator[bytes]:
        """Every archived payload in archive order, read in keyset-paginated batches."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        last_seq: int | None = None
        while True:
            stmt = select(ArchivedEvent.seq, ArchivedEvent.payload).order_by(ArchivedEvent.seq)
            if last_seq is not None:
                stmt = stmt.where(ArchivedEvent.seq > last_seq)
            with self.engine.connect() as conn:
                page = conn.execute(stmt.limit(batch_size)).all()
            for seq, payload in page:
                last_seq = seq
                yield bytes(payload)
            if len(page) < batch_size:
                return

    def first_payloads(self, municipality: str | None = None) -> Iterator[bytes]:
        """The first archived event of every contact (optionally of one municipality)."""
        first = (
            select(func.min(ArchivedEvent.seq))
            .where(ArchivedEvent.contact_id != "")
            .group_by(ArchivedEvent.contact_id)
        )
        if municipality:
            first = first.where(ArchivedEvent.municipality == municipality)
        stmt = (
            select(ArchivedEvent.payload)
            .where(ArchivedEvent.seq.in_(first))
            .order_by(ArchivedEvent.seq)
        )
        with self.engine.connect() as conn:
            for payload in conn.scalars(stmt):
                yield bytes(payload)
