"""A pure, seeded generator of a realistic national mystery-guest campaign.

`generate_campaign(spec, reference)` plays a whole 1-meting: mystery callers phone and mystery
mailers mail every municipality (or a reproducible sample of them, spread over the Chambers)
with prepared entrepreneur cases, and every observation comes out as an event of the wire
contract (`schemas.events`), in the order a real pipeline would receive them.

Realism, in short:

- Every municipality has a latent phone service quality and a correlated mail quality (left
  skewed: a few municipalities are really weak), so municipality means spread like the
  published ones (national phone 6.2 with municipalities 3.7–7.8, mail 6.3).
- A call is answered after a skewed wait, is sometimes put through (warm or cold, now and then
  to an absent colleague, once in a while twice); about 42% of the calls are not completed at
  once: the municipality promises a callback (kept, kept late or not at all) or offers none,
  and the entrepreneur has to call back himself. The caller then assesses the call on every
  criterion of the scoring model that the mystery guest answers (`observe: null`) and writes a
  short call report (roles only, never a name).
- A mail may get an auto-reply (a municipality has one or has not), a real reply for about 75%
  of the mails after a skewed delay (mostly within a day, a tail up to ten days), with the mail
  analysis facts (salutation, leaked internal forward, spelling errors, jargon terms, an
  address request with or without its reason) and a short body; the mailer assesses it after
  the 96-hour reply period.
- Calls and mails happen on business days in office hours (Europe/Amsterdam, Dutch public
  holidays excluded); event times are stored with their Amsterdam UTC offset.
- Events are sorted by event time, except that about 3% of the callbacks made and mail replies
  are reported late, after the assessment of their contact, as happens in practice.

The facts the model observes itself (wait, transfers, callback, reply time, salutation …) come
out as events; answers are given only for the model's answered criteria and are taken from
their ordinal scales by value (the answer whose value is closest to the drawn quality), so the
generator never invents an answer the model does not know. The model is a parameter (the
shipped default, `kvk-mystery-guest`, when none is given); the calibration below is tuned on
the default model.

Pure: no I/O except `write_jsonl` (and reading the shipped default model once), no wall clock,
and all randomness comes from `random.Random` instances seeded from `spec.seed` (one stream for
the sample, and per municipality one stream for its latent quality, keyed on seed and CBS code,
and one for its contacts, keyed on seed, campaign, wave and CBS code — so a sampled
municipality gets exactly the contacts it gets in the full campaign, and a second wave measures
the same municipalities anew).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from schemas.events import (
    EVENT_ADAPTER,
    CallAnswered,
    CallAssessed,
    CallbackMade,
    CallbackPromised,
    CallPlaced,
    CallTransferred,
    Channel,
    Event,
    EventBase,
    MailAssessed,
    MailAutoReplied,
    MailReplied,
    MailSent,
    SelfCallback,
    SurveyChannel,
    SurveyResponse,
)
from schemas.reference import ReferenceData
from schemas.scoring_model import Criterion, OrdinalScale, ScoringModel
from services.scoring.catalogue import default_model

__all__ = [
    "CASES",
    "JARGON",
    "CampaignSpec",
    "Case",
    "campaign_waves",
    "generate_campaign",
    "write_jsonl",
]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@dataclass(frozen=True)
class CampaignSpec:
    """What to generate. The same spec always gives the same events."""

    seed: int = 2026
    municipalities: int | None = None  # None = all; N = a reproducible sample spread over Chambers
    calls_per_municipality: int = 4
    mails_per_municipality: int = 3
    surveys_per_municipality: int = 0  # KTO responses (customer-satisfaction survey)
    campaign: str = "mg-2026"
    wave: int = 1
    start: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=AMSTERDAM)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("CampaignSpec.start must be timezone-aware")
        if self.municipalities is not None and self.municipalities < 1:
            raise ValueError("CampaignSpec.municipalities must be at least 1 (or None for all)")
        if (
            min(
                self.calls_per_municipality,
                self.mails_per_municipality,
                self.surveys_per_municipality,
            )
            < 0
        ):
            raise ValueError("contacts per municipality cannot be negative")
        if not 1 <= self.wave <= 99:
            raise ValueError("CampaignSpec.wave must be 1–99")


# ---------------------------------------------------------------- calibration
#
# Tuned against `services.recompute.recompute` with the default model (kvk-mystery-guest@2026.1;
# seeds 2026, 1 and 7 and 30 more, all municipalities) so the national figures land on the
# published ones; see the tests. Only these constants were tuned, never the model. A
# municipality's latent quality is a left-skewed value around 0; an ordinal answer is the one
# whose value is closest to MU + SD × (latent + contact noise) + item noise. With four calls per
# municipality most of the spread of municipality means is sampling noise (the answers, the
# self-callback correction), so the latent spread is kept small and left-skewed: a few
# municipalities are really weak, the best are only a little above the rest.
#
# The phone potential differs from the mean only by the self-callback correction (1.5 points),
# so the gap is at most 1.5 × the share of calls not completed at once (42%) ≈ 0.63; the seed's
# 6.1 → 7.01 (0.91) is out of reach of this model. Most incomplete calls do get the correction
# (no callback offered, or a promised one never made or made late), which gives a gap of ≈ 0.56.
# Mail: ≈ 25% unanswered (scored 0) and answered mails averaging ≈ 8.4 give 6.3 (potential 8.4).

FIELD_BUSINESS_DAYS = 15  # the field work of the wave spans three working weeks
LEFT_TAIL = 0.5  # latent z < 0 is stretched by this factor (a few really weak municipalities)
RIGHT_TAIL = 0.1  # latent z > 0 is shrunk by this factor (nobody is perfect)
MAIL_CORRELATION = 0.6  # corr(latent phone, latent mail quality)

CALL_NOISE = 0.15  # call-to-call variation around the municipality's quality
PHONE_MU = 6.55  # target value of an ordinal phone answer for an average municipality
PHONE_SD = 1.0
PHONE_ITEM_NOISE = 1.05
INCOMPLETE_CONTENT_PENALTY = 0.8  # the answer suffers when the question was not completed at once
WAIT_MEDIAN = 16.0  # seconds
WAIT_QUALITY = 0.35  # log-seconds per unit of quality
WAIT_SIGMA = 0.7
INCOMPLETE = 0.42  # share of calls not completed at the first attempt
INCOMPLETE_QUALITY = 0.06
TRANSFER = 0.5
TRANSFER_AGAIN = 0.12  # a transferred call is put through once more (and, rarely, again)
TRANSFER_AGAIN_QUALITY = 0.05
BRIEFED = 0.45
BRIEFED_QUALITY = 0.15
ABSENT_WHEN_INCOMPLETE = 0.3  # a call not completed at once was often put through to someone absent
PROMISE = 0.4  # a callback is promised for this share of incomplete calls
PROMISE_QUALITY = 0.1
KEPT, LATE = 0.3, 0.15  # of promised callbacks: kept in time, kept late; the rest is never made
KEPT_QUALITY = 0.1

MAIL_NOISE = 0.6
MAIL_MU = 9.0
MAIL_SD = 1.3
MAIL_ITEM_NOISE = 2.0
ANSWER = 0.75  # share of mails that get a real reply
ANSWER_QUALITY = 0.12
AUTO_REPLY = 0.5
REPLY_MEDIAN = 9.0  # hours
REPLY_QUALITY = 0.55  # log-hours per unit of quality
REPLY_SIGMA = 1.05
REPLY_MAX_HOURS = 240.0
EVENING_REPLY = 0.25  # share of replies due on a weekday evening that are sent that evening
SALUTATION = 0.85
SALUTATION_QUALITY = 0.1
LEAK = 0.05
LEAK_QUALITY = 0.04
SPELLING = 0.7  # mean spelling errors of an average reply
SPELLING_QUALITY = 0.5
SPELLING_MAX = 6
JARGON_MEAN = 0.45  # mean jargon terms of an average reply (mostly 0–1, sometimes more)
JARGON_QUALITY = 0.2
ADDRESS_REQUEST = 0.2  # share of replies that ask for the entrepreneur's address
ADDRESS_EXPLAINED = 0.5  # …and of those, the share that says why it is needed
ADDRESS_EXPLAINED_QUALITY = 0.15

CALL_SLIP = 0.02  # a call goes badly wrong (the anecdotes of slides 29–30)
MAIL_SLIP = 0.08  # a sloppy reply: late, wrong, forwarded with the internal instruction left in
CALL_SLIP_DROP = 2.5  # how much worse such a contact is, on the value scale
MAIL_SLIP_DROP = 4.0

LATE_REPORT = 0.03  # callbacks made / replies reported only after their contact's assessment
MAIL_ASSESS_AFTER = timedelta(hours=96)

OPENS = time(9, 0)
OFFICE_MINUTES = 8 * 60  # 9:00–17:00


# ---------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """A prepared entrepreneur case (casus) with its persona and the answers a caller hears."""

    id: str
    topic: str  # what the question is about, as a phrase
    question: str  # what the entrepreneur asks
    persona: str  # the right salutation ("heer Visser")
    wrong_persona: str  # a wrong one ("mevrouw Visser")
    correct: str  # what a fully correct answer says
    partial: str  # what a partly correct answer says
    wrong: str  # a wrong answer
    reply_partial: str  # a partly correct mail reply, in the municipality's words
    reply_wrong: str  # a wrong mail reply, in the municipality's words
    alternative: str  # what thinking along with the entrepreneur looks like
    roles: tuple[str, ...]  # whom a call is put through to
    team: str  # who signs a mail reply


CASES: tuple[Case, ...] = (
    Case(
        id="standplaatsvergunning",
        topic="een standplaats voor een viskar tegenover de HEMA",
        question="Ik wil met een viskar bij het winkelcentrum gaan staan, tegenover de HEMA. "
        "Kan dat?",
        persona="heer Visser",
        wrong_persona="mevrouw Visser",
        correct="voor een vaste standplaats is een standplaatsvergunning nodig; de gemeente werkt "
        "met vaste standplaatsen en een wachtlijst, en een viskar moet stroom en afvoer hebben",
        partial="er is een standplaatsvergunning nodig, maar het standplaatsenbeleid en de "
        "wachtlijst kwamen niet aan bod",
        wrong="een vergunning zou niet nodig zijn zolang de kar op eigen wielen staat",
        reply_partial="voor een standplaats heeft u een standplaatsvergunning nodig, die u via "
        "onze website kunt aanvragen",
        reply_wrong="voor een verkoopkar op eigen wielen is geen vergunning nodig",
        alternative="een alternatieve locatie op de weekmarkt of bij een ander winkelcentrum",
        roles=(
            "vergunningverlener",
            "medewerker markten en standplaatsen",
            "medewerker economische zaken",
        ),
        team="Team Vergunningen",
    ),
    Case(
        id="terrasvergunning",
        topic="een terras bij een lunchroom aan het plein",
        question="Ik heb een lunchroom aan het plein en wil er een terras bij. Wat moet ik "
        "regelen?",
        persona="mevrouw Kok",
        wrong_persona="heer Kok",
        correct="voor een terras is een terrasvergunning nodig; er gelden regels voor de "
        "afmetingen, de vrije doorgang en de sluitingstijd, en de aanvraag loopt via het "
        "omgevingsloket",
        partial="er is een vergunning nodig, maar de regels voor afmetingen en vrije doorgang "
        "bleven onbesproken",
        wrong="een terras zou zonder vergunning mogen zolang het tegen de eigen gevel staat",
        reply_partial="voor een terras heeft u een vergunning nodig, die u via onze website "
        "kunt aanvragen",
        reply_wrong="een terras tegen de eigen gevel mag zonder vergunning",
        alternative="een kleiner seizoensterras dat alleen gemeld hoeft te worden",
        roles=("vergunningverlener", "medewerker vergunningen", "medewerker openbare ruimte"),
        team="Team Vergunningen",
    ),
    Case(
        id="kantoor-aan-huis",
        topic="een administratiekantoor aan huis",
        question="Ik wil vanuit huis een administratiekantoor beginnen, met af en toe een klant "
        "aan tafel. Mag dat?",
        persona="heer Smit",
        wrong_persona="mevrouw Smit",
        correct="een aan huis verbonden beroep is volgens het omgevingsplan toegestaan, mits het "
        "een beperkt deel van de woning beslaat en geen overlast of parkeerdruk geeft",
        partial="werken aan huis mag in principe, maar de voorwaarden uit het omgevingsplan werden "
        "niet genoemd",
        wrong="voor een kantoor aan huis zou altijd een omgevingsvergunning nodig zijn",
        reply_partial="werken aan huis is in de meeste gevallen toegestaan",
        reply_wrong="voor een kantoor aan huis heeft u altijd een omgevingsvergunning nodig",
        alternative="een flexplek in het ondernemershuis voor de klantafspraken",
        roles=("medewerker ruimtelijke ordening", "accountmanager bedrijven", "vergunningverlener"),
        team="Team Ruimtelijke Ordening",
    ),
    Case(
        id="evenementenvergunning",
        topic="een foodtruckfestival op het marktplein",
        question="Ik organiseer in juni een klein foodtruckfestival op het marktplein. Wat heb ik "
        "daarvoor nodig?",
        persona="mevrouw Mulder",
        wrong_persona="heer Mulder",
        correct="voor het festival is een evenementenvergunning nodig, minstens acht weken vooraf "
        "aan te vragen met een situatietekening en een veiligheidsplan",
        partial="er is een evenementenvergunning nodig, maar over de termijn en de mee te sturen "
        "stukken werd niets gezegd",
        wrong="een klein festival zou alleen een week van tevoren gemeld hoeven te worden",
        reply_partial="voor een festival heeft u een evenementenvergunning nodig",
        reply_wrong="een klein festival hoeft u alleen een week van tevoren bij ons te melden",
        alternative="een vooroverleg met de evenementencoördinator en een datum buiten de "
        "kermisweek",
        roles=("evenementencoördinator", "vergunningverlener", "medewerker economische zaken"),
        team="Team Evenementen",
    ),
    Case(
        id="bedrijfspand-bestemmingsplan",
        topic="een fietsenwerkplaats met verkoop in een pand op het bedrijventerrein",
        question="Ik wil een leegstaand pand op het bedrijventerrein kopen voor een "
        "fietsenwerkplaats met verkoop. Mag dat daar?",
        persona="heer De Boer",
        wrong_persona="mevrouw De Boer",
        correct="het omgevingsplan (het vroegere bestemmingsplan) staat reparatie toe en verkoop "
        "alleen als ondergeschikte nevenactiviteit; de omgevingscheck op het omgevingsloket "
        "geeft uitsluitsel",
        partial="het bestemmingsplan bepaalt wat er mag, maar wat dat voor de verkoop betekent "
        "werd niet uitgezocht",
        wrong="op een bedrijventerrein zou elke vorm van winkelverkoop zijn toegestaan",
        reply_partial="of dit mag, hangt af van het bestemmingsplan dat voor het pand geldt",
        reply_wrong="op het bedrijventerrein is winkelverkoop zonder beperking toegestaan",
        alternative="samen de omgevingscheck doorlopen en een pand aan de winkelstrip ernaast "
        "overwegen",
        roles=(
            "medewerker ruimtelijke ordening",
            "accountmanager bedrijven",
            "bedrijvencontactfunctionaris",
        ),
        team="Team Economische Zaken",
    ),
    Case(
        id="horeca-exploitatievergunning",
        topic="de overname van een eetcafé",
        question="Ik neem een bestaand eetcafé over. Moet ik een nieuwe vergunning aanvragen?",
        persona="mevrouw Bos",
        wrong_persona="heer Bos",
        correct="een nieuwe exploitant heeft een eigen exploitatievergunning nodig, met een "
        "Bibob-vragenlijst, en voor het schenken van alcohol een alcoholvergunning",
        partial="er is een nieuwe exploitatievergunning nodig, maar de alcoholvergunning en de "
        "Bibob-toets werden niet genoemd",
        wrong="de vergunning van de vorige eigenaar zou gewoon overgaan op de nieuwe exploitant",
        reply_partial="als nieuwe exploitant heeft u een eigen exploitatievergunning nodig",
        reply_wrong="de vergunning van de vorige eigenaar gaat gewoon op u over",
        alternative="de aanvraag alvast starten zodat de overname niet op de vergunning hoeft te "
        "wachten",
        roles=("vergunningverlener", "medewerker bijzondere wetten", "accountmanager bedrijven"),
        team="Team Vergunningen",
    ),
)

# Anecdotes from the method deck (slides 29–30): what a really poor call sounds like.
ANECDOTES = (
    "'Heeft u wel eerst gegoogeld?'",
    "'U denkt toch niet dat ik hier zit om de hele dag dit soort vragen te beantwoorden?'",
    "'Stuurt u maar een mail, dan stuur ik die door en dan weet vast iemand het antwoord.'",
    "'Gaat u eerst maar eens de bestemmingsplannen bestuderen en bel dan nog maar eens terug.'",
    "'Ik leg het nog één keer uit en als u het dan niet snapt, weet ik het ook niet meer.'",
)


# Jargon a reply may contain (003: "er wordt weinig jargon gebruikt in de e-mails. Dat is
# sterk"): each term with the sentence it comes in. None of the terms occurs elsewhere in a
# generated reply, so the count of terms found in a body is the reply's `jargon_terms`.
JARGON: tuple[tuple[str, str], ...] = (
    ("APV", "De aanvraag wordt getoetst aan de APV."),
    ("leges", "Voor de behandeling worden leges in rekening gebracht."),
    ("ontvankelijkheidstoets", "Na de ontvankelijkheidstoets start de reguliere procedure."),
    ("zienswijze", "Belanghebbenden kunnen daarna een zienswijze indienen."),
    ("bevoegd gezag", "Het college is hierin het bevoegd gezag."),
    ("beslistermijn", "De beslistermijn kan eenmalig met zes weken worden verdaagd."),
    ("aanvulverzoek", "Bij een onvolledige aanvraag ontvangt u een aanvulverzoek."),
    (
        "planologisch strijdig",
        "Is het gebruik planologisch strijdig, dan volgt een afwijkprocedure.",
    ),
)


# ---------------------------------------------------------------- the model's criteria


_Values = Mapping[str, float]  # criterion id → value of the answer given


@dataclass(frozen=True)
class _Assessment:
    """What the mystery guest answers: the model's answered criteria of one channel."""

    criteria: tuple[Criterion, ...]

    @classmethod
    def of(cls, model: ScoringModel, channel: Channel) -> _Assessment:
        return cls(tuple(c for c in model.for_channel(channel) if c.observe is None))

    def answer(self, target: Callable[[Criterion], float]) -> tuple[dict[str, str], _Values]:
        """Per criterion the answer closest to its drawn target value, and the answers' values
        (what the texts describe)."""
        answers: dict[str, str] = {}
        values: dict[str, float] = {}
        for criterion in self.criteria:
            answers[criterion.id] = _answer(criterion, target(criterion))
            values[criterion.id] = criterion.value(answers[criterion.id])
        return answers, values


