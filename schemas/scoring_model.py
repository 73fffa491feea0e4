"""The contract of a scoring model file (the *meetlat*): criteria, scales, weights, corrections.

A research team edits the model as YAML (`services/scoring/models/*.yaml`); this module is the
pydantic v2 schema the file is validated against. Every problem names the offending criterion by
its id: the semantic checks do so themselves, and `parse_model` rewrites pydantic's structural
errors (`criteria.3.scale.bands.0.value`) into `criterion 'snelheid_mail' (scale.bands.0.value)`.

The *facts* below are the contract between a model and the scoring rules: a criterion is either
answered by the mystery guest in the assessment (`observe: None`, ordinal scale) or derived from
one observed fact of the contact's events (`observe: <fact>`): a categorical fact for an ordinal
scale, a numeric fact for a band scale.

Pure domain: pydantic only, no faust, Kafka or SQL.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.events import CHANNELS, Channel

Dimension = Literal["form", "content"]
DIMENSIONS: Final[tuple[Dimension, ...]] = ("form", "content")
Phase = Literal["contact", "informatie", "begeleiding", "afwikkeling"]
"""The customer-journey phases of slide 6 (mystery calling tests `contact` and `informatie`)."""

MIN_VALUE: Final = 1.0
MAX_VALUE: Final = 10.0

# Observed facts the scoring rules derive from a contact's events.
# Categorical facts (for ordinal scales with `observe:`) and their possible values:
CATEGORICAL_FACTS: Final[dict[str, tuple[Channel, tuple[str, ...]]]] = {
    # the worst transfer of the call; N/A when the call was not transferred
    "transfer_handling": ("phone", ("warm", "cold", "absent")),
    # N/A when the call was completed at once
    "callback": ("phone", ("kept", "kept_late", "not_kept", "not_offered")),
    "auto_reply": ("mail", ("yes", "no")),
    "salutation": ("mail", ("correct", "incorrect")),
    "internal_forward": ("mail", ("none", "leaked")),
    # N/A when no address was asked
    "address_request": ("mail", ("explained", "unexplained")),
}
# Numeric facts (for band scales):
NUMERIC_FACTS: Final[dict[str, Channel]] = {
    "seconds_waited": "phone",
    "transfers": "phone",
    "absent_transfers": "phone",
    "reply_hours": "mail",
    "spelling_errors": "mail",
    "jargon_terms": "mail",
}

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=80)]
ModelId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=80)]
Version = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z._+-]*$", max_length=40)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


def _num(value: float) -> str:
    """A scale number as a person writes it: 10, 5.4."""
    return f"{value:g}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrdinalScale(_Frozen):
    """An answer (or a categorical fact's value) → value 1–10."""

    kind: Literal["ordinal"]
    values: dict[Text, float] = Field(description="Answer → value 1–10, best first by custom.")

    def value(self, answer: str) -> float:
        try:
            return self.values[answer]
        except KeyError:
            allowed = ", ".join(repr(a) for a in self.values)
            raise ValueError(f"answer {answer!r} is not on the scale ({allowed})") from None

    def lowest(self) -> float:
        """The scale's lowest value (what a missing answer scores when N/A is not allowed)."""
        return min(self.values.values())

    def all_values(self) -> list[float]:
        return list(self.values.values())

    def summary(self) -> str:
        return " · ".join(f"{answer} {_num(v)}" for answer, v in self.values.items())


class Band(_Frozen):
    up_to: float = Field(description="Inclusive upper bound of the band.")
    value: float = Field(description="Value 1–10 of a measurement up to `up_to`.")


class BandScale(_Frozen):
    """A numeric fact → value: the first band whose `up_to` the measurement does not exceed
    gives the value; above the last bound, `above`."""

    kind: Literal["bands"]
    bands: list[Band]
    above: float = Field(description="Value 1–10 above the last bound.")

    def value(self, measured: float) -> float:
        for band in self.bands:
            if measured <= band.up_to:
                return band.value
        return self.above

    def lowest(self) -> float:
        """The scale's lowest value (what a missing answer scores when N/A is not allowed)."""
        return min(self.all_values())

    def all_values(self) -> list[float]:
        return [b.value for b in self.bands] + [self.above]

    def summary(self) -> str:
        parts = [f"≤{_num(b.up_to)} {_num(b.value)}" for b in self.bands]
        if self.bands:
            parts.append(f">{_num(self.bands[-1].up_to)} {_num(self.above)}")
        return " · ".join(parts)


Scale = Annotated[OrdinalScale | BandScale, Field(discriminator="kind")]


class Critical(_Frozen):
    """A knock-out item: when the criterion's value is below `below`, the contact's total is
    capped at `cap` (effect `cap`) or set to 0 (effect `zero`)."""

    below: float
    effect: Literal["cap", "zero"]
    cap: float | None = None

    def applies(self, value: float | None) -> bool:
        return value is not None and value < self.below

    def summary(self) -> str:
        outcome = f"cap {_num(self.cap)}" if self.effect == "cap" and self.cap is not None else "0"
        return f"<{_num(self.below)} → {outcome}"


class Criterion(_Frozen):
    """One scored parameter of a contact."""

    id: Slug
    label: Text = Field(description="Dutch label, e.g. 'Vriendelijkheid van de aanname'.")
    channel: Channel
    dimension: Dimension
    phases: list[Phase] = Field(default_factory=list, description="Customer-journey phases.")
    weight: float = Field(gt=0, allow_inf_nan=False)
    observe: str | None = Field(
        default=None,
        description="None: answered by the mystery guest in the assessment; else a fact name.",
    )
    scale: Scale
    na_allowed: bool = Field(
        default=True,
        description="False: a missing answer/fact scores the scale's lowest value.",
    )
    critical: Critical | None = None
    source: Text = Field(description="Where the values come from: seed slide, 003, rationale.")

    @property
    def answered(self) -> bool:
        """True when the mystery guest answers it in the assessment (not observed)."""
        return self.observe is None

    def value(self, observation: str | float) -> float:
        """The value of an answer / categorical fact value (ordinal) or a measurement (bands)."""
        if isinstance(self.scale, OrdinalScale):
            return self.scale.value(str(observation))
        return self.scale.value(float(observation))

    @model_validator(mode="after")
    def _check(self) -> Criterion:
        problems = list(self._problems())
        if problems:
            raise ValueError(f"criterion {self.id!r}: " + "; ".join(problems))
        return self

    def _problems(self) -> list[str]:
        out: list[str] = []
        scale = self.scale
        # ---- the scale itself
        if isinstance(scale, OrdinalScale):
            if not scale.values:
                out.append("an ordinal scale needs at least one value")
            for answer, v in scale.values.items():
                if not _in_range(v):
                    out.append(f"value {_num(v)} of {answer!r} is outside 1–10")
        else:
            if not scale.bands:
                out.append("a band scale needs at least one band")
            for i, band in enumerate(scale.bands):
                if not math.isfinite(band.up_to):
                    out.append(f"band {i + 1}: up_to must be a finite number")
                if not _in_range(band.value):
                    out.append(
                        f"band up_to {_num(band.up_to)}: value {_num(band.value)} is outside 1–10"
                    )
            bounds = [b.up_to for b in scale.bands]
            if any(b >= a for a, b in zip(bounds[1:], bounds, strict=False)):
                shown = ", ".join(_num(b) for b in bounds)
                out.append(f"bands must have strictly ascending up_to (got {shown})")
            if not _in_range(scale.above):
                out.append(f"'above' value {_num(scale.above)} is outside 1–10")
        # ---- what it observes
        if self.observe is None:
            if not isinstance(scale, OrdinalScale):
                out.append(
                    "an answered criterion (no 'observe') needs an ordinal scale; a band scale "
                    f"must observe a numeric fact ({', '.join(NUMERIC_FACTS)})"
                )
        elif self.observe in CATEGORICAL_FACTS:
            channel, possible = CATEGORICAL_FACTS[self.observe]
            if channel != self.channel:
                out.append(f"fact {self.observe!r} is a {channel} fact, not a {self.channel} fact")
            if not isinstance(scale, OrdinalScale):
                out.append(
                    f"fact {self.observe!r} is categorical ({', '.join(possible)}); "
                    "it needs an ordinal scale, not bands"
                )
            else:
                missing = [v for v in possible if v not in scale.values]
                extra = [v for v in scale.values if v not in possible]
                if missing:
                    out.append(
                        f"the scale over {self.observe!r} gives no value for "
                        f"{', '.join(repr(v) for v in missing)}"
                    )
                if extra:
                    out.append(
                        f"{', '.join(repr(v) for v in extra)} not a value of fact "
                        f"{self.observe!r} (its values: {', '.join(possible)})"
                    )
        elif self.observe in NUMERIC_FACTS:
            channel = NUMERIC_FACTS[self.observe]
            if channel != self.channel:
                out.append(f"fact {self.observe!r} is a {channel} fact, not a {self.channel} fact")
            if not isinstance(scale, BandScale):
                out.append(f"fact {self.observe!r} is numeric; it needs a band scale")
        else:
            known = [f for f, (c, _) in CATEGORICAL_FACTS.items() if c == self.channel] + [
                f for f, c in NUMERIC_FACTS.items() if c == self.channel
            ]
            out.append(
                f"unknown fact {self.observe!r} to observe; known {self.channel} facts: "
                f"{', '.join(known)}"
            )
        # ---- critical
        critical = self.critical
        if critical is not None:
            if critical.effect == "cap":
                if critical.cap is None:
                    out.append("critical effect 'cap' needs a 'cap' value")
                elif not _in_range(critical.cap):
                    out.append(f"critical cap {_num(critical.cap)} is outside 1–10")
            elif critical.cap is not None:
                out.append("critical effect 'zero' takes no 'cap' value")
            values = scale.all_values()
            if values and not any(v < critical.below for v in values):
                out.append(
                    f"critical below {_num(critical.below)} can never apply: no value of the "
                    "scale is below it"
                )
        return out


def _in_range(value: float) -> bool:
    return math.isfinite(value) and MIN_VALUE <= value <= MAX_VALUE


class Corrections(_Frozen):
    self_callback: float = Field(
        ge=0,
        le=10,
        description="Points subtracted when the entrepreneur had to call back himself (no "
        "callback offered, or a promised callback not made by its deadline).",
    )


class ScoringModel(_Frozen):
    """A complete, versioned meetlat."""

    id: ModelId
    version: Version
    title: Text
    description: str = ""
    norm: float = Field(default=7.0, ge=1, le=10, description="Green from here (slide 24).")
    sufficient: float = Field(default=5.5, ge=1, le=10, description="Red below (slide 24).")
    mail_reply_deadline_hours: float = Field(
        default=72,
        gt=0,
        le=8760,  # a year: an event time plus the deadline stays a valid datetime
        allow_inf_nan=False,
        description="A mail without a real reply by then is unanswered.",
    )
    unanswered_mail_score: float = Field(default=0, ge=0, le=10)
    corrections: Corrections
    criteria: list[Criterion]

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(
                f'the version must be text: quote it in YAML (version: "{value}"), otherwise '
                "2026.10 reads as the number 2026.1"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> ScoringModel:
        problems: list[str] = []
        seen: dict[str, int] = {}
        for i, criterion in enumerate(self.criteria, start=1):
            if criterion.id in seen:
                problems.append(
                    f"criterion {criterion.id!r} is defined twice (criteria #{seen[criterion.id]} "
                    f"and #{i})"
                )
            else:
                seen[criterion.id] = i
        for channel in CHANNELS:
            for dimension in DIMENSIONS:
                if not any(
                    c.channel == channel and c.dimension == dimension for c in self.criteria
                ):
                    problems.append(f"channel {channel!r} has no {dimension} criterion")
        if self.sufficient > self.norm:
            problems.append(
                f"sufficient ({_num(self.sufficient)}) must not be above the norm "
                f"({_num(self.norm)})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # ------------------------------------------------------------ convenience
    # Derived lookups are cached on the (frozen) model: the scorer uses them for every event.
    # Not pydantic private attributes: reading one of those costs microseconds each time.

    @cached_property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    @cached_property
    def by_id(self) -> Mapping[str, Criterion]:
        return {c.id: c for c in self.criteria}

    @cached_property
    def by_channel(self) -> Mapping[str, tuple[Criterion, ...]]:
        """Each channel's criteria, in model order."""
        return {ch: tuple(c for c in self.criteria if c.channel == ch) for ch in CHANNELS}

    def for_channel(self, channel: Channel) -> list[Criterion]:
        """The channel's criteria, in model order."""
        return list(self.by_channel.get(channel, ()))

    @cached_property
    def fitting_answers(self) -> Mapping[str, frozenset[tuple[str, str]]]:
        """Each channel's (criterion, answer) pairs that fit: an answered criterion's answer
        on its ordinal scale."""
        return {
            channel: frozenset(
                (c.id, answer)
                for c in self.criteria
                if c.channel == channel and c.observe is None and isinstance(c.scale, OrdinalScale)
                for answer in c.scale.values
            )
            for channel in CHANNELS
        }

    def answer_errors(self, channel: Channel, answers: Mapping[str, str]) -> list[str]:
        """Why these assessed answers contradict the model (empty when they fit): an unknown
        criterion for the channel, a criterion that is observed rather than answered, or an
        answer not on its ordinal scale. Each message names the criterion."""
        if self.fitting_answers[channel].issuperset(answers.items()):
            return []  # the usual case, checked at once
        errors: list[str] = []
        by_id = self.by_id
        for criterion_id, answer in answers.items():
            criterion = by_id.get(criterion_id)
            if criterion is None or criterion.channel != channel:
                errors.append(
                    f"criterion {criterion_id!r} is not a {channel} criterion of {self.key}"
                )
            elif criterion.observe is not None:
                errors.append(
                    f"criterion {criterion_id!r} is observed from {criterion.observe!r}, "
                    "not answered"
                )
            elif isinstance(criterion.scale, OrdinalScale) and answer not in criterion.scale.values:
                allowed = ", ".join(repr(a) for a in criterion.scale.values)
                errors.append(
                    f"criterion {criterion_id!r}: answer {answer!r} is not on its scale ({allowed})"
                )
        return errors

    def fingerprint(self) -> str:
        """A short digest of the model's content: equal for equal models, whatever the YAML
        layout or comments; differs when any value changes."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- readable errors


class ModelError(ValueError):
    """A scoring model file that cannot be used, with every problem found."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}"
        lines = [f"{self.source}: {len(self.problems)} problems"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _loc_text(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _criterion_name(data: Any, index: int) -> str:
    raw = None
    if isinstance(data, Mapping):
        criteria = data.get("criteria")
        if isinstance(criteria, list) and 0 <= index < len(criteria):
            raw = criteria[index]
    ident = raw.get("id") if isinstance(raw, Mapping) else None
    if isinstance(ident, str) and ident:
        return f"criterion {ident!r}"
    return f"criterion #{index + 1} (no valid id)"


def _message(error: Mapping[str, Any], key: str | None) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden" and key is not None:
        return f"unknown key {key!r} (a typo?)"
    if kind == "missing" and key is not None:
        return f"missing required key {key!r}"
    msg = str(error.get("msg", ""))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg


def error_messages(exc: ValidationError, data: Any) -> list[str]:
    """pydantic's errors for a model document, each naming its criterion by id.

    `data` is the document that was validated (to look the ids up)."""
    out: list[str] = []
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        # a discriminated union puts the tag in the path: scale.bands.bands.0 → scale.bands.0
        for i in range(len(loc) - 1):
            if loc[i] == "scale" and loc[i + 1] in ("ordinal", "bands"):
                del loc[i + 1]
                break
        key = str(loc[-1]) if loc and isinstance(loc[-1], str) else None
        msg = _message(error, key)
        if key is not None and error.get("type") in ("extra_forbidden", "missing"):
            loc = loc[:-1]
        if len(loc) >= 2 and loc[0] == "criteria" and isinstance(loc[1], int):
            name = _criterion_name(data, loc[1])
            rest = _loc_text(loc[2:])
            if msg.startswith(name):
                out.append(msg)
            else:
                out.append(f"{name}{f' ({rest})' if rest else ''}: {msg}")
        else:
            where = _loc_text(loc)
            out.append(f"{where}: {msg}" if where else msg)
    return out


def parse_model(data: Any, source: str = "<model>") -> ScoringModel:
    """Validate a model document (the parsed YAML); raises ModelError naming the source and,
    for every problem of a criterion, the criterion's id."""
    if not isinstance(data, Mapping):
        raise ModelError(
            source, [f"a scoring model must be a mapping of keys, not {type(data).__name__}"]
        )
    try:
        return ScoringModel.model_validate(data)
    except ValidationError as exc:
        raise ModelError(source, error_messages(exc, data)) from None
