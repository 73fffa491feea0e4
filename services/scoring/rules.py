"""Pure scoring: the facts of one contact (and how far event time has progressed) → its score.

A contact's score is a function of the *set* of its events (deduplicated by event id, taken in
event-time order) and of the *watermark*: the event time up to which everything is known.
The watermark only decides whether a deadline has passed — the mail reply deadline (72 h by
default) and a promised callback's deadline — so once every deadline of a contact has passed,
its score no longer depends on arrival order or on when it was computed. The stateful scorer
and the batch oracle (watermark = end of time) call the same `score_contact`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Generic, TypeVar, get_args

from schemas.events import (
    EVENT_ADAPTER,
    CallAnswered,
    CallAssessed,
    CallbackMade,
    CallbackPromised,
    CallTransferred,
    Channel,
    Event,
    MailAssessed,
    MailAutoReplied,
    MailReclassified,
    MailReplied,
    MailSent,
    RescoreRequested,
    SelfCallback,
    channel_of,
    event_order,
)
from schemas.scores import ContactScore, Correction, CriterionScore
from schemas.scoring_model import Criterion, Critical, ScoringModel

END_OF_TIME = datetime.max.replace(tzinfo=UTC)


class ContactError(ValueError):
    """An event that cannot belong to this contact (it contradicts its facts or the model)."""


@dataclass(frozen=True)
class ContactFacts:
    """Everything known about one contact, in event-time order."""

    events: tuple[Event, ...]

    @classmethod
    def of(cls, events: Iterable[Event]) -> ContactFacts:
        unique = {e.event_id: e for e in events}
        return cls(tuple(sorted(unique.values(), key=event_order)))

    def with_event(self, event: Event, raw: bytes | None = None) -> ContactFacts:
        """These facts plus one new event (not a duplicate), still in event-time order.
        `raw`: the JSON the event was validated from, if at hand (stored as it is)."""
        events = self.events
        if not events or event_order(event) >= event_order(events[-1]):
            facts = ContactFacts((*events, event))  # the usual case: facts arrive in order
            encoded = self.__dict__.get("encoded")
            if encoded is not None:  # keep the stored form up to date, one event at a time
                facts.__dict__["encoded"] = (*encoded, raw or EVENT_ADAPTER.dump_json(event))
            return facts
        return ContactFacts.of((*events, event))

    @classmethod
    def stored(cls) -> ContactFacts:
        """No facts yet, and their stored JSON (`encoded`) kept up to date as they are added
        (for the scorer, which stores them; the batch oracle does not need it)."""
        facts = cls(())
        facts.__dict__["encoded"] = ()
        return facts

    @cached_property
    def encoded(self) -> tuple[bytes, ...]:
        """Each event's canonical JSON (what the scorer's state table stores)."""
        return tuple(EVENT_ADAPTER.dump_json(e) for e in self.events)

    @cached_property
    def channel(self) -> Channel | None:
        return next((c for e in self.events if (c := channel_of(e)) is not None), None)

    @cached_property
    def retracted(self) -> frozenset[str]:
        """Event ids a human reclassification of a mail retracted: they no longer count."""
        return frozenset(
            ident for e in self.events if isinstance(e, MailReclassified) for ident in e.retracts
        )

    def _counting(self) -> Sequence[Event]:
        if not self.retracted:
            return self.events
        return [e for e in self.events if e.event_id not in self.retracted]

    @cached_property
    def _by_kind(self) -> dict[type, list[Event]]:
        """The counting events of each event class, in order (one pass; used by the lookups)."""
        index: dict[type, list[Event]] = {}
        for e in self._counting():
            index.setdefault(type(e), []).append(e)
        return index

    def first(self, kind: type) -> Event | None:
        if kind in _EVENT_CLASSES:
            found = self._by_kind.get(kind)
            return found[0] if found else None
        return next((e for e in self._counting() if isinstance(e, kind)), None)

    def last(self, kind: type) -> Event | None:
        if kind in _EVENT_CLASSES:
            found = self._by_kind.get(kind)
            return found[-1] if found else None
        return next((e for e in reversed(self._counting()) if isinstance(e, kind)), None)

    def all(self, kind: type) -> list[Event]:
        if kind in _EVENT_CLASSES:
            return list(self._by_kind.get(kind, ()))
        return [e for e in self._counting() if isinstance(e, kind)]


# The concrete event classes (none derives from another): for these, "is an instance of" is
# "is of exactly this class", so ContactFacts can look them up in its index.
_EVENT_CLASSES = frozenset(get_args(get_args(Event)[0]))


def check_belongs(facts: ContactFacts, event: Event) -> None:
    """Raise ContactError when `event` cannot be a fact of the contact described by `facts`."""
    channel = channel_of(event)
    if channel is None and not isinstance(event, RescoreRequested):
        raise ContactError(f"a {event.type} event is not part of a contact")
    if not facts.events:
        return
    known = facts.channel
    if channel is not None and known is not None and known != channel:
        raise ContactError(
            f"contact {event.contact_id} is a {known} contact; {event.type} does not fit"
        )
    first = facts.events[0]
    for name in ("municipality", "campaign", "wave", "case"):
        if getattr(first, name) != getattr(event, name):
            raise ContactError(
                f"contact {event.contact_id}: {name} {getattr(event, name)!r} contradicts "
                f"{getattr(first, name)!r} of earlier facts"
            )


# ------------------------------------------------------------------ observed facts


@dataclass(frozen=True)
class Observed:
    """The facts a model's `observe:` criteria refer to, derived from the events."""

    values: dict[str, str | float] = field(default_factory=dict)
    corrections: tuple[Correction, ...] = ()
    deadlines: tuple[datetime, ...] = ()  # not yet passed, but they would change the score