def _answer(criterion: Criterion, target: float) -> str:
    """The answer on the criterion's ordinal scale whose value is closest to `target`."""
    scale = criterion.scale
    if not isinstance(scale, OrdinalScale):  # the model schema forbids it; never guess
        raise ValueError(f"criterion {criterion.id!r} is answered but has no ordinal scale")
    return min(scale.values, key=lambda a: (abs(scale.values[a] - target), -scale.values[a]))


# ---------------------------------------------------------------- calendar


def _easter(year: int) -> date:
    """Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def _holidays(year: int) -> frozenset[date]:
    """Dutch public holidays on which municipalities are closed."""
    easter = _easter(year)
    kings_day = date(year, 4, 27)
    if kings_day.weekday() == 6:
        kings_day = date(year, 4, 26)
    days = {
        date(year, 1, 1),
        easter + timedelta(days=1),
        kings_day,
        easter + timedelta(days=39),
        easter + timedelta(days=50),
        date(year, 12, 25),
        date(year, 12, 26),
    }
    if year % 5 == 0:
        days.add(date(year, 5, 5))
    return frozenset(days)


def _is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def _add_business_days(day: date, n: int) -> date:
    """The n-th business day after `day` (n ≥ 1)."""
    while n > 0:
        day += timedelta(days=1)
        if _is_business_day(day):
            n -= 1
    return day


def _business_days_from(day: date, n: int) -> list[date]:
    """The first n business days on or after `day`."""
    days: list[date] = []
    while len(days) < n:
        if _is_business_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def _at(day: date, minutes: float) -> datetime:
    """`minutes` after opening time (9:00) on `day`, Amsterdam time."""
    return datetime.combine(day, OPENS, tzinfo=AMSTERDAM) + timedelta(minutes=minutes)


def _later(moment: datetime, seconds: float) -> datetime:
    """`seconds` of real (UTC) time after `moment`, as Amsterdam time."""
    return (moment.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(AMSTERDAM)


def _in_office(moment: datetime) -> bool:
    local = moment.astimezone(AMSTERDAM)
    return _is_business_day(local.date()) and _at(local.date(), 0) <= local < _at(
        local.date(), OFFICE_MINUTES
    )


def _evening(moment: datetime) -> bool:
    """A business day between closing time and 22:00."""
    local = moment.astimezone(AMSTERDAM)
    return _is_business_day(local.date()) and 17 <= local.hour < 22


def _next_opening(moment: datetime) -> datetime:
    """The next moment the municipality opens after `moment` (9:00 on a business day)."""
    local = moment.astimezone(AMSTERDAM)
    day = local.date()
    if _is_business_day(day) and local < _at(day, 0):
        return _at(day, 0)
    return _at(_add_business_days(day, 1), 0)


def _office_between(start: datetime, end: datetime, rng: random.Random) -> datetime:
    """A uniformly drawn office-hours moment in [start, end]; the first opening after `start`
    when the window holds no office hours."""
    spans: list[tuple[datetime, float]] = []
    day = start.astimezone(AMSTERDAM).date()
    last = end.astimezone(AMSTERDAM).date()
    while day <= last:
        if _is_business_day(day):
            low = max(start, _at(day, 0))
            high = min(end, _at(day, OFFICE_MINUTES))
            if low < high:
                spans.append((low, (high - low).total_seconds()))
        day += timedelta(days=1)
    if not spans:
        return _later(_next_opening(start), rng.uniform(0, 3600))
    pick = rng.random() * math.fsum(length for _, length in spans)
    for low, length in spans:
        if pick <= length:
            return _later(low, pick)
        pick -= length
    low, length = spans[-1]
    return _later(low, length)


def _stamp(moment: datetime) -> datetime:
    """Whole seconds, with the fixed Amsterdam UTC offset of that moment (what JSON keeps)."""
    local = moment.astimezone(AMSTERDAM).replace(microsecond=0)
    offset = local.utcoffset()
    assert offset is not None
    return local.astimezone(timezone(offset))


# ---------------------------------------------------------------- small draws


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _chance(rng: random.Random, p: float) -> bool:
    return rng.random() < _clamp(p, 0.0, 1.0)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _latent(rng: random.Random) -> float:
    """A left-skewed quality around 0: z < 0 stretched, z > 0 shrunk, then centred."""
    z = rng.gauss(0.0, 1.0)
    return z * (LEFT_TAIL if z < 0 else RIGHT_TAIL) - (RIGHT_TAIL - LEFT_TAIL) / math.sqrt(
        2 * math.pi
    )


@dataclass(frozen=True)
class _Profile:
    """A municipality's latent service quality (0 = national average)."""

    phone: float
    mail: float
    auto_reply: bool


