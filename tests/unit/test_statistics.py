"""Pure statistics of issue 4: summaries, bands, ranks, wave changes, the KTO × MC matrix."""

from __future__ import annotations

import math
import random
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from services.aggregation.statistics import (
    EMPTY_SUMMARY,
    Rank,
    Summary,
    band,
    compare_waves,
    quadrant,
    ranks,
    summarise,
)

WELCH = "Welch's t-test (two-sided, α = 0.05)"

# ---------------------------------------------------------------- summarise


def test_summarise_empty() -> None:
    assert summarise([]) == EMPTY_SUMMARY
    assert summarise([]) == Summary(0, None, None, None, None, None, None, None)


def test_summarise_single_value_has_no_spread() -> None:
    s = summarise([6.5])
    assert (s.n, s.mean, s.min, s.max, s.median) == (1, 6.5, 6.5, 6.5, 6.5)
    assert s.sd is None and s.ci_low is None and s.ci_high is None


def test_summarise_against_hand_computation() -> None:
    values = [4.0, 6.0, 8.0, 9.0, 3.0]
    s = summarise(values)
    # mean 30 / 5 = 6; squared deviations 4 + 0 + 4 + 9 + 9 = 26; variance 26 / 4 = 6.5
    assert s.n == 5
    assert s.mean == 6.0
    assert s.sd == pytest.approx(math.sqrt(6.5), rel=1e-15)
    half = stats.t.ppf(0.975, 4) * math.sqrt(6.5) / math.sqrt(5)
    assert half == pytest.approx(3.1656, abs=1e-4)  # t(0.975; 4) = 2.7764
    assert s.ci_low == pytest.approx(6.0 - half, rel=1e-12)
    assert s.ci_high == pytest.approx(6.0 + half, rel=1e-12)
    assert (s.min, s.max, s.median) == (3.0, 9.0, 6.0)


def test_summarise_two_values_and_even_median() -> None:
    s = summarise([7.0, 5.0])
    assert s.mean == 6.0
    assert s.sd == pytest.approx(math.sqrt(2.0))
    half = stats.t.ppf(0.975, 1) * math.sqrt(2.0) / math.sqrt(2.0)  # t(0.975; 1) = 12.706
    assert s.ci_low == pytest.approx(6.0 - half) and s.ci_high == pytest.approx(6.0 + half)
    assert summarise([1.0, 2.0, 3.0, 10.0]).median == 2.5


def test_summarise_constant_sample_has_zero_width_interval() -> None:
    s = summarise([7.0] * 4)
    assert s.sd == 0.0 and s.ci_low == 7.0 and s.ci_high == 7.0


def test_summarise_rejects_non_finite() -> None:
    with pytest.raises(ValueError):
        summarise([1.0, math.nan])
    with pytest.raises(ValueError):
        summarise([math.inf])


scores = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(scores, max_size=40), st.randoms(use_true_random=False))
def test_summarise_does_not_depend_on_order(values: list[float], rnd: random.Random) -> None:
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert summarise(shuffled) == summarise(values)
    assert summarise(list(reversed(values))) == summarise(values)


# ---------------------------------------------------------------- bands


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, "red"),
        (5.4999, "red"),
        (5.5, "yellow"),
        (6.9999, "yellow"),
        (7.0, "green"),
        (10.0, "green"),
        (None, None),
    ],
)
def test_band_edges(score: float | None, expected: str | None) -> None:
    assert band(score) == expected


def test_band_thresholds_are_parameters() -> None:
    assert band(6.0, sufficient=6.0, norm=8.0) == "yellow"
    assert band(5.9, sufficient=6.0, norm=8.0) == "red"
    assert band(7.5, sufficient=6.0, norm=8.0) == "yellow"
    assert band(8.0, sufficient=6.0, norm=8.0) == "green"
    with pytest.raises(ValueError):
        band(6.0, sufficient=8.0, norm=7.0)
    with pytest.raises(ValueError):
        band(math.nan)


# ---------------------------------------------------------------- ranks


def test_ranks_empty_and_single() -> None:
    assert ranks({}) == {}
    assert ranks({"GM0344": 6.1}) == {"GM0344": Rank(1, 1, 100.0)}


def test_ranks_distinct_scores() -> None:
    r = ranks({"a": 6.0, "b": 8.0, "c": 7.0})
    assert r == {"b": Rank(1, 3, 100.0), "c": Rank(2, 3, 50.0), "a": Rank(3, 3, 0.0)}
    assert list(r) == ["b", "c", "a"]


def test_ranks_ties_share_the_best_position() -> None:
    r = ranks({"a": 9.0, "b": 7.0, "c": 7.0, "d": 5.0, "e": 4.0})
    assert [r[k].position for k in "abcde"] == [1, 2, 2, 4, 5]
    # percentile = 100 × strictly lower / (n − 1)
    assert [r[k].percentile for k in "abcde"] == [100.0, 50.0, 50.0, 25.0, 0.0]
    assert all(x.of == 5 for x in r.values())


def test_ranks_tie_for_first_and_last() -> None:
    r = ranks({"a": 8.0, "b": 8.0, "c": 6.0, "d": 6.0})
    assert r == {
        "a": Rank(1, 4, 200 / 3),
        "b": Rank(1, 4, 200 / 3),
        "c": Rank(3, 4, 0.0),
        "d": Rank(3, 4, 0.0),
    }


def test_ranks_all_equal() -> None:
    r = ranks({k: 6.2 for k in "abcd"})
    assert all(x == Rank(1, 4, 0.0) for x in r.values())


