"""analyze.py: one message in, its analysis, its one outcome and its JSON."""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from schemas.events import MailAutoReplied, MailReplied
from services.ingest.mail import (
    AnalysisOptions,
    Bounce,
    Classification,
    Match,
    Quarantined,
    SentMail,
    Unmatched,
    analysis_json,
    analyze,
    to_events,
)
from services.ingest.mail.checks import Speller
from tests.unit.mail.build import raw_mail
from tests.unit.mail.sent import AMS, BY_TOKEN, CORPUS, NOW, PERSONA, SENT

REPLY = raw_mail()  # an answer from Houten to MG-7F3A2C, Tue 3 Feb 2026 10:05:12 +0100


def test_reply_event_carries_the_facts_and_identity(speller: Speller) -> None:
    analysis = analyze(REPLY, SENT, PERSONA, NOW)
    event = to_events(analysis)
    assert isinstance(event, MailReplied)
    assert (event.contact_id, event.municipality, event.campaign, event.wave, event.case) == (
        "mail-mg-7f3a2c",
        "GM0321",
        "mg-2026",
        1,
        "standplaatsvergunning",
    )
    assert event.occurred_at == datetime(2026, 2, 3, 10, 5, 12, tzinfo=AMS)
    assert event.salutation_correct is True and event.spelling_errors == 0
    assert event.body == "Geachte heer De Vries,\n\nDat kan."
    # Monday 09:14 → Tuesday 10:05:12: 24.85 clock hours, 7.77 + 1.09 working hours
    assert analysis.reply_hours == pytest.approx(24.8533, abs=1e-3)
    assert analysis.reply_working_hours == pytest.approx(8.8533, abs=1e-3)


def test_identity_overrides_and_missing_identity() -> None:
    analysis = analyze(REPLY, SENT, PERSONA, NOW)
    event = to_events(analysis, contact_id="c-1", wave=2)
    assert isinstance(event, MailReplied) and (event.contact_id, event.wave) == ("c-1", 2)
    bare = SentMail(
        "<x@y>", "MG-7F3A2C", "houten.nl", "standplaats", datetime(2026, 2, 2, tzinfo=AMS)
    )
    anonymous = analyze(REPLY, [bare], PERSONA, NOW)
    with pytest.raises(ValueError, match="contact_id, municipality, campaign, wave"):
        to_events(anonymous)
    event = to_events(anonymous, contact_id="c", municipality="GM0321", campaign="x", wave=1)
    assert isinstance(event, MailReplied) and event.case == "standplaats"


def test_event_ids_are_stable_per_message() -> None:
    again = b"Received: from x by y; Tue, 3 Feb 2026 10:05:14 +0100\n" + REPLY
    first = to_events(analyze(REPLY, SENT, PERSONA, NOW))
    second = to_events(analyze(again, SENT, PERSONA, NOW))
    assert isinstance(first, MailReplied) and isinstance(second, MailReplied)
    assert first.event_id == second.event_id  # same Message-ID, fetched twice
    other = to_events(analyze(raw_mail(("Message-ID", "<other@houten.nl>")), SENT, PERSONA, NOW))
    assert isinstance(other, MailReplied) and other.event_id != first.event_id
    no_id = raw_mail(("From", "a@houten.nl"), ("Subject", "RE: [MG-7F3A2C] x"), defaults=False)
    events = [to_events(analyze(no_id + extra, SENT, PERSONA, NOW)) for extra in (b"", b"!")]
    assert all(isinstance(e, MailReplied) for e in events)
    assert len({e.event_id for e in events if isinstance(e, MailReplied)}) == 2  # bytes decide


def test_auto_reply_event() -> None:
    raw = raw_mail(("Auto-Submitted", "auto-replied"), body="Ik ben afwezig.")
    analysis = analyze(raw, SENT, PERSONA, NOW)
    assert analysis.kind is Classification.AUTO_REPLY and analysis.checks is None
    event = to_events(analysis)
    assert isinstance(event, MailAutoReplied) and event.contact_id == "mail-mg-7f3a2c"
    reply = to_events(analyze(REPLY, SENT, PERSONA, NOW))
    assert isinstance(reply, MailReplied) and event.event_id != reply.event_id


