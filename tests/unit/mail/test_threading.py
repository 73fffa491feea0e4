"""threading.py: which sent mystery mail a message answers."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from services.ingest.mail.threading import (
    Match,
    SentMail,
    Unmatched,
    match_sent,
    thread_index_hops,
    thread_root,
)
from tests.unit.mail.build import parsed, raw_mail
from tests.unit.mail.sent import AMS, BY_TOKEN, SENT, THREAD_INDEX

NO_TOKEN = ("To", "Jan de Vries <mysterie@meetlat-onderzoek.nl>")


def match(
    *headers: tuple[str, str], body: str = "Dat kan.\n", sent: Sequence[SentMail] = SENT
) -> tuple[Match | Unmatched, tuple[str, ...]]:
    return match_sent(parsed(raw_mail(*headers, body=body)), sent)


def test_token_in_subject_first() -> None:
    result, _ = match(("In-Reply-To", "<MG-1A2B3C.20260202@meetlat-onderzoek.nl>"))
    assert isinstance(result, Match)
    assert (result.method, result.sent.token) == ("token_subject", "MG-7F3A2C")


def test_token_is_case_insensitive_and_in_plus_addresses() -> None:
    result, _ = match(("Subject", "Uw vraag"), ("To", "mysterie+mg-9c8b7a@meetlat-onderzoek.nl"))
    assert isinstance(result, Match)
    assert (result.method, result.sent.token) == ("token_address", "MG-9C8B7A")
    result, _ = match(
        ("Subject", "Uw vraag"),
        NO_TOKEN,
        ("Delivered-To", "mysterie+MG-2B4D6F@meetlat-onderzoek.nl"),
    )
    assert isinstance(result, Match) and result.sent.token == "MG-2B4D6F"


def test_unknown_token_is_reported_and_the_next_method_tried() -> None:
    result, problems = match(
        ("Subject", "RE: [MG-ABCDEF] vraag"),
        NO_TOKEN,
        ("In-Reply-To", "<MG-1A2B3C.20260202@meetlat-onderzoek.nl>"),
    )
    assert isinstance(result, Match) and result.method == "in_reply_to"
    assert result.sent.token == "MG-1A2B3C"
    assert any("MG-ABCDEF" in p and "names no sent mail" in p for p in problems)


def test_references_newest_first() -> None:
    result, _ = match(
        ("Subject", "Re: vraag"),
        NO_TOKEN,
        (
            "References",
            "<MG-1A2B3C.20260202@meetlat-onderzoek.nl> <MG-9C8B7A.20260202@meetlat-onderzoek.nl>",
        ),
    )
    assert isinstance(result, Match) and result.method == "references"
    assert result.sent.token == "MG-9C8B7A"


def test_thread_index_root() -> None:
    root = base64.b64decode(THREAD_INDEX["MG-4D5E6F"])
    header = base64.b64encode(root + b"\x00\x00\x01\x02\x03").decode()
    result, _ = match(("Subject", "RE: foodtruck"), NO_TOKEN, ("Thread-Index", header))
    assert isinstance(result, Match) and result.method == "thread_index"
    assert result.sent.token == "MG-4D5E6F"
    assert thread_root(header) == root and thread_root(root) == root
    assert thread_index_hops(root + b"\x00" * 10) == 2
    assert thread_root("kapot!") is None and thread_root(b"kort") is None


def test_token_quoted_in_the_text() -> None:
    body = "Dat kan.\n\nVan: Jan\nOnderwerp: [MG-E1F2A3] Kapsalon aan huis\n"
    result, _ = match(("Subject", "Uw vraag"), NO_TOKEN, body=body)
    assert isinstance(result, Match) and result.method == "token_text"
    assert result.sent.token == "MG-E1F2A3"


def test_domain_then_case() -> None:
    # one mail sent to houten.nl: the domain decides (a subdomain counts)
    result, _ = match(("Subject", "Uw vraag"), NO_TOKEN, ("From", "a@mail.houten.nl"))
    assert isinstance(result, Match) and result.method == "domain_case"
    assert result.sent.token == "MG-7F3A2C"
    # two mails sent to woerden.nl before the reply: the case decides
    woerden = (NO_TOKEN, ("From", "v@woerden.nl"), ("Date", "Wed, 4 Feb 2026 10:00:00 +0100"))
    result, _ = match(("Subject", "Uw reclamebord"), *woerden)
    assert isinstance(result, Match) and result.sent.token == "MG-6F8B0D"
    result, _ = match(("Subject", "Uw vraag"), *woerden, body="Over uw terrasvergunning.")
    assert isinstance(result, Match) and result.sent.token == "MG-5E7A9C"
    # neither case named: not decided
    result, _ = match(("Subject", "Uw vraag"), *woerden)
    assert isinstance(result, Unmatched) and "2 sent mails to woerden.nl" in result.reason


def test_mails_sent_after_the_reply_do_not_fit() -> None:
    # the reclamebord mail went out on 3 February; a reply dated 2 February answers the other
    result, _ = match(
        ("Subject", "Uw vraag"),
        NO_TOKEN,
        ("From", "v@woerden.nl"),
        ("Date", "Mon, 2 Feb 2026 15:00:00 +0100"),
    )
    assert isinstance(result, Match) and result.sent.token == "MG-5E7A9C"


def test_unmatched_reasons() -> None:
    result, _ = match(("Subject", "Uw vraag"), NO_TOKEN, ("From", "info@zandvoort.nl"))
    assert isinstance(result, Unmatched) and "zandvoort.nl" in result.reason
    nothing, problems = match_sent(parsed(raw_mail()), [])
    assert isinstance(nothing, Unmatched) and problems == ()


def test_ambiguous_token_is_not_decisive() -> None:
    twin = replace(BY_TOKEN["MG-7F3A2C"], message_id="<other@x>", contact_id="other")
    result, problems = match(sent=[BY_TOKEN["MG-7F3A2C"], twin])
    assert isinstance(result, Unmatched) and "2 sent mails to houten.nl" in result.reason
    assert any("token_subject: 2 sent mails fit" in p for p in problems)
    # the Message-ID still tells them apart
    result, _ = match(("In-Reply-To", "<other@x>"), sent=[BY_TOKEN["MG-7F3A2C"], twin])
    assert isinstance(result, Match) and result.sent is twin


def test_sent_mail_needs_only_the_matching_fields() -> None:
    bare = SentMail(
        "<x@y>", "MG-123456", "houten.nl", "standplaats", datetime(2026, 2, 2, tzinfo=AMS)
    )
    result, _ = match(("Subject", "Re: [MG-123456] vraag"), sent=[bare])
    assert isinstance(result, Match) and result.sent is bare
