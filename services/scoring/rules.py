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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar, cast, get_args

import orjson

from schemas.events import (
    CHANNELS,
    EVENT_ADAPTER,
    CallAnswered,
    CallAssessed,
    CallbackMade,
    CallbackPromised,
    CallTransferred,
    Channel,
    Event,
    EventBase,
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
from schemas.scores import ContactScore, Correction, CriterionScore, ScoreRevision
from schemas.scoring_model import Criterion, Critical, ScoringModel

END_OF_TIME = datetime.max.replace(tzinfo=UTC)
E = TypeVar("E", bound=EventBase)


class ContactError(ValueError):
    """An event that cannot belong to this contact (it contradicts its facts or the model)."""


class ContactFacts:
    """Everything known about one contact, in event-time order, with what the rules look up
    in it. The lookups are derived when the facts are made and carried along when an event
    is added in order (the scorer adds every event it sees to its contact's facts). Immutable;
    equal when the events are."""

    __slots__ = (
        "_by_kind",
        "_encoded",
        "channel",
        "event_ids",
        "events",
        "head",
        "last_fact_at",
        "retracted",
    )

    events: tuple[Event, ...]
    event_ids: tuple[str, ...]
    head: Event | None  # the first event of the contact's channel (not a rescore request)
    channel: Channel | None  # the head's
    last_fact_at: datetime | None  # the latest event time (the first event that has it)
    retracted: frozenset[str]  # event ids a reclassification retracted: they do not count
    _by_kind: dict[type, tuple[Event, ...]]  # the counting events of each event class
    _encoded: bytes | None  # the events' stored JSON, once asked for

    def __init__(self, events: tuple[Event, ...], derive: bool = True) -> None:
        """`derive` False: the caller sets the lookups (`with_event`, growing them)."""
        self.events = events
        if not derive:
            return
        self.event_ids = tuple(e.event_id for e in events)
        self.head = next((e for e in events if channel_of(e) is not None), None)
        self.channel = None if self.head is None else channel_of(self.head)
        self.last_fact_at = max((e.occurred_at for e in events), default=None)
        self.retracted = frozenset(
            ident for e in events if isinstance(e, MailReclassified) for ident in e.retracts
        )
        by_kind: dict[type, list[Event]] = {}
        for e in events:
            if e.event_id not in self.retracted:
                by_kind.setdefault(type(e), []).append(e)
        self._by_kind = {kind: tuple(found) for kind, found in by_kind.items()}
        self._encoded = None

    @classmethod
    def of(cls, events: Iterable[Event]) -> ContactFacts:
        unique = {e.event_id: e for e in events}
        return cls(tuple(sorted(unique.values(), key=event_order)))

    @classmethod
    def stored(cls) -> ContactFacts:
        """No facts yet, and their stored JSON (`encoded`) kept up to date as they are added
        (for the scorer, which stores them; the batch oracle does not need it)."""
        facts = cls(())
        facts._encoded = b""
        return facts

    def with_event(self, event: Event, raw: bytes | None = None) -> ContactFacts:
        """These facts plus one new event (not a duplicate), still in event-time order.
        `raw`: the JSON the event was validated from, if at hand (stored as it is)."""
        events = self.events
        at = event.occurred_at
        latest = self.last_fact_at
        if latest is None or at > latest:
            latest = at
        elif at < latest or event.event_id < events[-1].event_id:
            return ContactFacts.of((*events, event))  # out of order: derived anew
        if type(event) is MailReclassified:
            facts = ContactFacts((*events, event))  # it changes which facts count
        else:  # the usual case: the facts arrive in order, and the lookups grow with them
            facts = ContactFacts((*events, event), derive=False)
            facts.event_ids = (*self.event_ids, event.event_id)
            facts.head, facts.channel = self.head, self.channel
            if facts.head is None and (channel := channel_of(event)) is not None:
                facts.head, facts.channel = event, channel
            facts.last_fact_at = latest
            facts.retracted = retracted = self.retracted
            by_kind = self._by_kind
            if event.event_id not in retracted:
                kind = type(event)
                by_kind = {**by_kind, kind: (*by_kind.get(kind, ()), event)}
            facts._by_kind = by_kind
            facts._encoded = None
        if self._encoded is not None:  # keep the stored form up to date, one event at a time
            stored = raw or EVENT_ADAPTER.dump_json(event)
            facts._encoded = b"%s,%s" % (self._encoded, stored) if self._encoded else stored
        return facts

    @property
    def encoded(self) -> bytes:
        """The events' JSON, comma-separated (the scorer's state table stores them as a JSON
        array): as they were validated from when added to stored facts, else their canonical
        dump. One bytes value, not a tuple: the scorer keeps one for every contact, and
        bytes are no work for the cyclic garbage collector."""
        if self._encoded is None:
            self._encoded = b",".join([EVENT_ADAPTER.dump_json(e) for e in self.events])
        return self._encoded

    def _counting(self) -> Sequence[Event]:
        if not self.retracted:
            return self.events
        return [e for e in self.events if e.event_id not in self.retracted]

    def first(self, kind: type[E]) -> E | None:
        if kind in _EVENT_CLASSES:
            found = self._by_kind.get(kind)
            return cast(E, found[0]) if found else None
        return next((e for e in self._counting() if isinstance(e, kind)), None)

    def last(self, kind: type[E]) -> E | None:
        if kind in _EVENT_CLASSES:
            found = self._by_kind.get(kind)
            return cast(E, found[-1]) if found else None
        return next((e for e in reversed(self._counting()) if isinstance(e, kind)), None)

    def all(self, kind: type[E]) -> list[E]:
        if kind in _EVENT_CLASSES:
            return cast(list[E], list(self._by_kind.get(kind, ())))
        return [e for e in self._counting() if isinstance(e, kind)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContactFacts):
            return NotImplemented
        return self.events == other.events

    def __hash__(self) -> int:
        return hash(self.events)

    def __repr__(self) -> str:
        return f"ContactFacts(events={self.events!r})"


# The concrete event classes (none derives from another): for these, "is an instance of" is
# "is of exactly this class", so ContactFacts can look them up in its index.
_EVENT_CLASSES = frozenset(get_args(get_args(Event)[0]))


def check_belongs(facts: ContactFacts, event: Event) -> None:
    """Raise ContactError when `event` cannot be a fact of the contact described by `facts`."""
    channel = channel_of(event)
    if channel is None and type(event) is not RescoreRequested:
        raise ContactError(f"a {event.type} event is not part of a contact")
    if not facts.events:
        return
    known = facts.channel
    if channel is not None and known is not None and known != channel:
        raise ContactError(
            f"contact {event.contact_id} is a {known} contact; {event.type} does not fit"
        )
    first = facts.events[0]
    if (first.municipality, first.campaign, first.wave, first.case) == (
        event.municipality,
        event.campaign,
        event.wave,
        event.case,
    ):
        return
    for name in ("municipality", "campaign", "wave", "case"):
        if getattr(first, name) != getattr(event, name):
            raise ContactError(
                f"contact {event.contact_id}: {name} {getattr(event, name)!r} contradicts "
                f"{getattr(first, name)!r} of earlier facts"
            )


# ------------------------------------------------------------------ observed facts


class Observed:
    """The facts a model's `observe:` criteria refer to, derived from the events."""

    __slots__ = ("corrections", "deadlines", "values")

    def __init__(
        self,
        values: dict[str, str | float],
        corrections: tuple[Correction, ...] = (),
        deadlines: tuple[datetime, ...] = (),  # not yet passed, but they would change the score
    ) -> None:
        self.values: Final = values
        self.corrections: Final = corrections
        self.deadlines: Final = deadlines


def _phone_facts(facts: ContactFacts, tables: _ModelTables, watermark: datetime) -> Observed:
    values: dict[str, str | float] = {}
    answered = facts.first(CallAnswered)
    if answered is not None:
        values["seconds_waited"] = answered.seconds_waited
    transfers = facts.all(CallTransferred)
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
    deadlines: tuple[datetime, ...] = ()
    missed = False
    if promised is not None:
        if made is not None:
            on_time = made.occurred_at <= promised.deadline
            values["callback"] = "kept" if on_time else "kept_late"
            missed = not on_time
        elif self_callback or watermark >= promised.deadline:
            values["callback"] = "not_kept"
            missed = True
        else:
            deadlines = (promised.deadline,)  # undecided until the deadline passes
    elif self_callback:
        values["callback"] = "not_offered"
    elif made is not None:
        values["callback"] = "kept"

    if self_callback:
        return Observed(values, tables.self_callback, deadlines)
    if missed:
        return Observed(values, tables.callback_not_kept, deadlines)
    return Observed(values, (), deadlines)


def reply_deadline(sent: MailSent, model: ScoringModel) -> datetime:
    return sent.occurred_at + timedelta(hours=model.mail_reply_deadline_hours)


def _mail_facts(facts: ContactFacts, model: ScoringModel) -> Observed:
    values: dict[str, str | float] = {}
    sent = facts.first(MailSent)
    reply = facts.first(MailReplied)
    values["auto_reply"] = "yes" if facts.first(MailAutoReplied) is not None else "no"
    if sent is not None:
        values["sent_at"] = sent.occurred_at.isoformat()
    if reply is not None:
        values["replied_at"] = reply.occurred_at.isoformat()
        if sent is not None:
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


# What scoring reads from a model, as plain Python values: reading a pydantic model's attribute
# costs several times a plain object's, and the scorer would do so dozens of times per event.
@dataclass(frozen=True)
class _ModelTables:
    model: ScoringModel
    criteria: dict[str, tuple[tuple[Criterion, str, str | None], ...]]  # (criterion, id, observe)
    criticals: dict[str, Critical]  # the knock-out criteria by id
    reply_within: timedelta
    self_callback: tuple[Correction, ...]
    callback_not_kept: tuple[Correction, ...]
    # CriterionScore is frozen and a function of (criterion, assessed or not, observation):
    # the scorer reuses the instances it made before instead of building (and validating)
    # them anew, each with its value, weight and dimension for the means and its fields for
    # the score's JSON. Bounded, since measured quantities vary freely.
    scores: dict[tuple[Any, ...], _Weighed] = field(default_factory=dict)

    @classmethod
    def of(cls, model: ScoringModel) -> _ModelTables:
        points = model.corrections.self_callback
        return cls(
            model=model,
            criteria={
                channel: tuple((c, c.id, c.observe) for c in model.for_channel(channel))
                for channel in CHANNELS
            },
            criticals={c.id: c.critical for c in model.criteria if c.critical is not None},
            reply_within=timedelta(hours=model.mail_reply_deadline_hours),
            self_callback=(
                Correction(
                    kind="self_callback",
                    points=points,
                    reason="the entrepreneur had to call back himself",
                ),
            ),
            callback_not_kept=(
                Correction(
                    kind="callback_not_kept",
                    points=points,
                    reason="a promised callback was not made by its deadline",
                ),
            ),
        )


# a criterion's score, its criterion's id, value, weight and dimension, and its fields
_Weighed = tuple[CriterionScore, str, float | None, float, str, dict[str, Any]]
_TABLES: dict[int, _ModelTables] = {}
_TABLES_HELD = 64  # a worker scores with a few models; in-process pipelines each load theirs
_CRITERION_MEMO_SIZE = 20_000


def _tables(model: ScoringModel) -> _ModelTables:
    tables = _TABLES.get(id(model))
    if tables is None or tables.model is not model:
        if len(_TABLES) >= _TABLES_HELD:  # each holds its model: drop the models of the past
            _TABLES.clear()
        tables = _TABLES[id(model)] = _ModelTables.of(model)
    if len(tables.scores) > _CRITERION_MEMO_SIZE:
        tables.scores.clear()
    return tables


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
    tables: _ModelTables,
    channel: Channel,
    answers: Mapping[str, str] | None,
    observed: Mapping[str, str | float],
) -> list[_Weighed]:
    memo = tables.scores
    assessed = answers is not None
    out = []
    observation: str | float | None
    for criterion, criterion_id, observe in tables.criteria[channel]:
        if observe is None:
            observation = answers.get(criterion_id) if answers is not None else None
        else:
            observation = observed.get(observe)
        # a float by its exact bits: -0.0 == 0.0, but they are shown differently
        exact = observation.hex() if isinstance(observation, float) else observation
        key = (criterion_id, assessed, exact)
        weighed = memo.get(key)
        if weighed is None:
            item = _criterion_score(criterion, answers, observed)
            weighed = memo[key] = (
                item,
                criterion_id,
                item.value,
                item.weight,
                item.dimension,
                item.model_dump(),
            )
        out.append(weighed)
    return out