def test_bounce_is_no_answer_even_when_unmatched() -> None:
    raw = (CORPUS / "15_dsn_postfix_bounce.eml").read_bytes()
    bounce = to_events(analyze(raw, SENT, PERSONA, NOW))
    assert isinstance(bounce, Bounce) and bounce.contact_id == "mail-mg-a7b8c9"
    assert bounce.municipality == "GM0352" and bounce.status == "5.1.1"
    unmatched = to_events(analyze(raw, [], PERSONA, NOW))
    assert isinstance(unmatched, Bounce) and unmatched.contact_id is None
    assert unmatched.recipients == ("info@wijkbijduurstede.nl",)


def test_unmatched_and_quarantined_outcomes() -> None:
    stranger = raw_mail(("From", "info@zandvoort.nl"), ("Subject", "Uw vraag"), ("To", "x@y.nl"))
    outcome = to_events(analyze(stranger, SENT, PERSONA, NOW))
    assert isinstance(outcome, Unmatched) and "zandvoort.nl" in outcome.reason
    empty = analyze(b"", SENT, PERSONA, NOW)
    assert isinstance(empty.quarantined, Quarantined) and to_events(empty) is empty.quarantined
    assert analysis_json(empty)["quarantined"] == {
        "reason": "empty",
        "detail": "the message has no content",
    }


def test_working_hours_skip_weekends_and_holidays() -> None:
    # sent Friday 24 April 2026 16:00; Monday 27 April is Koningsdag; reply Tuesday 10:00
    sent = replace(BY_TOKEN["MG-7F3A2C"], sent_at=datetime(2026, 4, 24, 16, 0, tzinfo=AMS))
    raw = raw_mail(("Date", "Tue, 28 Apr 2026 10:00:00 +0200"))
    analysis = analyze(raw, [sent], PERSONA, datetime(2026, 5, 1, tzinfo=AMS))
    assert analysis.reply_hours == pytest.approx(90.0)
    assert analysis.reply_working_hours == pytest.approx(2.0)


def test_reply_before_the_sent_mail_and_naive_times() -> None:
    sent = replace(BY_TOKEN["MG-7F3A2C"], sent_at=datetime(2026, 2, 5, 9, 0))  # naive
    analysis = analyze(REPLY, [sent], PERSONA, NOW.replace(tzinfo=None))
    assert analysis.reply_hours == 0.0 and analysis.reply_working_hours == 0.0
    assert "sent mail time has no time zone; taken as UTC" in analysis.problems
    assert "the message is dated before the sent mail" in analysis.problems


def test_without_a_dictionary_spelling_is_not_counted(tmp_path: Path) -> None:
    options = AnalysisOptions(dictionary=tmp_path / "nl_XX")
    analysis = analyze(REPLY, SENT, PERSONA, NOW, options)
    assert any("no Dutch dictionary" in p for p in analysis.problems)
    event = to_events(analysis)
    assert isinstance(event, MailReplied) and event.spelling_errors is None
    skipped = analyze(REPLY, SENT, PERSONA, NOW, AnalysisOptions(dictionary=None))
    assert skipped.problems == ()


def test_custom_jargon_and_token_pattern() -> None:
    options = AnalysisOptions(jargon=("kan",), token_pattern=re.compile(r"ZZ-\d+"))
    analysis = analyze(REPLY, SENT, PERSONA, NOW, options)
    assert analysis.checks is not None and analysis.checks.jargon.count == 1
    assert isinstance(analysis.match, Match) and analysis.match.method != "token_subject"


def test_a_failing_step_is_recorded_and_the_rest_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text: str) -> None:
        raise RuntimeError("kapot")

    # the package exports the function `analyze`, which hides the module of that name
    module = importlib.import_module("services.ingest.mail.analyze")
    monkeypatch.setattr(module, "strip_reply", broken)
    analysis = analyze(REPLY, SENT, PERSONA, NOW)
    assert analysis.internal_errors == ("reply: RuntimeError: kapot",)
    assert analysis.kind is Classification.REPLY and analysis.reply is None
    assert analysis.match is not None
    assert isinstance(to_events(analysis), MailReplied)


def test_analysis_json_is_plain_json() -> None:
    document = analysis_json(analyze(REPLY, SENT, PERSONA, NOW))
    assert json.loads(json.dumps(document)) == document
    assert document["kind"] == "reply"
    assert document["match"]["token"] == "MG-7F3A2C"
    assert document["checks"]["salutation"]["correct"] is True
    assert document["reply"]["body"].startswith("Geachte heer De Vries")
    assert document["message"]["date"] == "2026-02-03T10:05:12+01:00"
