"""Fuzz: ≥ 10,000 mutated messages through `analyze`; nothing may escape.

A seeded mutator (reproducible: a failure names its seed and case) applies one to four of:
byte flips, truncation, header duplication, random charsets and transfer encodings, broken
boundaries, dropped or shuffled lines, junk and NUL bytes, very long lines, absurd dates,
garbage encoded words, deeply nested multiparts, HTML tag soup and splices of two corpus
mails. Beyond "no exception", every analysis must be clean: no step failed internally
(`internal_errors` lists exceptions the guards caught; those are bugs even though analyze
survives them), the JSON view serialises, and `to_events` gives one outcome.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable

import pytest

from services.ingest.mail import Quarantined, analysis_json, analyze, to_events
from services.ingest.mail.analyze import AnalysisOptions
from services.ingest.mail.message import ParseOptions
from tests.unit.mail.sent import NOW, PERSONA, SENT, corpus_files

SEED = 20260202
CASES = 10_000
CHARSETS = [
    "utf-8",
    "UTF8",
    "iso-8859-1",
    "windows-1252",
    "us-ascii",
    "utf-16",
    "utf-32",
    "utf-7",
    "x-unknown",
    "rot13",
    "base64",
    "zlib",
    "unicode_escape",
    "idna",
    "punycode",
    "",
    '""',
    "koi8-r",
    "gb2312",
    "shift_jis",
    "x-mac-roman",
    "a" * 300,
    "utf-8\x00",
    "\xff",
]
ENCODINGS = ["base64", "quoted-printable", "7bit", "8bit", "binary", "x-uuencode", "garbage", ""]
DATES = [
    "Mon, 2 Feb 2026 10:00:00 +0100",
    "31 Feb 2026 25:61:61 +9999",
    "Tue, 1 Jan 0001 00:00 +0000",
    "Fri, 31 Dec 9999 23:59:59 -1200",
    "99999999999",
    "",
    "gisteren",
    "Mon, 2 Feb 2026 10:00 -0000",
    "Thu, 1 Jan 1970 00:00:00 +0000",
    "Wed, 4 Feb 2099 10:00:00 +0100",
]
HEADER_LINE = re.compile(rb"^[A-Za-z-]+:.*$", re.M)


def _flip(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 40)):
        if buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _duplicate_headers(rng: random.Random, data: bytes) -> bytes:
    lines = HEADER_LINE.findall(data.split(b"\n\n", 1)[0])
    if not lines:
        return data
    extra = b"\n".join(rng.choice(lines) for _ in range(rng.randint(1, 300)))
    return extra + b"\n" + data


def _charset(rng: random.Random, data: bytes) -> bytes:
    cs = rng.choice(CHARSETS).encode("latin-1")
    return re.sub(rb'charset="?[^";\s]*"?', b'charset="' + cs + b'"', data, flags=re.I)


def _encoding(rng: random.Random, data: bytes) -> bytes:
    enc = rng.choice(ENCODINGS).encode()
    return re.sub(rb"(Content-Transfer-Encoding:)[^\r\n]*", rb"\1 " + enc, data, flags=re.I)


def _boundary(rng: random.Random, data: bytes) -> bytes:
    choice = rng.randrange(3)
    if choice == 0:
        return re.sub(rb'boundary="?[^";\s]+"?', b"boundary=", data, flags=re.I)
    if choice == 1:
        return re.sub(rb"\n--[^\r\n]+", b"\n", data, count=rng.randint(1, 3))
    return re.sub(rb'boundary="?([^";\s]+)"?', b'boundary="' + b"-" * 100 + b'"', data)


def _drop_lines(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    keep = [line for line in lines if rng.random() > 0.15]
    if rng.random() < 0.3:
        rng.shuffle(keep)
    return b"\n".join(keep)


def _junk(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    junk = rng.choice(
        [
            bytes(rng.randrange(256) for _ in range(rng.randint(1, 500))),
            b"\x00" * rng.randint(1, 100),
            b"a" * rng.randint(10_000, 60_000),
            b"Van: x\nAan: y\n" * rng.randint(1, 400),
            b"> " * rng.randint(1, 5_000) + b"\n",
            b"Disclaimer: " + b"x " * rng.randint(100, 5_000),
            b"=?utf-8?b?" + b"!" * 50 + b"?=",
            b"-" * rng.randint(2, 2_000) + b"\n",
            "Op maandag schreef é".encode() * rng.randint(1, 300),
        ]
    )
    return data[:at] + junk + data[at:]


def _date(rng: random.Random, data: bytes) -> bytes:
    value = rng.choice(DATES).encode()
    if re.search(rb"^Date:", data, re.M):
        return re.sub(rb"^Date:[^\r\n]*", b"Date: " + value, data, count=1, flags=re.M)
    return b"Date: " + value + b"\n" + data


def _encoded_words(rng: random.Random, data: bytes) -> bytes:
    word = rng.choice(
        [
            b"=?x-foo?q?abc?=",
            b"=?utf-8?b?////?=",
            b"=?utf-8?q?=ZZ=?=",
            b"=??q??=",
            b"=?utf-16?b?AAA=?=",
        ]
    )
    return re.sub(rb"^(Subject|From|To):", rb"\1: " + word, data, count=1, flags=re.M)


def _nest(rng: random.Random, data: bytes) -> bytes:
    depth = rng.randint(5, 70)
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth)
    )
    return b"From: a@b.nl\nSubject: nest\nMIME-Version: 1.0\n" + head + data


def _html(rng: random.Random, data: bytes) -> bytes:
    """Turn the message into an HTML one with tag soup around its text."""
    soup = rng.choice(
        [
            b"<div>" * rng.randint(1, 5_000),
            b"<script>alert(1)" * rng.randint(1, 50),
            b"<!--" + b"-" * rng.randint(1, 1_000),
            b"&" + b"#" * rng.randint(1, 500) + b";",
            b"<table><tr><td>" * rng.randint(1, 500),
            b"<p style='" + b"x" * rng.randint(1, 10_000),
            bytes(rng.randrange(256) for _ in range(200)),
        ]
    )
    data = re.sub(rb"text/plain", b"text/html", data, flags=re.I)
    at = data.find(b"\n\n")
    at = len(data) if at < 0 else at + 2
    return data[:at] + soup + data[at:]


def _splice(rng: random.Random, data: bytes, other: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]


MUTATORS: list[Callable[[random.Random, bytes], bytes]] = [
    _flip,
    _truncate,
    _duplicate_headers,
    _charset,
    _encoding,
    _boundary,
    _drop_lines,
    _junk,
    _date,
    _encoded_words,
    _nest,
    _html,
]


def mutants(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    corpus = [f.read_bytes() for f in corpus_files()]
    out = []
    for _ in range(count):
        data = rng.choice(corpus)
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.08:
                data = _splice(rng, data, rng.choice(corpus))
            else:
                data = rng.choice(MUTATORS)(rng, data)
        out.append(data)
    return out


@pytest.mark.fuzz
def test_fuzz_analyze_never_fails() -> None:
    cases = mutants(SEED, CASES)
    start = time.perf_counter()
    outcomes: dict[str, int] = {}
    for index, raw in enumerate(cases):
        try:
            analysis = analyze(raw, SENT, PERSONA, NOW)
            assert analysis.internal_errors == (), analysis.internal_errors
            json.dumps(analysis_json(analysis))
            outcome = to_events(analysis)
        except Exception as exc:  # pragma: no cover - the failure report
            raise AssertionError(f"seed {SEED} case {index}: {exc!r}\n{raw[:2000]!r}") from exc
        name = type(outcome).__name__
        outcomes[name] = outcomes.get(name, 0) + 1
    elapsed = time.perf_counter() - start
    print(f"\nfuzz: {len(cases)} mutated messages in {elapsed:.1f} s; outcomes {outcomes}")
    assert len(cases) >= 10_000
    assert len(outcomes) >= 4  # replies, auto-replies, bounces, unmatched or quarantined


def test_small_limit_quarantines_instead_of_parsing() -> None:
    options = AnalysisOptions(parse=ParseOptions(max_bytes=100))
    analysis = analyze(corpus_files()[0].read_bytes(), SENT, PERSONA, NOW, options)
    assert isinstance(analysis.quarantined, Quarantined)
    assert analysis.quarantined.reason == "too_large"
    assert to_events(analysis) is analysis.quarantined