def weighted_mean(scores: Iterable[CriterionScore]) -> float | None:
    """Σ(value × weight) / Σ(weight) over applicable criteria.

    N/A criteria are left out and the remaining weights renormalised."""
    applicable = [(s.value, s.weight) for s in scores if s.value is not None and s.weight > 0]
    if not applicable:
        return None
    return math.fsum([v * w for v, w in applicable]) / math.fsum([w for _, w in applicable])


def _means(breakdown: list[_Weighed]) -> tuple[float | None, float | None, float | None]:
    """`weighted_mean` of the whole breakdown, of its form and of its content criteria, in one
    pass (the same sums, so the same figures)."""
    products: list[float] = []
    weights: list[float] = []
    form_products: list[float] = []
    form_weights: list[float] = []
    content_products: list[float] = []
    content_weights: list[float] = []
    for _, _, value, weight, dimension, _ in breakdown:
        if value is None or weight <= 0:
            continue
        product = value * weight
        products.append(product)
        weights.append(weight)
        if dimension == "form":
            form_products.append(product)
            form_weights.append(weight)
        elif dimension == "content":
            content_products.append(product)
            content_weights.append(weight)
    fsum = math.fsum
    return (
        fsum(products) / fsum(weights) if weights else None,
        fsum(form_products) / fsum(form_weights) if form_weights else None,
        fsum(content_products) / fsum(content_weights) if content_weights else None,
    )


