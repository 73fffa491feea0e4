"""An event id names one fact.

The first content accepted for an event id stays. An event that comes again with the same id
and the same content is a duplicate (at-least-once delivery, a file ingested twice) and changes
nothing; one that comes with other content is a conflict: ingest dead-letters it instead of
publishing it, and the batch oracle skips it, so both see one version of every event. Events are
compared as facts (pydantic's equality), not as bytes: a time written in another offset, or an
older version's dump of the same event, is the same fact.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.events import EventBase, Heartbeat
from services.ingest.parsing import Accepted, FieldProblem, Rejected

CONFLICT_KIND = "conflicting_event"


def conflicting(item: Accepted) -> Rejected:
    """An accepted event whose id was accepted before with other content."""
    problem = FieldProblem(("event_id",), conflict_reason(item.event.event_id), "event_id_conflict")
    return Rejected(item.source, item.line, str(problem), item.payload, (problem,), CONFLICT_KIND)


def conflict_reason(event_id: str) -> str:
    return (
        f"{event_id!r} was accepted before with other content; the first stays (a changed "
        "fact needs an event id of its own)"
    )


def later_versions(events: Sequence[EventBase | Heartbeat]) -> list[int]:
    """The indexes of the events whose id came at a lower index with other content."""
    if len({event.event_id for event in events}) == len(events):
        return []  # (the usual log: no id comes twice)
    first: dict[str, EventBase | Heartbeat] = {}
    found = []
    for index, event in enumerate(events):
        held = first.setdefault(event.event_id, event)
        if held is not event and held != event:
            found.append(index)
    return found