def _profile(rng: random.Random) -> _Profile:
    phone = _latent(rng)
    other = _latent(rng)
    mail = MAIL_CORRELATION * phone + math.sqrt(1 - MAIL_CORRELATION**2) * other
    return _Profile(phone=phone, mail=mail, auto_reply=_chance(rng, AUTO_REPLY + 0.1 * mail))


# ---------------------------------------------------------------- one contact


E = TypeVar("E", bound=EventBase)


class _Contact:
    """Builds the events of one contact with consecutive event ids."""

    def __init__(self, contact_id: str, municipality: str, spec: CampaignSpec, case: Case) -> None:
        self.contact_id = contact_id
        self.municipality = municipality
        self.campaign = spec.campaign
        self.wave = spec.wave
        self.case = case
        self.events: list[EventBase] = []

    def add(self, kind: Callable[..., E], at: datetime, **fields: Any) -> E:
        event = kind(
            event_id=f"{self.contact_id}-{len(self.events) + 1}",
            contact_id=self.contact_id,
            municipality=self.municipality,
            campaign=self.campaign,
            wave=self.wave,
            case=self.case.id,
            occurred_at=_stamp(at),
            **fields,
        )
        self.events.append(event)
        return event


_Transfer = tuple[str, bool, bool]  # (role put through to, briefed, colleague available)