def _phone_facts(facts: ContactFacts, model: ScoringModel, watermark: datetime) -> Observed:
    values: dict[str, str | float] = {}
    answered = facts.first(CallAnswered)
    if isinstance(answered, CallAnswered):
        values["seconds_waited"] = answered.seconds_waited
    transfers = [e for e in facts.all(CallTransferred) if isinstance(e, CallTransferred)]
    values["transfers"] = float(len(transfers))
    values["absent_transfers"] = float(sum(not t.colleague_available for t in transfers))
    values["warm_transfers"] = float(sum(t.briefed and t.colleague_available for t in transfers))
    if transfers:
        worst = min((2 if t.briefed else 1) if t.colleague_available else 0 for t in transfers)
        values["transfer_handling"] = ("absent", "cold", "warm")[worst]

    promised = facts.first(CallbackPromised)
    made = facts.first(CallbackMade)
    self_callback = facts.first(SelfCallback) is not None
    values["callback_promised"] = "yes" if promised is not None else "no"
    values["self_callback"] = "yes" if self_callback else "no"
    deadlines: list[datetime] = []
    missed = False
    if isinstance(promised, CallbackPromised):
        if made is not None:
            on_time = made.occurred_at <= promised.deadline
            values["callback"] = "kept" if on_time else "kept_late"
            missed = not on_time
        elif self_callback or watermark >= promised.deadline:
            values["callback"] = "not_kept"
            missed = True
        else:
            deadlines.append(promised.deadline)  # undecided until the deadline passes
    elif self_callback:
        values["callback"] = "not_offered"
    elif made is not None:
        values["callback"] = "kept"

    corrections: list[Correction] = []
    points = model.corrections.self_callback
    if self_callback:
        corrections.append(
            Correction(
                kind="self_callback",
                points=points,
                reason="the entrepreneur had to call back himself",
            )
        )
    elif missed:
        corrections.append(
            Correction(
                kind="callback_not_kept",
                points=points,
                reason="a promised callback was not made by its deadline",
            )
        )
    return Observed(values, tuple(corrections), tuple(deadlines))


def reply_deadline(sent: MailSent, model: ScoringModel) -> datetime:
    return sent.occurred_at + timedelta(hours=model.mail_reply_deadline_hours)


def _mail_facts(facts: ContactFacts, model: ScoringModel) -> Observed:
    values: dict[str, str | float] = {}
    sent = facts.first(MailSent)
    reply = facts.first(MailReplied)
    values["auto_reply"] = "yes" if facts.first(MailAutoReplied) is not None else "no"
    if isinstance(sent, MailSent):
        values["sent_at"] = sent.occurred_at.isoformat()
    if isinstance(reply, MailReplied):
        values["replied_at"] = reply.occurred_at.isoformat()
        if isinstance(sent, MailSent):
            hours = (reply.occurred_at - sent.occurred_at).total_seconds() / 3600
            values["reply_hours"] = max(0.0, hours)
        if reply.salutation_correct is not None:
            values["salutation"] = "correct" if reply.salutation_correct else "incorrect"
        if reply.internal_forward_leaked is not None:
            values["internal_forward"] = "leaked" if reply.internal_forward_leaked else "none"
        if reply.spelling_errors is not None:
            values["spelling_errors"] = float(reply.spelling_errors)
        if reply.jargon_terms is not None:
            values["jargon_terms"] = float(reply.jargon_terms)
        if reply.address_requested:
            explained = reply.address_request_explained
            values["address_request"] = "explained" if explained else "unexplained"
    return Observed(values)


# ------------------------------------------------------------------ scoring


