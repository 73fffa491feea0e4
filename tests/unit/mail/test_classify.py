"""classify.py: reply, auto-reply or bounce, from headers, subject and (short) body."""

from __future__ import annotations

import pytest

from services.ingest.mail.classify import Classification, classify
from tests.unit.mail.build import parsed, raw_mail

REPLY, AUTO, BOUNCE = Classification.REPLY, Classification.AUTO_REPLY, Classification.BOUNCE
ANSWER = (
    "Geachte heer De Vries,\n\nVoor een standplaats heeft u een vergunning nodig. U vraagt die "
    "aan via onze website. De behandeling duurt vier weken.\n"
)


def kind(*headers: tuple[str, str], body: str = ANSWER) -> Classification:
    return classify(parsed(raw_mail(*headers, body=body))).kind


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (("Auto-Submitted", "auto-replied"), AUTO),
        (("Auto-Submitted", "auto-generated"), AUTO),
        (("Auto-Submitted", "auto-notified; owner-email=x@y.nl"), AUTO),
        (("Auto-Submitted", "no"), REPLY),
        (("Auto-Submitted", "No (a comment)"), REPLY),
        (("X-Autoreply", "yes"), AUTO),
        (("X-Autorespond", "info@houten.nl"), AUTO),
        (("X-Autoreply", "no"), REPLY),
        (("Precedence", "auto_reply"), AUTO),
        (("Precedence", "bulk"), REPLY),
        (("Precedence", "junk"), REPLY),
        (("X-Auto-Response-Suppress", "All"), REPLY),
        (("X-Auto-Response-Suppress", "DR, RN, NRN, OOF, AutoReply"), REPLY),
        (("X-MS-Exchange-Generated-Message-Source", "Mailbox Rules Agent"), AUTO),
        (("X-MS-Exchange-Inbox-Rules-Loop", "info@houten.nl"), AUTO),
        (("Return-Path", "<>"), AUTO),
        (("Return-Path", "<a.bakker@houten.nl>"), REPLY),
        (("List-Id", "<nieuws.houten.nl>"), REPLY),
    ],
)
def test_headers(header: tuple[str, str], expected: Classification) -> None:
    assert kind(header) is expected


def test_x_auto_response_suppress_is_a_note_not_evidence() -> None:
    result = classify(parsed(raw_mail(("X-Auto-Response-Suppress", "All"), body=ANSWER)))
    assert result.kind is REPLY and result.evidence == ()
    assert any("not evidence" in n for n in result.notes)


@pytest.mark.parametrize(
    "subject",
    [
        "Automatisch antwoord: [MG-7F3A2C] Vraag",
        "Automatische reactie: uw vraag",
        "Afwezig: Re: standplaats",
        "Afwezigheidsmelding",
        "Out of Office: [MG-7F3A2C] Vraag",
        "Out of the office",
        "Automatic reply: question",
        "Autoreply: question",
        "Auto-Reply: question",
        "Ontvangstbevestiging: uw e-mail aan de gemeente",
        "Bevestiging van ontvangst",
        "Uw e-mail is in goede orde ontvangen",
        "Gelezen: [MG-7F3A2C] Vraag",
        "Read: question",
    ],
)
def test_auto_reply_subjects(subject: str) -> None:
    assert kind(("Subject", subject)) is AUTO


@pytest.mark.parametrize(
    "subject",
    [
        "RE: [MG-7F3A2C] Vraag over standplaats",
        "Antwoord op uw vraag over een evenement",
        "Re: thread: vergunning",
        "FW: Onbestelbaar pakket?",  # a forward that mentions it, not a report
    ],
)
def test_ordinary_subjects(subject: str) -> None:
    assert kind(("Subject", subject)) is REPLY


@pytest.mark.parametrize(
    "subject",
    [
        "Undeliverable: [MG-7F3A2C] Vraag",
        "Onbestelbaar: [MG-7F3A2C] Vraag",
        "Delivery Status Notification (Failure)",
        "Mail delivery failed: returning message to sender",
        "Undelivered Mail Returned to Sender",
        "Returned mail: see transcript for details",
        "Kan niet worden bezorgd: vraag",
    ],
)
def test_bounce_subjects(subject: str) -> None:
    assert kind(("Subject", subject)) is BOUNCE


def test_mailer_daemon_and_failed_recipients_are_bounces() -> None:
    assert kind(("From", "MAILER-DAEMON@mx.houten.nl")) is BOUNCE
    assert kind(("From", "Mail Delivery System <mailer-daemon@x.nl>")) is BOUNCE
    assert kind(("X-Failed-Recipients", "info@houten.nl")) is BOUNCE
    assert kind(("From", "postmaster@x.nl"), ("Return-Path", "<>")) is BOUNCE
    assert kind(("From", "postmaster@x.nl")) is REPLY


def _dsn(action: str) -> bytes:
    return (
        b"From: MAILER-DAEMON@mx.meetlat.nl\nSubject: Delivery Status Notification\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nbericht\n"
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n"
        b"Final-Recipient: rfc822; info@lopik.nl\nAction: " + action.encode() + b"\n--b--\n"
    )


def test_dsn_failed_is_a_bounce_delayed_or_delivered_is_not() -> None:
    assert classify(parsed(_dsn("failed"))).kind is BOUNCE
    for action in ("delayed", "delivered", "relayed"):
        result = classify(parsed(_dsn(action)))
        assert result.kind is AUTO, action
        assert any(action in e for e in result.evidence)


def test_read_receipt_is_automatic() -> None:
    raw = (
        b"From: a@houten.nl\nSubject: Uw bericht\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\ngelezen\n"
        b"--b\nContent-Type: message/disposition-notification\n\nDisposition: displayed\n--b--\n"
    )
    assert classify(parsed(raw)).kind is AUTO


def test_weak_hints_need_a_second_one() -> None:
    receipt = "Wij hebben uw e-mail in goede orde ontvangen.\n"
    later = "U ontvangt binnen vijf werkdagen een reactie.\n"
    absent = "Ik ben tot en met 6 februari afwezig.\n"
    noreply = ("From", "Gemeente <noreply@houten.nl>")
    bulk = ("Precedence", "bulk")
    # one hint: still a reply
    assert kind(noreply) is REPLY
    assert kind(bulk) is REPLY
    assert kind(noreply, bulk) is REPLY  # two system hints are one: "sent by a system"
    assert kind(body=receipt) is REPLY
    # two independent hints: automatic
    assert kind(noreply, body=receipt) is AUTO
    assert kind(bulk, body=absent) is AUTO
    assert kind(body=receipt + later) is AUTO
    # body phrases count in short bodies only
    long_answer = receipt + later + ANSWER * 10
    assert kind(noreply, body=long_answer) is REPLY


def test_exchange_rule_marker_on_a_forward_is_not_an_auto_reply() -> None:
    result = classify(
        parsed(
            raw_mail(
                ("Subject", "FW: [MG-7F3A2C] Vraag"),
                ("X-MS-Exchange-Generated-Message-Source", "Mailbox Rules Agent"),
            )
        )
    )
    assert result.kind is REPLY and result.notes


def test_body_argument_is_where_phrases_are_looked_for() -> None:
    mail = parsed(raw_mail(("From", "noreply@houten.nl"), body=ANSWER))
    assert classify(mail).kind is REPLY
    assert classify(mail, body="Wij hebben uw vraag ontvangen.").kind is AUTO