def _transfers(case: Case, quality: float, incomplete: bool, rng: random.Random) -> list[_Transfer]:
    """The transfers of a call: mostly none or one, once in a while a second (and rarely a
    third) when the colleague sends the caller on; only the last can end at someone absent,
    and only for a call that is not completed at once."""
    if not _chance(rng, TRANSFER):
        return []
    count = 1
    while count < len(case.roles) and _chance(
        rng, TRANSFER_AGAIN - TRANSFER_AGAIN_QUALITY * quality
    ):
        count += 1
    roles = rng.sample(case.roles, count)
    out: list[_Transfer] = []
    for i, role in enumerate(roles):
        available = not (i == count - 1 and incomplete and _chance(rng, ABSENT_WHEN_INCOMPLETE))
        out.append((role, _chance(rng, BRIEFED + BRIEFED_QUALITY * quality), available))
    return out


def _call(
    contact: _Contact,
    profile: _Profile,
    placed: datetime,
    assessment: _Assessment,
    rng: random.Random,
) -> datetime:
    """Generate one mystery call; returns the time of its assessment."""
    case = contact.case
    quality = profile.phone + rng.gauss(0.0, CALL_NOISE)
    if _chance(rng, CALL_SLIP):
        quality -= CALL_SLIP_DROP / PHONE_SD
    contact.add(CallPlaced, placed)

    wait = _clamp(
        round(math.exp(rng.gauss(math.log(WAIT_MEDIAN) - WAIT_QUALITY * quality, WAIT_SIGMA))),
        2,
        900,
    )
    answered = _later(placed, wait)
    contact.add(CallAnswered, answered, seconds_waited=float(wait))

    incomplete = _chance(rng, INCOMPLETE - INCOMPLETE_QUALITY * quality)
    now = _later(answered, rng.uniform(40, 150))
    transfers = _transfers(case, quality, incomplete, rng)
    for role, briefed, available in transfers:
        contact.add(
            CallTransferred, now, to_role=role, briefed=briefed, colleague_available=available
        )
        now = _later(now, rng.uniform(30, 90))
    talk_end = _later(now, rng.uniform(120, 480))

    outcome = "direct"
    last = talk_end
    promised_days = 0
    if incomplete:
        if _chance(rng, PROMISE + PROMISE_QUALITY * quality):
            promised_days = rng.choice((1, 1, 2))
            deadline_day = _add_business_days(talk_end.astimezone(AMSTERDAM).date(), promised_days)
            local_end = talk_end.astimezone(AMSTERDAM)
            deadline = datetime.combine(deadline_day, local_end.time(), tzinfo=AMSTERDAM)
            deadline = min(deadline, _at(deadline_day, OFFICE_MINUTES))
            contact.add(CallbackPromised, _later(talk_end, 1), deadline=_stamp(deadline))
            draw = rng.random()
            if draw < KEPT + KEPT_QUALITY * quality:
                outcome = "kept"
                last = _office_between(_later(talk_end, 1800), deadline, rng)
                contact.add(CallbackMade, last)
            elif draw < KEPT + KEPT_QUALITY * quality + LATE:
                outcome = "late"
                last = _office_between(
                    _later(deadline, 1800), _at(_add_business_days(deadline_day, 2), 0), rng
                )
                contact.add(CallbackMade, last)
            else:
                outcome = "broken"
                last = _office_between(
                    _later(deadline, 900), _at(_add_business_days(deadline_day, 1), 240), rng
                )
                contact.add(SelfCallback, last)
        else:
            outcome = "none"
            next_day = _add_business_days(talk_end.astimezone(AMSTERDAM).date(), 1)
            last = _office_between(_later(talk_end, 3600), _at(next_day, OFFICE_MINUTES), rng)
            contact.add(SelfCallback, last)

    penalty = INCOMPLETE_CONTENT_PENALTY if incomplete else 0.0
    answers, values = assessment.answer(
        lambda c: (
            PHONE_MU
            + PHONE_SD * quality
            + rng.gauss(0.0, PHONE_ITEM_NOISE)
            - (penalty if c.dimension == "content" else 0.0)
        )
    )
    report = _call_report(case, values, wait, transfers, outcome, promised_days, rng)
    assessed = _later(last, rng.uniform(15 * 60, 120 * 60))
    contact.add(CallAssessed, assessed, answers=answers, report=report)
    return assessed


