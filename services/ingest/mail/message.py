"""Raw RFC 5322 bytes → `ParsedMail`, or `Quarantined` with a reason. Never raises.

Parsing uses the standard library (`email.message_from_bytes` with `email.policy.default`);
everything it cannot make sense of is recorded in `ParsedMail.problems` instead of raising:
malformed MIME (the parser's defects), unknown or wrong charsets (decoded with a fallback:
UTF-8, then Windows-1252, then Latin-1), 8-bit bytes in headers, a missing `Message-ID` or
`Date`, a date without a time zone, a date in the future. "The future" is relative to a
reference time passed in (`now`, e.g. when the message was fetched), never the wall clock,
so a re-run gives the same result.

Address and date headers are read by the policy's own header classes; unstructured headers
are decoded from their raw value (so 8-bit bytes become text, not U+FFFD). A damaged line in
the header block is dropped (and recorded) instead of ending the header block there.

A message is quarantined instead only when there is nothing to analyse: it is empty, larger
than the configured limit, nested deeper than any real mail, or has no header at all.

HTML bodies are converted to text with BeautifulSoup (`html.parser`, pure Python): script,
style and other non-content elements are removed before the text is taken, block elements
become line breaks.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import email
import email.header
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from functools import lru_cache
from typing import Any, Literal

from bs4 import BeautifulSoup, NavigableString, PageElement, Tag

__all__ = [
    "HEADERS_OF_INTEREST",
    "Address",
    "EmbeddedHeaders",
    "ParseOptions",
    "ParsedMail",
    "Quarantined",
    "clean_text",
    "decode_bytes",
    "html_to_text",
    "parse",
]

# Header fields kept in `ParsedMail.headers` (lower-case names): what classification and the
# content checks read, plus a few for a human looking at the analysis.
HEADERS_OF_INTEREST: tuple[str, ...] = (
    "auto-submitted",
    "x-autoreply",
    "x-autorespond",
    "x-autoresponder",
    "x-auto-response-suppress",
    "precedence",
    "return-path",
    "list-id",
    "list-unsubscribe",
    "x-failed-recipients",
    "x-ms-exchange-generated-message-source",
    "x-ms-exchange-inbox-rules-loop",
    "x-ms-exchange-organization-autoforwarded",
    "x-ms-exchange-message-is-ndr",
    "x-mailer",
    "user-agent",
    "thread-index",
    "thread-topic",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "reply-to",
    "sender",
    "resent-from",
    "resent-to",
    "content-language",
)

# Charsets that decode bytes into something other than mail text; treated as unknown.
_REFUSED_CODECS = frozenset(
    {"unicode_escape", "raw_unicode_escape", "punycode", "idna", "undefined", "mbcs", "oem"}
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BRACKETED_ID = re.compile(r"<([^<>\s]{1,500})>")
_MAX_HEADER = 10_000  # characters of an unstructured header value that are read
_MAX_ADDRESS_HEADER = 2_000  # …of an address header (hundreds of addresses)
_MAX_IDS = 200  # references kept per header (a long thread has dozens, fuzzed ones thousands)
_EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
_MULTIPART = re.compile(rb"^content-type:[ \t]*multipart/", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class ParseOptions:
    """Limits of the parser. `max_bytes`: larger messages are quarantined (default 25 MiB,
    a common mail-server limit); `max_multiparts`: so are messages with more multipart
    containers than that (real mail has a handful; the standard parser's time grows with the
    square of their nesting); `max_text_chars`: the body text is cut there (recorded);
    `future_tolerance`: clock skew allowed before a date counts as "in the future"."""

    max_bytes: int = 25 * 1024 * 1024
    max_multiparts: int = 50
    max_text_chars: int = 500_000
    future_tolerance: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Address:
    """One mailbox: display name and address (domain lower-cased; the local part kept, since
    it may carry Meetlat's token as a plus-address)."""

    name: str
    address: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower() if "@" in self.address else ""

    @property
    def local(self) -> str:
        return self.address.rpartition("@")[0] if "@" in self.address else self.address

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class EmbeddedHeaders:
    """Headers of a message carried inside this one (`message/rfc822` or
    `text/rfc822-headers`): a bounce returns the mail it could not deliver."""

    message_id: str | None
    subject: str
    to: tuple[str, ...]


@dataclass(frozen=True)
class ParsedMail:
    """What the analysis needs from one message. Strings are clean Unicode (no lone
    surrogates, no control characters but tab and newline)."""

    size: int
    fingerprint: str  # sha256 of the raw bytes
    message_id: str | None  # without angle brackets
    subject: str
    from_addresses: tuple[Address, ...]
    to_addresses: tuple[Address, ...]
    cc_addresses: tuple[Address, ...]
    date: datetime | None  # the trusted send time, aware: `Date`, else the Received time
    header_date: datetime | None  # the `Date` header as given (may be in the future)
    received_at: datetime | None  # time stamp of the topmost `Received` header
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    thread_index: bytes | None  # decoded Outlook Thread-Index
    headers: Mapping[str, tuple[str, ...]]  # HEADERS_OF_INTEREST present, decoded
    content_type: str
    report_type: str | None  # of a multipart/report
    part_types: tuple[str, ...]  # content types of every MIME part, in order
    delivery_status: tuple[Mapping[str, str], ...]  # per-recipient fields of a DSN
    embedded: tuple[EmbeddedHeaders, ...]
    text: str  # the body as text (HTML converted)
    text_source: Literal["plain", "html", "none"]
    problems: tuple[str, ...] = field(default=())

    @property
    def sender(self) -> Address | None:
        return self.from_addresses[0] if self.from_addresses else None

    def header(self, name: str) -> str | None:
        """First value of a header of interest, or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None


QuarantineReason = Literal["empty", "too_large", "too_complex", "not_a_message", "unparseable"]


@dataclass(frozen=True)
class Quarantined:
    """A message that cannot be analysed; kept (by the adapter) with its reason."""

    reason: QuarantineReason
    detail: str
    size: int
    fingerprint: str


# ------------------------------------------------------------------ text helpers


def _codec(charset: str | None) -> str | None:
    """The Python codec name for a mail charset, or None when unknown / not a text encoding."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    if not name or len(name) > 60:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("-", "_") in (
        _REFUSED_CODECS
    ):
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None = None) -> tuple[str, str | None]:
    """Decode mail bytes: the declared charset if it is known and fits, else UTF-8, else
    Windows-1252, else Latin-1 (which always succeeds). Returns the text and a problem
    description when the declared charset was unknown or wrong (None otherwise)."""
    problem: str | None = None
    codec = _codec(charset)
    if charset and codec is None:
        problem = f"unknown charset {charset.strip()[:60]!r}"
    elif codec is not None:
        try:
            return data.decode(codec), None
        except (UnicodeDecodeError, ValueError, LookupError, TypeError):
            problem = f"text is not valid {charset}"
    for fallback in ("utf-8", "cp1252"):
        if fallback == codec:
            continue
        try:
            text = data.decode(fallback)
        except UnicodeDecodeError:
            continue
        if problem is not None:
            problem += f"; decoded as {fallback}"
        return text, problem
    text = data.decode("latin-1")
    return text, (problem or "undecodable text") + "; decoded as latin-1"


