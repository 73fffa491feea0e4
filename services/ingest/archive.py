"""The durable event archive.

Every accepted event is written here, with its original validated JSON bytes, before it is
acknowledged: the broker may keep its log only in memory, and the archive is what a replay
(the batch oracle, or a rebuild of every downstream state) reads.

Appending is idempotent on `event_id`: an event archived before is skipped, so at-least-once
delivery into the archive never duplicates anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Engine, Integer, LargeBinary, String, func, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from schemas.events import EventBase, Heartbeat
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


class EventArchive:
    """Append-only store of accepted events on an engine whose schema is upgraded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def append(self, batch: Sequence[tuple[Archivable, bytes]]) -> int:
        """Archive a batch in one transaction; returns how many events were new.

        Events whose `event_id` is already archived (or occurs earlier in the same batch) are
        skipped; the first occurrence wins.
        """
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for event, payload in batch:
            if event.event_id in seen:
                continue
            seen.add(event.event_id)
            rows.append(_row(event, payload))
        if not rows:
            return 0

        dialect = self.engine.dialect.name
        with write_transaction(self.engine) as conn:
            if dialect in ("sqlite", "postgresql"):
                stmt = (
                    upsert_insert(dialect, ArchivedEvent)
                    .on_conflict_do_nothing(index_elements=[ArchivedEvent.event_id])
                    .returning(ArchivedEvent.event_id)
                )
                return len(conn.execute(stmt, rows).all())
            # Any other backend: skip what is there, then insert the rest.
            existing = set(
                conn.scalars(select(ArchivedEvent.event_id).where(ArchivedEvent.event_id.in_(seen)))
            )
            fresh = [row for row in rows if row["event_id"] not in existing]
            if fresh:
                conn.execute(insert(ArchivedEvent), fresh)
            return len(fresh)

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
