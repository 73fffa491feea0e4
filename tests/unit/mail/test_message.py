"""message.py: parsing raw bytes into ParsedMail, never raising."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.mail.message import (
    ParseOptions,
    Quarantined,
    clean_text,
    decode_bytes,
    html_to_text,
    parse,
)
from tests.unit.mail.build import parsed, raw_mail
from tests.unit.mail.sent import NOW


def test_basic_fields() -> None:
    mail = parsed(
        raw_mail(
            ("In-Reply-To", "<MG-7F3A2C.20260202@meetlat-onderzoek.nl>"),
            ("References", "<a@x> <b@y>\n <MG-7F3A2C.20260202@meetlat-onderzoek.nl>"),
            ("Cc", "Piet <p@houten.nl>, k@houten.nl"),
        )
    )
    assert mail.message_id == "reply.1@houten.nl"
    assert mail.subject == "RE: [MG-7F3A2C] Vraag over standplaats"
    assert mail.sender is not None and mail.sender.address == "a.bakker@houten.nl"
    assert mail.sender.name == "Ans Bakker" and mail.sender.domain == "houten.nl"
    assert mail.to_addresses[0].local == "mysterie+MG-7F3A2C"
    assert [a.address for a in mail.cc_addresses] == ["p@houten.nl", "k@houten.nl"]
    assert mail.date == datetime(2026, 2, 3, 9, 5, 12, tzinfo=UTC)
    assert mail.in_reply_to == ("MG-7F3A2C.20260202@meetlat-onderzoek.nl",)
    assert mail.references == ("a@x", "b@y", "MG-7F3A2C.20260202@meetlat-onderzoek.nl")
    assert mail.text == "Geachte heer De Vries,\n\nDat kan.\n"
    assert mail.text_source == "plain"
    assert mail.problems == ()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"", "empty"), (b"  \r\n\r\n ", "empty"), (b"just some words\nand more", "not_a_message")],
)
def test_nothing_to_analyse_is_quarantined(raw: bytes, reason: str) -> None:
    result = parse(raw, NOW)
    assert isinstance(result, Quarantined) and result.reason == reason
    assert result.size == len(raw) and len(result.fingerprint) == 64


def test_size_limit_default_and_configured() -> None:
    big = raw_mail(body="x" * (26 * 1024 * 1024))
    result = parse(big, NOW)
    assert isinstance(result, Quarantined) and result.reason == "too_large"
    assert "above the limit of 26214400" in result.detail
    small = parse(raw_mail(), NOW, ParseOptions(max_bytes=50))
    assert isinstance(small, Quarantined) and small.reason == "too_large"


def test_absurd_nesting_is_quarantined() -> None:
    nested = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(60)
    )
    result = parse(b"From: a@b.nl\nSubject: x\n" + nested.encode(), NOW)
    assert isinstance(result, Quarantined) and result.reason == "too_complex"


def test_missing_message_id_and_date() -> None:
    mail = parsed(raw_mail(("Subject", "x"), defaults=False))
    assert mail.message_id is None and mail.date is None and mail.header_date is None
    assert "missing Message-ID" in mail.problems
    assert "missing Date" in mail.problems
    assert "missing From" in mail.problems


def test_future_date_falls_back_to_received() -> None:
    mail = parsed(
        raw_mail(
            ("Received", "from x by y; Wed, 4 Feb 2026 13:45:10 +0100 (CET)"),
            ("Date", "Tue, 4 Feb 2031 13:45:02 +0100"),
        )
    )
    assert mail.header_date == datetime(2031, 2, 4, 12, 45, 2, tzinfo=UTC)
    assert mail.date == datetime(2026, 2, 4, 12, 45, 10, tzinfo=UTC)
    assert any("in the future" in p for p in mail.problems)


def test_future_is_relative_to_the_reference_time_not_the_clock() -> None:
    raw = raw_mail(("Date", "Tue, 4 Feb 2031 13:45:02 +0100"))
    later = datetime(2032, 1, 1, tzinfo=UTC)
    assert parsed(raw, later).date == datetime(2031, 2, 4, 12, 45, 2, tzinfo=UTC)
    assert parsed(raw, NOW).date is None  # no Received to fall back on
    skew = parsed(raw_mail(("Date", "Tue, 10 Feb 2026 12:10:00 +0100")))
    assert skew.date is not None  # ten minutes ahead is clock skew, not the future
    assert (
        parsed(raw_mail(("Date", "Tue, 10 Feb 2026 12:10:00 +0100")), NOW - timedelta(hours=1)).date
        is None
    )


def test_dates_without_zone_or_unparseable() -> None:
    naive = parsed(raw_mail(("Date", "Tue, 3 Feb 2026 10:05:12 -0000")))
    assert naive.date == datetime(2026, 2, 3, 10, 5, 12, tzinfo=UTC)
    assert any("no time zone" in p for p in naive.problems)
    bad = parsed(raw_mail(("Date", "gisteren om drie uur")))
    assert bad.date is None and any("unparseable Date" in p for p in bad.problems)
    old = parsed(raw_mail(("Date", "Thu, 1 Jan 1970 00:00:00 +0000")))
    assert old.date is None and any("implausible Date" in p for p in old.problems)


def test_unknown_charset_falls_back_and_is_recorded() -> None:
    mail = parsed(raw_mail(body="één café\n", charset="x-unknown"))
    assert mail.text == "één café\n"
    assert any("unknown charset 'x-unknown'; decoded as cp1252" in p for p in mail.problems)


def test_wrong_charset_falls_back() -> None:
    raw = raw_mail(body="").replace(b"\n\n", b"\n\n" + "€ 120,–".encode("cp1252"))
    mail = parsed(raw)
    assert mail.text == "€ 120,–"
    assert any("not valid utf-8; decoded as cp1252" in p for p in mail.problems)


@pytest.mark.parametrize("charset", ["rot13", "base64", "unicode_escape", "idna", "a" * 100])
def test_codecs_that_are_no_mail_charsets_are_refused(charset: str) -> None:
    text, problem = decode_bytes(b"Geachte heer", charset)
    assert text == "Geachte heer" and problem is not None and "unknown charset" in problem


def test_decode_bytes_never_fails() -> None:
    assert decode_bytes(b"\x81\x8d\x8f", "utf-8")[0] == "\x81\x8d\x8f"  # latin-1, last resort
    assert decode_bytes("één".encode(), None) == ("één", None)


def test_clean_text_recovers_bytes_and_drops_controls() -> None:
    smuggled = "caf\udcc3\udca9"  # UTF-8 bytes of é as surrogate escapes
    assert clean_text(smuggled) == "café"
    assert clean_text("a\x00b\x07c\r\nd\ud800") == "abc\nd\ufffd"


def test_eight_bit_headers_are_decoded() -> None:
    raw = raw_mail(("Subject", "Re: café"), ("From", "Chloë Jansen <c@derondevenen.nl>"))
    mail = parsed(raw.replace(b"\nFrom: Ans", b"\nX-Old: Ans"))
    assert mail.subject == "Re: café"
    assert mail.sender is not None and mail.sender.name == "Chloë Jansen"
    assert "8-bit bytes in header subject" in mail.problems
    assert "8-bit bytes in header from" in mail.problems


def test_encoded_words_with_an_unknown_charset() -> None:
    mail = parsed(raw_mail(("Subject", "=?x-nl?Q?Terras_bij_het_caf=E9?=")))
    assert mail.subject == "Terras bij het café"
    assert any("header subject: unknown charset 'x-nl'" in p for p in mail.problems)


def test_duplicate_headers_use_the_first() -> None:
    raw = raw_mail(
        ("From", "a@houten.nl"),
        ("Subject", "eerste"),
        ("Subject", "tweede"),
        ("Date", "Tue, 3 Feb 2026 10:05:12 +0100"),
        ("Date", "Wed, 4 Feb 2026 10:00:00 +0100"),
        defaults=False,
    )
    mail = parsed(raw)
    assert mail.subject == "eerste"
    assert mail.date == datetime(2026, 2, 3, 9, 5, 12, tzinfo=UTC)
    assert "duplicate header Subject; the first is used" in mail.problems
    assert "duplicate header Date; the first is used" in mail.problems


def test_damaged_header_line_is_dropped_not_the_headers_after_it() -> None:
    raw = raw_mail().replace(b"From: Ans", b"Fr\xf6m Ans")
    mail = parsed(raw)
    assert mail.subject == "RE: [MG-7F3A2C] Vraag over standplaats"
    assert "1 damaged header line(s) dropped" in mail.problems
    assert "missing From" in mail.problems


def test_thread_index() -> None:
    root = bytes(range(22))
    good = parsed(raw_mail(("Thread-Index", base64.b64encode(root + b"12345").decode())))
    assert good.thread_index == root + b"12345"
    bad = parsed(raw_mail(("Thread-Index", "%%%")))
    assert bad.thread_index is None and any("Thread-Index" in p for p in bad.problems)


def test_html_to_text_drops_script_style_and_keeps_blocks() -> None:
    html = (
        "<html><head><title>t</title><style>p{color:red}</style>"
        "<script>alert('x')</script></head><body><p>Geachte heer,</p>"
        "<p>Regel &amp; <b>vet</b><br>tweede regel</p><!-- commentaar -->"
        "<noscript>zet JS aan</noscript><iframe src='x'>frame</iframe>"
        "<ul><li>een</li><li>twee</li></ul></body></html>"
    )
    text = html_to_text(html)
    assert text == "Geachte heer,\n\nRegel & vet\ntweede regel\n\neen\n\ntwee"
    for absent in ("alert", "color", "commentaar", "JS", "frame"):
        assert absent not in text


def test_html_to_text_survives_absurd_markup() -> None:
    assert html_to_text("<div>" * 50_000 + "tekst") == "tekst"
    assert html_to_text("<script>" + "x" * 100_000) == ""
    assert html_to_text("<p>a<!-- c --><![CDATA[x]]>b</p><!DOCTYPE html>") == "ab"
    assert html_to_text("<<<>>>&&&;;<p") in ("<<<>>>&&&;;", "<<<>>>&&&;;<p")


def test_html_only_message_and_multipart_alternative_prefers_plain() -> None:
    html_only = raw_mail(("Content-Type", "text/html; charset=utf-8"), body="<p>Hallo <i>u</i></p>")
    mail = parsed(html_only.replace(b"Content-Type: text/plain; charset=utf-8\n", b""))
    assert (mail.text, mail.text_source) == ("Hallo u", "html")
    alternative = (
        b"From: a@houten.nl\nSubject: s\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/alternative; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain; charset=utf-8\n\nplat\n"
        b"--b\nContent-Type: text/html; charset=utf-8\n\n<p>html</p>\n--b--\n"
    )
    assert parsed(alternative).text.strip() == "plat"


def test_attachments_and_embedded_messages_are_not_the_body() -> None:
    raw = (
        b"From: a@houten.nl\nSubject: s\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=x.txt\n\n"
        b"bijlage\n"
        b"--b\nContent-Type: message/rfc822\n\nMessage-ID: <orig@x>\nSubject: [MG-1] vraag\n"
        b"To: info@houten.nl\n\ningesloten\n"
        b"--b\nContent-Type: text/plain\n\nde tekst\n--b--\n"
    )
    mail = parsed(raw)
    assert mail.text.strip() == "de tekst"
    assert mail.embedded[0].message_id == "orig@x"
    assert mail.embedded[0].subject == "[MG-1] vraag"
    assert mail.embedded[0].to == ("info@houten.nl",)


def test_base64_with_foreign_lines() -> None:
    encoded = base64.b64encode(b"Geachte heer De Vries, dit is de tekst.").decode()
    body = encoded[:20] + "\n!!kapot!!\n" + encoded[20:]
    raw = raw_mail(("Content-Transfer-Encoding", "base64"), body=body)
    mail = parsed(raw)
    assert mail.text == "Geachte heer De Vries, dit is de tekst."
    assert any("lines that are not base64" in p for p in mail.problems)


def test_delivery_status_fields() -> None:
    raw = (
        b"From: MAILER-DAEMON@x.nl\nSubject: Undelivered\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nsorry\n"
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n"
        b"Final-Recipient: rfc822; info@lopik.nl\nAction: failed\nStatus: 5.1.1\n--b--\n"
    )
    mail = parsed(raw)
    assert mail.report_type == "delivery-status"
    assert "message/delivery-status" in mail.part_types
    assert mail.delivery_status[1] == {
        "final-recipient": "rfc822; info@lopik.nl",
        "action": "failed",
        "status": "5.1.1",
    }


def test_headers_of_interest_are_kept_decoded() -> None:
    mail = parsed(raw_mail(("Auto-Submitted", "auto-replied"), ("X-Unrelated", "x")))
    assert mail.header("Auto-Submitted") == "auto-replied"
    assert mail.header("x-unrelated") is None


def test_long_text_is_cut() -> None:
    mail = parse(raw_mail(body="woord " * 1000), NOW, ParseOptions(max_text_chars=100))
    assert not isinstance(mail, Quarantined)
    assert len(mail.text) == 100 and "body text cut at 100 characters" in mail.problems