def clean_text(text: str) -> str:
    """Clean Unicode: bytes smuggled in as surrogate escapes are decoded (UTF-8, else
    Windows-1252), other lone surrogates replaced, control characters other than tab and
    line breaks dropped, CR LF made LF."""
    if _SURROGATE.search(text):
        with contextlib.suppress(UnicodeEncodeError):  # a surrogate that is not a byte
            text = decode_bytes(text.encode("utf-8", "surrogateescape"))[0]
        text = _SURROGATE.sub("\ufffd", text)
    text = _CONTROL.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


# ------------------------------------------------------------------ HTML → text

_SKIPPED_TAGS = frozenset(
    {
        "script",
        "style",
        "head",
        "title",
        "noscript",
        "template",
        "iframe",
        "object",
        "embed",
        "svg",
        "math",
        "applet",
        "form",
        "button",
        "select",
        "meta",
        "link",
    }
)
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "tr",
        "li",
        "ul",
        "ol",
        "table",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "hr",
        "section",
        "article",
        "header",
        "footer",
        "address",
        "dd",
        "dt",
    }
)
# Text nodes that are content (not comments, doctypes, CDATA or processing instructions).
_TEXT_STRINGS = (NavigableString,)
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\u00a0\u2007\u202f\u200b]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """The readable text of an HTML mail body. Script, style and other non-content elements
    are skipped with everything inside them, so no script text can end up in the result;
    comments are skipped; block elements become line breaks; runs of spaces collapse. The
    tree is walked once, iteratively (deeply nested markup costs no more than flat markup).
    Falls back to stripping tags should the parser fail."""
    try:
        soup = BeautifulSoup(html, "html.parser")
        out: list[str] = []
        stack: list[PageElement | None] = [soup]  # None marks the end of a block element
        while stack:
            node = stack.pop()
            if node is None:
                out.append("\n")
            elif isinstance(node, Tag):
                name = node.name.lower()
                if name in _SKIPPED_TAGS:
                    continue
                if name == "br":
                    out.append("\n")
                elif name in _BLOCK_TAGS:
                    out.append("\n")
                    stack.append(None)
                stack.extend(reversed(node.contents))
            elif isinstance(node, NavigableString) and type(node) in _TEXT_STRINGS:
                out.append(str(node))
        text = "".join(out)
    except Exception:  # the fallback keeps analysis going; the problem is the markup
        text = _TAG.sub(" ", re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", html))
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# ------------------------------------------------------------------ headers


class _CachedHeaders(HeaderRegistry):
    """`email.policy.default`'s header factory, memoised. The stock one builds a new header
    class on every access and parses the value again each time (the feed parser alone asks
    for Content-Type several times per part); header objects are immutable, so the same
    (name, value) can share one."""

    @lru_cache(maxsize=64)  # noqa: B019 - one registry for the process
    def __getitem__(self, name: str) -> type[BaseHeader]:
        return super().__getitem__(name)

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if isinstance(value, str) and len(value) <= 2000:
            return _cached_header(self, name, value)
        return super().__call__(name, value)


@lru_cache(maxsize=8192)
def _cached_header(registry: HeaderRegistry, name: str, value: str) -> BaseHeader:
    return HeaderRegistry.__call__(registry, name, value)


_HEADERS = _CachedHeaders()
POLICY = email.policy.default.clone(header_factory=_HEADERS)


def _raw_index(msg: Message) -> dict[str, list[str]]:
    """Raw header values by lower-case name, read once (the policy parses a header on every
    access, which is most of the parsing time)."""
    index: dict[str, list[str]] = {}
    for key, value in msg.raw_items():
        index.setdefault(key.lower(), []).append(value)
    return index


def _decode_unstructured(raw: str, problems: list[str], name: str) -> str:
    """Decode an unstructured header from its raw value: encoded-words with any charset
    (unknown ones fall back), raw 8-bit bytes, folding."""
    if len(raw) > _MAX_HEADER:
        problems.append(f"header {name} cut at {_MAX_HEADER} characters")
        raw = raw[:_MAX_HEADER]
    value = re.sub(r"\r?\n[ \t]+", " ", raw)
    if _SURROGATE.search(value):
        problems.append(f"8-bit bytes in header {name}")
    value = clean_text(value)
    if "=?" not in value:
        return value.strip()
    try:
        parts = email.header.decode_header(value)
    except Exception:
        problems.append(f"malformed encoded words in header {name}")
        return value.strip()
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        text, problem = decode_bytes(chunk, charset)
        if problem:
            problems.append(f"header {name}: {problem}")
        out.append(text)
    return clean_text("".join(out)).strip()


def _header_text(raw: Mapping[str, list[str]], name: str, problems: list[str]) -> list[str]:
    """Every value of an unstructured header as clean text (encoded words decoded)."""
    return [_decode_unstructured(value, problems, name) for value in raw.get(name, ())]


def _addresses(raw: Mapping[str, list[str]], name: str, problems: list[str]) -> tuple[Address, ...]:
    """The mailboxes of an address header, parsed by the policy's own header class. The raw
    value is cleaned first (8-bit bytes decoded instead of replaced) and cut to a sane
    length (the parser's time grows with the square of it)."""
    found: list[Address] = []
    for value in raw.get(name, [])[:5]:
        if _SURROGATE.search(value):
            problems.append(f"8-bit bytes in header {name}")
        text = "".join(clean_text(value).splitlines())
        if len(text) > _MAX_ADDRESS_HEADER:
            problems.append(f"header {name} cut at {_MAX_ADDRESS_HEADER} characters")
            text = text[:_MAX_ADDRESS_HEADER]
        try:
            header = _HEADERS(name, text)
            items = list(getattr(header, "addresses", ()))
            if getattr(header, "defects", ()):
                problems.append(f"malformed address in header {name}")
            for item in items:
                addr = f"{item.username}@{item.domain.lower()}" if item.domain else item.username
                if addr:
                    found.append(Address(clean_text(item.display_name), clean_text(addr)))
        except Exception:
            problems.append(f"unparseable header {name}; read leniently")
            for display, addr in email.utils.getaddresses([text]):
                if addr:
                    local, _, domain = addr.rpartition("@")
                    addr = f"{local}@{domain.lower()}" if local else addr
                    found.append(Address(display, addr))
    return tuple(found[:_MAX_IDS])


def _ids(values: Iterable[str]) -> tuple[str, ...]:
    """Message-IDs from In-Reply-To / References values, without brackets, in order."""
    out: list[str] = []
    for value in values:
        found = _BRACKETED_ID.findall(value)
        if not found:  # unbracketed ids, as some clients write them
            found = [t.strip("<>,;") for t in value.split() if "@" in t]
        out.extend(i for i in found if i)
        if len(out) >= _MAX_IDS:
            break
    return tuple(dict.fromkeys(out[:_MAX_IDS]))


def _message_id(values: list[str], problems: list[str]) -> str | None:
    if not values:
        problems.append("missing Message-ID")
        return None
    if len(values) > 1:
        problems.append("duplicate header Message-ID; the first is used")
    value = values[0].strip()
    found = _BRACKETED_ID.search(value)
    if found:
        ident = found.group(1)
        if "@" not in ident:
            problems.append("malformed Message-ID")
        return ident
    bare = value.strip("<> ")
    if bare and " " not in bare and len(bare) <= 500:
        problems.append("malformed Message-ID")
        return bare
    problems.append("unusable Message-ID")
    return None


def _aware(value: datetime, what: str, problems: list[str]) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        problems.append(f"{what} has no time zone; taken as UTC")
        return value.replace(tzinfo=UTC)
    return value


def _header_date(raw: Mapping[str, list[str]], problems: list[str]) -> datetime | None:
    raws = raw.get("date", [])
    if not raws:
        problems.append("missing Date")
        return None
    if len(raws) > 1:
        problems.append("duplicate header Date; the first is used")
    value: datetime | None = None
    text = "".join(clean_text(raws[0][:200]).splitlines())
    try:
        header = _HEADERS("date", text)
        value = getattr(header, "datetime", None)
    except Exception:
        value = None
    if value is None:
        try:
            value = email.utils.parsedate_to_datetime(text)
        except Exception:
            value = None
    if value is None:
        problems.append(f"unparseable Date {clean_text(raws[0]).strip()[:80]!r}")
        return None
    return _aware(value, "Date", problems)


def _received_at(raw: Mapping[str, list[str]]) -> datetime | None:
    """The time stamp of the topmost Received header: when the message reached our side."""
    for header in raw.get("received", [])[:1]:
        stamp = clean_text(header).rpartition(";")[2].strip()
        try:
            value = email.utils.parsedate_to_datetime(stamp)
        except Exception:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=UTC)
        return value
    return None


