"""KTO figures: totaaloordeel, CES, NPS, hostmanship, the n ≥ 10 rule, deduplication."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import SurveyChannel, SurveyResponse
from services.aggregation.surveys import (
    MIN_RESPONDENTS,
    SurveyFigures,
    survey_breakdowns,
    survey_figures,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOST = (7, 7, 7, 7, 7, 7)


def response(
    i: int,
    *,
    totaal: int = 7,
    effort: int = 2,
    hostmanship: tuple[int, int, int, int, int, int] = HOST,
    recommend: int | None = None,
    channel: SurveyChannel = "counter",
    event_id: str | None = None,
) -> SurveyResponse:
    return SurveyResponse(
        event_id=event_id or f"kto-{i}",
        contact_id=f"resp-{i}",
        municipality="GM0344",
        campaign="kto-2026",
        wave=1,
        case="kto",
        occurred_at=T0 + timedelta(minutes=i),
        survey_channel=channel,
        totaaloordeel=totaal,
        effort=effort,
        hostmanship=hostmanship,
        recommend=recommend,
    )


def many(n: int, **kwargs: Any) -> list[SurveyResponse]:
    return [response(i, **kwargs) for i in range(n)]


def test_min_respondents_is_ten() -> None:
    assert MIN_RESPONDENTS == 10


def test_nine_respondents_are_too_few() -> None:
    f = survey_figures(many(9))
    assert f == SurveyFigures(
        respondents=9,
        published=False,
        status="too few responses",
        totaaloordeel=None,
        ces=None,
        nps=None,
        nps_respondents=None,
        hostmanship=None,
    )


def test_ten_respondents_are_published() -> None:
    f = survey_figures(many(10, recommend=9))
    assert f.respondents == 10 and f.published and f.status == "published"
    assert f.totaaloordeel == 7.0 and f.ces == 100.0 and f.nps == 100.0
    assert f.hostmanship == (7.0,) * 6


def test_no_responses() -> None:
    f = survey_figures([])
    assert f.respondents == 0 and not f.published and f.status == "too few responses"
    assert f.totaaloordeel is None and f.ces is None


def test_totaaloordeel_is_its_own_question_not_the_item_average() -> None:
    totals = [8, 8, 7, 9, 6, 8, 7, 8, 9, 10]  # sum 80
    rs = [response(i, totaal=t, hostmanship=(5, 5, 5, 5, 5, 5)) for i, t in enumerate(totals)]
    f = survey_figures(rs)
    assert f.totaaloordeel == 8.0
    assert f.hostmanship == (5.0,) * 6


def test_hostmanship_item_means() -> None:
    rs = [response(i, hostmanship=(10, 9, 8, 7, 6, 5)) for i in range(5)]
    rs += [response(i, hostmanship=(6, 7, 8, 9, 10, 1)) for i in range(5, 10)]
    rs += [response(10, hostmanship=(2, 2, 2, 2, 2, 10))]
    f = survey_figures(rs)
    assert f.hostmanship == pytest.approx((82 / 11, 82 / 11, 82 / 11, 82 / 11, 82 / 11, 40 / 11))
    assert f.hostmanship is not None and len(f.hostmanship) == 6


def test_ces_little_minus_much_effort() -> None:
    # effort 1–2: 5, neutral 3: 3, effort 4–5: 2 → (5 − 2) / 10 = +30 points
    efforts = [1, 1, 2, 2, 2, 3, 3, 3, 4, 5]
    f = survey_figures([response(i, effort=e) for i, e in enumerate(efforts)])
    assert f.ces == 30.0


def test_ces_can_be_negative_and_neutral_counts_in_the_denominator() -> None:
    # 1 little, 4 neutral, 7 much → (1 − 7) / 12 = −50 points
    efforts = [2] + [3] * 4 + [4] * 3 + [5] * 4
    f = survey_figures([response(i, effort=e) for i, e in enumerate(efforts)])
    assert f.ces == -50.0
    assert survey_figures([response(i, effort=3) for i in range(10)]).ces == 0.0


def test_nps_promoters_minus_detractors_among_who_answered() -> None:
    # answered: 10, 9, 9, 8, 7, 6, 0, 5 → promoters 3, passives 2, detractors 3 → 0
    # plus 4 who skipped the question
    answers: list[int | None] = [10, 9, 9, 8, 7, 6, 0, 5, None, None, None, None]
    f = survey_figures([response(i, recommend=a) for i, a in enumerate(answers)])
    assert f.respondents == 12 and f.nps_respondents == 8
    assert f.nps == 0.0
    answers = [10, 10, 9, 9, 9, 8, 7, 3, None, None]  # 5 promoters, 1 detractor of 8 → 50
    assert survey_figures([response(i, recommend=a) for i, a in enumerate(answers)]).nps == 50.0


def test_nps_none_when_nobody_answered() -> None:
    f = survey_figures(many(12))
    assert f.published and f.nps is None and f.nps_respondents == 0


def test_duplicates_count_once() -> None:
    rs = many(9)
    f = survey_figures([*rs, *rs, rs[0]])
    assert f.respondents == 9 and not f.published
    f = survey_figures([*many(10, effort=1), response(0, effort=1)])
    assert f.respondents == 10 and f.ces == 100.0


def test_conflicting_duplicates_resolve_independently_of_order() -> None:
    base = many(10, effort=2)
    a = response(99, effort=1, event_id="dup")
    b = response(99, effort=5, event_id="dup")
    assert survey_figures([*base, a, b]) == survey_figures([b, *base, a])
    assert survey_figures([*base, a, b]).respondents == 11


def test_breakdowns_by_channel() -> None:
    rs = many(10, channel="counter", totaal=8)
    rs += [response(100 + i, channel="digital", totaal=6) for i in range(4)]
    out = survey_breakdowns(rs)
    assert list(out) == ["all", "survey_channel=counter", "survey_channel=digital"]
    assert out["all"].respondents == 14
    assert out["all"].totaaloordeel == pytest.approx(104 / 14)
    assert out["survey_channel=counter"].totaaloordeel == 8.0
    digital = out["survey_channel=digital"]
    assert digital.respondents == 4 and not digital.published and digital.totaaloordeel is None


def test_breakdowns_deduplicate_and_of_nothing() -> None:
    rs = many(10, channel="phone")
    out = survey_breakdowns([*rs, *rs])
    assert list(out) == ["all", "survey_channel=phone"]
    assert out["all"] == out["survey_channel=phone"]
    assert out["all"].respondents == 10
    assert survey_breakdowns([]) == {"all": survey_figures([])}


answers = st.builds(
    lambda i, t, e, h, r, c: response(i, totaal=t, effort=e, hostmanship=h, recommend=r, channel=c),
    st.integers(0, 40),
    st.integers(1, 10),
    st.integers(1, 5),
    st.tuples(*[st.integers(1, 10)] * 6),
    st.none() | st.integers(0, 10),
    st.sampled_from(["counter", "phone", "digital"]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(answers, max_size=40), st.randoms(use_true_random=False))
def test_survey_figures_do_not_depend_on_order(
    rs: list[SurveyResponse], rnd: random.Random
) -> None:
    shuffled = list(rs)
    rnd.shuffle(shuffled)
    assert survey_figures(shuffled) == survey_figures(rs)
    assert survey_breakdowns(shuffled) == survey_breakdowns(rs)
    assert survey_figures(rs + shuffled[:5]) == survey_figures(rs)  # duplicates change nothing
