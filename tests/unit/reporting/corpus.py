"""Dutch call reports and mail replies that name municipal staff, with their phone numbers and
e-mail addresses — none of which may reach any report output. The persona (the mystery guest
of the case, configured in personas.yaml) may stay."""

from __future__ import annotations

CALL_REPORTS: tuple[str, ...] = (
    "Opgenomen door Marieke de Vries van het KCC, die vriendelijk vroeg waar het over ging. "
    "Zij verbond door met Sandra Hoekstra van Vergunningen (direct nummer 030-2869944). "
    "Mevrouw Hoekstra legde uit dat een standplaatsvergunning nodig is.",
    "De telefoon werd na lang wachten opgenomen door Pieter Jansen. Hij gaf aan dat zijn collega "
    "Henk Bakker terug zou bellen op 06-48213377, maar dat gebeurde niet. Meneer Jansen gaf ook "
    "zijn e-mailadres p.jansen@gemeente-voorbeeld.nl voor vragen.",
    "Gesproken met dhr. Van den Berg (Economische Zaken). Hij verwees naar de website en noemde "
    "het algemene nummer 14 030 en zijn mobiele nummer +31 6 12345678. Zeer deskundig.",
    "Medewerkster Fatima El Amrani nam op, verbond door naar Joost Verhoeven, die al wist waar "
    "de vraag over ging. Bereikbaar via joost.verhoeven@utrecht.nl of 0348-428911.",
)

MAIL_BODIES: tuple[str, ...] = (
    "Geachte heer Visser,\n\nDank voor uw e-mail. Voor een standplaats heeft u een vergunning "
    "nodig. Mijn collega Annemiek Bosman (a.bosman@gemeente-voorbeeld.nl, 0297-513211) kan u "
    "verder helpen.\n\nMet vriendelijke groet,\n\nRoel Smeets\nTeam Vergunningen",
    "Beste,\n\n-----Oorspronkelijk bericht-----\nVan: Klantcontactcentrum\nAan: Wendy Kuipers\n"
    "Kun jij deze oppakken Wendy? Bel anders Kees Mulder op 071-5162345.\n\nGroet, Ingrid de Wit",
    "Geachte mevrouw Kok,\n\nUw terrasvergunning kunt u aanvragen via het omgevingsloket. Voor "
    "vragen kunt u bellen met Jeroen Dijkstra, telefoon 020 552 1234, of mailen naar "
    "terrassen@gemeente-voorbeeld.nl.\n\nHartelijke groet,\nLisa van Dam",
)

REVIEWS: tuple[str, ...] = (
    "Correct antwoord; ondertekend door Roel Smeets met direct nummer 0297-513299.",
    "Interne forward aan Wendy Kuipers niet verwijderd.",
)

SECRETS: tuple[str, ...] = (
    "Marieke",
    "Hoekstra",
    "030-2869944",
    "Pieter Jansen",
    "Henk Bakker",
    "06-48213377",
    "p.jansen@gemeente-voorbeeld.nl",
    "Van den Berg",
    "12345678",
    "Fatima",
    "El Amrani",
    "Joost",
    "Verhoeven",
    "joost.verhoeven@utrecht.nl",
    "0348-428911",
    "Annemiek",
    "Bosman",
    "a.bosman@gemeente-voorbeeld.nl",
    "0297-513211",
    "Roel",
    "Smeets",
    "Wendy",
    "Kuipers",
    "Kees Mulder",
    "071-5162345",
    "Ingrid",
    "Jeroen",
    "Dijkstra",
    "020 552 1234",
    "terrassen@gemeente-voorbeeld.nl",
    "Lisa van Dam",
    "0297-513299",
)
"""Strings that must appear in no output (first names, surnames, numbers, addresses)."""

PERSONAS_KEPT: tuple[str, ...] = ("heer Visser", "mevrouw Kok")

HOSTILE_BODY = (
    'Geachte heer Visser,<script>alert("xss")</script>\n'
    '<img src=x onerror="alert(1)"> <a href="javascript:alert(2)" onclick="steal()">klik</a>\n'
    "<svg onload=alert(3)></svg></div></section><iframe src='https://evil.example'></iframe>\n"
    "Met vriendelijke groet"
)
