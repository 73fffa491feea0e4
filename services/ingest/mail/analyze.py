"""One message in, everything the scorer needs out: `analyze`, `to_events`, `analysis_json`.

`analyze(raw, sent, persona, now)` never raises. It parses the message (or quarantines it),
strips the reply, classifies it (reply / auto-reply / bounce), matches it to a sent mystery
mail, computes the reply time in clock hours and in Dutch working hours
(`services.aggregation.process.working_hours_between`: office hours on working days, public
holidays from the `holidays` library), and for a real reply runs the content checks. Every
problem with the input is listed in `problems`; a step that fails on an unforeseen input (a
bug) is listed in `internal_errors` and the analysis goes on without it.

`to_events` turns an analysis into exactly one outcome: a `MailAutoReplied` or `MailReplied`
event (`schemas.events`), a `Bounce` to be reported as undeliverable (a bounce is never an
answer), or the `Unmatched` / `Quarantined` the adapter keeps for a human.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from schemas.events import MailAutoReplied, MailReplied
from services.aggregation.process import working_hours_between
from services.ingest.mail.checks import (
    DEFAULT_DICTIONARY,
    DEFAULT_JARGON,
    ContentChecks,
    check_reply,
    hunspell_speller,
)
from services.ingest.mail.classify import Classification, ClassificationResult, classify
from services.ingest.mail.message import ParsedMail, ParseOptions, Quarantined, parse
from services.ingest.mail.reply import StrippedReply, strip_reply
from services.ingest.mail.threading import (
    DEFAULT_TOKEN_PATTERN,
    Match,
    SentMail,
    Unmatched,
    match_sent,
)

__all__ = [
    "AnalysisOptions",
    "Bounce",
    "MailAnalysis",
    "analysis_json",
    "analyze",
    "to_events",
]

_T = TypeVar("_T")
_MAX_BODY = 200_000  # MailReplied.body
_MAX_COUNT = 10_000  # MailReplied.spelling_errors / jargon_terms
_MAX_SPAN = timedelta(days=400)  # longer reply times are not worth a working-hours count


@dataclass(frozen=True)
class AnalysisOptions:
    """`dictionary`: Hunspell files (path without .aff/.dic), None to skip spelling;
    `jargon`: the jargon list; `token_pattern`: what Meetlat's threading tokens look like."""

    parse: ParseOptions = field(default_factory=ParseOptions)
    dictionary: Path | str | None = DEFAULT_DICTIONARY
    jargon: tuple[str, ...] = DEFAULT_JARGON
    token_pattern: re.Pattern[str] = DEFAULT_TOKEN_PATTERN


@dataclass(frozen=True)
class MailAnalysis:
    fingerprint: str
    size: int
    occurred_at: datetime  # the message's send time; `now` when it has none
    quarantined: Quarantined | None = None
    mail: ParsedMail | None = None
    classification: ClassificationResult | None = None
    match: Match | Unmatched | None = None
    reply: StrippedReply | None = None
    checks: ContentChecks | None = None
    reply_hours: float | None = None
    reply_working_hours: float | None = None
    problems: tuple[str, ...] = ()
    internal_errors: tuple[str, ...] = ()

    @property
    def kind(self) -> Classification | None:
        return self.classification.kind if self.classification else None

    @property
    def matched(self) -> SentMail | None:
        return self.match.sent if isinstance(self.match, Match) else None


@dataclass(frozen=True)
class Bounce:
    """A delivery failure of a sent mystery mail: report it as undeliverable."""

    contact_id: str | None
    token: str | None
    case: str | None
    municipality: str | None
    occurred_at: datetime
    message_id: str | None  # of the bounce itself
    recipients: tuple[str, ...]  # the addresses that failed, per the DSN
    status: str | None  # e.g. "5.1.1"
    diagnostic: str | None
    evidence: tuple[str, ...]