def _trusted_date(
    header_date: datetime | None,
    received_at: datetime | None,
    now: datetime,
    tolerance: timedelta,
    problems: list[str],
) -> datetime | None:
    """`Date` when plausible; else the Received time; else None (problems recorded)."""
    limit = now + tolerance
    if header_date is not None:
        if header_date > limit:
            problems.append(
                f"Date {header_date.isoformat()} is in the future (reference time "
                f"{now.isoformat()})"
            )
        elif header_date < _EARLIEST_PLAUSIBLE:
            problems.append(f"implausible Date {header_date.isoformat()}")
        else:
            return header_date
    if received_at is not None and _EARLIEST_PLAUSIBLE <= received_at <= limit:
        problems.append("send time taken from the Received header")
        return received_at
    if header_date is not None:
        problems.append("no usable send time")
    return None


def _thread_index(values: list[str], problems: list[str]) -> bytes | None:
    if not values:
        return None
    text = re.sub(r"\s+", "", values[0])
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        problems.append("malformed Thread-Index (not base64)")
        return None
    if len(data) < 22 or (len(data) - 22) % 5:
        problems.append(f"malformed Thread-Index ({len(data)} bytes)")
        return data if len(data) >= 22 else None
    return data


# ------------------------------------------------------------------ body


_BASE64_LINE = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _lenient_base64(text: str) -> bytes | None:
    """Decode base64 that has lines of something else in it: those lines are dropped (the
    standard decoder would keep their letters and shift every byte after them). None when
    every line is base64 (the standard decoder is right then)."""
    lines = text.split()
    good = [line for line in lines if _BASE64_LINE.fullmatch(line)]
    if len(good) == len(lines):
        return None
    core = "".join(line.rstrip("=") for line in good)
    core = core[: len(core) - 1] if len(core) % 4 == 1 else core
    return base64.b64decode(core + "=" * (-len(core) % 4))


