"""SQL adapter of mail ingestion: the raw message archive, IMAP checkpoints, the index of sent
mystery mails and what became of every received message (the holding pen among them).

- `mail_raw`: every fetched message, content-addressed by the SHA-256 of its bytes, stored
  *before* any event is emitted for it, so the analysis can be re-run. A message whose
  Message-ID is archived already (the same mail fetched again after a UIDVALIDITY change, with
  headers the server rewrote) is a duplicate as well.
- `mail_checkpoint`: per IMAP account and folder, the UIDVALIDITY and the highest UID fetched.
- `mail_sent`: the sent mystery mails, the index replies are threaded against.
- `mail_message`: the outcome per received message: `event` (mail events emitted),
  `unmatched` (in the holding pen), `bounce`, `quarantined`, `incomplete` (a sent mail
  lacking its identity) — with the event ids emitted for it, so a human correction can
  retract them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from services.ingest.mail.threading import SentMail
from services.runtime.db import Base, UTCDateTime, upsert_insert, utcnow, write_transaction

UNMATCHED = "unmatched"


class MailRaw(Base):
    __tablename__ = "mail_raw"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str | None] = mapped_column(String(500), index=True)
    size: Mapped[int] = mapped_column(Integer)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(500))
    sent: Mapped[bool] = mapped_column(Boolean)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MailCheckpoint(Base):
    __tablename__ = "mail_checkpoint"

    account: Mapped[str] = mapped_column(String(300), primary_key=True)
    folder: Mapped[str] = mapped_column(String(300), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    polled_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MailSentRow(Base):
    __tablename__ = "mail_sent"

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(500))
    contact_id: Mapped[str] = mapped_column(String(120), index=True)
    municipality: Mapped[str] = mapped_column(String(6))
    campaign: Mapped[str] = mapped_column(String(120))
    wave: Mapped[int] = mapped_column(Integer)
    case: Mapped[str] = mapped_column(String(120))
    to_domain: Mapped[str] = mapped_column(String(300))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    thread_index: Mapped[str | None] = mapped_column(String(200))
    persona: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))


class MailMessageRow(Base):
    __tablename__ = "mail_message"

    sha256: Mapped[str] = mapped_column(String(64), ForeignKey("mail_raw.sha256"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str | None] = mapped_column(String(20))
    kind_override: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    contact_id: Mapped[str | None] = mapped_column(String(120))
    event_ids: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(500))
    sender: Mapped[str] = mapped_column(String(300))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class RawMail:
    sha256: str
    message_id: str | None
    raw: bytes
    source: str
    sent: bool
    fetched_at: datetime


@dataclass(frozen=True)
class MessageOutcome:
    sha256: str
    status: str
    kind: str | None
    reason: str
    contact_id: str | None
    event_ids: tuple[str, ...]
    subject: str
    sender: str
    occurred_at: datetime
    kind_override: str | None = None


def sent_mail(row: MailSentRow) -> SentMail:
    return SentMail(
        message_id=row.message_id,
        token=row.token,
        to_domain=row.to_domain,
        case=row.case,
        sent_at=row.sent_at,
        thread_index=row.thread_index,
        contact_id=row.contact_id,
        municipality=row.municipality,
        campaign=row.campaign,
        wave=row.wave,
    )


def _outcome(row: MailMessageRow) -> MessageOutcome:
    return MessageOutcome(
        sha256=row.sha256,
        status=row.status,
        kind=row.kind,
        reason=row.reason,
        contact_id=row.contact_id,
        event_ids=tuple(row.event_ids or ()),
        subject=row.subject,
        sender=row.sender,
        occurred_at=row.occurred_at,
        kind_override=row.kind_override,
    )


class MailStore:
    """The mail tables on an engine whose schema is upgraded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ---------------------------------------------------------------- raw archive

    def archive_raw(self, mails: Sequence[RawMail]) -> list[RawMail]:
        """Store messages not archived before (by content hash, then by Message-ID); returns
        the new ones, in the given order. Committed before the caller emits anything."""
        fresh: list[RawMail] = []
        seen_hash: set[str] = set()
        seen_id: set[str] = set()
        for mail in mails:
            if mail.sha256 in seen_hash or (mail.message_id and mail.message_id in seen_id):
                continue
            seen_hash.add(mail.sha256)
            if mail.message_id:
                seen_id.add(mail.message_id)
            fresh.append(mail)
        if not fresh:
            return []
        with write_transaction(self.engine) as conn:
            known_hash: set[str] = set()
            known_id: set[str] = set()
            hashes = [m.sha256 for m in fresh]
            ids = [m.message_id for m in fresh if m.message_id]
            for start in range(0, len(hashes), 500):
                known_hash |= set(
                    conn.scalars(
                        select(MailRaw.sha256).where(
                            MailRaw.sha256.in_(hashes[start : start + 500])
                        )
                    )
                )
            for start in range(0, len(ids), 500):
                known_id |= {
                    v
                    for v in conn.scalars(
                        select(MailRaw.message_id).where(
                            MailRaw.message_id.in_(ids[start : start + 500])
                        )
                    )
                    if v
                }
            new = [
                m
                for m in fresh
                if m.sha256 not in known_hash and not (m.message_id and m.message_id in known_id)
            ]
            if new:
                conn.execute(
                    insert(MailRaw),
                    [
                        {
                            "sha256": m.sha256,
                            "message_id": m.message_id,
                            "size": len(m.raw),
                            "raw": m.raw,
                            "source": m.source[:500],
                            "sent": m.sent,
                            "fetched_at": m.fetched_at,
                        }
                        for m in new
                    ],
                )
        return new

    def raw(self, sha256: str) -> RawMail | None:
        with Session(self.engine) as conn:
            m = conn.scalars(select(MailRaw).where(MailRaw.sha256 == sha256)).first()
        if m is None:
            return None
        return RawMail(m.sha256, m.message_id, bytes(m.raw), m.source, m.sent, m.fetched_at)

    def unprocessed(self, sent: bool, limit: int = 200) -> list[RawMail]:
        """Archived messages without an outcome yet (oldest first)."""
        stmt = (
            select(MailRaw)
            .outerjoin(MailMessageRow, MailMessageRow.sha256 == MailRaw.sha256)
            .where(MailMessageRow.sha256.is_(None), MailRaw.sent.is_(sent))
            .order_by(MailRaw.fetched_at, MailRaw.sha256)
            .limit(limit)
        )
        with Session(self.engine) as conn:
            return [
                RawMail(m.sha256, m.message_id, bytes(m.raw), m.source, m.sent, m.fetched_at)
                for m in conn.scalars(stmt)
            ]

    def raw_count(self) -> int:
        with Session(self.engine) as conn:
            return int(conn.scalar(select(func.count()).select_from(MailRaw)) or 0)

    def resolve_message(self, key: str) -> str | None:
        """A message's SHA-256 from a unique prefix of it (≥ 6 characters) or its Message-ID."""
        key = key.strip()
        with Session(self.engine) as conn:
            by_id = list(
                conn.scalars(
                    select(MailRaw.sha256).where(
                        MailRaw.message_id.in_([key, f"<{key.strip('<>')}>"])
                    )
                )
            )
            if len(by_id) == 1:
                return by_id[0]
            if len(key) < 6:
                return None
            found = list(
                conn.scalars(select(MailRaw.sha256).where(MailRaw.sha256.like(f"{key.lower()}%")))
            )
        return found[0] if len(found) == 1 else None

    # ---------------------------------------------------------------- checkpoints

    def checkpoint(self, account: str, folder: str) -> tuple[int, int] | None:
        """(uidvalidity, last_uid) of a folder, or None before its first fetch."""
        with Session(self.engine) as conn:
            row = conn.execute(
                select(MailCheckpoint.uidvalidity, MailCheckpoint.last_uid).where(
                    MailCheckpoint.account == account, MailCheckpoint.folder == folder
                )
            ).first()
        return (int(row[0]), int(row[1])) if row else None

    def save_checkpoint(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        dialect = self.engine.dialect.name
        values = {
            "account": account,
            "folder": folder,
            "uidvalidity": uidvalidity,
            "last_uid": last_uid,
            "polled_at": utcnow(),
        }
        with write_transaction(self.engine) as conn:
            stmt = upsert_insert(dialect, MailCheckpoint).values(**values)
            stmt = stmt.on_conflict_do_update(
                index_elements=[MailCheckpoint.account, MailCheckpoint.folder],
                set_={k: stmt.excluded[k] for k in ("uidvalidity", "last_uid", "polled_at")},
            )
            conn.execute(stmt)

    # ---------------------------------------------------------------- sent mails

    def add_sent(self, rows: Iterable[dict[str, Any]]) -> int:
        """Index sent mystery mails (keyed by token; the first one archived wins)."""
        items = list(rows)
        if not items:
            return 0
        dialect = self.engine.dialect.name
        with write_transaction(self.engine) as conn:
            stmt = (
                upsert_insert(dialect, MailSentRow)
                .on_conflict_do_nothing(index_elements=[MailSentRow.token])
                .returning(MailSentRow.token)
            )
            return len(conn.execute(stmt, items).all())

    def sent(self) -> list[SentMail]:
        with Session(self.engine) as conn:
            return [sent_mail(r) for r in conn.scalars(select(MailSentRow))]

    def sent_for(self, key: str) -> SentMail | None:
        """A sent mail by contact id or token."""
        with Session(self.engine) as conn:
            row = conn.scalars(
                select(MailSentRow).where(
                    (MailSentRow.contact_id == key) | (MailSentRow.token == key.upper())
                )
            ).first()
        return sent_mail(row) if row else None

    def personas(self) -> list[str]:
        with Session(self.engine) as conn:
            return [
                p for p in conn.scalars(select(MailSentRow.persona).distinct()) if p is not None
            ]

    # ---------------------------------------------------------------- outcomes

    def record(self, outcomes: Sequence[MessageOutcome]) -> None:
        if not outcomes:
            return
        dialect = self.engine.dialect.name
        rows = [
            {
                "sha256": o.sha256,
                "status": o.status,
                "kind": o.kind,
                "kind_override": o.kind_override,
                "reason": o.reason[:2000],
                "contact_id": o.contact_id,
                "event_ids": list(o.event_ids),
                "subject": o.subject[:500],
                "sender": o.sender[:300],
                "occurred_at": o.occurred_at,
                "updated_at": utcnow(),
            }
            for o in outcomes
        ]
        with write_transaction(self.engine) as conn:
            stmt = upsert_insert(dialect, MailMessageRow)
            stmt = stmt.on_conflict_do_update(
                index_elements=[MailMessageRow.sha256],
                set_={k: stmt.excluded[k] for k in rows[0] if k != "sha256"},
            )
            conn.execute(stmt, rows)

    def outcome(self, sha256: str) -> MessageOutcome | None:
        with Session(self.engine) as conn:
            row = conn.scalars(
                select(MailMessageRow).where(MailMessageRow.sha256 == sha256)
            ).first()
        return _outcome(row) if row else None

    def by_status(self, status: str) -> list[MessageOutcome]:
        with Session(self.engine) as conn:
            rows = conn.scalars(
                select(MailMessageRow)
                .where(MailMessageRow.status == status)
                .order_by(MailMessageRow.occurred_at, MailMessageRow.sha256)
            )
            return [_outcome(r) for r in rows]

    def count_status(self, status: str) -> int:
        with Session(self.engine) as conn:
            return int(
                conn.scalar(
                    select(func.count())
                    .select_from(MailMessageRow)
                    .where(MailMessageRow.status == status)
                )
                or 0
            )
