"""Content checks on a reply (its own text, quoted history removed), for the scoring model.

- **Salutation** — correct when it addresses the persona by name ("Geachte heer De Vries",
  "Beste Jan") or uses a proper neutral form ("Geachte heer/mevrouw,"); incorrect for a bare
  greeting ("Beste,", "Hallo,") or a wrong name; None when there is no salutation.
- **Leaked internal forward** — an internal Van:/Aan: block between colleagues left in the
  quoted history (neither side is the persona, every visible address is the municipality's),
  an instruction to a colleague ("Kun jij dit even oppakken?"), or an Exchange auto-forward
  header. Outlook `Thread-Index` hops beyond the reply are recorded as a hint only (they show
  that a forward happened, not that it is visible to the entrepreneur).
- **Spelling errors** — words unknown to a real Dutch dictionary (hunspell-nl, read by
  `spylls`, a pure-Python port of Hunspell). Skipped: URLs, e-mail and web addresses, words
  with digits, words in capitals or with inner capitals (acronyms), capitalised words that do
  not start a sentence or line (names), the persona's name, one-letter words.
- **Jargon** — occurrences of terms from a configurable list (`DEFAULT_JARGON`).
- **Address question** — whether the reply asks for the entrepreneur's address, and whether it
  says why (in the same sentence or the one before or after).
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from services.ingest.mail.message import ParsedMail
from services.ingest.mail.reply import QuotedHeader, StrippedReply
from services.ingest.mail.threading import thread_index_hops

__all__ = [
    "DEFAULT_DICTIONARY",
    "DEFAULT_JARGON",
    "AddressCheck",
    "ContentChecks",
    "ForwardCheck",
    "JargonCheck",
    "SalutationCheck",
    "Speller",
    "SpellingCheck",
    "address_check",
    "check_reply",
    "forward_check",
    "hunspell_speller",
    "jargon_check",
    "salutation_check",
    "spelling_check",
]

# ------------------------------------------------------------------ salutation

_GREETING = re.compile(
    r"^\s*(geachte|beste|lieve|hallo|hoi|hey|hi|hello|dear|dag|goede(?:n)?(?:morgen|middag"
    r"|avond|dag)|good\s+(?:morning|afternoon|evening))\b[ \t]*(.*)$",
    re.IGNORECASE,
)
_NEUTRAL = re.compile(
    r"^(?:(?:heer|meneer|mevrouw|mr\.?|mrs\.?|sir)\s*(?:/|,|\bof\b|\ben\b|\bor\b)\s*"
    r"(?:heer|meneer|mevrouw|mr\.?|mrs\.?|madam|sir)"
    r"|dames\s+en\s+heren|heren\s+en\s+dames|sir\s+or\s+madam|sir/madam|ondernemer"
    r"|aanvrager|relatie|klant|inwoner)\s*[,.!:]?\s*$",
    re.IGNORECASE,
)
_TITLES = {
    "heer": "m",
    "meneer": "m",
    "dhr": "m",
    "mr": "m",
    "mevrouw": "f",
    "mevr": "f",
    "mw": "f",
    "mrs": "f",
    "ms": "f",
}
_PARTICLES = frozenset(
    {"van", "de", "der", "den", "het", "'t", "ten", "ter", "te", "in", "op", "von", "la", "le"}
)


@dataclass(frozen=True)
class SalutationCheck:
    correct: bool | None
    line: str | None
    reason: str


@dataclass(frozen=True)
class _Persona:
    gender: str | None  # "m" / "f" when the persona string says ("de heer Jan de Vries")
    words: frozenset[str]  # lower-case name words without particles

    @classmethod
    def parse(cls, persona: str | None) -> _Persona | None:
        if not persona or not persona.strip():
            return None
        tokens = [t.strip(".,") for t in persona.split() if t.strip(".,")]
        gender = None
        while tokens and tokens[0].lower() in ("de", *_TITLES):
            word = tokens.pop(0).lower()
            gender = _TITLES.get(word, gender)
        names = [t for t in tokens if t.lower() not in _PARTICLES]
        if not names:
            return None
        return cls(gender, frozenset(n.lower() for n in names))


def _name_tokens(rest: str) -> tuple[str | None, list[str]]:
    """(title gender, name tokens) from what follows a greeting word."""
    head = re.split(r"[,!:;]|\s[-–]\s", rest, maxsplit=1)
    segment = head[0].strip()
    tokens = [t for t in re.split(r"[\s/]+", segment) if t]
    # "beste jan de vries," — a short segment closed by punctuation is all name; otherwise
    # ("Beste Jan bedankt voor uw vraag") the name is the capitalised words up front
    ended = len(head) > 1 or len(tokens) <= 4
    gender = None
    out: list[str] = []
    for index, token in enumerate(tokens[:8]):
        bare = token.strip(".").lower()
        if index == len(out) and not out and bare in _TITLES:
            gender = _TITLES[bare]
            continue
        if bare in _PARTICLES or re.fullmatch(r"[A-Z]\.?", token) or token[:1].isupper() or ended:
            out.append(token)
            continue
        break
    return gender, out[:5]


def salutation_check(body: str, persona: str | None) -> SalutationCheck:
    lines = [line.strip() for line in body.splitlines() if line.strip()][:6]
    who = _Persona.parse(persona)
    for line in lines:
        found = _GREETING.match(line)
        if not found:
            continue
        greeting, rest = found.group(1), found.group(2).strip()
        head = rest.split(",", 2)
        candidate = ",".join(head[:2]) if len(head) > 1 else rest
        if _NEUTRAL.match(rest) or _NEUTRAL.match(candidate) or _NEUTRAL.match(head[0]):
            return SalutationCheck(True, line, "neutral form")
        gender, names = _name_tokens(rest)
        words = [n.strip(".").lower() for n in names if n.strip(".").lower() not in _PARTICLES]
        if not words:
            if gender is not None:
                if who is not None and who.gender is not None and who.gender != gender:
                    return SalutationCheck(False, line, "wrong form of address (heer/mevrouw)")
                return SalutationCheck(True, line, "formal title without name")
            return SalutationCheck(False, line, f"{greeting!r} without a name")
        if who is None:
            return SalutationCheck(True, line, "addressed by name (persona unknown, not verified)")
        if who.gender is not None and gender is not None and who.gender != gender:
            return SalutationCheck(False, line, "wrong form of address (heer/mevrouw)")
        known = who.words
        initials = {w[0] for w in known}
        fits = all(w in known or (len(w) == 1 and w in initials) for w in words)
        if fits and any(len(w) > 1 for w in words):
            return SalutationCheck(True, line, "addressed by name")
        return SalutationCheck(False, line, f"wrong name {' '.join(names)!r}")
    return SalutationCheck(None, None, "no salutation found")


# ------------------------------------------------------------------ internal forward

_INSTRUCTIONS = re.compile(
    r"\b(?:kun|kan|wil|zou|mag)\s+(?:jij|je)\b[^.?!\n]{0,60}?\b(?:oppakken|afhandelen"
    r"|beantwoorden|behandelen|doorzetten|uitzoeken|overnemen|naar\s+kijken|regelen"
    r"|nakijken)\b"
    r"|\b(?:kun|kan|wil|zou)\s+(?:jij|je)\s+(?:hem|haar|meneer|mevrouw|deze\s+(?:meneer|mevrouw"
    r"|klant|ondernemer|persoon))\s+(?:even\s+)?(?:terugbellen|bellen|mailen|antwoorden"
    r"|te\s+woord\s+staan)\b"
    r"|\b(?:pak|handel|zet|neem)\s+(?:jij|je)\b[^.?!\n]{0,40}?\b(?:op|af|door|over)\b"
    r"|\bis\s+dit\s+(?:iets\s+)?voor\s+(?:jou|jullie)\b"
    r"|\bter\s+(?:afhandeling|beantwoording|behandeling|actie)\b"
    r"|\bgraag\s+(?:even\s+)?(?:oppakken|afhandelen|beantwoorden|behandelen|terugbellen)\b"
    r"|\bwie\s+(?:kan|pakt|wil)\s+(?:dit|deze)\b"
    r"|\bzie\s+onderstaande?\s+(?:vraag|mail|e-mail|bericht)\b"
    r"|\bfyi\b"
    r"|\bcan\s+you\s+(?:please\s+)?(?:handle|pick\s+up|answer|take\s+care\s+of|look\s+into)\b",
    re.IGNORECASE,
)
_AUTO_FORWARD_HEADERS = ("x-ms-exchange-organization-autoforwarded",)


@dataclass(frozen=True)
class ForwardCheck:
    leaked: bool
    evidence: tuple[str, ...]
    hints: tuple[str, ...] = ()


def _persona_in(
    header: QuotedHeader, which: str, persona_addrs: set[str], who: _Persona | None
) -> bool:
    values = header.senders if which == "senders" else header.recipients
    for value in values:
        lowered = value.lower()
        if any(a in lowered for a in persona_addrs):
            return True
        if who is not None:
            words = {w.strip("<>\"',.").lower() for w in value.split()}
            if who.words and who.words <= words:
                return True
    return False


def _domains(values: Iterable[str]) -> set[str]:
    return {a.rpartition("@")[2].lower() for v in values for a in re.findall(r"\S+@[\w.-]+", v)}


def _in_org(domain: str, org: set[str]) -> bool:
    return any(domain == d or domain.endswith("." + d) or d.endswith("." + domain) for d in org)


def forward_check(
    mail: ParsedMail,
    reply: StrippedReply,
    persona: str | None,
    municipal_domains: Iterable[str] = (),
) -> ForwardCheck:
    evidence: list[str] = []
    hints: list[str] = []
    who = _Persona.parse(persona)
    org = {d.lower() for d in municipal_domains if d}
    if mail.sender and mail.sender.domain:
        org.add(mail.sender.domain)
    persona_addrs = {a.address.lower() for a in mail.to_addresses if not _in_org(a.domain, org)} | {
        a.local.lower().split("+")[0] + "@" for a in mail.to_addresses if "+" in a.local
    }
    persona_addrs.discard("")
    for index, fragment in enumerate(reply.fragments[1:], start=1):
        header = fragment.header
        if header is None or header.kind != "fields" or not header.senders:
            continue
        if _persona_in(header, "senders", persona_addrs, who):
            continue
        if not header.recipients or _persona_in(header, "recipients", persona_addrs, who):
            continue
        outside = {
            d for d in _domains((*header.senders, *header.recipients)) if not _in_org(d, org)
        }
        if outside:
            continue
        evidence.append(
            f"internal message in the history (quoted mail {index}: "
            f"{len(header.senders)} sender(s) to {len(header.recipients)} colleague(s))"
        )
    texts = [("the reply", reply.body)]
    for index, fragment in enumerate(reply.fragments[1:], start=1):
        header = fragment.header
        if header is not None and not _persona_in(header, "senders", persona_addrs, who):
            texts.append((f"quoted mail {index}", fragment.text))
    for where, text in texts:
        found = _INSTRUCTIONS.search(text[:50_000])
        if found:
            evidence.append(f"instruction to a colleague in {where}: {found.group(0)[:60]!r}")
    for name in _AUTO_FORWARD_HEADERS:
        if any(v.strip().lower() in ("true", "yes", "1") for v in mail.headers.get(name, ())):
            evidence.append(f"auto-forwarded (header {name})")
    hops = thread_index_hops(mail.thread_index)
    if hops is not None and hops >= 2:
        hints.append(f"Thread-Index records {hops} hops after the conversation root")
    return ForwardCheck(bool(evidence), tuple(evidence), tuple(hints))


# ------------------------------------------------------------------ spelling

DEFAULT_DICTIONARY = Path("/usr/share/hunspell/nl_NL")


class Speller(Protocol):
    def known(self, word: str) -> bool: ...


class _SpyllsSpeller:
    def __init__(self, path: Path) -> None:
        from spylls.hunspell import Dictionary  # type: ignore[import-untyped]

        with warnings.catch_warnings():  # spylls reopens the .aff without closing the first
            warnings.simplefilter("ignore", ResourceWarning)
            self._dictionary = Dictionary.from_files(str(path))
        self.known = lru_cache(maxsize=200_000)(self._lookup)

    def _lookup(self, word: str) -> bool:
        try:
            return bool(self._dictionary.lookup(word))
        except Exception:  # a dictionary edge case must not stop the analysis
            return True


_SPELLERS: dict[Path, Speller | None] = {}
_SPELLERS_LOCK = threading.Lock()


def hunspell_speller(path: Path | str = DEFAULT_DICTIONARY) -> Speller | None:
    """The Hunspell dictionary at `path` (without .aff/.dic), loaded once; None when the
    files are missing (Debian: `apt-get install hunspell-nl`)."""
    key = Path(path)
    with _SPELLERS_LOCK:
        if key not in _SPELLERS:
            if key.with_suffix(".aff").is_file() and key.with_suffix(".dic").is_file():
                speller: Speller | None = _SpyllsSpeller(key)
            else:
                speller = None
            _SPELLERS[key] = speller
        return _SPELLERS[key]


@dataclass(frozen=True)
class SpellingCheck:
    errors: int | None  # None: no dictionary
    misspelled: tuple[str, ...]  # distinct, in order of appearance
    checked: int


_CHUNK = re.compile(r"\S+")
_ENDS_SENTENCE = re.compile(r"[.!?:;•][)\"'”’]*$")
_SKIP_CHUNK = re.compile(
    r"://|^www\.|@|\d|\.(?:nl|com|org|net|eu|be|info|nu|gov|de)\b", re.IGNORECASE
)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+|-[^\W\d_]+)*(?:['’]s\b)?")
_BREAK = re.compile(r"[.!?:;\n•]")  # between two words: the second starts a sentence or line
_MAX_WORDS = 2_000  # words checked per reply; a reply is far shorter
_MAX_WORD = 60  # longer is no Dutch word (and would cost the compound search dearly)
_DUTCH_LETTERS = re.compile(r"[a-zA-ZÀ-ÖØ-öø-ÿ'-]+")


def _needs_check(word: str, starts_sentence: bool) -> bool:
    letters = [c for c in word if c.isalpha()]
    if len(letters) < 2:
        return False
    if sum(c.isupper() for c in letters[1:]) > 0:  # acronyms, inner capitals (KvK, iPhone)
        return False
    return not (word[0].isupper() and not starts_sentence)  # a name in mid-sentence


def spelling_check(
    body: str,
    persona: str | None = None,
    speller: Speller | None = None,
    ignore: Iterable[str] = (),
) -> SpellingCheck:
    if speller is None:
        return SpellingCheck(None, (), 0)
    skip_words = {w.lower() for w in ignore}
    if persona:
        skip_words |= {w.strip(".,").lower() for w in persona.split()}
    text = body.replace("’", "'")
    misspelled: list[str] = []
    errors = checked = 0
    previous_end = 0
    ended = True  # the previous chunk ended a sentence (or there was none)
    for chunk in _CHUNK.finditer(text):  # whitespace-separated, so no pattern sees a long run
        if checked >= _MAX_WORDS:
            break
        starts = ended or "\n" in text[previous_end : chunk.start()]
        previous_end = chunk.end()
        piece = chunk.group(0)
        if _SKIP_CHUNK.search(piece):  # URLs, e-mail and web addresses, numbers, codes
            continue
        inner_end = 0
        for found in _WORD.finditer(piece):
            word = found.group(0).strip("'-")
            first = bool(_BREAK.search(piece, inner_end, found.start())) if inner_end else starts
            inner_end = found.end()
            if not word or word.lower() in skip_words or not _needs_check(word, first):
                continue
            if not _DUTCH_LETTERS.fullmatch(word):  # another script: not for this dictionary
                continue
            checked += 1
            if len(word) <= _MAX_WORD and _known(speller, word):
                continue
            errors += 1
            if word not in misspelled:
                misspelled.append(word[:_MAX_WORD])
        ended = bool(_ENDS_SENTENCE.search(piece))
    return SpellingCheck(errors, tuple(misspelled), checked)


def _known(speller: Speller, word: str) -> bool:
    if speller.known(word):
        return True
    if word[:1].isupper() and speller.known(word.lower()):
        return True
    if "-" in word:  # a hyphenated compound the dictionary lacks: its parts
        parts = [p for p in word.split("-") if p]
        return bool(parts) and all(speller.known(p) or speller.known(p.lower()) for p in parts)
    return False


# ------------------------------------------------------------------ jargon

# A starting list of Dutch municipal jargon: legal and administrative terms an entrepreneur
# does not use himself (KvK 2016: "er wordt weinig jargon gebruikt in de e-mails"). Matched
# case-insensitively as whole words, with the inflections -e, -en, -s. Configure per campaign.
DEFAULT_JARGON: tuple[str, ...] = (
    "conform",
    "vigerend",
    "ex artikel",
    "ex art.",
    "bestemmingsplanwijziging",
    "zienswijze",
    "ontheffing",
    "APV",
    "Wabo",
    "Awb",
    "BOA",
    "ambtshalve",
    "onderhavig",
    "bevoegd gezag",
    "bestuursorgaan",
    "rechtsmiddel",
    "handhavingsverzoek",
    "planologisch",
    "kruimelgeval",
    "Bibob",
    "leges",
    "inzake",
    "middels",
    "teneinde",
    "alsmede",
    "derhalve",
    "voornoemd",
    "d.d.",
    "c.q.",
)


@dataclass(frozen=True)
class JargonCheck:
    count: int  # occurrences
    terms: tuple[str, ...]  # distinct terms found, as listed


@lru_cache(maxsize=32)
def _jargon_patterns(terms: tuple[str, ...]) -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    """Per term: its first word case-folded (a cheap necessary condition) and its pattern."""
    out = []
    for term in terms:
        core = r"\s+".join(re.escape(part) for part in term.split())
        suffix = "" if term.endswith(".") else r"(?:e|en|s)?"
        pattern = re.compile(rf"(?<![\w.]){core}{suffix}(?![\w])", re.IGNORECASE)
        out.append((term, (term.split() or [""])[0].casefold(), pattern))
    return tuple(out)


def jargon_check(body: str, terms: Sequence[str] = DEFAULT_JARGON) -> JargonCheck:
    count = 0
    found: list[str] = []
    text = body[:200_000]
    folded = text.casefold()
    for term, first, pattern in _jargon_patterns(tuple(terms)):
        if first not in folded:  # the pattern cannot match (most terms, most replies)
            continue
        hits = len(pattern.findall(text))
        if hits:
            count += hits
            found.append(term)
    return JargonCheck(count, tuple(found))


# ------------------------------------------------------------------ address question

_NOUN = (
    r"\b(?:(?:bezoek|vestigings|post|woon|bedrijfs|locatie|straat|huis)?adres(?:sen|gegevens)?"
    r"|postcode(?:\s+en\s+(?:het\s+)?huisnummer)?|huisnummer)\b"
)
_PLACES = (
    r"(?:locatie|pand|kraam|standplaats|terras|onderneming|bedrijf|winkel|zaak|evenement"
    r"|lunchroom|kapsalon|praktijk|woning|plek|perceel)"
)
# The entrepreneur's address: "uw adres", "het adres van uw lunchroom", "op welk adres"…
_ADDRESS_REF = re.compile(
    r"\b(?:uw|jouw|je)\s+(?:[\w-]+\s+){0,2}?"
    + _NOUN
    + r"|\b(?:het|de|een)\s+"
    + _NOUN
    + r"\s+(?:van\s+(?:uw|je|jouw)\b|van\s+(?:de|het)\s+"
    + _PLACES
    + r"|waar(?:op|in)?\s+(?:u|je)\b)"
    r"|\b(?:welk|welke|wat\s+is\s+het|om\s+welk|op\s+welk)\s+(?:[\w-]+\s+)?" + _NOUN,
    re.IGNORECASE,
)
# …asked for: a question, a polite request, a need.
_REQUEST_CUE = re.compile(
    r"\?|\b(?:kunt|kan|wilt|wil|zou|zoudt)\s+u\b|\bgraag\b|\bnodig\b|\bdoorgeven\b"
    r"|\bdoorsturen\b|\bvermelden\b|\bsturen\b|\bmailen\b|\blaten\s+weten\b"
    r"|\bontvangen\s+(?:wij|we|ik)\b|\bverzoek\b|\bvragen\s+(?:wij|we|ik)\b|\bvraag\s+ik\b"
    r"|\bopgeven\b|\bnoemen\b|\bgeef\b|\bstuur\b",
    re.IGNORECASE,
)
_OWN_ADDRESS = re.compile(r"\b(?:ons|onze|het\s+gemeentelijke?)\s+\w*adres", re.IGNORECASE)
_WHY = re.compile(
    r"\b(?:zodat|omdat|want|aangezien|vanwege|waardoor|waarmee|hiermee|daarmee|daardoor)\b"
    r"|\bom\s+(?:[\w-]+\s+){0,5}?(?:te|na\s+te)\b"
    r"|\bnodig\s+(?:om|voor)\b"
    r"|\bin\s+verband\s+met\b|\bi\.v\.m\.|\bdan\s+(?:kan|kunnen|weet|weten)\b"
    r"|\breden\b|\bbelangrijk\s+(?:om|omdat|voor)\b|\bhangt\s+af\s+van\b|\bafhankelijk\s+van\b",
    re.IGNORECASE,
)
_SENTENCES = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")


@dataclass(frozen=True)
class AddressCheck:
    requested: bool
    explained: bool | None  # None when no address was asked
    sentence: str | None


def address_check(body: str) -> AddressCheck:
    sentences = [s.strip() for s in _SENTENCES.findall(body[:100_000]) if s.strip()]
    for index, sentence in enumerate(sentences):
        if not (_ADDRESS_REF.search(sentence) and _REQUEST_CUE.search(sentence)):
            continue
        if _OWN_ADDRESS.search(sentence) and not re.search(r"\b(?:uw|jouw|je)\b", sentence):
            continue
        window = sentences[max(0, index - 1) : index + 2]
        explained = any(_WHY.search(s) for s in window)
        return AddressCheck(True, explained, sentence[:300])
    return AddressCheck(False, None, None)


# ------------------------------------------------------------------ all checks


@dataclass(frozen=True)
class ContentChecks:
    salutation: SalutationCheck
    forward: ForwardCheck
    spelling: SpellingCheck
    jargon: JargonCheck
    address: AddressCheck


def check_reply(
    mail: ParsedMail,
    reply: StrippedReply,
    persona: str | None,
    *,
    municipal_domains: Iterable[str] = (),
    speller: Speller | None = None,
    jargon: Sequence[str] = DEFAULT_JARGON,
) -> ContentChecks:
    return ContentChecks(
        salutation=salutation_check(reply.body, persona),
        forward=forward_check(mail, reply, persona, municipal_domains),
        spelling=spelling_check(reply.body, persona, speller),
        jargon=jargon_check(reply.body, jargon),
        address=address_check(reply.body),
    )