def _critical(
    raw: float, breakdown: list[_Weighed], tables: _ModelTables
) -> tuple[float, list[Correction]]:
    """Apply knock-out criteria: cap (or zero) the score when a critical value is too low."""
    capped = raw
    notes: list[Correction] = []
    criticals = tables.criticals
    if not criticals:
        return capped, notes
    for _, criterion_id, value, _, _, _ in breakdown:
        critical = criticals.get(criterion_id)
        if critical is None or not critical.applies(value):
            continue
        limit = 0.0 if critical.effect == "zero" or critical.cap is None else critical.cap
        if capped > limit:
            notes.append(
                Correction(
                    kind=f"critical_{critical.effect}",
                    points=capped - limit,
                    reason=f"critical criterion {criterion_id!r} scored below {critical.below:g}",
                )
            )
            capped = limit
    return capped, notes


def effective_model_key(facts: ContactFacts, pinned: str) -> str:
    """The model a contact is scored with: the latest rescore request, else the pinned one."""
    rescore = facts.last(RescoreRequested)
    return pinned if rescore is None else rescore.model


def is_orphan(facts: ContactFacts, model: ScoringModel, watermark: datetime) -> bool:
    """Mail facts whose mystery mail was never sent, known to be so once the reply deadline
    after the earliest of them has passed."""
    if facts.channel != "mail" or facts.first(MailSent) is not None or not facts.events:
        return False
    earliest = facts.events[0].occurred_at
    return watermark >= earliest + _tables(model).reply_within


