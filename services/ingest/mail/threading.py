"""Which sent mystery mail does a message answer?

Tried in this order, the first that finds exactly one sent mail wins:

1. Meetlat's token (e.g. `MG-7F3A2C`) in the subject ("[MG-7F3A2C]") or in a recipient's
   plus-address (`mysterie+MG-7F3A2C@…`; To, Cc, Delivered-To, X-Original-To, Envelope-To),
   or in the headers of a returned message (a bounce);
2. `In-Reply-To`, then `References` (newest first), against the sent Message-IDs; a bounce's
   returned message's Message-ID counts too;
3. Outlook's `Thread-Index`: its first 22 bytes (a FILETIME and a GUID) name the conversation
   root, so a reply written in Outlook to the sent mail shares them;
4. the token in the quoted text (a reply that rewrote the subject but quotes the question);
5. the sender's domain (equal to, or a subdomain of, the domain the mail was sent to),
   narrowed to mails sent before the message, then — when several remain — to the one whose
   case name appears in the subject or text.

Anything else is `Unmatched` with the reason; the holding pen for those is an adapter's
concern. A token that names no sent mail is reported, and the next method is tried.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.ingest.mail.message import ParsedMail

__all__ = [
    "DEFAULT_TOKEN_PATTERN",
    "Match",
    "MatchMethod",
    "SentMail",
    "Unmatched",
    "match_sent",
    "thread_index_hops",
    "thread_root",
]

DEFAULT_TOKEN_PATTERN = re.compile(r"(?<![A-Z0-9])MG-[0-9A-F]{4,16}(?![0-9A-Z])", re.IGNORECASE)
_ROOT_BYTES = 22
_HOP_BYTES = 5

MatchMethod = Literal[
    "token_subject",
    "token_address",
    "token_returned",
    "in_reply_to",
    "references",
    "thread_index",
    "token_text",
    "domain_case",
    "manual",  # assigned by hand from the holding pen
]


@dataclass(frozen=True)
class SentMail:
    """A mystery mail Meetlat sent. `thread_index` is the sent mail's Thread-Index (base64
    text as in the header, or decoded bytes) when the sending client set one. The identity
    fields (contact, municipality, campaign, wave) are what the mail events need; they are
    optional so that matching works without them."""

    message_id: str
    token: str
    to_domain: str
    case: str
    sent_at: datetime
    thread_index: str | bytes | None = None
    contact_id: str | None = None
    municipality: str | None = None
    campaign: str | None = None
    wave: int | None = None


@dataclass(frozen=True)
class Match:
    sent: SentMail
    method: MatchMethod
    detail: str


@dataclass(frozen=True)
class Unmatched:
    reason: str


def thread_root(value: str | bytes | None) -> bytes | None:
    """The conversation root of a Thread-Index (its first 22 bytes), or None."""
    if value is None:
        return None
    data: bytes
    if isinstance(value, str):
        text = re.sub(r"\s+", "", value)
        try:
            data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
    else:
        data = value
    return data[:_ROOT_BYTES] if len(data) >= _ROOT_BYTES else None


def thread_index_hops(value: bytes | None) -> int | None:
    """How many replies/forwards a Thread-Index records after its root (5 bytes each)."""
    if value is None or len(value) < _ROOT_BYTES:
        return None
    return (len(value) - _ROOT_BYTES) // _HOP_BYTES


def _norm_id(value: str) -> str:
    return value.strip().strip("<>").strip()


def _norm_domain(value: str) -> str:
    return value.strip().lower().rstrip(".").removeprefix("@")


def _same_org(sender_domain: str, sent_domain: str) -> bool:
    a, b = _norm_domain(sender_domain), _norm_domain(sent_domain)
    return bool(a and b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def _one(
    candidates: list[SentMail], method: MatchMethod, detail: str, problems: list[str]
) -> Match | None:
    unique = list({id(s): s for s in candidates}.values())
    if len(unique) == 1:
        return Match(unique[0], method, detail)
    if len(unique) > 1:
        problems.append(f"{method}: {len(unique)} sent mails fit ({detail}); not decisive")
    return None


def _tokens(text: str, pattern: re.Pattern[str]) -> list[str]:
    return [t.upper() for t in pattern.findall(text)]


def match_sent(
    mail: ParsedMail,
    sent: Sequence[SentMail],
    *,
    text: str | None = None,
    token_pattern: re.Pattern[str] = DEFAULT_TOKEN_PATTERN,
) -> tuple[Match | Unmatched, tuple[str, ...]]:
    """Match a parsed message to one sent mail. `text` is where to look for a quoted token
    (default: the message text). Returns the match and the problems met on the way."""
    problems: list[str] = []
    if not sent:
        return Unmatched("no sent mails to match against"), ()
    by_token: dict[str, list[SentMail]] = {}
    by_id: dict[str, list[SentMail]] = {}
    for item in sent:
        by_token.setdefault(item.token.strip().upper(), []).append(item)
        by_id.setdefault(_norm_id(item.message_id), []).append(item)

    def token_match(found: list[str], method: MatchMethod, where: str) -> Match | None:
        for token in dict.fromkeys(found):
            if token in by_token:
                result = _one(by_token[token], method, f"{token} in {where}", problems)
                if result:
                    return result
            else:
                problems.append(f"token {token} in {where} names no sent mail")
        return None

    # 1. the token
    result = token_match(_tokens(mail.subject, token_pattern), "token_subject", "the subject")
    if result:
        return result, tuple(problems)
    recipients = [a.address for a in (*mail.to_addresses, *mail.cc_addresses)]
    for name in ("delivered-to", "x-original-to", "envelope-to"):
        recipients.extend(mail.headers.get(name, ()))
    plus = [t for r in recipients if "+" in r for t in _tokens(r.split("@")[0], token_pattern)]
    result = token_match(plus, "token_address", "a plus-address")
    if result:
        return result, tuple(problems)
    returned = [
        t for e in mail.embedded for t in _tokens(" ".join((e.subject, *e.to)), token_pattern)
    ]
    result = token_match(returned, "token_returned", "the returned message")
    if result:
        return result, tuple(problems)

    # 2. In-Reply-To, References
    for ident in mail.in_reply_to:
        if _norm_id(ident) in by_id:
            result = _one(by_id[_norm_id(ident)], "in_reply_to", ident, problems)
            if result:
                return result, tuple(problems)
    returned_ids = [e.message_id for e in mail.embedded if e.message_id]
    for ref in (*reversed(mail.references), *returned_ids):
        if _norm_id(ref) in by_id:
            result = _one(by_id[_norm_id(ref)], "references", ref, problems)
            if result:
                return result, tuple(problems)

    # 3. Outlook's Thread-Index
    root = thread_root(mail.thread_index)
    if root is not None:
        fits = [s for s in sent if thread_root(s.thread_index) == root]
        result = _one(fits, "thread_index", "conversation root " + root.hex()[:12], problems)
        if result:
            return result, tuple(problems)

    # 4. the token in the quoted text
    body = mail.text if text is None else text
    result = token_match(_tokens(body[:200_000], token_pattern), "token_text", "the text")
    if result:
        return result, tuple(problems)

    # 5. sender domain, then case
    sender = mail.sender
    domain = sender.domain if sender else ""
    if not domain:
        return Unmatched("no token, no known Message-ID, no Thread-Index, no sender"), tuple(
            problems
        )
    candidates = [s for s in sent if _same_org(domain, s.to_domain)]
    if not candidates:
        return Unmatched(
            f"no token, no known Message-ID or Thread-Index, and nothing was sent to {domain}"
        ), tuple(problems)
    if mail.date is not None:
        before = [s for s in candidates if s.sent_at <= mail.date]
        candidates = before or candidates
    result = _one(candidates, "domain_case", f"sender domain {domain}", [])
    if result:
        return result, tuple(problems)
    haystack = f"{mail.subject}\n{body[:50_000]}".lower()
    by_case = [s for s in candidates if _case_named(s.case, haystack)]
    result = _one(by_case, "domain_case", f"sender domain {domain} and case", [])
    if result:
        return result, tuple(problems)
    return Unmatched(
        f"{len(candidates)} sent mails to {domain} fit and the case does not decide"
    ), tuple(problems)


def _case_named(case: str, haystack: str) -> bool:
    """The case's name, or all its words of four letters or more, occur in the text."""
    name = case.strip().lower()
    if not name:
        return False
    if name in haystack:
        return True
    words = [w for w in re.split(r"[^a-z0-9à-ÿ]+", name) if len(w) >= 4]
    return bool(words) and all(w in haystack for w in words)
