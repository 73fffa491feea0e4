"""The scoring model (meetlat): criteria, their scales and weights, corrections.

This first model is defined in code; the research team's editable, versioned YAML model
replaces it in the scoring-engine issue. Values marked *seed* are taken literally from
`000_*.txt` slides 15–16; the others are this project's calibration, chosen so the published
national figures (phone ≈ 6.2, mail ≈ 6.3) are reproducible, with the rationale noted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from schemas.events import Channel

Dimension = Literal["form", "content"]


@dataclass(frozen=True)
class OrdinalScale:
    """An answer on the criterion's scale → value 1–10."""

    values: Mapping[str, float]

    def value(self, answer: str) -> float:
        try:
            return self.values[answer]
        except KeyError:
            allowed = ", ".join(repr(a) for a in self.values)
            raise ValueError(f"answer {answer!r} is not on the scale ({allowed})") from None


@dataclass(frozen=True)
class Bands:
    """A measured quantity → value: the first band whose upper bound the quantity does not
    exceed gives the value; above every bound, `above`."""

    quantity: str
    bounds: tuple[tuple[float, float], ...]
    above: float

    def value(self, measured: float) -> float:
        for upper, value in self.bounds:
            if measured <= upper:
                return value
        return self.above


@dataclass(frozen=True)
class Criterion:
    id: str
    label: str
    channel: Channel
    dimension: Dimension
    weight: float
    scale: OrdinalScale | Bands
    source: str


@dataclass(frozen=True)
class ScoringModel:
    id: str
    version: str
    criteria: tuple[Criterion, ...]
    self_callback_points: float
    unanswered_mail_score: float
    norm: float = 7.0
    sufficient: float = 5.5
    by_id: Mapping[str, Criterion] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {c.id: c for c in self.criteria})

    def for_channel(self, channel: Channel) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.channel == channel)

    def answer_errors(self, channel: Channel, answers: Mapping[str, str]) -> list[str]:
        """Why these assessed answers contradict the model (empty list when they fit)."""
        errors = []
        for criterion_id, answer in answers.items():
            criterion = self.by_id.get(criterion_id)
            if criterion is None or criterion.channel != channel:
                errors.append(f"unknown {channel} criterion {criterion_id!r}")
            elif not isinstance(criterion.scale, OrdinalScale):
                errors.append(f"criterion {criterion_id!r} is measured, not answered")
            elif answer not in criterion.scale.values:
                errors.append(f"criterion {criterion_id!r}: answer {answer!r} is not on its scale")
        return errors


CORRECT_ANSWER = OrdinalScale(
    {
        "volledig juist": 10,
        "grotendeels juist": 7,
        "deels juist": 5,
        "onjuist": 2,
        "geen antwoord": 1,
    }
)

DEFAULT_MODEL = ScoringModel(
    id="kvk-mystery-guest",
    version="2026.1-skeleton",
    self_callback_points=1.5,
    unanswered_mail_score=0.0,
    criteria=(
        # ---- phone, form
        Criterion(
            "snelheid_opnemen",
            "Snelheid van opnemen",
            "phone",
            "form",
            1,
            Bands("seconds_waited", ((15, 10), (30, 8), (60, 6), (120, 4), (300, 2)), 1),
            "Slide 14 'vorm: snelheid'; bands in the style of the seed's mail-speed scale.",
        ),
        Criterion(
            "vriendelijkheid_aanname",
            "Vriendelijkheid van de aanname",
            "phone",
            "form",
            1,
            OrdinalScale(
                {
                    "zeer vriendelijk": 10,
                    "vriendelijk": 8,
                    "niet onvriendelijk": 6,
                    "neutraal": 4,
                    "onvriendelijk": 2,
                    "zeer onvriendelijk": 1,
                }
            ),
            "Seed, slide 15 (exact).",
        ),
        Criterion(
            "doorverbinden",
            "Doorverbinden",
            "phone",
            "form",
            1,
            Bands("transfer_quality", ((0, 2), (1, 6)), 10),
            "003 recommendation: brief the colleague (warm transfer = 10), never put through to "
            "someone absent (= 2); a cold transfer to an available colleague = 6. "
            "N/A when no transfer.",
        ),
        # ---- phone, content
        Criterion(
            "juist_antwoord",
            "Juiste antwoord",
            "phone",
            "content",
            2,
            CORRECT_ANSWER,
            "Slide 14 'inhoud: juiste antwoord'; weight 2 because the answer is why the "
            "entrepreneur called (panel expectation of the 'ideale gemeente', slide 10).",
        ),
        Criterion(
            "deskundige_indruk",
            "Deskundige indruk",
            "phone",
            "content",
            1,
            OrdinalScale(
                {
                    "zeer deskundig": 10,
                    "deskundig": 8,
                    "redelijk deskundig": 6,
                    "weinig deskundig": 4,
                    "niet deskundig": 2,
                }
            ),
            "Slide 14 'inhoud: deskundige indruk'.",
        ),
        Criterion(
            "meedenken",
            "Meedenken met de ondernemer",
            "phone",
            "content",
            1,
            OrdinalScale(
                {"denkt actief mee": 10, "denkt mee": 8, "neutraal": 5, "denkt niet mee": 2}
            ),
            "Slide 31 'wat gaat er goed: meedenken, denken in alternatieven'.",
        ),
        # ---- mail, form
        Criterion(
            "snelheid_mail",
            "Snelheid van reageren per mail",
            "mail",
            "form",
            1,
            Bands("reply_hours", ((24, 10), (36, 8), (48, 6), (60, 4), (72, 2)), 1),
            "Seed, slide 16 (exact).",
        ),
        Criterion(
            "aanhef",
            "Juiste aanhef",
            "mail",
            "form",
            1,
            Bands("salutation_correct", ((0, 4),), 10),
            "003 recommendation 'gebruik de juiste aanhef': correct = 10, incorrect = 4.",
        ),
        Criterion(
            "interne_forward",
            "Geen interne forward in de mail",
            "mail",
            "form",
            1,
            Bands("internal_forward_leaked", ((0, 10),), 2),
            "003 recommendation: remove internal forwards; a leaked forward = 2.",
        ),
        Criterion(
            "spelling",
            "Spelling en stijl",
            "mail",
            "form",
            1,
            Bands("spelling_errors", ((0, 10), (2, 8), (5, 5)), 2),
            "003 recommendation 'voorkom type-, taal- en stijlfouten'.",
        ),
        # ---- mail, content
        Criterion(
            "juist_antwoord_mail",
            "Juiste antwoord",
            "mail",
            "content",
            2,
            CORRECT_ANSWER,
            "As for phone: the answer is the point of the mail.",
        ),
        Criterion(
            "volledigheid",
            "Volledigheid",
            "mail",
            "content",
            1,
            OrdinalScale({"volledig": 10, "grotendeels volledig": 7, "onvolledig": 4}),
            "Slide 14 'inhoud'; 003 'standaard opzet voor een e-mail'.",
        ),
    ),
)
