"""Mail ingestion: fetched messages → raw archive → analysis → mail events → the ingest path.

1. Every fetched message is stored in the raw archive (`MailStore.archive_raw`, committed)
   before anything else; a message archived before (same bytes, or same Message-ID) is a
   duplicate and is not processed again.
2. Every archived message without an outcome yet is processed, sent mails first:
   - a sent mystery mail (from a Sent folder, or carrying `X-Meetlat-*` headers, or sent from
     the mailer's address with a token in the subject) is indexed for threading and becomes a
     `MailSent` event. Its identity comes from its headers: `X-Meetlat-Token` (else the token
     in the subject), `X-Meetlat-Contact` (else `mail-<token>`), `X-Meetlat-Municipality`,
     `X-Meetlat-Case`, `X-Meetlat-Campaign` and `X-Meetlat-Wave` (else the configured
     defaults). One without a municipality or case is kept as `incomplete`.
   - anything else is analysed (`services.ingest.mail.analyze`) against the sent mails: a
     reply or auto-reply that matches becomes its event; a bounce is recorded as undeliverable
     (the event contract has no bounce event); what matches nothing goes to the holding pen
     (`unmatched`), a quarantined message is kept with its reason.
3. The events go through `services.ingest.service.ingest` (event archive, then Kafka), and only
   then is the outcome recorded — a crash in between leaves the message without an outcome, so
   the next run processes it again (event ids are stable, the archive ignores duplicates).
4. When new sent mails arrived, the holding pen is tried again against them.

`assign` (the holding pen resolved by hand) and `reclassify` (a human's corrective
classification, `mail.reclassified`) emit their events through the same path.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import hashlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pydantic import ValidationError

from schemas.events import (
    Event,
    MailAutoReplied,
    MailReclassified,
    MailReplied,
    MailSent,
)
from services.ingest.archive import EventArchive
from services.ingest.mail.analyze import AnalysisOptions, Bounce, MailAnalysis, analyze, to_events
from services.ingest.mail.classify import Classification
from services.ingest.mail.message import ParsedMail, Quarantined, clean_text, parse
from services.ingest.mail.threading import DEFAULT_TOKEN_PATTERN, Match, SentMail, Unmatched
from services.ingest.mail_sources import FetchedMail
from services.ingest.mail_store import MailStore, MessageOutcome, RawMail
from services.ingest.parsing import Accepted
from services.ingest.publisher import Publisher
from services.ingest.service import ingest
from services.runtime import metrics
from services.runtime.topics import Topics

_HEADER_PARSER = email.parser.BytesHeaderParser(policy=email.policy.compat32)


@dataclass(frozen=True)
class MailConfig:
    """`mailer_address`: the mystery mailer's own address (a message from it with a token is a
    sent mail); `persona`: the name the mailer signs with (default: the sent mails' sender
    name when they all share one); `campaign`/`wave`: defaults for sent mails without
    X-Meetlat-Campaign/-Wave headers."""

    mailer_address: str | None = None
    persona: str | None = None
    campaign: str | None = None
    wave: int | None = None
    options: AnalysisOptions = field(default_factory=AnalysisOptions)


@dataclass
class MailIngestReport:
    fetched: int = 0
    duplicates: int = 0
    sent: int = 0
    incomplete: int = 0
    replies: int = 0
    auto_replies: int = 0
    bounces: int = 0
    unmatched: int = 0
    quarantined: int = 0
    resolved: int = 0  # holding-pen messages matched after new sent mails arrived
    events: int = 0
    new_events: int = 0
    problems: list[str] = field(default_factory=list)


class MailIngestError(ValueError):
    """A human command that cannot be carried out (unknown message or contact)."""


def _headers(raw: bytes) -> dict[str, str]:
    """Each header's first value as clean one-line text: a NUL or other control character
    from a hostile or broken sender must not reach the store (PostgreSQL's text refuses
    NUL)."""
    try:
        msg = _HEADER_PARSER.parsebytes(raw[:200_000])
    except Exception:
        return {}
    out: dict[str, str] = {}
    for key, value in msg.items():
        out.setdefault(key.lower(), "".join(clean_text(str(value)).splitlines()).strip())
    return out


def _message_id(headers: dict[str, str]) -> str | None:
    value = headers.get("message-id", "").strip()
    if not value or len(value) > 500:
        return None
    return value if value.startswith("<") else f"<{value.strip('<>')}>"


def _is_sent(headers: dict[str, str], from_sent_folder: bool, config: MailConfig) -> bool:
    if from_sent_folder or "x-meetlat-token" in headers or "x-meetlat-contact" in headers:
        return True
    if not config.mailer_address:
        return False
    sender = email.utils.parseaddr(headers.get("from", ""))[1].lower()
    return sender == config.mailer_address.lower() and bool(
        DEFAULT_TOKEN_PATTERN.search(headers.get("subject", ""))
    )


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def archive_fetched(
    fetched: Iterable[FetchedMail],
    store: MailStore,
    config: MailConfig,
    now: datetime,
    batch_size: int = 200,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Store fetched messages in the raw archive; returns (fetched, new)."""
    total = new = 0
    batch: list[RawMail] = []

    def flush() -> None:
        nonlocal new
        new += len(store.archive_raw(batch))
        if progress:
            progress(len(batch))
        batch.clear()

    for item in fetched:
        headers = _headers(item.raw)
        batch.append(
            RawMail(
                sha256=_sha(item.raw),
                message_id=_message_id(headers),
                raw=item.raw,
                source=item.source,
                sent=_is_sent(headers, item.from_sent_folder, config),
                fetched_at=now,
            )
        )
        total += 1
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return total, new