@dataclass(frozen=True)
class _Part:
    """A MIME part with what is needed of it, read once."""

    msg: Message
    ctype: str
    embedded: bool  # inside a message/rfc822 (a returned or forwarded message)
    attachment: bool


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def _walk(msg: Message) -> list[_Part]:
    """Every part in order, iteratively (no recursion limit on absurdly nested MIME)."""
    out: list[_Part] = []
    stack: list[tuple[Message, bool]] = [(msg, False)]
    while stack and len(out) < 500:
        part, embedded = stack.pop(0)
        ctype = _content_type(part)
        try:
            attachment = part.get_content_disposition() == "attachment"
        except Exception:
            attachment = False
        out.append(_Part(part, ctype, embedded, attachment))
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            inner = embedded or not ctype.startswith("multipart/")
            stack[:0] = [(p, inner) for p in payload if isinstance(p, Message)]
    return out


def _part_text(part: _Part, problems: list[str]) -> str:
    payload: object = None
    try:
        if str(part.msg.get("content-transfer-encoding", "")).strip().lower() == "base64":
            raw = part.msg.get_payload()
            payload = _lenient_base64(raw) if isinstance(raw, str) else None
            if payload is not None:
                problems.append(f"{part.ctype} part: lines that are not base64")
        if payload is None:
            payload = part.msg.get_payload(decode=True)
    except Exception:
        problems.append(f"undecodable {part.ctype} part")
        return ""
    if not isinstance(payload, bytes):
        return ""
    try:
        charset = part.msg.get_content_charset()
    except Exception:
        charset = None
    text, problem = decode_bytes(payload, charset)
    if problem:
        problems.append(f"{part.ctype} part: {problem}")
    return clean_text(text).lstrip("\ufeff")