@dataclass(frozen=True)
class _ReplyFacts:
    """What mail analysis finds in a reply (the facts the model observes)."""

    salutation_correct: bool
    leaked: bool
    spelling: int
    jargon: int
    address_requested: bool
    address_explained: bool


def _reply_facts(quality: float, rng: random.Random) -> _ReplyFacts:
    address_requested = _chance(rng, ADDRESS_REQUEST)
    return _ReplyFacts(
        salutation_correct=_chance(rng, SALUTATION + SALUTATION_QUALITY * quality),
        leaked=_chance(rng, max(0.005, LEAK - LEAK_QUALITY * quality)),
        spelling=min(
            SPELLING_MAX, _poisson(rng, _clamp(SPELLING - SPELLING_QUALITY * quality, 0.05, 4.0))
        ),
        jargon=min(
            len(JARGON),
            _poisson(rng, _clamp(JARGON_MEAN - JARGON_QUALITY * quality, 0.05, 3.0)),
        ),
        address_requested=address_requested,
        address_explained=address_requested
        and _chance(rng, ADDRESS_EXPLAINED + ADDRESS_EXPLAINED_QUALITY * quality),
    )


def _mail(
    contact: _Contact,
    profile: _Profile,
    sent: datetime,
    token: str,
    municipality_name: str,
    assessment: _Assessment,
    rng: random.Random,
) -> datetime:
    """Generate one mystery mail; returns the time of its assessment."""
    case = contact.case
    quality = profile.mail + rng.gauss(0.0, MAIL_NOISE)
    answered = _chance(rng, ANSWER + ANSWER_QUALITY * quality)
    if _chance(rng, MAIL_SLIP):
        quality -= MAIL_SLIP_DROP / MAIL_SD
    message_id = f"<{contact.contact_id.lower()}.{token.lower()}@mystery.meetlat.nl>"
    contact.add(MailSent, sent, message_id=message_id, token=token)
    if profile.auto_reply:
        contact.add(MailAutoReplied, _later(sent, rng.uniform(5, 240)))

    deadline = _later(sent, MAIL_ASSESS_AFTER.total_seconds())
    if not answered:
        assessed = deadline
        review = "Geen antwoord ontvangen binnen de meetperiode van 96 uur" + (
            "; alleen een automatische ontvangstbevestiging." if profile.auto_reply else "."
        )
        contact.add(MailAssessed, assessed, answers={}, review=review)
        return assessed

    hours = _clamp(
        math.exp(rng.gauss(math.log(REPLY_MEDIAN) - REPLY_QUALITY * quality, REPLY_SIGMA)),
        0.25,
        REPLY_MAX_HOURS,
    )
    replied = _later(sent, hours * 3600)
    if not _in_office(replied) and not (_evening(replied) and _chance(rng, EVENING_REPLY)):
        replied = _later(_next_opening(replied), rng.uniform(0, 7200))
    hours = (replied.astimezone(UTC) - sent.astimezone(UTC)).total_seconds() / 3600

    answers, values = assessment.answer(
        lambda c: MAIL_MU + MAIL_SD * quality + rng.gauss(0.0, MAIL_ITEM_NOISE)
    )
    facts = _reply_facts(quality, rng)
    body = _mail_body(case, values, facts, municipality_name, rng)
    contact.add(
        MailReplied,
        replied,
        salutation_correct=facts.salutation_correct,
        internal_forward_leaked=facts.leaked,
        spelling_errors=facts.spelling,
        jargon_terms=facts.jargon,
        address_requested=facts.address_requested,
        address_request_explained=facts.address_explained,
        body=body,
    )
    after_reply = _later(replied, rng.uniform(1800, 3 * 3600))
    assessed = max(deadline, after_reply)
    review = _mail_review(case, values, hours, facts, profile.auto_reply)
    contact.add(MailAssessed, assessed, answers=answers, review=review)
    return assessed


