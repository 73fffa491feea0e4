"""The texts of contacts as reports show them: call reports (gespreksverslagen), mail replies
and the mailer's content reviews — always de-identified before they are kept (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from schemas.events import CallAssessed, MailAssessed, MailReplied

TextKind = Literal["call_report", "mail_body", "mail_review"]
TEXT_EVENTS: dict[str, TextKind] = {
    "call.assessed": "call_report",
    "mail.replied": "mail_body",
    "mail.assessed": "mail_review",
}
"""Event type → the kind of text it carries."""

Deidentify = Callable[[str, str], str]
"""(text, case id) → the text with staff names, phone numbers and e-mail addresses replaced."""


@dataclass(frozen=True, slots=True)
class ContactText:
    """One de-identified text of a contact (the latest event of its kind wins)."""

    event_id: str
    contact_id: str
    municipality: str
    campaign: str
    wave: int
    case: str
    channel: str
    kind: TextKind
    occurred_at: datetime
    text: str


def contact_text(
    event: CallAssessed | MailReplied | MailAssessed, deidentify: Deidentify
) -> ContactText:
    if isinstance(event, CallAssessed):
        kind: TextKind = "call_report"
        raw = event.report
    elif isinstance(event, MailReplied):
        kind = "mail_body"
        raw = event.body
    else:
        kind = "mail_review"
        raw = event.review
    return ContactText(
        event_id=event.event_id,
        contact_id=event.contact_id,
        municipality=event.municipality,
        campaign=event.campaign,
        wave=event.wave,
        case=event.case,
        channel="phone" if kind == "call_report" else "mail",
        kind=kind,
        occurred_at=event.occurred_at,
        text=deidentify(raw, event.case),
    )


def contact_texts(events: Iterable[object], deidentify: Deidentify) -> list[ContactText]:
    """The de-identified texts of every call and mail among `events` (others are ignored)."""
    return latest(
        contact_text(e, deidentify)
        for e in events
        if isinstance(e, CallAssessed | MailReplied | MailAssessed)
    )


def latest(texts: Iterable[ContactText]) -> list[ContactText]:
    """One text per contact and kind: the latest (a later assessment replaces an earlier one),
    ordered by municipality, channel, time and contact."""
    chosen: dict[tuple[str, str], ContactText] = {}
    for t in texts:
        held = chosen.get((t.contact_id, t.kind))
        if held is None or (t.occurred_at, t.event_id) > (held.occurred_at, held.event_id):
            chosen[(t.contact_id, t.kind)] = t
    return sorted(
        chosen.values(),
        key=lambda t: (t.municipality, t.channel, t.occurred_at, t.contact_id, t.kind),
    )