@dataclass
class _Prepared:
    """What the scorer derives from a model once, kept with the model (by its id)."""

    model: ScoringModel
    criteria: dict[str, tuple[Criterion, ...]]  # channel → its criteria, in model order
    criticals: dict[str, Critical]  # the knock-out criteria by id
    # CriterionScore is frozen and a function of (criterion, assessed or not, observation):
    # the scorer reuses the instances it made before instead of building (and validating)
    # them anew. Bounded, since measured quantities vary freely.
    scores: dict[tuple[Any, ...], CriterionScore]


_PREPARED: dict[int, _Prepared] = {}
_CRITERION_MEMO_SIZE = 20_000


def _prepared(model: ScoringModel) -> _Prepared:
    entry = _PREPARED.get(id(model))
    if entry is None or entry.model is not model:
        entry = _PREPARED[id(model)] = _Prepared(
            model,
            {channel: tuple(model.for_channel(channel)) for channel in get_args(Channel)},
            {c.id: c.critical for c in model.criteria if c.critical is not None},
            {},
        )
    if len(entry.scores) > _CRITERION_MEMO_SIZE:
        entry.scores.clear()
    return entry


def _criterion_score(
    criterion: Criterion,
    answers: Mapping[str, str] | None,
    observed: Mapping[str, str | float],
) -> CriterionScore:
    """`answers` None: not assessed yet, so every answered criterion is still N/A."""
    observation: str | float | None
    if criterion.observe is None:
        observation = answers.get(criterion.id) if answers is not None else None
    else:
        observation = observed.get(criterion.observe)
    if observation is None and answers is None and criterion.observe is None:
        value, shown = None, "not assessed yet"
    elif observation is None:
        value = None if criterion.na_allowed else criterion.scale.lowest()
        shown = "" if criterion.na_allowed else "missing (scored lowest)"
    else:
        value = criterion.value(observation)
        shown = (
            str(observation)
            if criterion.observe is None
            else f"{criterion.observe}={observation:g}"
            if isinstance(observation, float)
            else f"{criterion.observe}={observation}"
        )
    return CriterionScore(
        criterion=criterion.id,
        dimension=criterion.dimension,
        weight=criterion.weight,
        value=value,
        observation=shown,
    )


def _breakdown(
    model: ScoringModel,
    channel: Channel,
    answers: Mapping[str, str] | None,
    observed: Mapping[str, str | float],
) -> tuple[CriterionScore, ...]:
    prepared = _prepared(model)
    memo = prepared.scores
    assessed = answers is not None
    out = []
    observation: str | float | None
    for criterion in prepared.criteria[channel]:
        if criterion.observe is None:
            observation = answers.get(criterion.id) if answers is not None else None
        else:
            observation = observed.get(criterion.observe)
        # a float by its exact bits: -0.0 == 0.0, but they are shown differently
        exact = observation.hex() if isinstance(observation, float) else observation
        key = (criterion.id, assessed, exact)
        item = memo.get(key)
        if item is None:
            item = memo[key] = _criterion_score(criterion, answers, observed)
        out.append(item)
    return tuple(out)


def weighted_mean(scores: Iterable[CriterionScore]) -> float | None:
    """Σ(value × weight) / Σ(weight) over applicable criteria.

    N/A criteria are left out and the remaining weights renormalised."""
    applicable = [(s.value, s.weight) for s in scores if s.value is not None and s.weight > 0]
    if not applicable:
        return None
    return math.fsum(v * w for v, w in applicable) / math.fsum(w for _, w in applicable)


def _means(
    breakdown: Iterable[CriterionScore],
) -> tuple[float | None, float | None, float | None]:
    """`weighted_mean` of the whole breakdown, of its form and of its content criteria (the
    same sums, so the same figures)."""
    applicable = [
        (s.value * s.weight, s.weight, s.dimension)
        for s in breakdown
        if s.value is not None and not s.weight <= 0
    ]
    form = [a for a in applicable if a[2] == "form"]
    content = [a for a in applicable if a[2] == "content"]
    return _mean_of(applicable), _mean_of(form), _mean_of(content)


def _mean_of(applicable: list[tuple[float, float, str]]) -> float | None:
    if not applicable:
        return None
    return math.fsum([p for p, _, _ in applicable]) / math.fsum([w for _, w, _ in applicable])


def _critical(
    raw: float, breakdown: Iterable[CriterionScore], model: ScoringModel
) -> tuple[float, list[Correction]]:
    """Apply knock-out criteria: cap (or zero) the score when a critical value is too low."""
    capped = raw
    notes: list[Correction] = []
    criticals = _prepared(model).criticals
    if not criticals:
        return capped, notes
    for item in breakdown:
        critical = criticals.get(item.criterion)
        if critical is None or not critical.applies(item.value):
            continue
        limit = 0.0 if critical.effect == "zero" or critical.cap is None else critical.cap
        if capped > limit:
            notes.append(
                Correction(
                    kind=f"critical_{critical.effect}",
                    points=capped - limit,
                    reason=f"critical criterion {item.criterion!r} scored below {critical.below:g}",
                )
            )
            capped = limit
    return capped, notes


