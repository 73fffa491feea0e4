"""The stateful scorer's state transition, pure: (contact state, new event) → (state, revision?).

The faust agent keeps one `ContactState` per contact in a table and calls `observe` for every
event; the batch oracle folds a contact's events through the same function.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from schemas.events import EVENT_ADAPTER, Channel, Event
from schemas.scores import ScoreRevision
from services.scoring.model import ScoringModel
from services.scoring.rules import ContactError, ContactFacts, check_belongs, score_contact


@dataclass(frozen=True)
class ContactState:
    facts: ContactFacts
    revision: int = 0
    score_digest: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "events": [EVENT_ADAPTER.dump_python(e, mode="json") for e in self.facts.events],
            "revision": self.revision,
            "digest": self.score_digest,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> ContactState:
        if not raw:
            return EMPTY_STATE
        events = [EVENT_ADAPTER.validate_python(e) for e in raw["events"]]
        return cls(ContactFacts(tuple(events)), int(raw["revision"]), str(raw["digest"]))


EMPTY_STATE = ContactState(ContactFacts(()))


def _assessment_errors(event: Event, model: ScoringModel) -> list[str]:
    answers = getattr(event, "answers", None)
    if answers is None:
        return []
    channel: Channel = "phone" if event.type == "call.assessed" else "mail"
    return model.answer_errors(channel, answers)


def observe(
    state: ContactState, event: Event, model: ScoringModel
) -> tuple[ContactState, ScoreRevision | None]:
    """Add one fact. Returns the new state and a revision when the contact's score changed.

    Raises ContactError when the event contradicts the contact or the model; the state is then
    unchanged (the caller dead-letters the event).
    """
    if any(e.event_id == event.event_id for e in state.facts.events):
        return state, None  # a duplicate changes nothing
    check_belongs(state.facts, event)
    errors = _assessment_errors(event, model)
    if errors:
        raise ContactError("; ".join(errors))
    facts = ContactFacts.of((*state.facts.events, event))
    score = score_contact(facts, model)
    if score is None:
        return replace(state, facts=facts), None
    digest = hashlib.sha256(score.model_dump_json().encode()).hexdigest()
    if digest == state.score_digest:
        return replace(state, facts=facts), None
    revision = state.revision + 1
    new_state = ContactState(facts, revision, digest)
    return new_state, ScoreRevision(revision=revision, **score.model_dump())