# ---------------------------------------------------------------- texts (roles, never names)


def _call_report(
    case: Case,
    values: _Values,
    wait: float,
    transfers: list[_Transfer],
    outcome: str,
    promised_days: int,
    rng: random.Random,
) -> str:
    parts: list[str] = []
    friendly = values.get("vriendelijkheid_aanname")
    if friendly is None:
        opening = "Opgenomen door de medewerker van het KCC"
    elif friendly >= 9:
        opening = "Zeer vriendelijk ontvangen door de medewerker van het KCC"
    elif friendly >= 7:
        opening = "Vriendelijk ontvangen door de medewerker van het KCC"
    elif friendly >= 5:
        opening = "Correct maar wat zakelijk ontvangen door de medewerker van het KCC"
    elif friendly >= 3:
        opening = "Neutraal en weinig betrokken ontvangen door de medewerker van het KCC"
    else:
        opening = "Onvriendelijk ontvangen; de medewerker van het KCC klonk geïrriteerd"
    if wait <= 10:
        opening += ", direct opgenomen."
    elif wait > 60:
        opening += f", pas na {wait:.0f} seconden opgenomen."
    else:
        opening += "."
    parts.append(opening)
    if friendly is not None and friendly <= 2:
        parts.append(f"Letterlijk: {rng.choice(ANECDOTES)}")
    parts.append(f"De vraag ging over {case.topic}.")

    answerer = "de medewerker van het KCC"
    for i, (role, briefed, available) in enumerate(transfers):
        verb = "Doorverbonden" if i == 0 else "Daarna opnieuw doorverbonden"
        if not available:
            parts.append(f"{verb} naar de {role}, maar die bleek niet aanwezig.")
        elif briefed:
            parts.append(f"{verb} met de {role}, die al wist waar de vraag over ging.")
            answerer = f"de {role}"
        else:
            parts.append(f"{verb} met de {role}; de vraag moest opnieuw worden uitgelegd.")
            answerer = f"de {role}"

    correct = values.get("juist_antwoord")
    if correct is not None:
        if correct >= 9:
            parts.append(f"Volledig juist antwoord van {answerer}: {case.correct}.")
        elif correct >= 6:
            parts.append(f"Grotendeels juist beantwoord: {case.correct.split(';')[0]}.")
        elif correct >= 4:
            parts.append(f"Deels juist: {case.partial}.")
        elif correct >= 2:
            parts.append(f"Onjuist antwoord: {case.wrong}.")
        else:
            parts.append("Er werd geen antwoord op de vraag gegeven.")
    complete = values.get("volledigheid_telefoon")
    if complete is not None:
        if complete >= 9:
            parts.append("Het antwoord was volledig, met de vervolgstappen erbij.")
        elif complete <= 4:
            parts.append("Het antwoord was onvolledig: kosten en termijnen bleven onbesproken.")
    expert = values.get("deskundige_indruk")
    if expert is not None:
        if expert >= 8:
            parts.append("Kwam deskundig over.")
        elif expert <= 4:
            parts.append("Kwam weinig deskundig over.")
    along = values.get("meedenken")
    if along is not None:
        if along >= 10:
            parts.append(f"Dacht actief mee over {case.alternative}.")
        elif along >= 8:
            parts.append("Dacht mee over de mogelijkheden.")
        elif along <= 2:
            parts.append("Dacht niet mee en verwees alleen naar de website.")

    days = "één werkdag" if promised_days == 1 else "twee werkdagen"
    parts.append(
        {
            "direct": "De vraag werd in één keer afgehandeld.",
            "kept": f"Er werd beloofd binnen {days} terug te bellen en dat gebeurde ook.",
            "late": f"Er werd beloofd binnen {days} terug te bellen; dat gebeurde pas na de "
            "afgesproken termijn.",
            "broken": f"Er werd beloofd binnen {days} terug te bellen, maar dat gebeurde niet; de "
            "ondernemer moest zelf opnieuw bellen.",
            "none": "Er werd niet aangeboden terug te bellen; de ondernemer moest zelf opnieuw "
            "bellen.",
        }[outcome]
    )
    return " ".join(parts)


