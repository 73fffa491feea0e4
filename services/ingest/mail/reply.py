"""The new text of a reply: quoted history and signature removed, the history kept apart.

Splitting into fragments is done by `mail-parser-reply` (PyPI `mail-parser-reply`, MIT) with
its Dutch (`nl`) and English (`en`) patterns: Outlook "Van:/Verzonden:/Aan:/Onderwerp:" and
"From:/Sent:/To:/Subject:" blocks, "Op … schreef:", "On … wrote:", "-----Original
Message-----", and signatures such as "Met vriendelijke groet". On top of those, registered
as one extra language entry (`nl-meetlat`, the library's own extension point), the Dutch
forms it lacks:

- Gmail's Dutch header with the sender after the verb: "Op di 3 feb 2026 om 10:12 schreef
  Jan de Vries <jan@example.nl>:", also when wrapped over two lines;
- Apple Mail's "Op 3 feb. 2026, om 10:12 heeft Jan <…> het volgende geschreven:";
- separator lines "-----Oorspronkelijk bericht-----", "----- Origineel bericht -----",
  "---------- Doorgestuurd bericht ---------", "Begin doorgestuurd bericht:" (and the English
  forwarded-message forms) before an Outlook block;
- sign-offs "Vriendelijke groet(en)", "Met hartelijke groet", "Hartelijke groet", "Groet(en),",
  "Mvg", "Hoogachtend", "Met collegiale groet"; "Verstuurd vanaf mijn iPhone"…

Lines quoted with "> " that remain in the reply's own text are moved to the history too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from mailparser_reply import constants as _mpr_constants  # type: ignore[import-untyped]
from mailparser_reply.parser import EmailMessage  # type: ignore[import-untyped]

__all__ = ["EXTRA_LANGUAGE", "Fragment", "QuotedHeader", "StrippedReply", "strip_reply"]

EXTRA_LANGUAGE = "nl-meetlat"
_Q = r"(?:> ?)*"  # the library's "inside quoted levels" prefix
_SEPARATOR = (
    r"(?:-{2,} ?(?:Oorspronkelijk|Origineel|Doorgestuurd|Original|Forwarded)"
    r" (?:bericht|message|e-?mail) ?-{2,}|Begin (?:doorgestuurd bericht|forwarded message):)"
)
_FIELD_NAMES = (
    r"Van|Verzonden|Aan|Onderwerp|Datum|Cc|Bcc|Beantwoorden|Prioriteit|Urgentie|From|Sent|To"
    r"|Subject|Date|Reply-To|Importance"
)
_EXTRA_PATTERNS: dict[str, str | list[str]] = {
    "wrote_header": (
        r"^("
        + _Q
        + r"Op\s[^\n]{1,200}?(?:\n"
        + _Q
        + r"[^\n]{0,200}?)?\s(?:schreef\s[^\n:]{1,200}?(?:\n"
        + _Q
        + r"[^\n]{0,200}?)?|heeft\s[^\n]{1,200}?het\s+volgende\s+geschreven)\s?:)$"
    ),
    "from_header": (
        r"((?:^|\n)"
        + _Q
        + r"[* ]*"
        + _SEPARATOR
        + r"[ *]*(?:\n"
        + _Q
        + r"[* ]*(?:"
        + _FIELD_NAMES
        + r")[ *]*:[^\n]*){0,8})"
    ),
    "disclaimers": [],
    "signatures": [
        r"(?:Met\s)?(?:vriendelijke|hartelijke|collegiale|beste)\sgroet(?:en)?",
        r"Groet(?:en|jes)?\s*,?\s*$",
        r"M\.?\s?v\.?\s?g\.?(?:\s|,|$)",
        r"Hoogachtend",
    ],
    "sent_from": r"Verstuurd vanaf mijn|Verstuurd vanuit|Verzonden vanuit|Verzonden met",
}
_mpr_constants.MAIL_LANGUAGES.setdefault(EXTRA_LANGUAGE, _EXTRA_PATTERNS)
_LANGUAGES = ("nl", EXTRA_LANGUAGE)

_MAX_CHARS = 100_000  # more is not a reply but an archive; the rest counts as history
_MAX_LINE = 2_000
_EMAIL = re.compile(r"[\w.+'%-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")
_FIELD = re.compile(r"^[> ]*[* ]*(" + _FIELD_NAMES + r")[ *]*:[ *]*(.*)$", re.IGNORECASE)
_WROTE = re.compile(
    r"(?:schreef|wrote|heeft)\s+(.{0,200}?)(?:\s+het\s+volgende\s+geschreven)?\s*:\s*$"
    r"|^[> ]*(?:Op|On)\s.*?,\s*(.{1,200}?)\s+(?:schreef|wrote)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SENDER_FIELDS = frozenset({"van", "from"})
_RECIPIENT_FIELDS = frozenset({"aan", "to", "cc", "bcc"})
_SUBJECT_FIELDS = frozenset({"onderwerp", "subject"})


@dataclass(frozen=True)
class QuotedHeader:
    """The header of a quoted or forwarded mail in the history."""

    kind: Literal["fields", "wrote", "separator"]
    raw: str
    senders: tuple[str, ...]  # "Name <address>" or just a name, as written
    recipients: tuple[str, ...]
    subject: str

    def addresses(self, which: Literal["senders", "recipients"]) -> tuple[str, ...]:
        values = self.senders if which == "senders" else self.recipients
        return tuple(a.lower() for v in values for a in _EMAIL.findall(v))


@dataclass(frozen=True)
class Fragment:
    """One mail in the text: the reply itself (`header` None) or a quoted one."""

    header: QuotedHeader | None
    text: str


@dataclass(frozen=True)
class StrippedReply:
    body: str  # the reply's own text: no history, no signature
    signature: str
    quoted: str  # the history as it stood in the text
    fragments: tuple[Fragment, ...]  # the reply first, then each quoted mail, newest first


def _split_people(value: str) -> tuple[str, ...]:
    value = value.strip()
    if not value:
        return ()
    parts = re.split(r";|(?<=>)\s*,", value)
    return tuple(p.strip(" ,'\"") for p in parts if p.strip(" ,'\""))


def parse_header(raw: str) -> QuotedHeader:
    """Read who wrote to whom from a quoted header block (never raises)."""
    text = raw.strip()
    senders: list[str] = []
    recipients: list[str] = []
    subject = ""
    lines = [line for line in text.splitlines() if line.strip()]
    fields = [m for m in (_FIELD.match(line) for line in lines) if m]
    if fields:
        for found in fields:
            name, value = found.group(1).lower(), found.group(2).strip()
            if name in _SENDER_FIELDS:
                senders.extend(_split_people(value))
            elif name in _RECIPIENT_FIELDS:
                recipients.extend(_split_people(value))
            elif name in _SUBJECT_FIELDS and not subject:
                subject = value
        return QuotedHeader("fields", text, tuple(senders), tuple(recipients), subject)
    joined = " ".join(line.lstrip("> ").strip() for line in lines)
    wrote = _WROTE.search(joined)
    if wrote:
        who = (wrote.group(1) or wrote.group(2) or "").strip()
        if not who or not _EMAIL.search(who):
            emails = _EMAIL.findall(joined)
            who = emails[-1] if emails else who
        return QuotedHeader("wrote", text, (who,) if who else (), (), "")
    return QuotedHeader("separator", text, (), (), "")


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub("[\u00a0\u2007\u202f]", " ", re.sub("[\u200b\u200c\u200d\ufeff]", "", text))
    # The library strips every line; doing it first keeps positions in `text` valid. Its
    # patterns scan a line with nested lazy repeats (quadratic in the line's length), so a
    # line longer than any written line is cut into pieces first.
    lines = (line.strip() for line in text.split("\n"))
    return "\n".join(_wrap(line) if len(line) > _MAX_LINE else line for line in lines)


def _wrap(line: str) -> str:
    return "\n".join(line[i : i + _MAX_LINE].strip() for i in range(0, len(line), _MAX_LINE))


def _unquote_body(body: str) -> tuple[str, str]:
    """Move "> " quoted lines out of the reply's own text."""
    kept: list[str] = []
    quoted: list[str] = []
    for line in body.splitlines():
        (quoted if line.lstrip().startswith(">") else kept).append(line)
    return "\n".join(kept).strip(), "\n".join(quoted).strip()