# ------------------------------------------------------------------ sent mails


def _sent_row(mail: RawMail, parsed: ParsedMail, config: MailConfig) -> dict[str, object] | str:
    """The sent-mail index row, or why the mail cannot be one."""
    h = _headers(mail.raw)
    token = (h.get("x-meetlat-token") or "").strip().upper()
    if not token:
        found = DEFAULT_TOKEN_PATTERN.search(parsed.subject)
        token = found.group(0).upper() if found else ""
    if not token:
        return "sent mail without a Meetlat token (X-Meetlat-Token or [MG-…] in the subject)"
    municipality = (h.get("x-meetlat-municipality") or "").strip().upper()
    case = (h.get("x-meetlat-case") or "").strip()
    campaign = (h.get("x-meetlat-campaign") or config.campaign or "").strip()
    wave_text = (h.get("x-meetlat-wave") or "").strip()
    wave = int(wave_text) if wave_text.isdigit() else config.wave
    missing = [
        name
        for name, value in (
            ("X-Meetlat-Municipality", municipality),
            ("X-Meetlat-Case", case),
            ("X-Meetlat-Campaign", campaign),
            ("X-Meetlat-Wave", wave),
        )
        if not value
    ]
    if missing:
        return f"sent mail {token} lacks {', '.join(missing)}"
    if parsed.date is None:
        return f"sent mail {token} has no usable Date"
    recipients = parsed.to_addresses or parsed.cc_addresses
    if not recipients:
        return f"sent mail {token} has no recipient"
    sender = parsed.sender
    return {
        "token": token,
        "message_id": parsed.message_id or f"<{token}@meetlat.invalid>",
        "contact_id": (h.get("x-meetlat-contact") or f"mail-{token.lower()}").strip()[:120],
        "municipality": municipality,
        "campaign": campaign[:120],
        "wave": wave,
        "case": case[:120],
        "to_domain": recipients[0].domain,
        "sent_at": parsed.date,
        "thread_index": parsed.header("thread-index"),
        "persona": (sender.name or None) if sender else None,
        "sha256": mail.sha256,
    }


def _sent_event(row: dict[str, object]) -> MailSent:
    token = str(row["token"])
    return MailSent(
        event_id=f"mail.sent:{hashlib.sha256(token.encode()).hexdigest()[:40]}",
        contact_id=str(row["contact_id"]),
        municipality=str(row["municipality"]),
        campaign=str(row["campaign"]),
        wave=int(str(row["wave"])),
        case=str(row["case"]),
        occurred_at=row["sent_at"],
        message_id=str(row["message_id"])[:120],
        token=token,
    )


# ------------------------------------------------------------------ processing


@dataclass
class _Run:
    store: MailStore
    config: MailConfig
    report: MailIngestReport
    events: list[Event] = field(default_factory=list)
    outcomes: list[MessageOutcome] = field(default_factory=list)


def _persona(store: MailStore, config: MailConfig) -> str | None:
    if config.persona:
        return config.persona
    personas = store.personas()
    return personas[0] if len(set(personas)) == 1 else None


