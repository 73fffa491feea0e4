"""Pure analysis of the mystery mailer's mail (issue 6): no IMAP, no Kafka, no SQL.

The modules, in the order a message passes through them:

- `message` — raw RFC 5322 bytes → `ParsedMail` (or `Quarantined`), never raising;
- `classify` — reply, auto-reply or bounce, with the evidence;
- `reply` — the new text of a reply, without quoted history and signature;
- `threading` — which sent mystery mail a message answers (`Match` or `Unmatched`);
- `checks` — content checks on a reply: salutation, leaked internal forward, spelling
  (hunspell-nl), jargon, the address question;
- `analyze` — all of the above as one `MailAnalysis`, its mail events and its JSON.

Adapters (IMAP, Maildir, the holding pen) live elsewhere and only call `analyze`.
"""

from services.ingest.mail.analyze import (
    AnalysisOptions,
    Bounce,
    MailAnalysis,
    analysis_json,
    analyze,
    to_events,
)
from services.ingest.mail.classify import Classification, ClassificationResult, classify
from services.ingest.mail.message import Address, ParsedMail, ParseOptions, Quarantined, parse
from services.ingest.mail.threading import Match, SentMail, Unmatched, match_sent

__all__ = [
    "Address",
    "AnalysisOptions",
    "Bounce",
    "Classification",
    "ClassificationResult",
    "MailAnalysis",
    "Match",
    "ParseOptions",
    "ParsedMail",
    "Quarantined",
    "SentMail",
    "Unmatched",
    "analysis_json",
    "analyze",
    "classify",
    "match_sent",
    "parse",
    "to_events",
]
