"""SVG labels in PDFs are drawn a label at a time, and come out as the same text."""

from __future__ import annotations

import io
import logging

import pytest
from pypdf import PdfReader

from services.reporting import svgtext
from services.reporting.render import render_pdf

SVG = """<!DOCTYPE html><html><body>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 200" width="400" height="200">
<text x="60" y="20" text-anchor="end">Vorige meting</text>
<text transform="translate(100,40) rotate(60)" font-size="9" font-weight="bold"
 >Leidschendam-Voorburg</text>
<text x="200 212 224" y="150">xyz</text>
<text x="300" y="150" letter-spacing="2">gespatieerd</text>
</svg></body></html>"""


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def test_labels_come_out_whole() -> None:
    text = _text(render_pdf(SVG))
    assert svgtext.install()  # render_pdf installed it; installing again changes nothing
    for label in ("Vorige meting", "Leidschendam-Voorburg"):
        assert label in text
    # Per-letter positions and spacing still go through WeasyPrint's own renderer.
    for letter in "xyz":
        assert letter in text
    assert "g" in text


def test_per_letter_attributes_are_left_to_weasyprint() -> None:
    class Node:
        def __init__(self, text: str, **attrib: str) -> None:
            self.text, self.attrib = text, attrib

    from weasyprint.svg.utils import normalize

    assert svgtext._simple(Node("5,73", x="28.0", y="199.0"), normalize)
    assert svgtext._simple(Node("Katwijk", transform="rotate(60)"), normalize)
    assert not svgtext._simple(Node("xyz", x="1 2 3"), normalize)
    assert not svgtext._simple(Node("xyz", x="1,2"), normalize)
    for name in svgtext.PER_LETTER:
        assert not svgtext._simple(Node("xyz", **{name: "1"}), normalize)
    assert not svgtext._simple(Node(""), normalize)
    assert not svgtext._simple(Node("a\nb"), normalize)


def test_another_weasyprint_is_left_alone_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import weasyprint

    monkeypatch.setattr(svgtext, "_installed", False)
    monkeypatch.setattr(svgtext, "_refused", False)
    monkeypatch.setattr(weasyprint, "__version__", "71.0")
    with caplog.at_level(logging.WARNING, logger=svgtext.__name__):
        assert not svgtext.install()
        assert not svgtext.install()
    assert [r.getMessage() for r in caplog.records] == [
        "WeasyPrint 71.0, not 70.0: SVG chart labels are drawn letter by letter (slower PDFs) "
        "until services/reporting/svgtext.py is checked against it"
    ]
