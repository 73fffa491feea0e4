"""No names: call reports and mails that name staff, with phone numbers and e-mail addresses,
are de-identified (deduce) before they are kept, and none of it reaches any output — HTML,
PDF text, CSV or JSON (the API is checked in tests/integration/test_api.py). A hostile mail
body renders inert."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys

import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader

from schemas.events import CallAssessed, Event, MailAssessed, MailReplied
from schemas.reference import ReferenceData
from services.reporting.contacts import contact_texts
from services.reporting.deidentify import Deidentifier, default_deidentifier

from .conftest import Fixture, build, two_waves
from .corpus import CALL_REPORTS, HOSTILE_BODY, MAIL_BODIES, PERSONAS_KEPT, REVIEWS, SECRETS


@pytest.fixture(scope="session")
def deidentifier() -> Deidentifier:
    return default_deidentifier()


def with_texts(events: list[Event], code: str, bodies: tuple[str, ...]) -> list[Event]:
    """The events, with the texts of `code`'s contacts replaced by the given corpus."""
    calls, mails, reviews = (
        itertools.cycle(CALL_REPORTS),
        itertools.cycle(bodies),
        itertools.cycle(REVIEWS),
    )
    out: list[Event] = []
    for e in events:
        if e.municipality == code and isinstance(e, CallAssessed):
            e = e.model_copy(update={"report": next(calls)})
        elif e.municipality == code and isinstance(e, MailReplied):
            e = e.model_copy(update={"body": next(mails)})
        elif e.municipality == code and isinstance(e, MailAssessed):
            e = e.model_copy(update={"review": next(reviews)})
        out.append(e)
    return out


@pytest.fixture(scope="session")
def named(deidentifier: Deidentifier) -> tuple[Fixture, str]:
    reference = ReferenceData.load()
    events = two_waves(8, 3, reference)
    code = sorted({e.municipality for e in events if e.wave == 2})[0]
    events = with_texts(events, code, MAIL_BODIES)
    return build(events, reference, contact_texts(events, deidentifier)), code


def test_corpus_is_deidentified(deidentifier: Deidentifier) -> None:
    for text in (*CALL_REPORTS, *MAIL_BODIES, *REVIEWS):
        for case in ("standplaatsvergunning", "terrasvergunning", "unknown-case"):
            out = deidentifier(text, case)
            assert [s for s in SECRETS if s in out] == []
            assert "[PERSOON-1]" in out
    assert "[TELEFOONNUMMER-1]" in deidentifier(CALL_REPORTS[2], "")
    assert "[EMAILADRES-1]" in deidentifier(MAIL_BODIES[2], "")


def test_persona_of_the_case_may_stay(deidentifier: Deidentifier) -> None:
    assert "Geachte heer Visser," in deidentifier(MAIL_BODIES[0], "standplaatsvergunning")
    assert "Geachte mevrouw Kok," in deidentifier(MAIL_BODIES[2], "terrasvergunning")
    # …but only in its own case: elsewhere it is a name like any other
    assert "Visser" not in deidentifier(MAIL_BODIES[0], "terrasvergunning")
    assert PERSONAS_KEPT


def test_case_texts_stay(deidentifier: Deidentifier) -> None:
    text = (
        "Vriendelijk ontvangen door de medewerker van het KCC. De vraag ging over een "
        "standplaats tegenover de HEMA in Utrecht; zie www.omgevingsloket.nl of bel 14 030."
    )
    assert deidentifier(text, "standplaatsvergunning") == text


def test_no_name_in_any_output(named: tuple[Fixture, str]) -> None:
    fx, code = named
    reports = fx.reports
    # all three report kinds in every format the municipality's texts could reach
    chamber = fx.reference.chamber_of[code]
    outputs: dict[str, str] = {}
    for kind, scope in (("municipality", code), ("chamber", chamber), ("national", "NL")):
        for fmt in ("html", "csv", "json"):
            outputs[f"{kind}.{fmt}"] = reports.render(kind, scope, fmt).decode()  # type: ignore[arg-type]
    pdf = reports.render("municipality", code, "pdf")  # type: ignore[arg-type]
    outputs["municipality.pdf"] = "\n".join(
        page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages
    )
    for name, text in outputs.items():
        leaked = [s for s in SECRETS if s.lower() in text.lower()]
        assert leaked == [], f"{name} leaks {leaked}"
    # the texts are there, de-identified
    for name in ("municipality.html", "municipality.json", "municipality.pdf"):
        assert "[PERSOON-1]" in outputs[name], name
        assert "[TELEFOONNUMMER-1]" in outputs[name], name


def test_hostile_mail_renders_inert(campaign: Fixture) -> None:
    code = campaign.reports.municipalities()[0][0]
    events = with_texts(campaign.events, code, (HOSTILE_BODY,))
    fx = build(events, campaign.reference, contact_texts(events, lambda text, case: text))
    html = fx.reports.render("municipality", code, "html").decode()
    page = BeautifulSoup(html, "html.parser")
    assert page.find_all(["script", "iframe", "img", "object", "embed"]) == []
    for tag in page.find_all(True):
        for attribute, value in tag.attrs.items():
            assert not attribute.lower().startswith("on"), (tag.name, attribute)
            assert "javascript:" not in str(value).lower(), (tag.name, attribute)
    bodies = page.select("section[data-section='7'] .mail-body")
    assert bodies and all('<script>alert("xss")</script>' in b.get_text() for b in bodies)
    assert "&lt;script&gt;" in html and "<script>" not in html
    # the report's own structure survived the closing tags in the mail
    assert page.select_one("section[data-section='7']") is not None
    assert [s["data-section"] for s in page.select("section[data-section]")][-1] == "7"


def test_loading_deduce_leaves_logging_alone() -> None:
    """deduce configures the root logger on import (DEBUG to stdout, which made every PDF
    worker log each font table it wrote); de-identifying a text in a fresh interpreter, where
    deduce is first imported, leaves the configuration as it was."""
    check = (
        "import logging\n"
        "from services.reporting.deidentify import default_deidentifier\n"
        "default_deidentifier()('Gesproken met Jan de Vries.', '')\n"
        "root = logging.getLogger()\n"
        "assert 'deduce' in __import__('sys').modules\n"
        "assert (root.level, root.handlers) == (logging.WARNING, []), (root.level, root.handlers)\n"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