def _body(parts: list[_Part], problems: list[str]) -> tuple[str, Literal["plain", "html", "none"]]:
    """The first non-empty inline text/plain part of the message itself, else the first
    text/html part converted (so multipart/alternative gives its plain version)."""
    own = [p for p in parts if not p.embedded and not p.attachment]
    for kind in ("text/plain", "text/html"):
        for part in own:
            if part.ctype != kind:
                continue
            text = _part_text(part, problems)
            if kind == "text/html":
                text = html_to_text(text)
            if text.strip():
                return text, "plain" if kind == "text/plain" else "html"
    top = parts[0]
    if not top.ctype.startswith(("text/", "multipart/")):
        problems.append(f"no text body ({top.ctype})")
    else:
        problems.append("no text body")
    return "", "none"


def _delivery_status(parts: list[_Part]) -> tuple[dict[str, str], ...]:
    blocks: list[dict[str, str]] = []
    for part in parts:
        if part.ctype != "message/delivery-status":
            continue
        payload = part.msg.get_payload()
        if isinstance(payload, list):  # parsed into one Message per field block
            for block in payload:
                if isinstance(block, Message):
                    fields = {k.lower(): clean_text(str(v)).strip() for k, v in block.raw_items()}
                    blocks.append(fields)
        elif isinstance(payload, str):  # left as text by a malformed structure
            for chunk in re.split(r"\n\s*\n", clean_text(payload)):
                fields = {}
                for line in chunk.splitlines():
                    key, sep, value = line.partition(":")
                    if sep and key.strip():
                        fields[key.strip().lower()] = value.strip()
                if fields:
                    blocks.append(fields)
    return tuple(blocks[:_MAX_IDS])


