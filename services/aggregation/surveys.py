"""KTO (customer-satisfaction survey) figures per scope and survey channel.

Pure functions over `SurveyResponse` events, following the NVVB factsheet (seed 002):

- totaaloordeel: the mean of its own question ("Welk rapportcijfer geeft u voor de manier waarop
  u in het algemeen bent geholpen?"), never an average of the other items;
- CES (Customer Effort Score): % of respondents with little or no effort (answers 1–2) minus %
  with (very) much effort (answers 4–5), in percentage points; the neutral answer 3 counts in
  the denominator only, so CES runs from −100 to +100;
- NPS (Net Promoter Score): % promoters (9–10) minus % detractors (0–6) among the respondents who
  answered the recommend question;
- hostmanship: the mean of each of the six 1–10 items;
- a result is shown only from `MIN_RESPONDENTS` (10) respondents; below that every figure is
  None and the status says "too few responses", never a number.

Duplicated events (same event_id) count once, and the figures do not depend on the order of
the responses (integer answers: exact integer sums, one correctly rounded division).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, Protocol, get_args

import orjson

from schemas.benchmarks import SurveyFigures
from schemas.events import SurveyChannel, SurveyResponse

MIN_RESPONDENTS: Final = 10
"""Seed 002: results are shown only with at least 10 respondents."""

PUBLISHED: Final = "published"
TOO_FEW: Final = "too few responses"
Status = Literal["published", "too few responses"]

SURVEY_CHANNELS: tuple[SurveyChannel, ...] = get_args(SurveyChannel)
ALL: Final = "all"


class SurveyAnswers(Protocol):
    @property
    def totaaloordeel(self) -> int: ...
    @property
    def effort(self) -> int: ...
    @property
    def hostmanship(self) -> tuple[int, ...]: ...
    @property
    def recommend(self) -> int | None: ...
    @property
    def survey_channel(self) -> str: ...


class SurveyRecord(NamedTuple):
    """One response, flat: what the figures need, sent upward from a municipality."""

    survey_channel: str
    totaaloordeel: int
    effort: int
    hostmanship: tuple[int, ...]
    recommend: int | None

    def to_json(self) -> list[float | int | str | None]:
        return [
            self.survey_channel,
            self.totaaloordeel,
            self.effort,
            *self.hostmanship,
            self.recommend,
        ]

    @classmethod
    def from_json(cls, raw: Sequence[float | int | str | None]) -> SurveyRecord:
        channel, total, effort, *rest = raw
        *items, recommend = rest
        return cls(
            str(channel),
            int(total or 0),
            int(effort or 0),
            tuple(int(i or 0) for i in items),
            None if recommend is None else int(recommend),
        )

    @classmethod
    def of(cls, response: SurveyResponse) -> SurveyRecord:
        return cls(
            response.survey_channel,
            response.totaaloordeel,
            response.effort,
            tuple(response.hostmanship),
            response.recommend,
        )


@dataclass(frozen=True, slots=True)
class SurveyEntry:
    """A response as a municipality's ledger holds it, under its event id."""

    campaign: str
    wave: int
    as_of: float
    record: SurveyRecord

    @classmethod
    def of(cls, response: SurveyResponse) -> SurveyEntry:
        at = response.occurred_at.timestamp()
        return cls(response.campaign, response.wave, at, SurveyRecord.of(response))

    def to_json(self) -> list[Any]:
        return [self.campaign, self.wave, self.as_of, self.record.to_json()]

    @classmethod
    def from_json(cls, raw: Sequence[Any]) -> SurveyEntry:
        campaign, wave, as_of, record = raw
        return cls(str(campaign), int(wave), float(as_of), SurveyRecord.from_json(record))

    def wins_over(self, other: SurveyEntry) -> bool:
        """Which of two different responses sharing an event id counts, whatever the order
        they came in: the one whose JSON is the smaller byte string (a total order, also
        when an answer such as `recommend` is missing from one of them)."""
        return orjson.dumps(self.to_json()) < orjson.dumps(other.to_json())


def unique_responses(responses: Iterable[SurveyResponse]) -> list[SurveyResponse]:
    """One response per event_id, chosen as a ledger chooses (`SurveyEntry.wins_over`)."""
    chosen: dict[str, tuple[SurveyEntry, SurveyResponse]] = {}
    for response in responses:
        entry = SurveyEntry.of(response)
        held = chosen.get(response.event_id)
        if held is None or entry.wins_over(held[0]):
            chosen[response.event_id] = (entry, response)
    return [response for _, response in chosen.values()]


def _figures(unique: Sequence[SurveyAnswers]) -> SurveyFigures:
    n = len(unique)
    if n < MIN_RESPONDENTS:
        return SurveyFigures(
            respondents=n,
            published=False,
            status=TOO_FEW,
            totaaloordeel=None,
            ces=None,
            nps=None,
            nps_respondents=None,
            hostmanship=None,
        )
    little = sum(1 for r in unique if r.effort <= 2)
    much = sum(1 for r in unique if r.effort >= 4)
    recommends = [r.recommend for r in unique if r.recommend is not None]
    promoters = sum(1 for v in recommends if v >= 9)
    detractors = sum(1 for v in recommends if v <= 6)
    return SurveyFigures(
        respondents=n,
        published=True,
        status=PUBLISHED,
        # answers are whole numbers: their sum is exact, and int / int is correctly rounded
        totaaloordeel=sum(r.totaaloordeel for r in unique) / n,
        ces=100.0 * (little - much) / n,
        nps=100.0 * (promoters - detractors) / len(recommends) if recommends else None,
        nps_respondents=len(recommends),
        hostmanship=tuple(
            sum(item) / n for item in zip(*(r.hostmanship for r in unique), strict=True)
        ),
    )


def survey_figures(responses: Iterable[SurveyResponse]) -> SurveyFigures:
    """The KTO figures of the given responses (all of one scope; the caller selects it)."""
    return _figures(unique_responses(responses))


def survey_breakdowns(responses: Iterable[SurveyResponse]) -> dict[str, SurveyFigures]:
    """Figures for "all" responses and per "survey_channel=counter|phone|digital" (only the
    channels that have at least one response), in that order."""
    return breakdowns_of_answers(unique_responses(responses))


def overall_figures(unique: Sequence[SurveyAnswers]) -> SurveyFigures:
    """The "all" figures of responses already made unique (one per event_id)."""
    return _figures(unique)


def breakdowns_of_answers(unique: Sequence[SurveyAnswers]) -> dict[str, SurveyFigures]:
    """`survey_breakdowns` of responses already made unique (one per event_id)."""
    out = {ALL: _figures(unique)}
    for channel in SURVEY_CHANNELS:
        selected = [r for r in unique if r.survey_channel == channel]
        if selected:
            out[f"survey_channel={channel}"] = _figures(selected)
    return out
