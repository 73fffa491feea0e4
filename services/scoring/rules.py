"""Pure scoring: the facts of one contact → its score under a scoring model.

A contact's score is a function of the *set* of its events (deduplicated by event id, taken in
event-time order), so the result does not depend on arrival order or duplicates: the stateful
scorer and the batch oracle call the same `score_contact`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from schemas.events import (
    CallAnswered,
    CallAssessed,
    CallTransferred,
    Channel,
    Event,
    MailAssessed,
    MailReplied,
    MailSent,
    SelfCallback,
    channel_of,
    event_order,
)
from schemas.scores import ContactScore, Correction, CriterionScore
from services.scoring.model import Bands, Criterion, OrdinalScale, ScoringModel


class ContactError(ValueError):
    """An event that cannot belong to this contact (it contradicts its other facts)."""


@dataclass(frozen=True)
class ContactFacts:
    """Everything known about one contact, in event-time order."""

    events: tuple[Event, ...]

    @classmethod
    def of(cls, events: Iterable[Event]) -> ContactFacts:
        unique = {e.event_id: e for e in events}
        return cls(tuple(sorted(unique.values(), key=event_order)))

    @property
    def channel(self) -> Channel | None:
        return channel_of(self.events[0]) if self.events else None


def check_belongs(facts: ContactFacts, event: Event) -> None:
    """Raise ContactError when `event` cannot be a fact of the contact described by `facts`."""
    channel = channel_of(event)
    if channel is None:
        raise ContactError(f"a {event.type} event is not part of a contact")
    if not facts.events:
        return
    first = facts.events[0]
    if facts.channel != channel:
        raise ContactError(
            f"contact {event.contact_id} is a {facts.channel} contact; {event.type} does not fit"
        )
    for name in ("municipality", "campaign", "wave", "case"):
        if getattr(first, name) != getattr(event, name):
            raise ContactError(
                f"contact {event.contact_id}: {name} {getattr(event, name)!r} contradicts "
                f"{getattr(first, name)!r} of earlier facts"
            )


def _first(events: Iterable[Event], kind: type) -> Event | None:
    return next((e for e in events if isinstance(e, kind)), None)


def _last(events: tuple[Event, ...], kind: type) -> Event | None:
    return next((e for e in reversed(events) if isinstance(e, kind)), None)


def _measurements(facts: ContactFacts) -> dict[str, float]:
    """The measured quantities the model's band scales refer to."""
    out: dict[str, float] = {}
    events = facts.events
    answered = _first(events, CallAnswered)
    if isinstance(answered, CallAnswered):
        out["seconds_waited"] = answered.seconds_waited
    transfers = [e for e in events if isinstance(e, CallTransferred)]
    if transfers:
        # 0 = put through to someone absent, 1 = cold transfer, 2 = warm (briefed) transfer
        out["transfer_quality"] = min(
            (2 if t.briefed else 1) if t.colleague_available else 0 for t in transfers
        )
    sent = _first(events, MailSent)
    reply = _first(events, MailReplied)
    if isinstance(sent, MailSent) and isinstance(reply, MailReplied):
        out["reply_hours"] = max(0.0, (reply.occurred_at - sent.occurred_at).total_seconds() / 3600)
        if reply.salutation_correct is not None:
            out["salutation_correct"] = float(reply.salutation_correct)
        if reply.internal_forward_leaked is not None:
            out["internal_forward_leaked"] = float(reply.internal_forward_leaked)
        if reply.spelling_errors is not None:
            out["spelling_errors"] = float(reply.spelling_errors)
    return out


def _criterion_score(
    criterion: Criterion, answers: Mapping[str, str], measured: Mapping[str, float]
) -> CriterionScore:
    value: float | None = None
    observation = ""
    if isinstance(criterion.scale, OrdinalScale):
        if criterion.id in answers:
            observation = answers[criterion.id]
            value = criterion.scale.value(observation)
    elif isinstance(criterion.scale, Bands) and criterion.scale.quantity in measured:
        quantity = measured[criterion.scale.quantity]
        observation = f"{criterion.scale.quantity}={quantity:g}"
        value = criterion.scale.value(quantity)
    return CriterionScore(
        criterion=criterion.id,
        dimension=criterion.dimension,
        weight=criterion.weight,
        value=value,
        observation=observation,
    )


def weighted_mean(scores: Iterable[CriterionScore]) -> float | None:
    """Σ(value × weight) / Σ(weight) over applicable criteria.

    N/A criteria are left out and the remaining weights renormalised."""
    applicable = [(s.value, s.weight) for s in scores if s.value is not None and s.weight > 0]
    if not applicable:
        return None
    return math.fsum(v * w for v, w in applicable) / math.fsum(w for _, w in applicable)


def score_contact(facts: ContactFacts, model: ScoringModel) -> ContactScore | None:
    """The contact's score, or None while it cannot be scored yet (not assessed)."""
    channel = facts.channel
    if channel is None:
        return None
    events = facts.events
    assessed = _last(events, CallAssessed if channel == "phone" else MailAssessed)
    if assessed is None or (channel == "mail" and _first(events, MailSent) is None):
        return None
    answers: Mapping[str, str] = getattr(assessed, "answers", {})
    measured = _measurements(facts)
    head = events[0]
    last_fact_at = max(e.occurred_at for e in events)
    common = {
        "contact_id": head.contact_id,
        "municipality": head.municipality,
        "campaign": head.campaign,
        "wave": head.wave,
        "case": head.case,
        "channel": channel,
        "model_id": model.id,
        "model_version": model.version,
        "last_fact_at": last_fact_at,
    }

    if channel == "mail" and _first(events, MailReplied) is None:
        return ContactScore(
            total=model.unanswered_mail_score,
            form=None,
            content=None,
            potential=None,
            answered=False,
            breakdown=(),
            corrections=(),
            **common,
        )

    breakdown = tuple(_criterion_score(c, answers, measured) for c in model.for_channel(channel))
    raw = weighted_mean(breakdown)
    if raw is None:
        return None
    corrections: list[Correction] = []
    if channel == "phone" and _first(events, SelfCallback) is not None:
        corrections.append(
            Correction(
                kind="self_callback",
                points=model.self_callback_points,
                reason="the entrepreneur had to call back himself",
            )
        )
    total = max(0.0, raw - math.fsum(c.points for c in corrections))
    return ContactScore(
        total=round(total, 6),
        form=_rounded(weighted_mean(s for s in breakdown if s.dimension == "form")),
        content=_rounded(weighted_mean(s for s in breakdown if s.dimension == "content")),
        potential=round(raw, 6),
        answered=_first(events, CallAnswered) is not None if channel == "phone" else True,
        breakdown=breakdown,
        corrections=tuple(corrections),
        **common,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
