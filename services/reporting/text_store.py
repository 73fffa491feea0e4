"""De-identified contact texts in SQL (the SQL adapter of `services.reporting.contacts`).

`sync_texts` reads the call reports, mail replies and mail reviews from the event archive that
are not yet stored, de-identifies them and stores only the de-identified text: the reporting
tables never hold a staff member's name. Idempotent on the event id (retry-safe).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import Engine, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from schemas.events import CallAssessed, MailAssessed, MailReplied, parse_event
from services.ingest.archive import ArchivedEvent
from services.reporting.contacts import TEXT_EVENTS, ContactText, Deidentify, contact_text, latest
from services.reporting.deidentify import VERSION
from services.runtime.db import Base, UTCDateTime, upsert_insert, write_transaction


class StoredText(Base):
    """One de-identified call report, mail reply or mail review."""

    __tablename__ = "contact_text"

    event_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(120), index=True)
    municipality: Mapped[str] = mapped_column(String(6), index=True)
    campaign: Mapped[str] = mapped_column(String(120))
    wave: Mapped[int] = mapped_column(Integer)
    case: Mapped[str] = mapped_column(String(120))
    channel: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text)
    deidentified_with: Mapped[str] = mapped_column(String(64))


class TextStore:
    """De-identified contact texts on an engine whose schema is upgraded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def pending(self, batch_size: int = 500) -> list[bytes]:
        """Archived text-carrying events not yet stored (at most `batch_size`)."""
        stored = select(StoredText.event_id)
        stmt = (
            select(ArchivedEvent.payload)
            .where(ArchivedEvent.event_type.in_(list(TEXT_EVENTS)))
            .where(ArchivedEvent.event_id.not_in(stored))
            .order_by(ArchivedEvent.seq)
            .limit(batch_size)
        )
        with self.engine.connect() as conn:
            return [bytes(p) for p in conn.scalars(stmt)]

    def store(self, texts: Iterable[ContactText]) -> int:
        rows = [
            {
                "event_id": t.event_id,
                "contact_id": t.contact_id,
                "municipality": t.municipality,
                "campaign": t.campaign,
                "wave": t.wave,
                "case": t.case,
                "channel": t.channel,
                "kind": t.kind,
                "occurred_at": t.occurred_at,
                "text": t.text,
                "deidentified_with": VERSION,
            }
            for t in texts
        ]
        if not rows:
            return 0
        dialect = self.engine.dialect.name
        with write_transaction(self.engine) as conn:
            stmt = upsert_insert(dialect, StoredText).on_conflict_do_nothing(
                index_elements=[StoredText.event_id]
            )
            conn.execute(stmt, rows)
        return len(rows)

    def texts(
        self, municipality: str | None = None, campaign: str | None = None
    ) -> list[ContactText]:
        """The latest text per contact and kind (optionally of one municipality, of one
        campaign)."""
        stmt = select(StoredText)
        if municipality:
            stmt = stmt.where(StoredText.municipality == municipality)
        if campaign is not None:
            stmt = stmt.where(StoredText.campaign == campaign)
        with self.engine.connect() as conn:
            found = [
                ContactText(
                    event_id=r.event_id,
                    contact_id=r.contact_id,
                    municipality=r.municipality,
                    campaign=r.campaign,
                    wave=r.wave,
                    case=r.case,
                    channel=r.channel,
                    kind=r.kind,
                    occurred_at=r.occurred_at,
                    text=r.text,
                )
                for r in conn.execute(stmt)
            ]
        return latest(found)


def sync_texts(
    store: TextStore,
    deidentify: Callable[[], Deidentify],
    progress: Callable[[int], None] | None = None,
) -> int:
    """De-identify and store every archived text not stored yet; returns how many were added.
    `deidentify` is called only when there is something to do (loading deduce takes seconds)."""
    added = 0
    engine: Deidentify | None = None
    while True:
        payloads = store.pending()
        if not payloads:
            return added
        if engine is None:
            engine = deidentify()
        texts = []
        for payload in payloads:
            event = parse_event(payload)
            if isinstance(event, CallAssessed | MailReplied | MailAssessed):
                texts.append(contact_text(event, engine))
        if not texts:  # cannot happen for archived events; never loop forever
            return added
        added += store.store(texts)
        if progress:
            progress(len(payloads))
