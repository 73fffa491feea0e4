"""The durable event archive on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, select, update

from schemas.events import CallAssessed, CallPlaced, EventBase, parse_event
from services.ingest.archive import Appended, ArchivedEvent, EventArchive, Refused

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def placed(i: int, *, contact: str | None = None) -> tuple[EventBase, bytes]:
    event = CallPlaced(
        event_id=f"ev-{i:06d}",
        contact_id=contact or f"call-{i // 3:05d}",
        municipality="GM0344",
        campaign="c",
        wave=1,
        case="x",
        occurred_at=T0 + timedelta(seconds=i),
    )
    return event, event.model_dump_json().encode()


def test_append_counts_new_events_and_skips_known_ones(engine: Engine) -> None:
    archive = EventArchive(engine)
    assert archive.count() == 0
    assert archive.append([]).new == 0
    assert archive.append([placed(1), placed(2), placed(3)]).new == 3
    assert archive.count() == 3
    # Across batches: 2 and 3 are known, 4 is new.
    assert archive.append([placed(2), placed(4), placed(3)]).new == 1
    assert archive.count() == 4
    # The same batch again: nothing new.
    assert archive.append([placed(2), placed(4), placed(3)]).new == 0
    assert archive.count() == 4


def test_append_dedups_within_a_batch(engine: Engine) -> None:
    archive = EventArchive(engine)
    first = placed(7)
    again = (first[0], b'{"the same event": "in other bytes"}')
    appended = archive.append([first, placed(8), again, first])
    assert appended == Appended(new=2, conflicts=())
    assert archive.count() == 2
    assert list(archive.payloads()) == [first[1], placed(8)[1]]  # the first occurrence wins


def test_an_event_id_that_comes_again_with_other_content_is_a_conflict(engine: Engine) -> None:
    archive = EventArchive(engine)
    first = placed(1)
    other_case = first[0].model_copy(update={"case": "evenementenvergunning"})
    changed = (other_case, other_case.model_dump_json().encode())
    # the same fact, its time written in another offset: no conflict
    shifted = first[1].replace(b'"2026-03-02T09:00:01Z"', b'"2026-03-02T10:00:01+01:00"')
    assert shifted != first[1]
    same = (parse_event(shifted), shifted)

    # within one batch: the first stays
    assert archive.conflicts([first, changed, same]) == (1,)
    assert archive.count() == 0  # (only looked)
    assert archive.append([first, changed, same, placed(2)]) == Appended(new=2, conflicts=(1,))
    # against what was archived before, in another batch
    batch = [placed(3), same, changed, placed(2), changed]
    assert archive.conflicts(batch) == (2, 4)
    assert archive.append(batch) == Appended(new=1, conflicts=(2, 4))
    assert archive.count() == 3
    assert list(archive.payloads()) == [first[1], placed(2)[1], placed(3)[1]]
    # an archived payload is compared as the event it holds, not as bytes
    with engine.begin() as conn:
        conn.execute(
            update(ArchivedEvent)
            .where(ArchivedEvent.event_id == first[0].event_id)
            .values(payload=shifted)
        )
    assert archive.append([first, changed]) == Appended(new=0, conflicts=(1,))
    # a payload the contract refuses (archived before it did) holds no event to agree with
    with engine.begin() as conn:
        conn.execute(
            update(ArchivedEvent)
            .where(ArchivedEvent.event_id == first[0].event_id)
            .values(payload=b'{"type": "call.placed"}')
        )
    assert archive.conflicts([first]) == (0,)


def test_conflicts_are_found_in_batches_larger_than_a_query_takes(engine: Engine) -> None:
    archive = EventArchive(engine)
    batch = [placed(i) for i in range(2_500)]
    assert archive.append(batch).new == 2_500
    moved = list(batch)
    for i in (999, 1_999):
        event = batch[i][0].model_copy(update={"occurred_at": T0})
        moved[i] = (event, event.model_dump_json().encode())
    assert archive.conflicts(moved) == (999, 1_999)
    assert archive.append(moved) == Appended(new=0, conflicts=(999, 1_999))


def test_payloads_in_archive_order_round_trip(engine: Engine) -> None:
    archive = EventArchive(engine)
    assessed = CallAssessed(
        event_id="ev-assessed",
        contact_id="call-é",
        municipality="GM0363",
        campaign="c",
        wave=2,
        case="standplaatsvergunning",
        occurred_at=datetime(2026, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=1))),
        answers={"vriendelijkheid_aanname": "zeer vriendelijk"},
        # (the contract refuses NUL in text: PostgreSQL's text columns downstream could not
        # hold it; the archive keeps the payload's bytes as they are all the same)
        report="Vriendelijk geholpen;\téén keer doorverbonden ✓\nregel 2\u2028",
    )
    # Archive order is arrival order, not event time.
    batch1 = [placed(9), placed(2)]
    batch2 = [(assessed, assessed.model_dump_json().encode()), placed(5)]
    archive.append(batch1)
    archive.append(batch2)
    expected = [payload for _, payload in batch1 + batch2]
    for size in (1, 2, 3, 1000):
        got = list(archive.payloads(batch_size=size))
        assert got == expected
        assert all(isinstance(p, bytes) for p in got)
    assert parse_event(list(archive.payloads())[2]) == assessed
    with pytest.raises(ValueError):
        list(archive.payloads(batch_size=0))


def test_archived_columns(engine: Engine) -> None:
    archive = EventArchive(engine)
    event, payload = placed(1, contact="call-A")
    before = datetime.now(UTC)
    archive.append([(event, payload)])
    with engine.connect() as conn:
        row = conn.execute(
            select(
                ArchivedEvent.seq,
                ArchivedEvent.event_id,
                ArchivedEvent.contact_id,
                ArchivedEvent.municipality,
                ArchivedEvent.event_type,
                ArchivedEvent.occurred_at,
                ArchivedEvent.archived_at,
            )
        ).one()
    assert row.event_id == "ev-000001"
    assert row.contact_id == "call-A"
    assert row.municipality == "GM0344"
    assert row.event_type == "call.placed"
    assert row.occurred_at == event.occurred_at
    assert row.occurred_at.tzinfo is not None
    assert before - timedelta(seconds=5) <= row.archived_at <= datetime.now(UTC)
    assert row.seq >= 1


def test_big_batch(engine: Engine) -> None:
    archive = EventArchive(engine)
    batch = [placed(i) for i in range(5_000)]
    assert archive.append(batch).new == 5_000
    assert archive.count() == 5_000
    assert archive.append(batch[::-1]).new == 0
    assert archive.append([*batch[4_990:], placed(5_000)]).new == 1
    payloads = list(archive.payloads(batch_size=777))
    assert len(payloads) == 5_001
    assert payloads[:5_000] == [p for _, p in batch]
    assert payloads[-1] == placed(5_000)[1]


def test_what_ingest_refused_is_kept_as_it_came_in_and_in_order(engine: Engine) -> None:
    archive = EventArchive(engine)
    archive.refuse([])
    assert list(archive.refused()) == []
    refused = [
        Refused("invalid_event", f"x.jsonl:{n}", f"reason {n}", b"\xff\x00 %d" % n, T0)
        for n in range(1, 6)
    ]
    archive.refuse(refused[:2])
    archive.refuse(refused[2:])
    # (read in pages smaller than what was kept)
    assert list(archive.refused(batch_size=2)) == refused
    assert archive.count() == 0  # (not events)


def test_a_record_refused_again_from_the_same_source_is_kept_once_as_first_refused(
    engine: Engine,
) -> None:
    """At-least-once: an ingest batch read again (or a file ingested again) refuses the same
    records again; each is kept once, and what `refuse` returns to dead-letter is the record
    as first kept, its time included, so the dead letter is the same however often it is sent."""
    archive = EventArchive(engine)
    first = Refused("invalid_event", "ingest/0@7", "no contact_id", b'{"a": 1}', T0)
    assert archive.refuse([first]) == [first]
    again = Refused("invalid_event", "ingest/0@7", "no contact_id", b'{"a": 1}', T1)
    other_bytes = Refused("invalid_event", "ingest/0@7", "no contact_id", b'{"a": 2}', T1)
    other_source = Refused("invalid_event", "ingest/0@8", "no contact_id", b'{"a": 1}', T1)
    assert archive.refuse([again, other_bytes, other_source, again]) == [
        first,
        other_bytes,
        other_source,
        first,
    ]
    assert list(archive.refused()) == [first, other_bytes, other_source]