def _own_text(reply: Any) -> str:
    """A fragment's text without its signature and disclaimers. (The library's own `body`
    removes the disclaimers first, after which a signature that contains one is no longer
    found and stays in.)"""
    text = str(reply.content)
    signature = str(reply.signatures or "")
    if signature:
        at = text.find(signature)
        if at >= 0:
            text = text[:at]
    for disclaimer in reply.disclaimers or ():
        text = text.replace(str(disclaimer), "")
    return text.strip()


def strip_reply(text: str) -> StrippedReply:
    """Split a reply's text into its own body, signature and quoted history."""
    text = _normalise(text)
    head, tail = text[:_MAX_CHARS], text[_MAX_CHARS:]
    try:
        message = EmailMessage(head, languages=list(_LANGUAGES), keep_hyphen_lists=True).read()
        replies = list(message.replies)
    except Exception:  # the library's regexes on absurd input: keep the text unsplit
        replies = []
    if not replies:
        body, quoted_lines = _unquote_body(head)
        return StrippedReply(
            body=body,
            signature="",
            quoted="\n".join(p for p in (quoted_lines, tail.strip()) if p),
            fragments=(Fragment(None, body),),
        )
    fragments: list[Fragment] = []
    body = signature = ""
    first_has_header = bool(replies[0].headers)
    if not first_has_header:
        own = replies.pop(0)
        body, quoted_lines = _unquote_body(_own_text(own))
        signature = str(own.signatures or "")
        fragments.append(Fragment(None, body))
    else:
        quoted_lines = ""
        fragments.append(Fragment(None, ""))
    for item in replies:
        header = parse_header(str(item.headers or ""))
        fragments.append(Fragment(header, str(item.full_body)))
    history_start = len(head)
    if replies:
        found = head.find(str(replies[0].headers)) if replies[0].headers else -1
        history_start = found if found >= 0 else history_start
    quoted = "\n".join(
        p for p in (quoted_lines, head[history_start:].strip(), tail.strip()) if p
    ).strip()
    return StrippedReply(body=body, signature=signature, quoted=quoted, fragments=tuple(fragments))
