"""Is a message a real reply, an automatic reply or a bounce? With the evidence.

Strong evidence decides on its own; weak evidence only in pairs (two independent weak hints),
so one ambiguous header never turns a real answer into an auto-reply.

Bounce (delivery failure; reported as undeliverable, never as an answer):
- a delivery status notification: `multipart/report; report-type=delivery-status` or a
  `message/delivery-status` part, whose per-recipient `Action` is `failed` (a DSN that says
  only `delivered`, `relayed`, `expanded` or `delayed` is a notification, i.e. automatic, but
  not a failure);
- `X-Failed-Recipients`, Exchange's `X-MS-Exchange-Message-Is-Ndr`;
- From MAILER-DAEMON (or postmaster with an empty Return-Path);
- a subject that starts like a non-delivery report ("Undeliverable:", "Onbestelbaar:",
  "Delivery Status Notification (Failure)", "Mail delivery failed", "Returned mail"…).

Auto-reply, strong:
- RFC 3834 `Auto-Submitted` with any value other than `no`;
- `X-Autoreply`, `X-Autorespond`, `X-Autoresponder` (other than `no`/`false`);
- `Precedence: auto_reply`;
- Exchange's rule-generated markers: `X-MS-Exchange-Generated-Message-Source`,
  `X-MS-Exchange-Inbox-Rules-Loop` (an out-of-office or "reply with template" rule);
- an empty `Return-Path: <>` (RFC 3834 §3.3: automatic responses go to the null sender;
  a person's reply never does);
- a read or delivery receipt (`report-type=disposition-notification`);
- a Dutch or English auto-reply subject ("Automatisch antwoord", "Afwezig",
  "Out of office", "Ontvangstbevestiging", "Automatic reply", "Autoreply"…).

Auto-reply, weak (two independent hints needed):
- sent by a system: `Precedence: bulk`, `junk` or `list`, a `List-Id`, a no-reply sender —
  however many of these, they count as one hint (a case system sends real answers that way);
- in a short body (at most 150 words): a receipt phrase ("wij hebben uw e-mail in goede orde
  ontvangen"), an answer-later phrase ("u ontvangt binnen 5 werkdagen een reactie"), an
  absence phrase ("ik ben afwezig tot en met…") — each its own hint.

Not evidence at all: `X-Auto-Response-Suppress` (Outlook and Exchange put it on ordinary
mail too; it asks *others* not to auto-reply), recorded as a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from services.ingest.mail.message import ParsedMail

__all__ = ["Classification", "ClassificationResult", "classify"]


class Classification(StrEnum):
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"


@dataclass(frozen=True)
class ClassificationResult:
    kind: Classification
    evidence: tuple[str, ...]  # what decided it (for a reply: the weak hints, if any)
    notes: tuple[str, ...] = ()  # seen and deliberately not counted


_AUTO_SUBJECT = re.compile(
    r"\b(?:automatisch(?:e)?\s+(?:antwoord|reactie|bericht|beantwoording)"
    r"|afwezig(?:heid|heidsmelding|heidsbericht)?"
    r"|niet\s+aanwezig|buiten\s+kantoor"
    r"|ontvangstbevestiging|bevestiging\s+van\s+ontvangst"
    r"|(?:uw|je)\s+(?:e-?mail|bericht|vraag)\s+is\s+(?:in\s+goede\s+orde\s+)?ontvangen"
    r"|out\s+of\s+(?:the\s+)?office|automatic\s+reply|auto(?:matic)?[\s-]?reply"
    r"|autoreply|auto[\s-]?response|autoresponder|vacation\s+(?:reply|message)"
    r"|away\s+from\s+(?:the\s+)?office|abwesenheitsnotiz)"
    r"|^\s*(?:read|gelezen|delivered|bezorgd|afgeleverd|not\s+read|niet\s+gelezen)\s*:",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliverable|undelivered\s+mail|onbestelbaar|niet\s+bezorgd"
    r"|kan\s+niet\s+worden\s+bezorgd|bezorging\s+mislukt|niet\s+afgeleverd"
    r"|delivery\s+status\s+notification\s*\((?:failure|fout)"
    r"|delivery\s+(?:has\s+)?failed|mail\s+delivery\s+(?:failed|failure|system)"
    r"|returned\s+mail|failure\s+notice|unzustellbar|non[\s-]?delivery)",
    re.IGNORECASE,
)
_FORWARDED_SUBJECT = re.compile(r"^\s*(?:fw|fwd|doorst|wg)\s*:", re.IGNORECASE)
_NO_REPLY = re.compile(r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|niet[-_.]?beantwoorden)", re.I)
# Phrases of an acknowledgement or absence notice (looked for in short bodies only).
_BODY_HINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "receipt",
        re.compile(
            r"(?:wij|we|ik)\s+(?:hebben|heb)\s+(?:uw|je|jouw)\s+(?:e-?mail|bericht|vraag|"
            r"verzoek|aanvraag)\s+(?:in\s+goede\s+orde\s+|goed\s+)?ontvangen"
            r"|(?:uw|je)\s+(?:e-?mail|bericht|vraag|verzoek)\s+is\s+(?:in\s+goede\s+orde\s+"
            r"|goed\s+)?(?:ontvangen|binnengekomen)"
            r"|we\s+have\s+received\s+your\s+(?:e-?mail|message|request)",
            re.IGNORECASE,
        ),
    ),
    (
        "answer later",
        re.compile(
            r"(?:u|je)\s+ontvangt\s+(?:zo\s+spoedig\s+mogelijk|binnen\s+\w+\s+(?:werk)?dagen"
            r"|uiterlijk|zo\s+snel\s+mogelijk)[^.]{0,60}(?:antwoord|reactie|bericht)"
            r"|(?:wij|we)\s+(?:streven\s+ernaar|proberen)\s+[^.]{0,80}(?:te\s+beantwoorden|"
            r"te\s+reageren)"
            r"|(?:wij|we)\s+nemen\s+(?:zo\s+spoedig\s+mogelijk|binnen\s+\w+\s+(?:werk)?dagen)"
            r"\s+contact\s+met\s+u\s+op"
            r"|(?:we|i)\s+will\s+(?:respond|reply|get\s+back\s+to\s+you)\s+(?:within|as\s+soon)",
            re.IGNORECASE,
        ),
    ),
    (
        "absence",
        re.compile(
            r"(?:ik\s+ben|ben\s+ik)\s+(?:momenteel\s+|tot\s+en\s+met\s+[^.]{1,30}\s+|vanaf\s+"
            r"[^.]{1,30}\s+|tot\s+[^.]{1,30}\s+)?(?:afwezig|niet\s+aanwezig|met\s+vakantie|"
            r"niet\s+bereikbaar)"
            r"|i\s+am\s+(?:currently\s+)?(?:out\s+of\s+(?:the\s+)?office|away|on\s+leave)",
            re.IGNORECASE,
        ),
    ),
)
_SHORT_BODY_WORDS = 150


def _values(mail: ParsedMail, name: str) -> tuple[str, ...]:
    return mail.headers.get(name, ())


def _bounce_evidence(mail: ParsedMail) -> tuple[list[str], list[str]]:
    """(evidence of a failure, evidence of a delivery notification that is no failure)."""
    failure: list[str] = []
    notice: list[str] = []
    is_dsn = mail.report_type == "delivery-status" or "message/delivery-status" in (mail.part_types)
    actions = {
        block.get("action", "").strip().lower().split(" ")[0]
        for block in mail.delivery_status
        if block.get("action")
    }
    # A DSN whose recipients were all delivered, relayed, expanded or delayed reports no
    # failure, whoever sent it and whatever its subject says.
    no_failure = is_dsn and bool(actions) and "failed" not in actions
    found = failure
    if no_failure:
        notice.append(f"delivery status notification, action {'/'.join(sorted(actions))}")
        found = notice
    elif is_dsn:
        failure.append("delivery status notification (multipart/report, delivery-status)")
    if _values(mail, "x-failed-recipients"):
        found.append("header X-Failed-Recipients")
    if any(v.strip().lower() == "true" for v in _values(mail, "x-ms-exchange-message-is-ndr")):
        found.append("header X-MS-Exchange-Message-Is-Ndr")
    sender = mail.sender
    local = sender.local.lower() if sender else ""
    return_path_empty = any(v.strip() in ("<>", "") for v in _values(mail, "return-path"))
    if local == "mailer-daemon" or (sender is not None and "mailer-daemon" in sender.name.lower()):
        found.append("sender MAILER-DAEMON")
    elif local == "postmaster" and return_path_empty:
        found.append("sender postmaster with empty Return-Path")
    if _BOUNCE_SUBJECT.search(mail.subject):
        found.append(f"non-delivery subject {mail.subject[:80]!r}")
    return failure, notice


def classify(mail: ParsedMail, body: str | None = None) -> ClassificationResult:
    """Classify a parsed message. `body` is the reply text without quoted history (the
    acknowledgement phrases are looked for there); defaults to the whole text."""
    notes: list[str] = []
    for value in _values(mail, "x-auto-response-suppress"):
        notes.append(f"X-Auto-Response-Suppress: {value[:40]} (not evidence of an auto-reply)")

    failure, notice = _bounce_evidence(mail)
    if failure:
        return ClassificationResult(Classification.BOUNCE, tuple(failure), tuple(notes))

    strong: list[str] = list(notice)
    weak: list[str] = []
    for value in _values(mail, "auto-submitted"):
        # RFC 3834 §5: a keyword, then optional parameters after ";"; comments allowed
        words = re.sub(r"\([^()]*\)", " ", value).split(";")[0].split()
        token = words[0].lower() if words else ""
        if token and token != "no":
            strong.append(f"Auto-Submitted: {token}")
        else:
            notes.append(f"Auto-Submitted: {token or '(empty)'} (not automatic)")
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        for value in _values(mail, name):
            if value.strip().lower() not in ("no", "false", "0"):
                strong.append(f"header {name}: {value[:40]}")
    for value in _values(mail, "precedence"):
        token = value.strip().lower()
        if token in ("auto_reply", "auto-reply"):
            strong.append(f"Precedence: {token}")
    forwarded = bool(_FORWARDED_SUBJECT.search(mail.subject))
    for value in _values(mail, "x-ms-exchange-generated-message-source"):
        if forwarded:
            notes.append(f"X-MS-Exchange-Generated-Message-Source: {value[:40]} on a forward")
        else:
            strong.append(f"X-MS-Exchange-Generated-Message-Source: {value[:40]}")
    if _values(mail, "x-ms-exchange-inbox-rules-loop") and not forwarded:
        strong.append("header X-MS-Exchange-Inbox-Rules-Loop (generated by an inbox rule)")
    if any(v.strip() == "<>" for v in _values(mail, "return-path")):
        strong.append("empty Return-Path <>")
    if mail.report_type == "disposition-notification" or (
        "message/disposition-notification" in mail.part_types
    ):
        strong.append("read receipt (disposition-notification)")
    subject = _AUTO_SUBJECT.search(mail.subject)
    if subject:
        strong.append(f"subject {subject.group(0).strip()!r}")

    system = [f"Precedence: {v.strip().lower()}" for v in _values(mail, "precedence")]
    system = [s for s in system if s.rpartition(" ")[2] in ("bulk", "junk", "list")]
    if _values(mail, "list-id"):
        system.append("header List-Id")
    sender = mail.sender
    if sender and _NO_REPLY.search(sender.local):
        system.append(f"no-reply sender {sender.local}@…")
    if system:  # however many, they say one thing: sent by a system, not by whom
        weak.append("sent by a system (" + ", ".join(system) + ")")
    text = mail.text if body is None else body
    if len(text.split()) <= _SHORT_BODY_WORDS:
        for label, pattern in _BODY_HINTS:
            found = pattern.search(text[:20_000])
            if found:
                weak.append(f"{label} phrase {found.group(0)[:60]!r} in a short body")

    if strong:
        return ClassificationResult(Classification.AUTO_REPLY, tuple(strong + weak), tuple(notes))
    if len(weak) >= 2:
        return ClassificationResult(Classification.AUTO_REPLY, tuple(weak), tuple(notes))
    return ClassificationResult(Classification.REPLY, tuple(weak), tuple(notes))
