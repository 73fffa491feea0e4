"""reply.py: the reply's own text, without quoted history and signature."""

from __future__ import annotations

import pytest

from services.ingest.mail.reply import parse_header, strip_reply

ORIGINAL = "Geachte heer/mevrouw,\n\nMag ik een kraam op de markt zetten?\n\nJan de Vries\n"


@pytest.mark.parametrize(
    "separator",
    [
        "Van: Jan de Vries <mysterie@meetlat-onderzoek.nl>\nVerzonden: maandag 2 februari 2026"
        " 09:14\nAan: info@houten.nl\nOnderwerp: Vraag",
        "-----Oorspronkelijk bericht-----\nVan: Jan de Vries <mysterie@meetlat-onderzoek.nl>\n"
        "Verzonden: maandag 2 februari 2026 09:14\nAan: info@houten.nl\nOnderwerp: Vraag",
        "----- Origineel bericht -----\nVan: Jan de Vries <mysterie@meetlat-onderzoek.nl>\n"
        "Datum: 2 februari 2026\nAan: info@houten.nl",
        "---------- Doorgestuurd bericht ---------\nVan: Jan de Vries <mysterie@x.nl>\n"
        "Datum: ma 2 feb 2026 om 09:14\nOnderwerp: Vraag\nAan: <info@houten.nl>",
        "Op ma 2 feb 2026 om 09:14 schreef Jan de Vries <mysterie@meetlat-onderzoek.nl>:",
        "Op ma 2 feb 2026 om 09:14 schreef Jan de Vries <\nmysterie@meetlat-onderzoek.nl>:",
        "Op 2 feb. 2026, om 09:14 heeft Jan de Vries <mysterie@x.nl> het volgende geschreven:",
        "Op 2 februari 2026 schreef Jan de Vries:",
        "On Mon, Feb 2, 2026 at 9:14 AM Jan de Vries <mysterie@meetlat-onderzoek.nl> wrote:",
        "From: Jan de Vries <mysterie@meetlat-onderzoek.nl>\nSent: Monday, February 2, 2026"
        " 9:14 AM\nTo: info@houten.nl\nSubject: Vraag",
        "-----Original Message-----\nFrom: Jan de Vries\nSent: Monday\nTo: info@houten.nl",
        "Begin doorgestuurd bericht:\nVan: Jan de Vries <mysterie@x.nl>\nOnderwerp: Vraag",
    ],
)
def test_history_is_cut_at_every_known_header(separator: str) -> None:
    text = f"Beste Jan,\n\nDat mag, met een vergunning.\n\n{separator}\n\n{ORIGINAL}"
    reply = strip_reply(text)
    assert reply.body == "Beste Jan,\n\nDat mag, met een vergunning."
    assert "Mag ik een kraam" in reply.quoted
    assert len(reply.fragments) >= 2 and reply.fragments[0].header is None


@pytest.mark.parametrize(
    "closing",
    [
        "Met vriendelijke groet,\nAns Bakker",
        "Met vriendelijke groeten,\n\nAns",
        "Vriendelijke groet,\nAns",
        "Met hartelijke groet,\nAns",
        "Hartelijke groet,\nAns",
        "Groet,\nAns",
        "Groeten\nAns",
        "Mvg,\nAns",
        "M.v.g.\nAns",
        "Hoogachtend,\n\nde burgemeester",
        "Met collegiale groet,\nAns",
        "Verstuurd vanaf mijn iPhone",
        "--\nAns Bakker | Gemeente Houten",
    ],
)
def test_signatures_are_removed(closing: str) -> None:
    reply = strip_reply(f"Geachte heer De Vries,\n\nDat kan.\n\n{closing}\n")
    assert reply.body == "Geachte heer De Vries,\n\nDat kan."
    assert reply.signature


def test_hyphen_lists_are_kept() -> None:
    text = "Geachte heer,\n\nU heeft nodig:\n- een vergunning\n- een tekening\n\nGroet,\nAns\n"
    assert (
        strip_reply(text).body
        == "Geachte heer,\n\nU heeft nodig:\n- een vergunning\n- een tekening"
    )


def test_quoted_lines_move_to_the_history() -> None:
    text = "> Mag ik een kraam?\nJa, dat mag.\n> En een terras?\nOok dat.\n"
    reply = strip_reply(text)
    assert reply.body == "Ja, dat mag.\nOok dat."
    assert "> Mag ik een kraam?" in reply.quoted and "> En een terras?" in reply.quoted


def test_a_bare_forward_has_no_own_text() -> None:
    reply = strip_reply("-----Oorspronkelijk bericht-----\nVan: a@x.nl\nAan: b@y.nl\n\ntekst\n")
    assert reply.body == ""
    assert reply.fragments[1].header is not None and reply.fragments[1].text == "tekst"


def test_internal_forward_fragments_carry_who_wrote_to_whom() -> None:
    text = (
        "Geachte heer De Vries,\n\nHet antwoord.\n\n"
        "Van: Piet Jansen\nVerzonden: maandag 2 februari 2026 14:03\nAan: Sandra Koster\n"
        "Onderwerp: FW: vraag\n\nKun jij dit oppakken?\n\n"
        "Van: Jan de Vries <mysterie@meetlat-onderzoek.nl>\nVerzonden: maandag\n"
        "Aan: info@stichtsevecht.nl\nOnderwerp: vraag\n\nDe vraag.\n"
    )
    reply = strip_reply(text)
    first, second = (f.header for f in reply.fragments[1:])
    assert first is not None and second is not None
    assert (first.senders, first.recipients, first.subject) == (
        ("Piet Jansen",),
        ("Sandra Koster",),
        "FW: vraag",
    )
    assert reply.fragments[1].text.startswith("Kun jij dit oppakken?")
    assert second.addresses("senders") == ("mysterie@meetlat-onderzoek.nl",)
    assert second.addresses("recipients") == ("info@stichtsevecht.nl",)


def test_parse_header_forms() -> None:
    outlook = parse_header("Van: Bakker, Ans <a@houten.nl>\nAan: Piet <p@houten.nl>; k@houten.nl")
    assert outlook.kind == "fields"
    assert outlook.senders == ("Bakker, Ans <a@houten.nl>",)
    assert outlook.recipients == ("Piet <p@houten.nl>", "k@houten.nl")
    wrote = parse_header("Op ma 2 feb 2026 om 09:14 schreef Jan de Vries <jan@x.nl>:")
    assert wrote.kind == "wrote" and wrote.addresses("senders") == ("jan@x.nl",)
    assert parse_header("-----Original Message-----").kind == "separator"


def test_absurd_lines_do_not_hang_the_splitter() -> None:
    text = "Op " + "maandag schreef " * 5000 + "\n" + "Disclaimer: " + "x " * 20_000
    reply = strip_reply(text)
    assert reply.body or reply.quoted


def test_no_history_no_signature() -> None:
    reply = strip_reply("Dat kan.")
    assert (reply.body, reply.signature, reply.quoted) == ("Dat kan.", "", "")
    assert len(reply.fragments) == 1