def _typos(text: str, count: int, rng: random.Random) -> str:
    """Swap two inner letters of `count` different words of five letters or more."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha() and w.islower()]
    for i in rng.sample(candidates, min(count, len(candidates))):
        word = words[i]
        j = rng.randrange(1, len(word) - 2)
        words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words)


def _mail_body(
    case: Case,
    values: _Values,
    facts: _ReplyFacts,
    municipality_name: str,
    rng: random.Random,
) -> str:
    if facts.salutation_correct:
        salutation = f"Geachte {case.persona},"
    else:
        salutation = rng.choice(
            (f"Geachte {case.wrong_persona},", "Beste,", "Geachte heer/mevrouw,")
        )
    correct = values.get("juist_antwoord_mail")
    if correct is None or correct >= 9:
        content = f"Wij kunnen u het volgende laten weten: {case.correct}."
    elif correct >= 6:
        content = f"In het kort: {case.correct.split(';')[0]}."
    elif correct >= 4:
        content = f"In het kort: {case.reply_partial}."
    elif correct >= 2:
        content = f"Wij kunnen u laten weten dat {case.reply_wrong}."
    else:
        content = "Uw vraag is doorgezet naar de vakafdeling; u hoort zo snel mogelijk meer."
    complete = values.get("volledigheid")
    if complete is None or complete >= 9:
        extra = (
            " Het aanvraagformulier, de kosten en de behandeltermijn vindt u op het "
            "omgevingsloket; wij denken graag met u mee bij de aanvraag."
        )
    elif complete >= 6:
        extra = " Meer informatie vindt u op onze website."
    else:
        extra = ""
    middle = _typos(f"Dank voor uw e-mail over {case.topic}. {content}{extra}", facts.spelling, rng)
    jargon = "".join(f" {sentence}" for _, sentence in rng.sample(JARGON, facts.jargon))
    address = ""
    if facts.address_requested:
        address = "\n\nWilt u ons het adres van de beoogde locatie laten weten?"
        if facts.address_explained:
            address += (
                f" Dan kunnen wij nagaan welke regels daar voor {case.topic} gelden en u een "
                "antwoord op maat geven."
            )
    signature = f"Met vriendelijke groet,\n\n{case.team}\nGemeente {municipality_name}"
    body = f"{salutation}\n\n{middle}{jargon}{address}\n\n{signature}"
    if facts.leaked:
        body += (
            "\n\n-----Oorspronkelijk bericht-----\nVan: Klantcontactcentrum\n"
            f"Aan: {case.team}\nOnderwerp: FW: vraag over {case.topic}\n\n"
            "Kun jij deze oppakken? Weer zo'n ondernemersvraag, graag vandaag nog reageren."
        )
    return body


def _mail_review(
    case: Case,
    values: _Values,
    hours: float,
    facts: _ReplyFacts,
    auto_reply: bool,
) -> str:
    parts: list[str] = []
    if hours <= 24:
        parts.append(f"Antwoord binnen een dag ({hours:.0f} uur)")
    elif hours <= 72:
        parts.append(f"Antwoord na {hours:.0f} uur")
    else:
        parts.append(f"Te laat antwoord: pas na {hours / 24:.1f} dagen")
    parts[-1] += (
        ", met de juiste aanhef." if facts.salutation_correct else ", met een onjuiste aanhef."
    )
    correct = values.get("juist_antwoord_mail")
    if correct is not None:
        if correct >= 9:
            parts.append("Inhoudelijk volledig juist.")
        elif correct >= 6:
            parts.append("Inhoudelijk grotendeels juist.")
        elif correct >= 4:
            parts.append(f"Deels juist: {case.partial}.")
        elif correct >= 2:
            parts.append(f"Onjuist: {case.wrong}.")
        else:
            parts.append("De vraag zelf werd niet beantwoord.")
    complete = values.get("volledigheid")
    if complete is not None:
        parts.append(
            "Volledig, met verwijzing naar het aanvraagformulier."
            if complete >= 9
            else "Grotendeels volledig."
            if complete >= 6
            else "Onvolledig: kosten, termijnen en vervolgstappen ontbreken."
        )
    expert = values.get("deskundige_indruk_mail")
    if expert is not None and (expert >= 9 or expert <= 4):
        parts.append("Komt deskundig over." if expert >= 9 else "Komt weinig deskundig over.")
    along = values.get("meedenken_mail")
    if along is not None:
        if along >= 10:
            parts.append(f"Denkt actief mee en noemt een alternatief: {case.alternative}.")
        elif along <= 2:
            parts.append("Denkt niet mee.")
    if facts.address_requested:
        parts.append(
            "Vraagt om het adres en legt uit waarvoor dat nodig is."
            if facts.address_explained
            else "Vraagt om het adres zonder uit te leggen waarvoor dat nodig is."
        )
    if facts.leaked:
        parts.append("Er stond een interne doorstuurmail met een instructie aan een collega in.")
    if facts.spelling == 0:
        parts.append("Geen taalfouten.")
    elif facts.spelling <= 2:
        parts.append("Een enkele typefout.")
    else:
        parts.append(f"Slordig: {facts.spelling} type- en taalfouten.")
    if facts.jargon == 0:
        parts.append("Helder geschreven, zonder jargon.")
    elif facts.jargon <= 2:
        parts.append("Een enkele vakterm zonder uitleg.")
    else:
        parts.append(f"Veel jargon: {facts.jargon} vaktermen zonder uitleg.")
    parts.append("Wel een autoreply ontvangen." if auto_reply else "Geen autoreply ontvangen.")
    return " ".join(parts)


# ---------------------------------------------------------------- the campaign


def _sample(spec: CampaignSpec, reference: ReferenceData) -> list[str]:
    """All municipalities, or a reproducible sample spread over the Chambers in proportion."""
    codes = list(reference.municipalities)
    n = spec.municipalities
    if n is None or n >= len(codes):
        return codes
    rng = random.Random(spec.seed)
    groups: dict[str, list[str]] = {}
    for code in codes:
        groups.setdefault(reference.chamber_of.get(code, ""), []).append(code)
    exact = {chamber: n * len(members) / len(codes) for chamber, members in groups.items()}
    quota = {chamber: int(share) for chamber, share in exact.items()}
    by_remainder = sorted(groups, key=lambda c: (-(exact[c] - quota[c]), c))
    for chamber in by_remainder[: n - sum(quota.values())]:
        quota[chamber] += 1
    if n >= len(groups):  # every Chamber at least one, taken from the biggest quotas
        for chamber in sorted(groups):
            if quota[chamber] == 0:
                donor = max(sorted(groups), key=lambda c: quota[c])
                quota[donor] -= 1
                quota[chamber] = 1
    chosen: set[str] = set()
    for chamber in sorted(groups):
        chosen.update(rng.sample(groups[chamber], quota[chamber]))
    return [code for code in codes if code in chosen]


def _days(spec: CampaignSpec) -> list[date]:
    return _business_days_from(spec.start.astimezone(AMSTERDAM).date(), FIELD_BUSINESS_DAYS)


def _moments(
    count: int, days: list[date], latest_minute: int, start: datetime, rng: random.Random
) -> list[datetime]:
    """`count` office-hour moments on different days where possible, in time order."""
    picked = rng.sample(days, count) if count <= len(days) else rng.choices(days, k=count)
    moments = [max(start, _at(day, rng.randrange(0, latest_minute))) for day in picked]
    return sorted(_later(m, rng.randrange(0, 60)) for m in moments)


SURVEY_CHANNELS: tuple[SurveyChannel, ...] = ("counter", "phone", "digital")


def _surveys(
    spec: CampaignSpec, code: str, profile: _Profile, days: list[date], start: datetime
) -> list[tuple[datetime, str, EventBase]]:
    """KTO responses of the municipality's own customers: the overall mark follows the same
    latent quality as its phone service (so the benchmark matrix has signal), with the spread
    of seed 002's factsheet (marks mostly 6–9). Its own random stream, so adding surveys never
    changes the mystery-guest contacts of a seed."""
    rng = random.Random(f"meetlat-demo/{spec.seed}/{spec.campaign}/w{spec.wave}/{code}/kto")
    out: list[tuple[datetime, str, EventBase]] = []
    for i, moment in enumerate(
        _moments(spec.surveys_per_municipality, days, OFFICE_MINUTES - 5, start, rng)
    ):
        quality = profile.phone + rng.gauss(0.0, 1.0)
        mark = round(_clamp(7.3 + 0.9 * quality + rng.gauss(0.0, 0.6), 1, 10))
        response_id = f"{spec.campaign}-w{spec.wave}-{code}-kto-{i + 1}"
        response = SurveyResponse(
            event_id=response_id,
            contact_id=response_id,
            municipality=code,
            campaign=spec.campaign,
            wave=spec.wave,
            case="kto",
            occurred_at=_stamp(moment),
            survey_channel=rng.choice(SURVEY_CHANNELS),
            totaaloordeel=mark,
            effort=round(_clamp(3.2 - 0.8 * quality + rng.gauss(0.0, 0.9), 1, 5)),
            hostmanship=tuple(round(_clamp(mark + rng.gauss(0.0, 0.8), 1, 10)) for _ in range(6)),
            recommend=None
            if _chance(rng, 0.1)
            else round(_clamp(mark - 0.5 + rng.gauss(0.0, 1.2), 0, 10)),
        )
        out.append((response.occurred_at, response.event_id, response))
    return out


def _token(rng: random.Random, used: set[str]) -> str:
    while True:
        token = f"MG-{rng.getrandbits(24):06X}"
        if token not in used:
            used.add(token)
            return token


def generate_campaign(
    spec: CampaignSpec, reference: ReferenceData, model: ScoringModel | None = None
) -> list[Event]:
    """Every event of the campaign in arrival order (see the module docstring), with answers
    on the scales of `model` (the shipped default model when None)."""
    model = default_model() if model is None else model
    phone = _Assessment.of(model, "phone")
    mail = _Assessment.of(model, "mail")
    if spec.calls_per_municipality and not phone.criteria:
        raise ValueError(
            f"scoring model {model.key} has no phone criterion the caller answers; a call "
            "assessment needs at least one"
        )
    days = _days(spec)
    start = spec.start.astimezone(AMSTERDAM)
    tokens: set[str] = set()
    arrivals: list[tuple[datetime, str, EventBase]] = []
    for code in _sample(spec, reference):
        profile = _profile(random.Random(f"meetlat-demo/{spec.seed}/{code}"))
        rng = random.Random(f"meetlat-demo/{spec.seed}/{spec.campaign}/w{spec.wave}/{code}")
        municipality = reference.municipalities[code]
        prefix = f"{spec.campaign}-w{spec.wave}-{code}"
        contacts: list[tuple[_Contact, datetime]] = []

        offset = rng.randrange(len(CASES))
        for i, placed in enumerate(
            _moments(spec.calls_per_municipality, days, OFFICE_MINUTES - 30, start, rng)
        ):
            contact = _Contact(
                f"{prefix}-call-{i + 1}", code, spec, CASES[(offset + i) % len(CASES)]
            )
            contacts.append((contact, _call(contact, profile, placed, phone, rng)))

        offset = rng.randrange(len(CASES))
        for i, sent in enumerate(
            _moments(spec.mails_per_municipality, days, OFFICE_MINUTES - 10, start, rng)
        ):
            contact = _Contact(
                f"{prefix}-mail-{i + 1}", code, spec, CASES[(offset + i) % len(CASES)]
            )
            token = _token(rng, tokens)
            assessed = _mail(contact, profile, sent, token, municipality.name, mail, rng)
            contacts.append((contact, assessed))

        arrivals.extend(_surveys(spec, code, profile, days, start))

        for contact, assessed in contacts:
            for event in contact.events:
                arrival = event.occurred_at
                if isinstance(event, CallbackMade | MailReplied) and _chance(rng, LATE_REPORT):
                    arrival = _stamp(_later(assessed, rng.uniform(3600, 3 * 86400)))
                arrivals.append((arrival, event.event_id, event))
    arrivals.sort(key=lambda item: (item[0], item[1]))
    return [cast(Event, event) for _, _, event in arrivals]


def campaign_waves(spec: CampaignSpec, waves: int, reference: ReferenceData) -> list[Event]:
    """A remeasurement: `waves` waves of the campaign, half a year apart (wave w uses seed
    spec.seed + w − 1), as one log in event-time order."""
    events: list[Event] = []
    for wave in range(1, waves + 1):
        events.extend(
            generate_campaign(
                replace(
                    spec,
                    wave=wave,
                    seed=spec.seed + wave - 1,
                    start=spec.start + timedelta(weeks=26 * (wave - 1)),
                ),
                reference,
            )
        )
    return sorted(events, key=lambda e: (e.occurred_at, e.event_id))


def write_jsonl(events: Iterable[Event], path: Path) -> int:
    """Write one JSON object per line (the wire contract); returns the number written."""
    count = 0
    with Path(path).open("wb") as out:
        for event in events:
            out.write(EVENT_ADAPTER.dump_json(event))
            out.write(b"\n")
            count += 1
    return count
