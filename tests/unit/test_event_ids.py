"""An event id names one fact: the first version stays, a later one with other content is a
conflict, and the same fact written differently is not."""

from __future__ import annotations

from datetime import timedelta, timezone

from schemas.events import parse_event
from services.ingest.event_ids import CONFLICT_KIND, conflicting, later_versions
from services.ingest.parsing import Accepted
from tests.unit.test_parsing import line


def test_later_versions_are_those_with_other_content_than_the_first() -> None:
    first = parse_event(line())
    same = first.model_copy(
        update={"occurred_at": first.occurred_at.astimezone(timezone(timedelta(hours=5)))}
    )
    moved = first.model_copy(update={"occurred_at": first.occurred_at + timedelta(seconds=1)})
    other = parse_event(line(event_id="e-2"))
    elsewhere = parse_event(line(contact_id="c-2"))  # e-1 again, for another contact
    log = [first, other, same, moved, first, elsewhere, other.model_copy(update={"wave": 2})]
    assert later_versions(log) == [3, 5, 6]
    # reversed, the first of e-1 is the one for c-2: every other e-1 differs from it
    assert later_versions(log[::-1]) == [2, 3, 4, 5, 6]
    assert later_versions([]) == []


def test_a_conflict_is_refused_with_its_field_and_kind() -> None:
    event = parse_event(line())
    refused = conflicting(Accepted("forms.csv", 4, event, b"{}"))
    assert (refused.source, refused.line, refused.original, refused.kind) == (
        "forms.csv",
        4,
        b"{}",
        CONFLICT_KIND,
    )
    [problem] = refused.fields
    assert problem.loc == ("event_id",) and problem.type == "event_id_conflict"
    assert refused.reason == (
        "event_id: 'e-1' was accepted before with other content; the first stays (a changed "
        "fact needs an event id of its own)"
    )