def test_ranks_reject_nan() -> None:
    with pytest.raises(ValueError):
        ranks({"a": math.nan})


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="abcdefgh", min_size=1, max_size=3),
        st.sampled_from([4.0, 5.5, 6.2, 7.0, 8.25]) | scores,
        max_size=25,
    ),
    st.randoms(use_true_random=False),
)
def test_ranks_are_permutation_invariant(scores_: dict[str, float], rnd: random.Random) -> None:
    items = list(scores_.items())
    rnd.shuffle(items)
    shuffled = dict(items)
    result = ranks(scores_)
    assert ranks(shuffled) == result
    assert list(ranks(shuffled)) == list(result)  # same order, too
    n = len(scores_)
    for key, rank in result.items():
        higher = sum(1 for v in scores_.values() if v > scores_[key])
        lower = sum(1 for v in scores_.values() if v < scores_[key])
        assert rank.position == higher + 1 and rank.of == n
        assert rank.percentile == (100.0 if n == 1 else 100.0 * lower / (n - 1))
        assert 0.0 <= rank.percentile <= 100.0


# ---------------------------------------------------------------- waves


def test_compare_waves_clear_improvement_is_significant() -> None:
    previous = [5.0, 5.5, 6.0, 5.2, 5.8, 5.4, 5.6]
    current = [7.5, 8.0, 7.8, 8.2, 7.6, 8.1, 7.9]
    w = compare_waves(previous, current)
    assert w.previous_mean == pytest.approx(38.5 / 7)
    assert w.current_mean == pytest.approx(55.1 / 7)
    assert w.change == pytest.approx(55.1 / 7 - 38.5 / 7)
    expected = stats.ttest_ind(previous, current, equal_var=False).pvalue
    assert w.p_value == pytest.approx(float(expected))
    assert w.p_value is not None and w.p_value < 0.001
    assert w.significant is True
    assert w.test == WELCH


def test_compare_waves_noise_is_not_significant() -> None:
    previous = [4.0, 8.0, 6.0, 7.0, 5.0]
    current = [5.0, 8.5, 6.0, 7.5, 4.5]
    w = compare_waves(previous, current)
    assert w.change == pytest.approx(0.3)
    assert w.p_value is not None and w.p_value > 0.5
    assert w.significant is False


def test_compare_waves_is_order_independent() -> None:
    a, b = [5.0, 5.5, 6.1, 5.2, 4.9], [6.0, 6.4, 5.9, 7.1]
    assert compare_waves(a, b) == compare_waves(a[::-1], b[::-1])


@pytest.mark.parametrize(
    ("previous", "current"), [([], []), ([6.0], [7.0, 8.0]), ([6.0, 7.0], [9.0]), ([], [7.0, 8.0])]
)
def test_compare_waves_fewer_than_two_values(previous: list[float], current: list[float]) -> None:
    w = compare_waves(previous, current)
    assert w.p_value is None and w.significant is False and w.test == WELCH


def test_compare_waves_with_one_empty_wave_has_no_change() -> None:
    w = compare_waves([], [7.0, 8.0])
    assert w.previous_mean is None and w.current_mean == 7.5 and w.change is None
    w = compare_waves([6.0], [7.0, 8.0])
    assert w.change == 1.5 and not w.significant


def test_compare_waves_without_spread() -> None:
    same = compare_waves([6.0, 6.0, 6.0], [6.0, 6.0])
    assert same.change == 0.0 and same.p_value is None and not same.significant
    moved = compare_waves([6.0, 6.0, 6.0], [7.0, 7.0])
    assert moved.change == 1.0 and moved.p_value == 0.0 and moved.significant


def test_compare_waves_one_wave_without_spread_uses_welch() -> None:
    w = compare_waves([6.0, 6.0, 6.0], [7.0, 8.0, 9.0])
    with warnings.catch_warnings():  # scipy warns about the wave without spread
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = float(stats.ttest_ind([6.0] * 3, [7.0, 8.0, 9.0], equal_var=False).pvalue)
    assert w.p_value == pytest.approx(expected)  # t = −3.46, df = 2, p ≈ 0.074
    assert not w.significant
    assert compare_waves([6.0, 6.0, 6.0], [7.0, 8.0, 9.0], alpha=0.1).significant


def test_compare_waves_alpha_in_label_and_validation() -> None:
    assert compare_waves([1.0, 2.0], [3.0, 4.0], alpha=0.01).test == (
        "Welch's t-test (two-sided, α = 0.01)"
    )
    with pytest.raises(ValueError):
        compare_waves([1.0, 2.0], [3.0, 4.0], alpha=0.0)
    with pytest.raises(ValueError):
        compare_waves([1.0, math.nan], [3.0, 4.0])


# ---------------------------------------------------------------- benchmark matrix


@pytest.mark.parametrize(
    ("survey", "mystery", "expected"),
    [
        (7.0, 7.0, "KTO+ MC+"),
        (8.0, 6.99, "KTO+ MC-"),
        (6.99, 7.0, "KTO- MC+"),
        (6.0, 5.0, "KTO- MC-"),
        (None, 7.0, None),
        (7.0, None, None),
        (None, None, None),
    ],
)
def test_quadrant_against_the_norm(
    survey: float | None, mystery: float | None, expected: str | None
) -> None:
    assert quadrant(survey, mystery, 7.0, 7.0) == expected


def test_quadrant_against_national_medians() -> None:
    # e.g. national median totaaloordeel 7.4, national median mystery-guest score 6.2
    assert quadrant(7.4, 6.2, 7.4, 6.2) == "KTO+ MC+"
    assert quadrant(7.39, 6.3, 7.4, 6.2) == "KTO- MC+"
    assert quadrant(7.5, 6.19, 7.4, 6.2) == "KTO+ MC-"