def _embedded(parts: list[_Part]) -> tuple[EmbeddedHeaders, ...]:
    found: list[EmbeddedHeaders] = []
    for part in parts:
        inner: Message | None = None
        if part.ctype == "message/rfc822" and part.msg.is_multipart():
            payload = part.msg.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                inner = payload[0]
        elif part.ctype == "text/rfc822-headers":
            text = _part_text(part, [])
            try:
                inner = email.message_from_string(text + "\n\n", policy=POLICY)
            except Exception:
                inner = None
        if inner is None:
            continue
        raw = _raw_index(inner)
        scratch: list[str] = []
        ids = _ids(_header_text(raw, "message-id", scratch))
        subject = " ".join(_header_text(raw, "subject", scratch))
        to = tuple(clean_text(v) for v in raw.get("to", ()))
        found.append(EmbeddedHeaders(ids[0] if ids else None, subject, to))
        if len(found) >= 20:
            break
    return tuple(found)


def _defects(parts: list[_Part]) -> list[str]:
    names: dict[str, None] = {}
    for part in parts:
        for defect in getattr(part.msg, "defects", ()):
            names[type(defect).__name__] = None
    return [f"malformed MIME: {', '.join(sorted(names))}"] if names else []


# ------------------------------------------------------------------ parse

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:|[ \t]")


def _repair_header_block(raw: bytes) -> tuple[bytes, int]:
    """Drop lines of the header block that are neither a field nor a continuation (a byte
    flipped in a field name, an mbox "From " line). The standard parser would end the header
    block at such a line and read every field after it as body text."""
    end = _HEADER_END.search(raw, 0, 200_000)
    if end is None:
        return raw, 0
    lines = raw[: end.start()].splitlines(keepends=True)
    kept = [line for line in lines if _FIELD_LINE.match(line)]
    if len(kept) == len(lines):
        return raw, 0
    return b"".join(kept) + raw[end.start() :], len(lines) - len(kept)


