"""Test helpers for mail ingestion: the sent mystery mails of the corpus as real messages, the
corpus as a mail folder, and a publisher that keeps what it is sent."""

from __future__ import annotations

import json
import mailbox
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from schemas.events import OBSERVATION_ADAPTER
from services.ingest.mail.threading import SentMail
from tests.unit.mail.sent import CORPUS, PERSONA, SENT

EXPECTED: dict[str, Any] = {
    k: v
    for k, v in json.loads((CORPUS.parent / "expected.json").read_text("utf-8")).items()
    if not k.startswith("_")
}
RECEIVED = sorted(CORPUS.glob("*.eml"))
KINDS = {name: e["outcome"] for name, e in EXPECTED.items()}


def sent_message(sent: SentMail) -> bytes:
    """The mystery mail as the mailer's client stored it in its Sent folder."""
    msg = EmailMessage()
    msg["From"] = f"{PERSONA} <mysterie+{sent.token}@meetlat-onderzoek.nl>"
    msg["To"] = f"info@{sent.to_domain}"
    msg["Subject"] = f"[{sent.token}] Vraag over {sent.case}"
    msg["Date"] = format_datetime(sent.sent_at)
    msg["Message-ID"] = sent.message_id
    if sent.thread_index:
        msg["Thread-Index"] = str(sent.thread_index)
    msg["X-Meetlat-Token"] = sent.token
    msg["X-Meetlat-Contact"] = str(sent.contact_id)
    msg["X-Meetlat-Municipality"] = str(sent.municipality)
    msg["X-Meetlat-Campaign"] = str(sent.campaign)
    msg["X-Meetlat-Wave"] = str(sent.wave)
    msg["X-Meetlat-Case"] = sent.case
    msg.set_content(
        f"Goedendag,\n\nIk heb een vraag over een {sent.case}. Wat moet ik doen?\n\n"
        f"Met vriendelijke groet,\n{PERSONA}\n"
    )
    return bytes(msg)


def write_eml_folder(root: Path) -> Path:
    (root / "Sent").mkdir(parents=True)
    (root / "INBOX").mkdir()
    for s in SENT:
        (root / "Sent" / f"{s.token}.eml").write_bytes(sent_message(s))
    for path in RECEIVED:
        (root / "INBOX" / path.name).write_bytes(path.read_bytes())
    return root


def write_maildir(root: Path) -> Path:
    box = mailbox.Maildir(root, create=True)
    sent = box.add_folder("Sent")
    for s in SENT:
        sent.add(sent_message(s))
    for path in RECEIVED:
        box.add(path.read_bytes())
    return root


def write_mbox(path: Path, received_only: bool = False) -> Path:
    box = mailbox.mbox(path, create=True)
    if not received_only:
        for s in SENT:
            box.add(sent_message(s))  # identified by their X-Meetlat headers
    for item in RECEIVED:
        box.add(item.read_bytes())
    box.close()
    return path


class RecordingPublisher:
    """A `Publisher` that keeps every message (topic, key, value)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        self.sent.append((topic, key, value))

    def partitions(self, topic: str) -> list[int]:
        return [0]

    def flush(self) -> None:
        return None

    def types(self) -> list[str]:
        return [OBSERVATION_ADAPTER.validate_json(v).type for _, _, v in self.sent]
