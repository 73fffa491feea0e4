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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import Any

from schemas.events import EVENT_ADAPTER, CallAssessed, Event, MailAssessed, RescoreRequested
from schemas.scores import ContactScore, ScoreRevision
from schemas.scoring_model import ScoringModel
from services.scoring.rules import (
    END_OF_TIME,
    ContactError,
    ContactFacts,
    check_belongs,
    effective_model_key,
    score_contact,
    scored,
)

ModelLookup = Callable[[str], ScoringModel]  # 'id@version' → model (KeyError when unknown)


@dataclass(frozen=True)
class ContactState:
    facts: ContactFacts
    model_key: str = ""
    revision: int = 0
    score_digest: str = ""
    deadline: datetime | None = None  # the next event time at which the score may change
    # The last emitted score, kept in memory only: comparing with it is much cheaper than
    # hashing every new score (after a restart the digest decides).
    last_score: ContactScore | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "events": [EVENT_ADAPTER.dump_python(e, mode="json") for e in self.facts.events],
            "model": self.model_key,
            "revision": self.revision,
            "digest": self.score_digest,
            "deadline": self.deadline.timestamp() if self.deadline else None,
        }

    def to_bytes(self) -> bytes:
        """Compact changelog value: the events' canonical JSON embedded as they are."""
        head = json.dumps(
            {
                "model": self.model_key,
                "revision": self.revision,
                "digest": self.score_digest,
                "deadline": self.deadline.timestamp() if self.deadline else None,
            }
        )
        events = b",".join(self.facts.encoded)
        return b'{"events":[' + events + b"]," + head[1:].encode()

    @classmethod
    def from_bytes(cls, raw: bytes | str | None) -> ContactState:
        if not raw:
            return cls(ContactFacts.stored())
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


@dataclass(frozen=True)
class Step:
    """A transition's result: the new state and, when the score changed, the new revision
    (built on first use; `revision_json` is its wire form, made from the JSON the score
    digest was computed over)."""

    state: ContactState
    score: ContactScore | None = None  # the new score when a revision is due
    score_json: bytes = b""

    @cached_property
    def revision(self) -> ScoreRevision | None:
        if self.score is None:
            return None
        # the score was validated when it was made: no need to validate it twice
        return ScoreRevision.model_construct(**dict(self.score), revision=self.state.revision)

    def revision_json(self) -> bytes:
        """`revision.model_dump_json()`, without dumping the score again: a ScoreRevision
        serialises as its score's fields followed by `revision`."""
        return b'%s,"revision":%d}' % (self.score_json[:-1], self.state.revision)


def _model_errors(
    event: Event, model: ScoringModel, lookup: ModelLookup, facts: ContactFacts
) -> list[str]:
    if isinstance(event, CallAssessed):
        return model.answer_errors("phone", event.answers)
    if isinstance(event, MailAssessed):
        return model.answer_errors("mail", event.answers)
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
    if any(e.event_id == event.event_id for e in state.facts.events):
        return state
    check_belongs(state.facts, event)
    pinned = state.model_key or active.key
    model = lookup(effective_model_key(state.facts, pinned))
    errors = _model_errors(event, model, lookup, state.facts)
    if errors:
        raise ContactError("; ".join(errors))
    return _with(state, facts=state.facts.with_event(event, raw), model_key=pinned)


def advance(state: ContactState, lookup: ModelLookup, watermark: datetime) -> Step:
    """Re-score the contact as of `watermark`; a revision only when the score changed."""
    model = lookup(effective_model_key(state.facts, state.model_key))
    outcome = score_contact(state.facts, model, watermark)
    deadline = min(outcome.deadlines) if outcome.deadlines else None
    score = outcome.score
    if score is None or score == state.last_score:
        if deadline == state.deadline:
            return Step(state)
        return Step(_with(state, deadline=deadline))
    score_json = score.model_dump_json().encode()
    digest = hashlib.sha256(score_json).hexdigest()
    if digest == state.score_digest:
        return Step(_with(state, deadline=deadline, last_score=score))
    new_state = ContactState(
        state.facts, state.model_key, state.revision + 1, digest, deadline, score
    )
    return Step(new_state, score, score_json)


def first_revision(
    state: ContactState, lookup: ModelLookup, watermark: datetime = END_OF_TIME
) -> ScoreRevision | None:
    """What `advance` emits for a state that has had no revision yet — revision 1, or None
    while it cannot be scored — without the digest `advance` keeps for later comparisons:
    the batch oracle scores each contact once."""
    if state.revision or state.score_digest:
        raise ValueError("first_revision is for a contact without revisions")
    model = lookup(effective_model_key(state.facts, state.model_key))
    return scored(state.facts, model, watermark, partial(ScoreRevision, revision=1)).score


def _with(state: ContactState, **changes: Any) -> ContactState:
    """`dataclasses.replace`, without its per-call field introspection (hot path)."""
    fields: dict[str, Any] = {
        "facts": state.facts,
        "model_key": state.model_key,
        "revision": state.revision,
        "score_digest": state.score_digest,
        "deadline": state.deadline,
        "last_score": state.last_score,
    }
    fields.update(changes)
    return ContactState(**fields)