class ScoreDraft:
    """A contact's score as plain values, made without building a pydantic model: the scorer
    dumps it straight to JSON for a revision (validating and dumping a `ContactScore` took
    about 20 µs a revision, a third of all a scored event cost in the scorer's domain code),
    and `score` or `revision` build the model when one is wanted."""

    __slots__ = ("breakdown", "fields")

    def __init__(
        self,
        fields: dict[str, Any],  # ContactScore's fields, in its order
        breakdown: tuple[_Weighed, ...],  # fields["breakdown"], with each item's fields
    ) -> None:
        self.fields: Final = fields
        self.breakdown: Final = breakdown

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScoreDraft):
            return NotImplemented
        return (self.fields, self.breakdown) == (other.fields, other.breakdown)

    def __repr__(self) -> str:
        return f"ScoreDraft(fields={self.fields!r}, breakdown={self.breakdown!r})"

    @property
    def score(self) -> ContactScore:
        return ContactScore(**self.fields)

    def revision(self, number: int) -> ScoreRevision:
        return ScoreRevision(**self.fields, revision=number)

    def to_json(self) -> bytes:
        """`self.score.model_dump_json()`, byte for byte (orjson writes floats and datetimes
        as pydantic does; test_scoring pins it), in about a sixth of the time."""
        fields = self.fields
        corrections = fields["corrections"]
        return orjson.dumps(
            {
                **fields,
                "breakdown": [weighed[5] for weighed in self.breakdown],
                "corrections": [c.model_dump() for c in corrections] if corrections else (),
            },
            option=orjson.OPT_UTC_Z,
        )