def effective_model_key(facts: ContactFacts, pinned: str) -> str:
    """The model a contact is scored with: the latest rescore request, else the pinned one."""
    rescore = facts.last(RescoreRequested)
    return rescore.model if isinstance(rescore, RescoreRequested) else pinned


def is_orphan(facts: ContactFacts, model: ScoringModel, watermark: datetime) -> bool:
    """Mail facts whose mystery mail was never sent, known to be so once the reply deadline
    after the earliest of them has passed."""
    if facts.channel != "mail" or facts.first(MailSent) is not None or not facts.events:
        return False
    earliest = facts.events[0].occurred_at
    return watermark >= earliest + timedelta(hours=model.mail_reply_deadline_hours)


Score = TypeVar("Score", bound=ContactScore)


@dataclass(frozen=True)
class Outcome(Generic[Score]):
    score: Score | None
    deadlines: tuple[datetime, ...]  # future event times at which the score may change


def score_contact(
    facts: ContactFacts, model: ScoringModel, watermark: datetime = END_OF_TIME
) -> Outcome[ContactScore]:
    """The contact's score given everything known up to `watermark` (None while it cannot be
    scored yet), and the deadlines still ahead that could change it."""
    return scored(facts, model, watermark, ContactScore)


def scored(
    facts: ContactFacts, model: ScoringModel, watermark: datetime, make: Callable[..., Score]
) -> Outcome[Score]:
    """`score_contact`, the score made by `make`: `ContactScore`, or a `ScoreRevision` with
    its revision number (validated once, not copied from a ContactScore)."""
    channel = facts.channel
    if channel is None:
        return Outcome(None, ())
    if channel == "mail":
        sent = facts.first(MailSent)
        if not isinstance(sent, MailSent):
            # a reply without its sent mail: an orphan once the reply deadline has passed
            orphaned_at = facts.events[0].occurred_at + timedelta(
                hours=model.mail_reply_deadline_hours
            )
            return Outcome(None, (orphaned_at,) if watermark < orphaned_at else ())
        if facts.first(MailReplied) is None:
            deadline = reply_deadline(sent, model)
            if watermark < deadline:
                return Outcome(None, (deadline,))
            return Outcome(
                make(
                    **_identity(facts, channel, model),
                    total=model.unanswered_mail_score,
                    form=None,
                    content=None,
                    potential=None,
                    answered=False,
                    facts=_mail_facts(facts, model).values,
                    breakdown=(),
                    corrections=(),
                ),
                (),
            )
        # A replied mail is scored on what was measured as soon as the reply is in (a
        # provisional, form-only score that supersedes an "unanswered" one); the assessment
        # adds the content.
        observed = _mail_facts(facts, model)
        assessed = facts.last(MailAssessed)
    else:
        assessed = facts.last(CallAssessed)
        if assessed is None:  # cheap exit: most facts of a call arrive before its assessment
            return Outcome(None, ())
        observed = _phone_facts(facts, model, watermark)

    answers: Mapping[str, str] | None = getattr(assessed, "answers", None)
    breakdown = _breakdown(model, channel, answers, observed.values)
    raw, form, content = _means(breakdown)
    if raw is None:
        return Outcome(None, observed.deadlines)
    capped, knockouts = _critical(raw, breakdown, model)
    total = max(0.0, capped - math.fsum(c.points for c in observed.corrections))
    score = make(
        **_identity(facts, channel, model),
        total=round(total, 6),
        form=_rounded(form),
        content=_rounded(content),
        potential=round(capped, 6),
        answered=facts.first(CallAnswered) is not None if channel == "phone" else True,
        facts=observed.values,
        breakdown=breakdown,
        corrections=(*knockouts, *observed.corrections),
    )
    return Outcome(score, observed.deadlines)


def _identity(facts: ContactFacts, channel: Channel, model: ScoringModel) -> dict[str, Any]:
    """The fields that say which contact a score is of, and under which model."""
    head = next(e for e in facts.events if channel_of(e) is not None)
    return {
        "contact_id": head.contact_id,
        "municipality": head.municipality,
        "campaign": head.campaign,
        "wave": head.wave,
        "case": head.case,
        "channel": channel,
        "model_id": model.id,
        "model_version": model.version,
        "last_fact_at": max(e.occurred_at for e in facts.events),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
