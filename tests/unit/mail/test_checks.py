"""checks.py: salutation, leaked internal forward, spelling (hunspell-nl), jargon, address."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from services.ingest.mail.checks import (
    DEFAULT_JARGON,
    ForwardCheck,
    Speller,
    address_check,
    forward_check,
    hunspell_speller,
    jargon_check,
    salutation_check,
    spelling_check,
)
from services.ingest.mail.reply import strip_reply
from tests.unit.mail.build import parsed, raw_mail

PERSONA = "Jan de Vries"


@pytest.mark.parametrize(
    ("first_line", "persona", "expected"),
    [
        ("Geachte heer De Vries,", PERSONA, True),
        ("Geachte heer de Vries,", PERSONA, True),
        ("Geachte heer J. de Vries,", PERSONA, True),
        ("Geachte heer Jan de Vries,", PERSONA, True),
        ("Geachte mevrouw De Vries,", PERSONA, True),  # gender unknown from the name alone
        ("Beste Jan,", PERSONA, True),
        ("Beste Jan de Vries,", PERSONA, True),
        ("Hoi Jan,", PERSONA, True),
        ("Goedemorgen meneer De Vries,", PERSONA, True),
        ("Dear Mr De Vries,", PERSONA, True),
        ("Beste Jan, bedankt voor uw vraag.", PERSONA, True),
        ("Beste Jan bedankt voor uw vraag over de vergunning.", PERSONA, True),
        ("beste jan de vries,", PERSONA, True),
        ("beste jan", PERSONA, True),
        ("Geachte heer/mevrouw,", PERSONA, True),
        ("Geachte heer, mevrouw,", PERSONA, True),
        ("Geachte mevrouw/heer,", PERSONA, True),
        ("Geachte heer of mevrouw,", PERSONA, True),
        ("Geachte dames en heren,", PERSONA, True),
        ("Geachte heer,", PERSONA, True),
        ("Beste,", PERSONA, False),
        ("Hallo,", PERSONA, False),
        ("Goedemiddag,", PERSONA, False),
        ("Beste heer Jansen,", PERSONA, False),
        ("Hoi Sandra,", PERSONA, False),
        ("Geachte heer Jan Jansen,", PERSONA, False),
        ("Beste Piet,", None, True),  # persona unknown: a name is taken as the right one
        ("Geachte mevrouw De Vries,", "de heer Jan de Vries", False),
        ("Geachte heer De Vries,", "de heer Jan de Vries", True),
    ],
)
def test_salutation(first_line: str, persona: str | None, expected: bool) -> None:
    check = salutation_check(f"{first_line}\n\nDat kan.", persona)
    assert check.correct is expected, check


def test_no_salutation_is_none() -> None:
    check = salutation_check("U kunt de vergunning aanvragen via de website.", PERSONA)
    assert check.correct is None and check.line is None
    # a salutation after a case-system header block is still found
    found = salutation_check(
        "Zaaknummer: Z-1\nOnderwerp: vraag\n\nGeachte heer De Vries,\n", PERSONA
    )
    assert found.correct is True


def _forward(text: str, *headers: tuple[str, str]) -> ForwardCheck:
    mail = parsed(raw_mail(*headers, body=text))
    return forward_check(mail, strip_reply(mail.text), PERSONA, ["houten.nl"])


ORIGINAL = (
    "Van: Jan de Vries <mysterie+MG-7F3A2C@meetlat-onderzoek.nl>\nVerzonden: maandag\n"
    "Aan: info@houten.nl\nOnderwerp: [MG-7F3A2C] vraag\n\nDe vraag.\n"
)


def test_quoted_question_is_not_a_leak() -> None:
    check = _forward(f"Geachte heer De Vries,\n\nDat kan.\n\n{ORIGINAL}")
    assert check.leaked is False and check.evidence == ()


def test_internal_block_is_a_leak() -> None:
    internal = (
        "Van: Piet Jansen <p.jansen@houten.nl>\nVerzonden: maandag\n"
        "Aan: Ans Bakker <a.bakker@houten.nl>\nOnderwerp: FW: vraag\n\nZie hieronder.\n\n"
    )
    check = _forward(f"Geachte heer De Vries,\n\nDat kan.\n\n{internal}{ORIGINAL}")
    assert check.leaked is True
    assert any("internal message" in e for e in check.evidence)


def test_names_only_internal_block_is_a_leak_but_a_block_to_the_persona_is_not() -> None:
    names_only = (
        "Van: Piet Jansen\nVerzonden: maandag\nAan: Ans Bakker\nOnderwerp: FW: vraag\n\nx\n\n"
    )
    assert _forward(f"Dat kan.\n\n{names_only}{ORIGINAL}").leaked is True
    to_persona = (
        "Van: Piet Jansen\nVerzonden: maandag\nAan: Jan de Vries\nOnderwerp: RE: vraag\n\nx\n\n"
    )
    assert _forward(f"Dat kan.\n\n{to_persona}{ORIGINAL}").leaked is False
    outside = (
        "Van: adviseur@odru.nl\nVerzonden: maandag\nAan: p@houten.nl\nOnderwerp: advies\n\nx\n\n"
    )
    assert _forward(f"Dat kan.\n\n{outside}{ORIGINAL}").leaked is False


@pytest.mark.parametrize(
    "instruction",
    [
        "Kun jij dit even oppakken?",
        "Kan je deze vraag beantwoorden?",
        "Wil jij hier even naar kijken?",
        "Pak jij deze op?",
        "Is dit iets voor jou?",
        "Ter afhandeling.",
        "Graag even oppakken.",
        "Wie kan dit beantwoorden?",
        "Kun jij hem even terugbellen?",
        "FYI",
    ],
)
def test_instructions_to_a_colleague(instruction: str) -> None:
    check = _forward(f"Hoi Ans,\n\n{instruction}\n\nPiet\n\n{ORIGINAL}")
    assert check.leaked is True, instruction


@pytest.mark.parametrize(
    "text",
    [
        "Kunt u mij uw adres sturen?",
        "Kun je mij het adres van je lunchroom sturen?",
        "Wil je ons even bellen als je vragen hebt?",
        "Ik kan je helaas niet verder helpen.",
    ],
)
def test_addressing_the_entrepreneur_is_no_instruction(text: str) -> None:
    assert _forward(f"Beste Jan,\n\n{text}\n").leaked is False


def test_exchange_auto_forward_header_and_thread_index_hint() -> None:
    check = _forward("Dat kan.", ("X-MS-Exchange-Organization-AutoForwarded", "true"))
    assert check.leaked is True
    hops = base64.b64encode(bytes(22) + bytes(10)).decode()
    hinted = _forward("Dat kan.", ("Thread-Index", hops))
    assert hinted.leaked is False and hinted.hints


def test_correct_dutch_has_no_errors(speller: Speller) -> None:
    text = (
        "Geachte heer De Vries,\n\nBedankt voor uw vraag over een standplaatsvergunning. "
        "U kunt de aanvraag indienen via www.houten.nl/standplaats of mailen naar "
        "vergunningen@houten.nl. De kosten zijn € 85,- per jaar; bel gerust met 14 030. "
        "Meer informatie vindt u bij het Omgevingsloket en de KvK. Ik hoop u hiermee "
        "voldoende te hebben geïnformeerd. Neem contact op met Ans Bakker van het team."
    )
    check = spelling_check(text, PERSONA, speller)
    assert check.errors == 0, check.misspelled
    assert check.checked > 30


def test_misspellings_are_counted(speller: Speller) -> None:
    check = spelling_check("De aanvraaag is ontvagen. Wij nemen kontact met u op.", None, speller)
    assert check.errors == 3
    assert check.misspelled == ("aanvraaag", "ontvagen", "kontact")


def test_sentence_start_is_checked_mid_sentence_capitals_are_names(speller: Speller) -> None:
    assert spelling_check("Vergunnig aanvragen.", None, speller).errors == 1
    assert spelling_check("Vraag het aan Xyzzyqa.", None, speller).errors == 0
    assert spelling_check("Eerste zin. Vergunnig.", None, speller).errors == 1


def test_persona_and_ignored_words_are_skipped(speller: Speller) -> None:
    assert spelling_check("Beste jan de vriesch,", "Jan de Vriesch", speller).errors == 0
    assert (
        spelling_check(
            "Het omgevingsloketje werkt.", None, speller, ignore=["omgevingsloketje"]
        ).errors
        == 0
    )


def test_absurd_words_are_errors_without_a_lookup(speller: Speller) -> None:
    check = spelling_check("a" * 100_000, None, speller)
    assert check.errors == 1 and len(check.misspelled[0]) == 60


def test_no_dictionary_means_no_count(tmp_path: Path) -> None:
    assert hunspell_speller(tmp_path / "xx_XX") is None
    assert spelling_check("willekeurig tekst", None, None).errors is None


def test_jargon_default_list() -> None:
    text = (
        "Conform de vigerende APV is een ontheffing nodig; belanghebbenden kunnen een "
        "zienswijze indienen. Inzake uw vraag: de Wabo en de Awb zijn vervangen."
    )
    check = jargon_check(text)
    assert check.count == 8
    assert set(check.terms) == {
        "conform",
        "vigerend",
        "APV",
        "ontheffing",
        "zienswijze",
        "inzake",
        "Wabo",
        "Awb",
    }
    assert jargon_check("U kunt de vergunning online aanvragen.").count == 0
    assert "conform" in DEFAULT_JARGON


def test_jargon_matches_whole_words_and_inflections_only() -> None:
    assert jargon_check("ontheffingen en Ontheffing").count == 2
    assert jargon_check("conformiteit, vigerendheid, zienswijzer").count == 0
    assert jargon_check("d.d. 3 februari, c.q. later").count == 2
    assert jargon_check("ex artikel 4 en ex  art. 5").count == 2


def test_jargon_list_is_configurable() -> None:
    assert jargon_check("Het bestemmingsplan en de leges.", ["bestemmingsplan"]).count == 1


@pytest.mark.parametrize(
    ("text", "requested", "explained"),
    [
        ("Wilt u mij uw adres laten weten?", True, False),
        ("Kunt u uw adres doorgeven? Dan kan ik nagaan wat er geldt.", True, True),
        ("Om te beoordelen of het mag, hebben wij het adres van uw lunchroom nodig.", True, True),
        ("Wat is het adres van de locatie? Dat is nodig om de regels te bepalen.", True, True),
        ("Op welk adres wilt u de kraam zetten?", True, False),
        ("Graag ontvang ik uw postcode en huisnummer, zodat ik kan kijken.", True, True),
        ("Wij hebben uw adres nodig.", True, False),
        ("Uw bedrijfsadres hebben we nodig omdat de regels per wijk verschillen.", True, True),
        ("Ons bezoekadres is Stadhuisplein 1.", False, None),
        ("U kunt langskomen op ons adres aan de Markt.", False, None),
        ("Stuur uw aanvraag naar het adres van het stadskantoor.", False, None),
        ("Wilt u uw e-mailadres controleren?", False, None),
        ("U kunt de vergunning online aanvragen.", False, None),
    ],
)
def test_address_question(text: str, requested: bool, explained: bool | None) -> None:
    check = address_check(text)
    assert (check.requested, check.explained) == (requested, explained), check