def _summary(parsed: ParsedMail | None) -> tuple[str, str]:
    if parsed is None:
        return "", ""
    sender = parsed.sender
    return parsed.subject, sender.address if sender else ""


def _outcome_of(
    mail: RawMail,
    analysis: MailAnalysis,
    result: object,
    event_ids: Sequence[str] = (),
    kind_override: str | None = None,
) -> MessageOutcome:
    subject, sender = _summary(analysis.mail)
    kind = analysis.kind.value if analysis.kind else None
    common = {
        "sha256": mail.sha256,
        "kind": kind,
        "subject": subject,
        "sender": sender,
        "occurred_at": analysis.occurred_at,
        "kind_override": kind_override,
    }
    if isinstance(result, Quarantined):
        return MessageOutcome(
            status="quarantined",
            reason=f"{result.reason}: {result.detail}",
            contact_id=None,
            event_ids=(),
            **common,  # type: ignore[arg-type]
        )
    if isinstance(result, Bounce):
        recipients = ", ".join(result.recipients) or "unknown recipient"
        return MessageOutcome(
            status="bounce",
            reason=f"undeliverable to {recipients} ({result.status or 'no status'})",
            contact_id=result.contact_id,
            event_ids=(),
            **common,  # type: ignore[arg-type]
        )
    if isinstance(result, Unmatched):
        return MessageOutcome(
            status="unmatched",
            reason=result.reason,
            contact_id=None,
            event_ids=(),
            **common,  # type: ignore[arg-type]
        )
    assert isinstance(result, MailReplied | MailAutoReplied)
    return MessageOutcome(
        status="event",
        reason=f"matched by {analysis.match.method}" if isinstance(analysis.match, Match) else "",
        contact_id=result.contact_id,
        event_ids=tuple(event_ids) or (result.event_id,),
        **common,  # type: ignore[arg-type]
    )


def _count(report: MailIngestReport, outcome: MessageOutcome) -> None:
    if outcome.status == "quarantined":
        report.quarantined += 1
        metrics.MAIL_QUARANTINED.labels(outcome.reason.split(":")[0]).inc()
        return
    if outcome.kind:
        metrics.MAIL_CLASSIFIED.labels(outcome.kind).inc()
    if outcome.status == "bounce":
        report.bounces += 1
    elif outcome.status == "unmatched":
        report.unmatched += 1
    elif outcome.kind == "auto_reply":
        report.auto_replies += 1
    else:
        report.replies += 1


def _process_sent(run: _Run, mail: RawMail) -> None:
    parsed = parse(mail.raw, mail.fetched_at, run.config.options.parse)
    if isinstance(parsed, Quarantined):
        run.outcomes.append(
            MessageOutcome(
                mail.sha256,
                "quarantined",
                "sent",
                f"{parsed.reason}: {parsed.detail}",
                None,
                (),
                "",
                "",
                mail.fetched_at,
            )
        )
        run.report.quarantined += 1
        metrics.MAIL_QUARANTINED.labels(parsed.reason).inc()
        return
    row = _sent_row(mail, parsed, run.config)
    subject, sender = _summary(parsed)
    occurred = parsed.date or mail.fetched_at
    if isinstance(row, str):
        run.outcomes.append(
            MessageOutcome(
                mail.sha256, "incomplete", "sent", row, None, (), subject, sender, occurred
            )
        )
        run.report.incomplete += 1
        return
    try:
        event = _sent_event(row)
    except ValidationError as exc:  # e.g. a municipality that is no CBS code
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        run.outcomes.append(
            MessageOutcome(
                mail.sha256,
                "incomplete",
                "sent",
                f"sent mail {row['token']}: {problems}",
                None,
                (),
                subject,
                sender,
                occurred,
            )
        )
        run.report.incomplete += 1
        return
    run.store.add_sent([row])
    run.events.append(event)
    run.outcomes.append(
        MessageOutcome(
            mail.sha256,
            "event",
            "sent",
            f"sent mail {row['token']}",
            event.contact_id,
            (event.event_id,),
            subject,
            sender,
            occurred,
        )
    )
    run.report.sent += 1
    metrics.MAIL_CLASSIFIED.labels("sent").inc()


