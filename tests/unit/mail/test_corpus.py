"""The corpus: realistic Dutch municipal mails, each with its expected analysis (expected.json,
written by hand with the mail). The analyser must get every one of them right."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.events import MailAutoReplied, MailReplied
from services.ingest.mail import (
    Bounce,
    Classification,
    Match,
    Unmatched,
    analysis_json,
    analyze,
    to_events,
)
from services.ingest.mail.checks import Speller
from tests.unit.mail.sent import NOW, PERSONA, SENT, corpus_files

EXPECTED: dict[str, Any] = {
    k: v
    for k, v in json.loads((Path(__file__).parent / "expected.json").read_text("utf-8")).items()
    if not k.startswith("_")
}
FILES = corpus_files()


def test_corpus_is_complete() -> None:
    assert len(FILES) >= 25
    assert {f.name for f in FILES} == set(EXPECTED)
    kinds = {e["kind"] for e in EXPECTED.values()}
    assert kinds == {"reply", "auto_reply", "bounce"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_corpus_mail(path: Path, speller: Speller) -> None:
    expected = EXPECTED[path.name]
    analysis = analyze(path.read_bytes(), SENT, PERSONA, NOW)

    assert analysis.internal_errors == ()
    assert analysis.quarantined is None and analysis.mail is not None
    assert analysis.kind == Classification(expected["kind"]), analysis.classification

    if expected["match"] is None:
        assert isinstance(analysis.match, Unmatched)
        assert expected["unmatched"] in analysis.match.reason
    else:
        method, token = expected["match"]
        assert isinstance(analysis.match, Match), analysis.match
        assert (analysis.match.method, analysis.match.sent.token) == (method, token)

    wanted = expected["problems"]
    if not wanted:
        assert analysis.problems == ()
    for fragment in wanted:
        assert any(fragment in p for p in analysis.problems), (fragment, analysis.problems)

    if "hours" in expected:
        clock, working = expected["hours"]
        for got, want in ((analysis.reply_hours, clock), (analysis.reply_working_hours, working)):
            assert (got is None) if want is None else got == pytest.approx(want, abs=0.01)
    if "occurred_at" in expected:
        assert analysis.occurred_at == datetime.fromisoformat(expected["occurred_at"])
    if "text_source" in expected:
        assert analysis.mail.text_source == expected["text_source"]
    if "subject" in expected:
        assert analysis.mail.subject == expected["subject"]

    checks = expected.get("checks")
    if checks is None:
        assert analysis.checks is None
    else:
        c = analysis.checks
        assert c is not None
        facts = {
            "salutation": c.salutation.correct,
            "leaked": c.forward.leaked,
            "spelling": c.spelling.errors,
            "jargon": c.jargon.count,
            "address": c.address.requested,
            "explained": c.address.explained,
        }
        assert facts == checks, (c.salutation, c.forward, c.spelling, c.jargon, c.address)
    if "misspelled" in expected:
        assert analysis.checks is not None
        assert list(analysis.checks.spelling.misspelled) == expected["misspelled"]
    if "jargon_terms" in expected:
        assert analysis.checks is not None
        assert sorted(analysis.checks.jargon.terms) == sorted(expected["jargon_terms"])
    for fragment in expected.get("forward_evidence", ()):
        assert analysis.checks is not None
        assert any(fragment in e for e in analysis.checks.forward.evidence), fragment

    body = analysis.reply.body if analysis.reply else ""
    for fragment in expected.get("body_contains", ()):
        assert fragment in body, (fragment, body)
    for fragment in expected.get("body_excludes", ()):
        assert fragment not in body, (fragment, body)

    outcome = to_events(analysis)
    if expected["outcome"] == "mail.replied":
        assert isinstance(outcome, MailReplied)
        assert outcome.salutation_correct == checks["salutation"]
        assert outcome.internal_forward_leaked == checks["leaked"]
        assert outcome.spelling_errors == checks["spelling"]
        assert outcome.jargon_terms == checks["jargon"]
        assert outcome.address_requested == checks["address"]
        assert outcome.address_request_explained == checks["explained"]
        assert outcome.body == body
        assert outcome.contact_id == f"mail-{expected['match'][1].lower()}"
    elif expected["outcome"] == "mail.auto_replied":
        assert isinstance(outcome, MailAutoReplied)
    elif expected["outcome"] == "bounce":
        assert isinstance(outcome, Bounce)
        assert list(outcome.recipients) == expected["bounce"]["recipients"]
        assert outcome.status == expected["bounce"]["status"]
        assert outcome.token == expected["match"][1]
    else:
        assert isinstance(outcome, Unmatched)
    if isinstance(outcome, MailAutoReplied | MailReplied):
        assert outcome.occurred_at == analysis.occurred_at

    document = analysis_json(analysis)
    assert json.loads(json.dumps(document)) == document
    assert document["kind"] == expected["kind"]


def test_corpus_throughput_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """A rough mails/second of `analyze` on the corpus (printed with `-s`); the bench with
    10,000 generated messages is `bench/mail.py`."""
    raws = [f.read_bytes() for f in FILES]
    analyze(raws[0], SENT, PERSONA, NOW)  # loads the dictionary
    start = time.perf_counter()
    rounds = 5
    for _ in range(rounds):
        for raw in raws:
            analyze(raw, SENT, PERSONA, NOW)
    rate = rounds * len(raws) / (time.perf_counter() - start)
    print(f"\nanalyze: {rate:.0f} corpus mails/s")
    assert rate > 50  # a regression guard, far below the real figure