def _guard(stage: str, errors: list[str], step: Callable[[], _T]) -> _T | None:
    try:
        return step()
    except Exception as exc:  # recorded as a bug; the analysis continues without this step
        errors.append(f"{stage}: {type(exc).__name__}: {str(exc)[:200]}")
        return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def analyze(
    raw: bytes,
    sent: Sequence[SentMail],
    persona: str | None,
    now: datetime,
    options: AnalysisOptions | None = None,
    kind: Classification | None = None,
) -> MailAnalysis:
    """Analyse one raw message against the sent mystery mails. `persona` is the name the
    mystery mailer signed with ("Jan de Vries", or "de heer Jan de Vries" to fix the form
    of address); `now` (aware) is the reference time, e.g. when the message was fetched.
    `kind`: a human's classification, which replaces the classifier's."""
    opts = options or AnalysisOptions()
    now = _aware(now)
    errors: list[str] = []
    try:
        return _analyze(raw, sent, persona, now, opts, errors, kind)
    except Exception as exc:  # last resort; every step is guarded already
        errors.append(f"analyze: {type(exc).__name__}: {str(exc)[:200]}")
        data = raw if isinstance(raw, bytes) else b""
        return MailAnalysis(
            fingerprint=hashlib.sha256(data).hexdigest(),
            size=len(data),
            occurred_at=now,
            internal_errors=tuple(errors),
        )


def _analyze(
    raw: bytes,
    sent: Sequence[SentMail],
    persona: str | None,
    now: datetime,
    opts: AnalysisOptions,
    errors: list[str],
    kind: Classification | None = None,
) -> MailAnalysis:
    parsed = parse(raw, now, opts.parse)
    if isinstance(parsed, Quarantined):
        return MailAnalysis(
            fingerprint=parsed.fingerprint,
            size=parsed.size,
            occurred_at=now,
            quarantined=parsed,
            problems=(f"quarantined: {parsed.reason} ({parsed.detail})",),
        )
    mail = parsed
    problems = list(mail.problems)
    reply = _guard("reply", errors, lambda: strip_reply(mail.text))
    body = reply.body if reply is not None else mail.text
    classification = _guard("classify", errors, lambda: classify(mail, body))
    if kind is not None:
        was = f"classifier said {classification.kind.value}" if classification else "unclassified"
        classification = ClassificationResult(kind, ("classified by hand",), (was,))
    matched = _guard(
        "threading",
        errors,
        lambda: match_sent(mail, sent, text=mail.text, token_pattern=opts.token_pattern),
    )
    match: Match | Unmatched | None = None
    if matched is not None:
        match, match_problems = matched
        problems.extend(match_problems)
    occurred_at = mail.date
    if occurred_at is None:
        occurred_at = now
        problems.append("no send time: the reference time is used")
    hours = working = None
    if isinstance(match, Match) and mail.date is not None:
        sent_at = match.sent.sent_at
        if sent_at.tzinfo is None:
            problems.append("sent mail time has no time zone; taken as UTC")
            sent_at = sent_at.replace(tzinfo=UTC)
        if mail.date < sent_at:
            problems.append("the message is dated before the sent mail")
        hours = max(0.0, (mail.date - sent_at).total_seconds() / 3600)
        if mail.date - sent_at <= _MAX_SPAN:
            start, end = sent_at, mail.date
            working = _guard("working hours", errors, lambda: working_hours_between(start, end))
    checks = None
    if classification is not None and classification.kind is Classification.REPLY and reply:
        domains = [match.sent.to_domain] if isinstance(match, Match) else []
        dictionary = opts.dictionary
        speller = None
        if dictionary is not None:
            speller = _guard("dictionary", errors, lambda: hunspell_speller(dictionary))
            if speller is None:
                problems.append(f"no Dutch dictionary at {dictionary}: spelling not checked")
        checks = _guard(
            "checks",
            errors,
            lambda: check_reply(
                mail,
                reply,
                persona,
                municipal_domains=domains,
                speller=speller,
                jargon=opts.jargon,
            ),
        )
    return MailAnalysis(
        fingerprint=mail.fingerprint,
        size=mail.size,
        occurred_at=occurred_at,
        mail=mail,
        classification=classification,
        match=match,
        reply=reply,
        checks=checks,
        reply_hours=hours,
        reply_working_hours=working,
        problems=tuple(dict.fromkeys(problems)),
        internal_errors=tuple(errors),
    )