def _analyse(
    run: _Run,
    mail: RawMail,
    sent: Sequence[SentMail],
    persona: str | None,
    kind: Classification | None = None,
) -> tuple[MailAnalysis, object]:
    analysis = analyze(mail.raw, sent, persona, mail.fetched_at, run.config.options, kind=kind)
    if analysis.internal_errors:
        run.report.problems.append(f"{mail.sha256[:12]}: {'; '.join(analysis.internal_errors)}")
    return analysis, to_events(analysis)


def _process_received(
    run: _Run, mail: RawMail, sent: Sequence[SentMail], persona: str | None
) -> MessageOutcome:
    analysis, result = _analyse(run, mail, sent, persona)
    if isinstance(result, MailReplied | MailAutoReplied):
        run.events.append(result)
    return _outcome_of(mail, analysis, result)


def _publish(
    events: Sequence[Event], archive: EventArchive, publisher: Publisher, topics: Topics
) -> tuple[int, int]:
    if not events:
        return 0, 0
    outcomes = (
        Accepted("mail", n, e, e.model_dump_json().encode()) for n, e in enumerate(events, 1)
    )
    report = ingest(outcomes, archive, publisher, topics)
    return report.accepted, report.newly_archived


def process_pending(
    store: MailStore,
    archive: EventArchive,
    publisher: Publisher,
    topics: Topics,
    config: MailConfig,
    report: MailIngestReport | None = None,
    page: int = 200,
    progress: Callable[[int], None] | None = None,
) -> MailIngestReport:
    """Process every archived message without an outcome (sent mails first), then retry the
    holding pen when new sent mails were indexed."""
    report = report or MailIngestReport()
    run = _Run(store, config, report)

    def flush() -> None:
        accepted, new = _publish(run.events, archive, publisher, topics)
        report.events += accepted
        report.new_events += new
        store.record(run.outcomes)  # only after their events are archived and published
        if progress:
            progress(len(run.outcomes))
        run.events.clear()
        run.outcomes.clear()

    for sent_flag in (True, False):
        sent_index = store.sent()
        persona = _persona(store, config)
        while True:
            mails = store.unprocessed(sent=sent_flag, limit=page)
            if not mails:
                break
            for mail in mails:
                if sent_flag:
                    _process_sent(run, mail)
                else:
                    outcome = _process_received(run, mail, sent_index, persona)
                    run.outcomes.append(outcome)
                    _count(report, outcome)
            flush()
    if report.sent:
        retry_holding_pen(store, archive, publisher, topics, config, report)
    metrics.MAIL_UNMATCHED.set(store.count_status("unmatched"))
    return report


def retry_holding_pen(
    store: MailStore,
    archive: EventArchive,
    publisher: Publisher,
    topics: Topics,
    config: MailConfig,
    report: MailIngestReport,
) -> None:
    """Analyse the holding pen again against the sent mails known now."""
    run = _Run(store, config, report)
    sent_index = store.sent()
    persona = _persona(store, config)
    for item in store.by_status("unmatched"):
        mail = store.raw(item.sha256)
        if mail is None:
            continue
        kind = Classification(item.kind_override) if item.kind_override else None
        analysis, result = _analyse(run, mail, sent_index, persona, kind)
        if isinstance(result, Unmatched):
            continue
        if isinstance(result, MailReplied | MailAutoReplied):
            run.events.append(result)
        outcome = _outcome_of(mail, analysis, result, kind_override=item.kind_override)
        run.outcomes.append(outcome)
        report.resolved += 1
    accepted, new = _publish(run.events, archive, publisher, topics)
    report.events += accepted
    report.new_events += new
    store.record(run.outcomes)