class Outcome:
    """What scoring a contact's facts gives: its score, if it can be scored yet, and the
    future event times at which the score may change."""

    __slots__ = ("deadlines", "draft")

    def __init__(self, draft: ScoreDraft | None, deadlines: tuple[datetime, ...]) -> None:
        self.draft: Final = draft
        self.deadlines: Final = deadlines

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Outcome):
            return NotImplemented
        return (self.draft, self.deadlines) == (other.draft, other.deadlines)

    def __repr__(self) -> str:
        return f"Outcome(draft={self.draft!r}, deadlines={self.deadlines!r})"

    @property
    def score(self) -> ContactScore | None:
        return None if self.draft is None else self.draft.score


_UNSCORED = Outcome(None, ())


def score_contact(
    facts: ContactFacts, model: ScoringModel, watermark: datetime = END_OF_TIME
) -> Outcome:
    """The contact's score given everything known up to `watermark` (None while it cannot be
    scored yet), and the deadlines still ahead that could change it."""
    channel = facts.channel
    if channel is None:
        return _UNSCORED
    tables = _tables(model)
    assessed: CallAssessed | MailAssessed | None
    if channel == "mail":
        sent = facts.first(MailSent)
        if sent is None:
            # a reply without its sent mail: an orphan once the reply deadline has passed
            orphaned_at = facts.events[0].occurred_at + tables.reply_within
            return Outcome(None, (orphaned_at,) if watermark < orphaned_at else ())
        if facts.first(MailReplied) is None:
            deadline = sent.occurred_at + tables.reply_within  # reply_deadline(sent, model)
            if watermark < deadline:
                return Outcome(None, (deadline,))
            fields = _identity(facts, channel)
            fields.update(
                total=float(model.unanswered_mail_score),
                form=None,
                content=None,
                potential=None,
                answered=False,
                facts=_mail_facts(facts, model).values,
                breakdown=(),
                corrections=(),
            )
            return Outcome(ScoreDraft(_with_model(fields, facts, model), ()), ())
        # A replied mail is scored on what was measured as soon as the reply is in (a
        # provisional, form-only score that supersedes an "unanswered" one); the assessment
        # adds the content.
        observed = _mail_facts(facts, model)
        assessed = facts.last(MailAssessed)
    else:
        assessed = facts.last(CallAssessed)
        if assessed is None:  # cheap exit: most facts of a call arrive before its assessment
            return _UNSCORED
        observed = _phone_facts(facts, tables, watermark)

    answers = None if assessed is None else assessed.answers
    breakdown = _breakdown(tables, channel, answers, observed.values)
    raw, form, content = _means(breakdown)
    if raw is None:
        return Outcome(None, observed.deadlines)
    capped, knockouts = _critical(raw, breakdown, tables)
    total = max(0.0, capped - math.fsum([c.points for c in observed.corrections]))
    fields = _identity(facts, channel)
    fields.update(
        total=round(total, 6),
        form=_rounded(form),
        content=_rounded(content),
        potential=round(capped, 6),
        answered=facts.first(CallAnswered) is not None if channel == "phone" else True,
        facts=observed.values,
        breakdown=tuple([weighed[0] for weighed in breakdown]),
        corrections=(*knockouts, *observed.corrections),
    )
    return Outcome(
        ScoreDraft(_with_model(fields, facts, model), tuple(breakdown)), observed.deadlines
    )


def _identity(facts: ContactFacts, channel: Channel) -> dict[str, Any]:
    """The fields that say which contact a score is of (ContactScore's first fields)."""
    head = facts.head
    assert head is not None  # the contact has a channel
    return {
        "contact_id": head.contact_id,
        "municipality": head.municipality,
        "campaign": head.campaign,
        "wave": head.wave,
        "case": head.case,
        "channel": channel,
    }


def _with_model(fields: dict[str, Any], facts: ContactFacts, model: ScoringModel) -> dict[str, Any]:
    """`fields` followed by ContactScore's last ones: under which model, as of which fact."""
    fields["model_id"] = model.id
    fields["model_version"] = model.version
    fields["last_fact_at"] = facts.last_fact_at
    return fields


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
