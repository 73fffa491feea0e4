"""The stateful scorer's transitions, pure.

`observe` adds one event to a contact; `advance` re-evaluates a contact when event time (the
watermark) has passed one of its deadlines. Both return the new state and, when the contact's
score changed, a new `ScoreRevision`. The faust agent keeps a `ContactState` per contact in a
table; the batch oracle folds each contact's events through the same functions.

A contact is scored with the model it was *pinned* to when first seen (the active model then),
or the model of its latest rescore request: changing the active model never rescores history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, cast

from schemas.events import EVENT_ADAPTER, CallAssessed, Event, MailAssessed, RescoreRequested
from schemas.scores import ScoreRevision
from schemas.scoring_model import ScoringModel
from services.scoring.rules import (
    END_OF_TIME,
    ContactError,
    ContactFacts,
    ScoreDraft,
    check_belongs,
    effective_model_key,
    score_contact,
)

ModelLookup = Callable[[str], ScoringModel]  # 'id@version' → model (KeyError when unknown)


class ContactState:
    """One contact's facts and what scoring them has produced so far. Immutable (`Final`
    attributes: mypy refuses a change, and compiled they are read-only). A plain class, not a
    NamedTuple: compiled, it is made about five times faster, and the scorer makes one for
    every event."""

    __slots__ = ("deadline", "facts", "model_key", "revision", "score_digest")

    def __init__(
        self,
        facts: ContactFacts,
        model_key: str = "",
        revision: int = 0,
        score_digest: str = "",  # of the last emitted score's JSON: a changed score is emitted
        deadline: datetime | None = None,  # the next event time at which the score may change
    ) -> None:
        self.facts: Final = facts
        self.model_key: Final = model_key
        self.revision: Final = revision
        self.score_digest: Final = score_digest
        self.deadline: Final = deadline

    def _fields(self) -> tuple[ContactFacts, str, int, str, datetime | None]:
        return (self.facts, self.model_key, self.revision, self.score_digest, self.deadline)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContactState):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"ContactState(facts={self.facts!r}, model_key={self.model_key!r}, "
            f"revision={self.revision!r}, score_digest={self.score_digest!r}, "
            f"deadline={self.deadline!r})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "events": [EVENT_ADAPTER.dump_python(e, mode="json") for e in self.facts.events],
            "model": self.model_key,
            "revision": self.revision,
            "digest": self.score_digest,
            "deadline": self.deadline.timestamp() if self.deadline else None,
        }

    def to_bytes(self) -> bytes:
        """Compact changelog value: the events' canonical JSON embedded as they are, then the
        other fields as `json.dumps` writes them (formatted directly: this runs for every
        contact a batch changed)."""
        deadline = b"null" if self.deadline is None else repr(self.deadline.timestamp()).encode()
        return b'{"events":[%s],"model": %s, "revision": %d, "digest": %s, "deadline": %s}' % (
            self.facts.encoded,
            json.dumps(self.model_key).encode(),
            self.revision,
            json.dumps(self.score_digest).encode(),
            deadline,
        )

    @classmethod
    def from_bytes(cls, raw: bytes | str | None) -> ContactState:
        if not raw:
            return NEW_STATE
        value = json.loads(raw)
        if isinstance(value, str):  # written through faust's json value serialiser (before raw)
            value = json.loads(value)
        return cls.from_json(value)

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> ContactState:
        if not raw:
            return EMPTY_STATE
        deadline = raw.get("deadline")
        return cls(
            facts=ContactFacts(tuple(EVENT_ADAPTER.validate_python(e) for e in raw["events"])),
            model_key=str(raw.get("model", "")),
            revision=int(raw["revision"]),
            score_digest=str(raw["digest"]),
            deadline=datetime.fromtimestamp(deadline, UTC) if deadline is not None else None,
        )


EMPTY_STATE = ContactState(ContactFacts(()))
NEW_STATE = ContactState(ContactFacts.stored())  # a contact the scorer has not seen yet


class Step:
    """A transition's result: the new state and, when the score changed, the new revision
    (`revision_json` is its wire form, made from the JSON the score digest was computed
    over)."""

    __slots__ = ("score", "score_json", "state")

    def __init__(
        self,
        state: ContactState,
        score: ScoreDraft | None = None,  # the new score when a revision is due
        score_json: bytes = b"",
    ) -> None:
        self.state: Final = state
        self.score: Final = score
        self.score_json: Final = score_json

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Step):
            return NotImplemented
        return (self.state, self.score, self.score_json) == (
            other.state,
            other.score,
            other.score_json,
        )

    def __repr__(self) -> str:
        return f"Step(state={self.state!r}, score={self.score!r}, score_json={self.score_json!r})"

    @property
    def revision(self) -> ScoreRevision | None:
        return None if self.score is None else self.score.revision(self.state.revision)

    def revision_json(self) -> bytes:
        """`revision.model_dump_json()`, without dumping the score again: a ScoreRevision
        serialises as its score's fields followed by `revision`."""
        return b'%s,"revision":%d}' % (self.score_json[:-1], self.state.revision)