def ingest_mail(
    fetched: Iterable[FetchedMail],
    store: MailStore,
    archive: EventArchive,
    publisher: Publisher,
    topics: Topics,
    config: MailConfig,
    commit: Callable[[], None] | None = None,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> MailIngestReport:
    """Archive the fetched messages (then `commit`, e.g. the IMAP checkpoints), then process
    everything archived and not yet processed."""
    when = now or datetime.now(UTC)
    total, new = archive_fetched(fetched, store, config, when, progress=progress)
    metrics.MAIL_FETCHED.inc(total)
    if commit is not None:
        commit()
    report = MailIngestReport(fetched=total, duplicates=total - new)
    return process_pending(store, archive, publisher, topics, config, report)


# ------------------------------------------------------------------ by hand


def _message(store: MailStore, key: str) -> tuple[RawMail, MessageOutcome | None]:
    sha = store.resolve_message(key)
    mail = store.raw(sha) if sha else None
    if mail is None:
        raise MailIngestError(f"no archived message {key!r} (give a Message-ID or a hash prefix)")
    return mail, store.outcome(mail.sha256)


def assign(
    store: MailStore,
    archive: EventArchive,
    publisher: Publisher,
    topics: Topics,
    config: MailConfig,
    message: str,
    contact: str,
) -> MessageOutcome:
    """Resolve a holding-pen message by hand: it answers `contact` (contact id or token)."""
    mail, previous = _message(store, message)
    if previous is not None and previous.status == "event":
        raise MailIngestError(
            f"message {mail.sha256[:12]} is already counted for {previous.contact_id}; "
            "reclassify it instead"
        )
    target = store.sent_for(contact)
    if target is None:
        raise MailIngestError(f"no sent mystery mail for contact or token {contact!r}")
    override = previous.kind_override if previous else None
    kind = Classification(override) if override else None
    run = _Run(store, config, MailIngestReport())
    analysis = analyze(
        mail.raw, [target], _persona(store, config), mail.fetched_at, config.options, kind=kind
    )
    if analysis.mail is None:
        raise MailIngestError(f"message {mail.sha256[:12]} cannot be analysed (quarantined)")
    analysis = replace(analysis, match=Match(target, "manual", "assigned by hand"))
    result = to_events(analysis)
    if isinstance(result, MailReplied | MailAutoReplied):
        run.events.append(result)
    outcome = _outcome_of(mail, analysis, result, kind_override=override)
    _publish(run.events, archive, publisher, topics)
    store.record([outcome])
    metrics.MAIL_UNMATCHED.set(store.count_status("unmatched"))
    return outcome


def reclassify(
    store: MailStore,
    archive: EventArchive,
    publisher: Publisher,
    topics: Topics,
    config: MailConfig,
    message: str,
    kind: Classification,
    now: datetime | None = None,
) -> tuple[MessageOutcome, list[Event]]:
    """A human's classification of a received message. If events were emitted for it, a
    `mail.reclassified` event retracts them and the events of the new kind follow (new ids);
    a message still in the holding pen only remembers the kind for its assignment."""
    mail, previous = _message(store, message)
    if mail.sent:
        raise MailIngestError("a sent mystery mail cannot be reclassified")
    if previous is None:
        raise MailIngestError(f"message {mail.sha256[:12]} is not processed yet")
    if previous.status in ("unmatched", "quarantined", "incomplete"):
        updated = replace(previous, kind_override=kind.value)
        store.record([updated])
        return updated, []
    sent = store.sent()
    persona = _persona(store, config)
    analysis = analyze(mail.raw, sent, persona, mail.fetched_at, config.options, kind=kind)
    if previous.contact_id and not isinstance(analysis.match, Match):
        target = store.sent_for(previous.contact_id)
        if target is not None:
            analysis = replace(analysis, match=Match(target, "manual", "as before"))
    sent_mail = analysis.matched
    if sent_mail is None or analysis.mail is None:
        raise MailIngestError(f"message {mail.sha256[:12]} belongs to no known contact")
    tag = uuid.uuid4().hex[:8]
    events: list[Event] = []
    if previous.event_ids:
        assert sent_mail.contact_id and sent_mail.municipality and sent_mail.campaign
        assert sent_mail.wave is not None
        events.append(
            MailReclassified(
                event_id=f"mail.reclassified:{mail.sha256[:40]}:{tag}",
                contact_id=sent_mail.contact_id,
                municipality=sent_mail.municipality,
                campaign=sent_mail.campaign,
                wave=sent_mail.wave,
                case=sent_mail.case,
                occurred_at=now or datetime.now(UTC),
                retracts=previous.event_ids,
                kind=kind.value,
            )
        )
    result = to_events(analysis)
    new_ids: list[str] = []
    if isinstance(result, MailReplied | MailAutoReplied):
        result = result.model_copy(update={"event_id": f"{result.event_id}:{tag}"})
        events.append(result)
        new_ids.append(result.event_id)
    _publish(events, archive, publisher, topics)
    outcome = _outcome_of(mail, analysis, result, new_ids, kind_override=kind.value)
    if not new_ids:  # a bounce: nothing counts any more
        outcome = replace(outcome, event_ids=())
    store.record([outcome])
    return outcome, events
