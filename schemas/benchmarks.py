"""Benchmarks: running figures per scope and wave, as published on the benchmarks topic.

A *scope* is a municipality, a Chamber or the nation, within one campaign and wave. Its figure
set is keyed on the compacted benchmarks topic by `BenchmarkUpdated.scope_key`; a later version
replaces an earlier one, and a `retracted` one withdraws the scope's wave. The batch oracle
(`meetlat recompute --json`) prints the same models.

Breakdown keys (of `BenchmarkUpdated.breakdowns`), each a sample of contact scores:

- `all` — every contact's total; `channel=phone`, `channel=mail` — per channel;
- `channel=C/dimension=form|content` — the form and content scores;
- `channel=C/phase=P` — the weighted mean of the criteria of customer-journey phase P;
- `channel=C/case=K` — totals per case (casus);
- `channel=C/criterion=X` — the values of criterion X (N/A left out).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ScopeKind = Literal["municipality", "chamber", "nation"]
Band = Literal["red", "yellow", "green"]
Quadrant = Literal["KTO+ MC+", "KTO+ MC-", "KTO- MC+", "KTO- MC-"]
NATION_ID = "NL"
ALL = "all"
STANDING_BREAKDOWNS: tuple[str, ...] = (ALL, "channel=phone", "channel=mail")
"""The breakdowns municipalities are ranked on within their Chamber and the nation."""


class _Frozen(BaseModel):
    # NaN and infinity are refused: passed on, they would fail every later summary of the
    # figures (and PostgreSQL's and orjson's JSON refuse them), so the message that carried
    # them could never be processed; refused, it is dead-lettered
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Figures(_Frozen):
    """Summary of the latest contact scores in one scope, wave and breakdown.

    sd is the sample standard deviation; ci_low/ci_high bound the 95% confidence interval of
    the mean (Student's t, n − 1 degrees of freedom); both None for n < 2. The previous_* and
    change fields compare with the previous wave of the campaign (None in a first wave);
    `significant` follows the test named in `BenchmarkUpdated.wave_test`.
    """

    n: int = Field(ge=0)
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    min: float | None
    max: float | None
    median: float | None
    potential_n: int = Field(ge=0, description="Contacts that count towards the potential.")
    potential_mean: float | None
    band: Band | None = Field(description="Colour of the mean: thresholds of the scoring model.")
    previous_n: int | None = None
    previous_mean: float | None = None
    change: float | None = None
    p_value: float | None = None
    significant: bool = False


class ProcessFigures(_Frozen):
    """Process figures of a set of contacts (one latest score per contact).

    Shares are fractions 0–1; a share, mean or median is None when its denominator is 0.

    Phone (over the phone contacts):
    - `calls`: number of calls.
    - `first_attempt_share`: calls answered and completed at once — no callback promised and the
      entrepreneur did not have to call back himself — over all calls.
    - `transfers_per_call`: mean number of transfers per call.
    - `warm_transfer_share`: warm transfers (briefed colleague, present) over all transfers of
      all calls; None when there were no transfers.
    - `callbacks_promised`: calls with a promised callback.
    - `callbacks_kept` / `callbacks_late` / `callbacks_never`: calls whose callback was made on
      time / made after its deadline / not made (deadline passed or the entrepreneur called back
      himself). A promised callback still before its deadline is in none of the three; a
      callback made without a recorded promise is counted as kept, as the scorer records it.
    - `self_callbacks`: calls where the entrepreneur had to call back himself.

    Mail (over the mail contacts):
    - `mails`: number of mails sent and scored (answered, or unanswered past the deadline).
    - `answered_share`: mails with a real reply (an auto-reply is not one) over all mails.
    - `auto_reply_share`: mails that got an auto-reply over all mails.
    - `mean_reply_hours` / `median_reply_hours`: clock hours from sending to the reply, over
      the answered mails.
    - `mean_reply_working_hours` / `median_reply_working_hours`: the same in working hours
      (`working_hours_between` with its default office hours).
    - `answered_within_24h_share`: mails answered within 24 clock hours (≤ 24) over all mails,
      so an unanswered mail counts as not answered within 24 hours.
    """

    calls: int
    first_attempt_share: float | None
    transfers_per_call: float | None
    warm_transfer_share: float | None
    callbacks_promised: int
    callbacks_kept: int
    callbacks_late: int
    callbacks_never: int
    self_callbacks: int
    mails: int
    answered_share: float | None
    auto_reply_share: float | None
    mean_reply_hours: float | None
    median_reply_hours: float | None
    mean_reply_working_hours: float | None
    median_reply_working_hours: float | None
    answered_within_24h_share: float | None


class SurveyFigures(_Frozen):
    """The KTO figures of one scope and breakdown.

    `respondents` counts distinct responses. When `published` is False (fewer than
    `MIN_RESPONDENTS`), `status` is "too few responses" and every figure is None.
    `nps_respondents` counts the respondents who answered the recommend question; `nps` is
    None when none of them did.
    """

    respondents: int
    published: bool
    status: Literal["published", "too few responses"]
    totaaloordeel: float | None
    ces: float | None
    nps: float | None
    nps_respondents: int | None
    hostmanship: tuple[float, ...] | None


class Standing(_Frozen):
    """A municipality's place within a Chamber or the nation on one breakdown."""

    mean: float
    rank: int = Field(ge=1, description="1 is the best; ties share the best rank.")
    of: int = Field(ge=1)
    percentile: float = Field(ge=0, le=100)
    band: Band


class BenchmarkUpdated(_Frozen):
    """The full figure set of one scope in one campaign wave."""

    scope_kind: ScopeKind
    scope_id: str
    name: str
    campaign: str
    wave: int = Field(ge=1)
    version: int = Field(ge=1, description="Grows with every update of this scope.")
    as_of: datetime | None = Field(
        description="Event time of the latest fact reflected (stream position in event time)."
    )
    contacts: int = Field(ge=0, description="Contacts (latest revisions) reflected.")
    breakdowns: dict[str, Figures] = Field(description="Breakdown key → figures (module doc).")
    process: ProcessFigures
    surveys: dict[str, SurveyFigures] = Field(
        description="'all' and 'survey_channel=counter|phone|digital' → KTO figures."
    )
    standings: dict[str, dict[str, Standing]] = Field(
        default_factory=dict,
        description="Chamber and nation only: breakdown → municipality → standing.",
    )
    quadrants: dict[str, Quadrant] = Field(
        default_factory=dict,
        description="Nation only: municipality → place in the KTO × mystery-guest matrix.",
    )
    quadrant_reference: str = ""
    previous_wave: int | None = None
    wave_test: str = ""
    retracted: bool = Field(
        default=False,
        description=(
            "True when the scope's wave has no contact or response left (they moved to another "
            "wave): a retraction, with no figures, of the benchmark published before; readers "
            "drop the scope's wave until a later version brings figures again."
        ),
    )

    @property
    def scope_key(self) -> str:
        return scope_key(self.scope_kind, self.scope_id, self.campaign, self.wave)


def scope_key(kind: str, scope_id: str, campaign: str, wave: int) -> str:
    return f"{kind}:{scope_id}:{campaign}:{wave}"


ProcessRecordWire = tuple[
    str,  # channel
    int,  # answered (0 or 1)
    float,  # transfers
    float,  # warm transfers
    int,  # callback promised (0 or 1)
    int,  # self-callback (0 or 1)
    str | None,  # callback: "kept", "kept_late", "not_kept"
    int,  # auto-reply (0 or 1)
    float | None,  # reply hours
    float | None,  # reply working hours
]
"""One contact's process record on the wire (`services.aggregation.process.ProcessRecord`)."""

SurveyRecordWire = tuple[
    str,  # survey channel
    int,  # totaaloordeel
    int,  # effort
    int,  # the six hostmanship items
    int,
    int,
    int,
    int,
    int,
    int | None,  # recommend
]
"""One survey response on the wire (`services.aggregation.surveys.SurveyRecord`)."""


class PartialUpdated(_Frozen):
    """Internal aggregation message: one municipality's contribution to one campaign wave,
    sent to each scope (its Chamber, the nation) that combines them.

    `samples`: breakdown → [sorted values, sorted potentials]; `process`: one record per contact
    (see `services.aggregation.process.ProcessRecord`); `surveys`: one record per response.
    Without any record (no contact, no response) the municipality retracted the wave, and is
    no member of it any more."""

    target_kind: ScopeKind
    target_id: str
    municipality: str
    campaign: str
    wave: int = Field(ge=1)
    version: int = Field(ge=1)
    as_of: datetime | None
    samples: dict[str, tuple[list[float], list[float]]]
    # typed position by position: a record of another shape is refused here (and the message
    # dead-lettered), not met by the combiner half-way through its batch
    process: list[ProcessRecordWire]
    surveys: list[SurveyRecordWire]