def parse(
    raw: bytes,
    now: datetime,
    options: ParseOptions | None = None,
) -> ParsedMail | Quarantined:
    """Parse one message. `now` (aware) is the reference time for "in the future"."""
    opts = options or ParseOptions()
    size = len(raw)
    fingerprint = hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        return Quarantined("empty", "the message has no content", size, fingerprint)
    if size > opts.max_bytes:
        return Quarantined(
            "too_large", f"{size} bytes, above the limit of {opts.max_bytes}", size, fingerprint
        )
    containers = len(_MULTIPART.findall(raw))
    if containers > opts.max_multiparts:
        return Quarantined(
            "too_complex",
            f"{containers} multipart containers, above the limit of {opts.max_multiparts}",
            size,
            fingerprint,
        )
    repaired, dropped = _repair_header_block(raw)
    try:
        msg = email.message_from_bytes(repaired, policy=POLICY)
    except Exception as exc:  # the parser is lenient; this is a bug or absurd input
        return Quarantined("unparseable", f"{type(exc).__name__}: {exc}"[:300], size, fingerprint)
    if not msg.keys():
        return Quarantined("not_a_message", "no header fields", size, fingerprint)
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    problems: list[str] = []
    if dropped:
        problems.append(f"{dropped} damaged header line(s) dropped")
    try:
        return _parse(msg, size, fingerprint, now, opts, problems)
    except Exception as exc:  # last resort: a parser bug must not lose the message
        return Quarantined("unparseable", f"{type(exc).__name__}: {exc}"[:300], size, fingerprint)


def _parse(
    msg: Message,
    size: int,
    fingerprint: str,
    now: datetime,
    opts: ParseOptions,
    problems: list[str],
) -> ParsedMail:
    raw = _raw_index(msg)
    parts = _walk(msg)
    problems.extend(_defects(parts))
    for name in ("from", "subject", "to"):
        if len(raw.get(name, ())) > 1:
            problems.append(f"duplicate header {name.title()}; the first is used")
    subjects = _header_text(raw, "subject", problems)
    from_addresses = _addresses(raw, "from", problems)
    if not from_addresses:
        problems.append("missing From")
    header_date = _header_date(raw, problems)
    received_at = _received_at(raw)
    date = _trusted_date(header_date, received_at, now, opts.future_tolerance, problems)
    headers: dict[str, tuple[str, ...]] = {}
    for name in HEADERS_OF_INTEREST:
        if name in raw:
            values = _header_text(raw, name, problems)
            headers[name] = tuple(v[:2000] for v in values[:20])
    content_type = parts[0].ctype
    report_type: object = None
    if content_type == "multipart/report":
        try:
            report_type = msg.get_param("report-type")
        except Exception:
            report_type = None
    report = report_type.strip().lower() if isinstance(report_type, str) else None
    text, source = _body(parts, problems)
    if len(text) > opts.max_text_chars:
        problems.append(f"body text cut at {opts.max_text_chars} characters")
        text = text[: opts.max_text_chars]
    return ParsedMail(
        size=size,
        fingerprint=fingerprint,
        message_id=_message_id(_header_text(raw, "message-id", problems), problems),
        subject=subjects[0] if subjects else "",
        from_addresses=from_addresses,
        to_addresses=_addresses(raw, "to", problems),
        cc_addresses=_addresses(raw, "cc", problems),
        date=date,
        header_date=header_date,
        received_at=received_at,
        in_reply_to=_ids(_header_text(raw, "in-reply-to", problems)),
        references=_ids(_header_text(raw, "references", problems)),
        thread_index=_thread_index(list(headers.get("thread-index", ())), problems),
        headers=headers,
        content_type=content_type,
        report_type=report,
        part_types=tuple(p.ctype for p in parts),
        delivery_status=_delivery_status(parts),
        embedded=_embedded(parts),
        text=text,
        text_source=source,
        problems=tuple(dict.fromkeys(problems)),
    )
