"""Pure statistics for benchmarks: summaries, bands, ranks, wave changes, the KTO × MC matrix.

No faust, Kafka or SQL here. Every function is deterministic and independent of the order of
its input: sums use `math.fsum` (exactly rounded, so the same multiset of values always gives
the same bits) and medians are taken of the sorted values (as `statistics.median` does);
scipy is handed figures of the samples, never the samples. Distributions and tests come from
scipy, never hand-rolled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

from scipy import special as _special

Band = Literal["red", "yellow", "green"]
Quadrant = Literal["KTO+ MC+", "KTO+ MC-", "KTO- MC+", "KTO- MC-"]

CONFIDENCE = 0.95
"""Confidence level of `Summary.ci_low` / `Summary.ci_high`."""

SUFFICIENT = 5.5
"""Default lower bound of the yellow band (sufficient); below it a score is red."""

NORM = 7.0
"""Default norm, the minimum aim: from it a score is green."""


def _finite(values: Sequence[float], what: str) -> list[float]:
    out = list(map(float, values))
    if not all(map(math.isfinite, out)):
        bad = next(v for v in out if not math.isfinite(v))
        raise ValueError(f"{what}: every value must be a finite number, got {bad!r}")
    return out


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _sample_sd(values: Sequence[float], mean: float) -> float:
    """Sample standard deviation (ddof = 1); needs at least two values."""
    return math.sqrt(math.fsum([(v - mean) ** 2 for v in values]) / (len(values) - 1))


# ---------------------------------------------------------------- summary


@lru_cache(maxsize=4096)
def _t_quantile(df: float) -> float:
    """Student's t quantile for the two-sided CONFIDENCE interval (scipy's stdtrit ufunc:
    the same numbers as scipy.stats.t.ppf, without its per-call overhead)."""
    return float(_special.stdtrit(df, (1 + CONFIDENCE) / 2))


class Summary(NamedTuple):
    """Descriptive figures of one sample of scores (a tuple: one is made per breakdown and
    wave for every update, and a frozen dataclass costs several times as much to make).

    `sd` is the sample standard deviation (ddof = 1). `ci_low`/`ci_high` bound the 95%
    confidence interval of the mean, mean ± t(0.975; n − 1) · sd / √n with Student's t on
    n − 1 degrees of freedom. Both are None for n < 2; every figure is None for n = 0.
    """

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    min: float | None
    max: float | None
    median: float | None


EMPTY_SUMMARY = Summary(
    n=0, mean=None, sd=None, ci_low=None, ci_high=None, min=None, max=None, median=None
)


def summarise(values: Sequence[float]) -> Summary:
    """n, mean, sd, 95% CI of the mean, min, max and median of `values`.

    The result does not depend on the order of `values` (bit for bit). Raises ValueError on a
    NaN or infinite value.
    """
    xs = sorted(_finite(values, "summarise"))  # (a scope's samples come sorted: cheap)
    n = len(xs)
    if n == 0:
        return EMPTY_SUMMARY
    mean = _mean(xs)
    sd: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    if n >= 2:
        sd = _sample_sd(xs, mean)
        half = _t_quantile(n - 1) * sd / math.sqrt(n)
        ci_low, ci_high = mean - half, mean + half
    return Summary(
        n=n,
        mean=mean,
        sd=sd,
        ci_low=ci_low,
        ci_high=ci_high,
        min=xs[0],
        max=xs[-1],
        median=_median_of_sorted(xs),
    )


def _median_of_sorted(xs: Sequence[float]) -> float:
    """`statistics.median` of values already sorted (the same arithmetic, without sorting)."""
    middle = len(xs) // 2
    if len(xs) % 2:
        return xs[middle]
    return (xs[middle - 1] + xs[middle]) / 2


# ---------------------------------------------------------------- colour band


def band(score: float | None, sufficient: float = SUFFICIENT, norm: float = NORM) -> Band | None:
    """The colour band of a score: "red" below `sufficient` (insufficient), "yellow" from
    `sufficient` (sufficient, work to do), "green" from the `norm` (the minimum aim).

    The thresholds belong to the scoring model, so callers pass them; the defaults are the
    method's 5.5 and 7. None for a missing score. Raises ValueError for a NaN score or when
    `sufficient` > `norm`.
    """
    if sufficient > norm:
        raise ValueError(f"band: sufficient ({sufficient}) must not exceed the norm ({norm})")
    if score is None:
        return None
    if math.isnan(score):
        raise ValueError("band: score is NaN")
    if score >= norm:
        return "green"
    if score >= sufficient:
        return "yellow"
    return "red"


# ---------------------------------------------------------------- ranks


@dataclass(frozen=True)
class Rank:
    """A scope's place among `of` scopes: `position` 1 is the best, `percentile` in 0–100."""

    position: int
    of: int
    percentile: float


def ranks(scores: Mapping[str, float]) -> dict[str, Rank]:
    """Rank scopes by score, highest first.

    - position = 1 + the number of scopes with a strictly higher score: ties share the best
      position and the next position is skipped ("1224" competition ranking);
    - percentile = 100 × (number of scopes with a strictly lower score) / (n − 1), and 100 when
      n = 1. So the single best of n gets 100, the single worst 0, and when all n > 1 scores are
      equal every scope gets 0 (nobody is below it).

    A pure function of the mapping's contents (not of its order); the result is ordered by
    position, then key. Raises ValueError on a NaN or infinite score.
    """
    for key, value in scores.items():
        if not math.isfinite(value):
            raise ValueError(f"ranks: score of {key!r} must be finite, got {value!r}")
    n = len(scores)
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    out: dict[str, Rank] = {}
    higher = 0  # scopes with a strictly higher score than the current group
    i = 0
    while i < n:
        j = i
        while j < n and ordered[j][1] == ordered[i][1]:
            j += 1
        lower = n - j
        percentile = 100.0 if n == 1 else 100.0 * lower / (n - 1)
        for key, _ in ordered[i:j]:
            out[key] = Rank(position=higher + 1, of=n, percentile=percentile)
        higher = j
        i = j
    return out


