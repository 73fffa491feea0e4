"""Small raw messages for the unit tests."""

from __future__ import annotations

from datetime import datetime

from services.ingest.mail.message import ParsedMail, Quarantined, parse
from tests.unit.mail.sent import NOW


def raw_mail(
    *headers: tuple[str, str],
    body: str = "Geachte heer De Vries,\n\nDat kan.\n",
    charset: str = "utf-8",
    defaults: bool = True,
) -> bytes:
    """A message with the given headers (plus From/To/Subject/Date/Message-ID defaults
    unless given or `defaults` is False) and a text/plain body."""
    given = {name.lower() for name, _ in headers}
    base = [
        ("From", "Ans Bakker <a.bakker@houten.nl>"),
        ("To", "Jan de Vries <mysterie+MG-7F3A2C@meetlat-onderzoek.nl>"),
        ("Subject", "RE: [MG-7F3A2C] Vraag over standplaats"),
        ("Date", "Tue, 3 Feb 2026 10:05:12 +0100"),
        ("Message-ID", "<reply.1@houten.nl>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f"text/plain; charset={charset}"),
    ]
    lines = [f"{k}: {v}" for k, v in base if defaults and k.lower() not in given]
    lines += [f"{k}: {v}" for k, v in headers]
    head = "\n".join(lines).encode("utf-8")
    return head + b"\n\n" + body.encode(charset if charset != "x-unknown" else "latin-1")


def parsed(raw: bytes, now: datetime = NOW) -> ParsedMail:
    result = parse(raw, now)
    assert not isinstance(result, Quarantined), result
    return result
