"""The mystery mails the corpus answers: what Meetlat sent, one per municipality and case.

Shared by the corpus test, the unit tests and the fuzz test. The corpus messages were
written against these: tokens, Message-IDs (`<TOKEN.YYYYMMDD@meetlat-onderzoek.nl>`) and, for
Zeist, the Thread-Index of a mail sent from Outlook.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from services.ingest.mail.threading import SentMail

AMS = ZoneInfo("Europe/Amsterdam")
CORPUS = Path(__file__).parent / "corpus"
PERSONA = "Jan de Vries"
NOW = datetime(2026, 2, 10, 12, 0, tzinfo=AMS)  # "fetched at": the reference time
CAMPAIGN = "mg-2026"

# token, domain, case, sent (day, hour, minute in February 2026), CBS code
_SENT = [
    ("MG-7F3A2C", "houten.nl", "standplaatsvergunning", (2, 9, 14), "GM0321"),
    ("MG-1A2B3C", "utrecht.nl", "terrasvergunning", (2, 9, 20), "GM0344"),
    ("MG-4D5E6F", "zeist.nl", "standplaatsvergunning", (2, 9, 30), "GM0355"),
    ("MG-9C8B7A", "amersfoort.nl", "evenementenvergunning", (2, 9, 40), "GM0307"),
    ("MG-2B4D6F", "nieuwegein.nl", "bedrijf aan huis", (2, 9, 50), "GM0356"),
    ("MG-3C5E7A", "debilt.nl", "standplaatsvergunning", (2, 10, 0), "GM0310"),
    ("MG-5E7A9C", "woerden.nl", "terrasvergunning", (2, 10, 10), "GM0632"),
    ("MG-6F8B0D", "woerden.nl", "reclamebord", (3, 10, 10), "GM0632"),
    ("MG-8A0C2E", "veenendaal.nl", "standplaatsvergunning", (2, 10, 20), "GM0345"),
    ("MG-0D2F4B", "ijsselstein.nl", "horeca-exploitatievergunning", (2, 10, 30), "GM0353"),
    ("MG-B1C2D3", "soest.nl", "terrasvergunning", (2, 10, 40), "GM0342"),
    ("MG-C4D5E6", "bunnik.nl", "standplaatsvergunning", (2, 10, 50), "GM0312"),
    ("MG-D7E8F9", "baarn.nl", "evenementenvergunning", (2, 11, 0), "GM0308"),
    ("MG-E1F2A3", "leusden.nl", "bedrijf aan huis", (2, 11, 10), "GM0327"),
    ("MG-F4A5B6", "rhenen.nl", "standplaatsvergunning", (2, 11, 20), "GM0340"),
    ("MG-A7B8C9", "wijkbijduurstede.nl", "terrasvergunning", (2, 11, 30), "GM0352"),
    ("MG-1B3D5F", "lopik.nl", "standplaatsvergunning", (2, 11, 40), "GM0331"),
    ("MG-2C4E6A", "montfoort.nl", "evenementenvergunning", (2, 11, 50), "GM0335"),
    ("MG-3D5F7B", "stichtsevecht.nl", "terrasvergunning", (2, 12, 0), "GM1904"),
    ("MG-4E6A8C", "eemnes.nl", "standplaatsvergunning", (2, 12, 10), "GM0317"),
    ("MG-5F7B9D", "heuvelrug.nl", "standplaatsvergunning", (2, 12, 10), "GM1581"),
    ("MG-6A8C0E", "oudewater.nl", "verbouwing", (2, 12, 20), "GM0589"),
    ("MG-8C0E2A", "derondevenen.nl", "terrasvergunning", (2, 12, 30), "GM0736"),
    ("MG-7B9D1F", "vijfheerenlanden.nl", "bedrijf aan huis", (2, 12, 40), "GM1961"),
    ("MG-9D1F3B", "woudenberg.nl", "terrasvergunning", (2, 12, 50), "GM0351"),
    ("MG-0E2A4C", "renswoude.nl", "standplaatsvergunning", (2, 13, 0), "GM0339"),
    ("MG-1F3B5D", "bunschoten.nl", "standplaatsvergunning", (2, 13, 10), "GM0313"),
    ("MG-2D4F6B", "montfoort.nl", "standplaatsvergunning", (2, 13, 15), "GM0335"),
    ("MG-3E5A7C", "lopik.nl", "bedrijf aan huis", (2, 13, 30), "GM0331"),
]
# The Zeist mail was sent from Outlook: its Thread-Index (the conversation root).
THREAD_INDEX = {"MG-4D5E6F": "AdyUJKGybxwqTos9TF6afxssPU5fYA=="}


def _sent(token: str, domain: str, case: str, when: tuple[int, int, int], cbs: str) -> SentMail:
    day, hour, minute = when
    return SentMail(
        message_id=f"<{token}.202602{day:02d}@meetlat-onderzoek.nl>",
        token=token,
        to_domain=domain,
        case=case,
        sent_at=datetime(2026, 2, day, hour, minute, tzinfo=AMS),
        thread_index=THREAD_INDEX.get(token),
        contact_id=f"mail-{token.lower()}",
        municipality=cbs,
        campaign=CAMPAIGN,
        wave=1,
    )


SENT: tuple[SentMail, ...] = tuple(_sent(*row) for row in _SENT)
BY_TOKEN = {s.token: s for s in SENT}


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.eml"))