def _model_errors(
    event: Event, model: ScoringModel, lookup: ModelLookup, facts: ContactFacts
) -> list[str]:
    kind = type(event)  # an exact class (cheaper than isinstance, which pydantic's models slow)
    if kind is CallAssessed:
        return model.answer_errors("phone", cast(CallAssessed, event).answers)
    if kind is MailAssessed:
        return model.answer_errors("mail", cast(MailAssessed, event).answers)
    if isinstance(event, RescoreRequested):
        try:
            target = lookup(event.model)
        except KeyError:
            return [f"unknown scoring model {event.model!r}"]
        # the contact's assessment must fit the target model too
        assessed = facts.last(CallAssessed) or facts.last(MailAssessed)
        if isinstance(assessed, CallAssessed | MailAssessed) and facts.channel:
            return [
                f"rescore to {event.model}: {problem}"
                for problem in target.answer_errors(facts.channel, assessed.answers)
            ]
    return []


def observe(
    state: ContactState,
    event: Event,
    lookup: ModelLookup,
    active: ScoringModel,
    watermark: datetime = END_OF_TIME,
    raw: bytes | None = None,
) -> Step:
    """Add one fact and re-score. Raises ContactError (state unchanged) when the event
    contradicts the contact or the model; the caller dead-letters it. A duplicate changes
    nothing. `raw`: the JSON `event` was validated from, kept as its stored form."""
    absorbed = absorb(state, event, lookup, active, raw)
    if absorbed is state:
        return Step(state)
    return advance(absorbed, lookup, watermark)


def absorb(
    state: ContactState,
    event: Event,
    lookup: ModelLookup,
    active: ScoringModel,
    raw: bytes | None = None,
) -> ContactState:
    """Add one fact without re-scoring (the batch oracle scores each contact once, at the
    end). Same checks as `observe`; returns `state` itself for a duplicate."""
    if event.event_id in state.facts.event_ids:
        return state
    check_belongs(state.facts, event)
    pinned = state.model_key or active.key
    model = lookup(effective_model_key(state.facts, pinned))
    errors = _model_errors(event, model, lookup, state.facts)
    if errors:
        raise ContactError("; ".join(errors))
    facts = state.facts.with_event(event, raw)
    return ContactState(facts, pinned, state.revision, state.score_digest, state.deadline)


def advance(state: ContactState, lookup: ModelLookup, watermark: datetime) -> Step:
    """Re-score the contact as of `watermark`; a revision only when the score changed."""
    model = lookup(effective_model_key(state.facts, state.model_key))
    outcome = score_contact(state.facts, model, watermark)
    deadline = min(outcome.deadlines) if outcome.deadlines else None
    score = outcome.draft
    if score is not None:
        # Scores are compared by their JSON's digest (also after a restart, when it is all
        # that is kept): any new fact changes the score anyway, if only its last fact time.
        score_json = score.to_json()
        digest = hashlib.sha256(score_json).hexdigest()
        if digest != state.score_digest:
            revised = ContactState(
                state.facts, state.model_key, state.revision + 1, digest, deadline
            )
            return Step(revised, score, score_json)
    if deadline == state.deadline:
        return Step(state)
    return Step(
        ContactState(state.facts, state.model_key, state.revision, state.score_digest, deadline)
    )


def first_revision(
    state: ContactState, lookup: ModelLookup, watermark: datetime = END_OF_TIME
) -> ScoreRevision | None:
    """What `advance` emits for a state that has had no revision yet — revision 1, or None
    while it cannot be scored — without the digest `advance` keeps for later comparisons:
    the batch oracle scores each contact once."""
    if state.revision or state.score_digest:
        raise ValueError("first_revision is for a contact without revisions")
    model = lookup(effective_model_key(state.facts, state.model_key))
    score = score_contact(state.facts, model, watermark).draft
    return None if score is None else score.revision(1)