# ------------------------------------------------------------------ events


def _event_id(kind: str, analysis: MailAnalysis) -> str:
    """Stable per message: from its Message-ID when it has one (the same mail fetched twice,
    from IMAP or from a Maildir, gives the same id), else from its bytes."""
    mail = analysis.mail
    basis = f"id:{mail.message_id}" if mail and mail.message_id else f"raw:{analysis.fingerprint}"
    return f"{kind}:{hashlib.sha256(basis.encode()).hexdigest()[:40]}"


def to_events(
    analysis: MailAnalysis,
    *,
    contact_id: str | None = None,
    municipality: str | None = None,
    campaign: str | None = None,
    wave: int | None = None,
    case: str | None = None,
) -> MailAutoReplied | MailReplied | Bounce | Unmatched | Quarantined:
    """The one outcome of an analysed message. The contact's identity comes from the matched
    `SentMail`; keyword arguments fill in (or override) what it lacks. Raises ValueError when
    a reply or auto-reply cannot be given a complete identity (a caller's mistake)."""
    if analysis.quarantined is not None:
        return analysis.quarantined
    if analysis.mail is None or analysis.classification is None:
        reason = "; ".join(analysis.internal_errors) or "not analysed"
        return Unmatched(f"analysis failed: {reason}")
    sent = analysis.matched
    kind = analysis.classification.kind
    if kind is Classification.BOUNCE:
        return _bounce(analysis, sent, contact_id, municipality, case)
    if sent is None:
        reason = analysis.match.reason if isinstance(analysis.match, Unmatched) else "no match"
        return Unmatched(reason)
    cid = contact_id or sent.contact_id
    muni = municipality or sent.municipality
    camp = campaign or sent.campaign
    wv = wave if wave is not None else sent.wave
    kase = case or sent.case
    if not cid or not muni or not camp or wv is None or not kase:
        missing = [
            name
            for name, value in (
                ("contact_id", cid),
                ("municipality", muni),
                ("campaign", camp),
                ("wave", wv),
                ("case", kase),
            )
            if value is None or value == ""
        ]
        raise ValueError(f"the matched sent mail {sent.token} has no {', '.join(missing)}")
    if kind is Classification.AUTO_REPLY:
        return MailAutoReplied(
            event_id=_event_id("mail.auto_replied", analysis),
            contact_id=cid,
            municipality=muni,
            campaign=camp,
            wave=wv,
            case=kase,
            occurred_at=analysis.occurred_at,
        )
    checks = analysis.checks
    body = analysis.reply.body if analysis.reply is not None else analysis.mail.text
    return MailReplied(
        event_id=_event_id("mail.replied", analysis),
        occurred_at=analysis.occurred_at,
        salutation_correct=checks.salutation.correct if checks else None,
        internal_forward_leaked=checks.forward.leaked if checks else None,
        spelling_errors=(
            min(checks.spelling.errors, _MAX_COUNT)
            if checks and checks.spelling.errors is not None
            else None
        ),
        jargon_terms=min(checks.jargon.count, _MAX_COUNT) if checks else None,
        address_requested=checks.address.requested if checks else None,
        address_request_explained=checks.address.explained if checks else None,
        body=body[:_MAX_BODY],
        contact_id=cid,
        municipality=muni,
        campaign=camp,
        wave=wv,
        case=kase,
    )


def _bounce(
    analysis: MailAnalysis,
    sent: SentMail | None,
    contact_id: str | None,
    municipality: str | None,
    case: str | None,
) -> Bounce:
    mail = analysis.mail
    assert mail is not None and analysis.classification is not None
    failed = [b for b in mail.delivery_status if b.get("action", "").lower().startswith("fail")]
    blocks = failed or [b for b in mail.delivery_status if "final-recipient" in b]
    recipients = tuple(
        b.get("final-recipient", b.get("original-recipient", "")).rpartition(";")[2].strip()
        for b in blocks
    )
    recipients += tuple(v for v in mail.headers.get("x-failed-recipients", ()))
    status = next((b["status"] for b in blocks if b.get("status")), None)
    diagnostic = next((b["diagnostic-code"] for b in blocks if b.get("diagnostic-code")), None)
    return Bounce(
        contact_id=contact_id or (sent.contact_id if sent else None),
        token=sent.token if sent else None,
        case=case or (sent.case if sent else None),
        municipality=municipality or (sent.municipality if sent else None),
        occurred_at=analysis.occurred_at,
        message_id=mail.message_id,
        recipients=tuple(dict.fromkeys(r for r in recipients if r)),
        status=status,
        diagnostic=diagnostic[:500] if diagnostic else None,
        evidence=analysis.classification.evidence,
    )