# ---------------------------------------------------------------- waves


class WaveChange(NamedTuple):
    """The change of a figure from the previous wave to the current one (a tuple, like
    `Summary`).

    `change` = current_mean − previous_mean (None when either wave is empty); `significant` is
    True only when Welch's test rejects equal means at level α; `test` names the test.
    """

    previous_mean: float | None
    current_mean: float | None
    change: float | None
    p_value: float | None
    significant: bool
    test: str


@lru_cache(maxsize=16)
def welch_label(alpha: float = 0.05) -> str:
    return f"Welch's t-test (two-sided, α = {alpha:g})"


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"compare_waves: alpha must lie in (0, 1), got {alpha!r}")


def compare_waves(
    previous: Sequence[float], current: Sequence[float], alpha: float = 0.05
) -> WaveChange:
    """Compare two waves' scores with Welch's two-sided t-test (unequal variances).

    - Either wave with fewer than 2 values: no test; p_value None, not significant.
    - Both waves without any spread (every value of a wave equal) and equal means: nothing
      changed; p_value None, not significant.
    - Both waves without spread but different means: Welch's statistic is infinite and its
      p-value is 0 in the limit; we report p_value 0.0 and significant (every observation moved,
      without any noise to explain it). scipy returns the same, but this case is decided here.
    - Otherwise Welch's statistic t = (x̄₂ − x̄₁) / √(s₁²/n₁ + s₂²/n₂) on the
      Welch–Satterthwaite degrees of freedom, two-sided p = 2·(1 − T(|t|)) with Student's T from
      scipy's `stdtr` (what scipy.stats.ttest_ind(equal_var=False) computes); significant when
      p < α. Sums are exactly rounded, so the p-value does not depend on the input order.

    Raises ValueError on a NaN or infinite value or an α outside (0, 1).
    """
    _check_alpha(alpha)
    _finite(previous, "compare_waves previous")
    _finite(current, "compare_waves current")
    return compare_summaries(summarise(previous), summarise(current), alpha)


def compare_summaries(previous: Summary, current: Summary, alpha: float = 0.05) -> WaveChange:
    """`compare_waves` of two waves already summarised: the test reads only their n, mean,
    sd, min and max, so the figures are the same bits (a benchmark summarises each wave once)."""
    _check_alpha(alpha)
    prev_mean, cur_mean = previous.mean, current.mean
    change = cur_mean - prev_mean if prev_mean is not None and cur_mean is not None else None
    p_value = _welch_p_value(previous, current)
    return WaveChange(
        previous_mean=prev_mean,
        current_mean=cur_mean,
        change=change,
        p_value=p_value,
        significant=p_value is not None and p_value < alpha,
        test=welch_label(alpha),
    )


def _welch_p_value(previous: Summary, current: Summary) -> float | None:
    """The p-value of `compare_summaries` (None: no test)."""
    if previous.n < 2 or current.n < 2:
        return None
    if previous.min == previous.max and current.min == current.max:  # neither has any spread
        return None if previous.min == current.min else 0.0
    v1 = (previous.sd or 0.0) ** 2 / previous.n
    v2 = (current.sd or 0.0) ** 2 / current.n
    if v1 + v2 == 0.0:  # spreads too small to represent (underflow): as without spread
        return None if previous.mean == current.mean else 0.0
    t = ((current.mean or 0.0) - (previous.mean or 0.0)) / math.sqrt(v1 + v2)
    spread = v1**2 / (previous.n - 1) + v2**2 / (current.n - 1)
    # Welch–Satterthwaite; when the squares underflow, the pooled degrees of freedom
    df = (v1 + v2) ** 2 / spread if spread > 0.0 else float(previous.n + current.n - 2)
    p = float(2.0 * _special.stdtr(df, -abs(t)))
    return p if math.isfinite(p) else None


# ---------------------------------------------------------------- benchmark matrix


def quadrant(
    survey_score: float | None,
    mystery_score: float | None,
    survey_reference: float,
    mystery_reference: float,
) -> Quadrant | None:
    """Place a municipality in the benchmark matrix ("onderlegger", slide 7 of the method):
    its survey result (KTO) against its mystery-guest result (MC).

    "+" means the score is at least its reference, "−" below it. The references are chosen by
    the caller: either the norm (7) for both, or the national medians of the KTO totaaloordeel
    and of the mystery-guest score, as configured. None when either score is missing.
    """
    if survey_score is None or mystery_score is None:
        return None
    if math.isnan(survey_score) or math.isnan(mystery_score):
        raise ValueError("quadrant: a score is NaN")
    kto = "+" if survey_score >= survey_reference else "-"
    mc = "+" if mystery_score >= mystery_reference else "-"
    quadrants: dict[tuple[str, str], Quadrant] = {
        ("+", "+"): "KTO+ MC+",
        ("+", "-"): "KTO+ MC-",
        ("-", "+"): "KTO- MC+",
        ("-", "-"): "KTO- MC-",
    }
    return quadrants[kto, mc]
