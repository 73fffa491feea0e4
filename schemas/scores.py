"""Score revisions: what the scorer emits whenever a contact's facts change."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import CbsCode, Channel


class CriterionScore(BaseModel):
    """One criterion's contribution to a contact score."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    criterion: str
    dimension: str
    weight: float
    value: float | None = Field(description="1–10 on the criterion's scale; None when N/A.")
    observation: str = Field(default="", description="The answer or measured quantity scored.")


class Correction(BaseModel):
    """A correction applied to the total, e.g. when the entrepreneur had to call back himself."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    kind: str
    points: float = Field(description="Points subtracted from the total (before clamping at 0).")
    reason: str


class ContactScore(BaseModel):
    """The score of one contact given the facts known so far (pure result, no revision yet).

    Every number is finite: JSON parsing would otherwise accept NaN and Infinity, and one such
    revision would fail every aggregation batch it is in instead of being dead-lettered."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    contact_id: str
    municipality: CbsCode
    campaign: str
    wave: int
    case: str
    channel: Channel
    total: float = Field(description="Weighted score after corrections, 0–10.")
    form: float | None
    content: float | None
    potential: float | None = Field(
        description="The score had the contact been completed at once: no corrections; "
        "None for an unanswered contact (left out of the potential)."
    )
    answered: bool
    facts: dict[str, str | float] = Field(
        default_factory=dict,
        description="What was observed of the contact, for process figures: phone "
        "seconds_waited, transfers, warm_transfers, absent_transfers, transfer_handling, "
        "callback_promised, self_callback, callback (kept/kept_late/not_kept/not_offered; absent "
        "when completed at once); mail auto_reply, sent_at, replied_at, reply_hours, salutation, "
        "internal_forward, spelling_errors, jargon_terms, address_request.",
    )
    breakdown: tuple[CriterionScore, ...]
    corrections: tuple[Correction, ...]
    model_id: str
    model_version: str
    last_fact_at: datetime


class ScoreRevision(ContactScore):
    """A contact score as published on the scores topic; later revisions supersede earlier ones."""

    revision: int = Field(ge=1)
