"""Mails analysed per second, read from a Maildir of generated messages.

    python bench/mail.py [--messages 10000]

Builds a Maildir in a temporary directory from the test corpus (each message given a fresh
Message-ID and token, so nothing is cached between copies), then reads every message back with
the stdlib `mailbox` module and runs the full analysis on it. Prints mails/s (issue 6's target:
≥ 1,000/s) and the share of each classification.
"""

from __future__ import annotations

import argparse
import mailbox
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.ingest.mail.analyze import analyze  # noqa: E402 - after the path set-up

CORPUS = ROOT / "tests" / "unit" / "mail" / "corpus"


def build_maildir(directory: Path, count: int) -> mailbox.Maildir:
    box = mailbox.Maildir(directory, create=True)
    originals = [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]
    for number in range(count):
        raw = originals[number % len(originals)]
        unique = f"bench{number:06d}".encode()
        raw = raw.replace(b"Message-ID: <", b"Message-ID: <" + unique + b".", 1)
        box.add(raw.replace(b"MG-", b"MG-" + unique[-4:], 1))
    return box


def main(args: argparse.Namespace) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        box = build_maildir(Path(tmp) / "Maildir", args.messages)
        analyze(b"Subject: warm-up\r\n\r\nDag", [], None, now)  # loads the dictionary once
        kinds: Counter[str] = Counter()
        started = time.perf_counter()
        for key in box.iterkeys():
            analysis = analyze(box.get_bytes(key), [], None, now)
            kinds[str(getattr(analysis, "kind", "?"))] += 1
        elapsed = time.perf_counter() - started
    total = sum(kinds.values())
    shares = ", ".join(f"{kind} {count / total:.0%}" for kind, count in kinds.most_common())
    print(
        f"{total:,} mails from a Maildir analysed in {elapsed:.1f} s = {total / elapsed:,.0f} "
        f"mails/s (target ≥ 1,000); {shares}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    main(parser.parse_args())