# ------------------------------------------------------------------ JSON


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def analysis_json(analysis: MailAnalysis) -> dict[str, Any]:
    """The analysis as plain JSON data (`meetlat mail analyze FILE.eml --json`). An operator's
    view of one message: it names the sender, so it is not for reports."""
    out: dict[str, Any] = {
        "fingerprint": analysis.fingerprint,
        "size": analysis.size,
        "kind": analysis.kind.value if analysis.kind else None,
        "occurred_at": _iso(analysis.occurred_at),
        "problems": list(analysis.problems),
        "internal_errors": list(analysis.internal_errors),
    }
    if analysis.quarantined is not None:
        q = analysis.quarantined
        out["quarantined"] = {"reason": q.reason, "detail": q.detail}
        return out
    out["quarantined"] = None
    mail = analysis.mail
    if mail is not None:
        out["message"] = {
            "message_id": mail.message_id,
            "subject": mail.subject,
            "from": [str(a) for a in mail.from_addresses],
            "to": [str(a) for a in mail.to_addresses],
            "cc": [str(a) for a in mail.cc_addresses],
            "date": _iso(mail.date),
            "header_date": _iso(mail.header_date),
            "received_at": _iso(mail.received_at),
            "in_reply_to": list(mail.in_reply_to),
            "references": list(mail.references),
            "thread_index": mail.thread_index.hex() if mail.thread_index else None,
            "content_type": mail.content_type,
            "text_source": mail.text_source,
            "headers": {k: list(v) for k, v in mail.headers.items()},
        }
    if analysis.classification is not None:
        c = analysis.classification
        out["classification"] = {
            "kind": c.kind.value,
            "evidence": list(c.evidence),
            "notes": list(c.notes),
        }
    if isinstance(analysis.match, Match):
        s = analysis.match.sent
        out["match"] = {
            "method": analysis.match.method,
            "detail": analysis.match.detail,
            "token": s.token,
            "message_id": s.message_id,
            "case": s.case,
            "contact_id": s.contact_id,
            "municipality": s.municipality,
        }
    elif isinstance(analysis.match, Unmatched):
        out["match"] = None
        out["unmatched"] = analysis.match.reason
    out["reply_hours"] = analysis.reply_hours
    out["reply_working_hours"] = analysis.reply_working_hours
    if analysis.reply is not None:
        r = analysis.reply
        out["reply"] = {
            "body": r.body,
            "signature_chars": len(r.signature),
            "quoted_chars": len(r.quoted),
            "quoted_mails": len(r.fragments) - 1,
        }
    if analysis.checks is not None:
        k = analysis.checks
        out["checks"] = {
            "salutation": {
                "correct": k.salutation.correct,
                "line": k.salutation.line,
                "reason": k.salutation.reason,
            },
            "internal_forward": {
                "leaked": k.forward.leaked,
                "evidence": list(k.forward.evidence),
                "hints": list(k.forward.hints),
            },
            "spelling": {
                "errors": k.spelling.errors,
                "misspelled": list(k.spelling.misspelled),
                "checked": k.spelling.checked,
            },
            "jargon": {"count": k.jargon.count, "terms": list(k.jargon.terms)},
            "address": {
                "requested": k.address.requested,
                "explained": k.address.explained,
                "sentence": k.address.sentence,
            },
        }
    if analysis.kind is Classification.BOUNCE:
        bounce = to_events(analysis)
        if isinstance(bounce, Bounce):
            out["bounce"] = {
                "recipients": list(bounce.recipients),
                "status": bounce.status,
                "diagnostic": bounce.diagnostic,
            }
    return out
