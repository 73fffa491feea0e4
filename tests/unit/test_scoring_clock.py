"""The per-partition event-time clock: a watermark that never moves back, the contacts'
pending deadlines, which of them are due, and the JSON the clock is stored as."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.clock import PartitionClock

INF = float("inf")


def stored(clock: PartitionClock) -> PartitionClock:
    """The clock after a trip through its table (JSON text)."""
    return PartitionClock.from_json(json.loads(json.dumps(clock.to_json())))


# ------------------------------------------------------------------ watermark


def test_a_new_clock_knows_no_time_and_nothing_pending() -> None:
    clock = PartitionClock()
    assert clock.watermark == -INF
    assert clock.pending == {}
    assert clock.next_due == INF
    assert clock.due() == []


def test_the_watermark_never_moves_back() -> None:
    clock = PartitionClock()
    assert clock.advance(100.0) is True
    assert clock.watermark == 100.0
    assert clock.advance(50.0) is False
    assert clock.advance(100.0) is False  # not moving is not moving forward
    assert clock.watermark == 100.0
    assert clock.advance(100.5) is True
    assert clock.watermark == 100.5
    assert clock.advance(-INF) is False
    assert clock.advance(math.nan) is False  # a broken time never moves it
    assert clock.watermark == 100.5


# ------------------------------------------------------------------ schedule


def test_schedule_and_unschedule() -> None:
    clock = PartitionClock()
    assert clock.schedule("a", 300.0) is True
    assert clock.schedule("b", 200.0) is True
    assert clock.pending == {"a": 300.0, "b": 200.0}
    assert clock.next_due == 200.0
    assert clock.schedule("b", 200.0) is False  # unchanged
    assert clock.schedule("b", 400.0) is True  # moved later: a becomes next
    assert clock.next_due == 300.0
    assert clock.schedule("a", None) is True  # nothing pending for a any more
    assert clock.pending == {"b": 400.0}
    assert clock.next_due == 400.0
    assert clock.schedule("a", None) is False  # unscheduling the unknown changes nothing
    assert clock.schedule("b", None) is True
    assert clock.pending == {}
    assert clock.next_due == INF


def test_due_only_at_or_after_the_deadline_and_earliest_first() -> None:
    clock = PartitionClock()
    clock.schedule("late", 300.0)
    clock.schedule("early", 100.0)
    clock.schedule("tie-b", 200.0)
    clock.schedule("tie-a", 200.0)
    clock.advance(99.999)
    assert clock.due() == []
    clock.advance(100.0)
    assert clock.due() == ["early"]  # exactly at the deadline is due
    clock.advance(250.0)
    assert clock.due() == ["early", "tie-a", "tie-b"]  # ties in contact order
    # due contacts stay pending until re-evaluation reschedules them
    assert clock.due() == ["early", "tie-a", "tie-b"]
    clock.schedule("early", None)
    clock.schedule("tie-a", 1000.0)
    assert clock.due() == ["tie-b"]
    clock.advance(1e9)
    assert clock.due() == ["tie-b", "late", "tie-a"]


def test_a_deadline_already_passed_is_due_at_once() -> None:
    clock = PartitionClock()
    clock.advance(500.0)
    clock.schedule("c", 100.0)
    assert clock.due() == ["c"]


# ------------------------------------------------------------------ JSON


def test_json_round_trip() -> None:
    empty = PartitionClock()
    assert empty.to_json() == {"wm": None, "pending": {}}
    assert stored(empty) == empty
    clock = PartitionClock()
    clock.advance(1_772_442_000.25)
    clock.schedule("c-1", 1_772_701_200.0)
    clock.schedule("c-2", 1_772_450_000.5)
    back = stored(clock)
    assert back == clock
    assert back.next_due == 1_772_450_000.5
    assert back.due() == clock.due() == []
    back.advance(1_772_450_000.5)
    assert back.due() == ["c-2"]


def test_from_json_of_nothing_is_a_new_clock() -> None:
    assert PartitionClock.from_json(None) == PartitionClock()
    assert PartitionClock.from_json({}) == PartitionClock()
    # integers as JSON gives them, keys always text
    raw: dict[str, Any] = {"wm": 10, "pending": {"7": 20}}
    clock = PartitionClock.from_json(raw)
    assert clock.watermark == 10.0
    assert clock.pending == {"7": 20.0}
    assert clock.next_due == 20.0


# ------------------------------------------------------------------ property: a naive model

CONTACTS = [f"c{i}" for i in range(6)]
TIMES = st.integers(0, 100).map(float) | st.floats(-1e3, 1e3, allow_nan=False)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), TIMES),
        st.tuples(st.just("schedule"), st.sampled_from(CONTACTS), TIMES | st.none()),
        st.tuples(st.just("store")),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(OPERATIONS)
def test_the_clock_agrees_with_a_naive_model(operations: list[tuple[Any, ...]]) -> None:
    clock = PartitionClock()
    watermark = -INF
    pending: dict[str, float] = {}
    for op in operations:
        if op[0] == "advance":
            moved = clock.advance(op[1])
            assert moved == (op[1] > watermark)
            watermark = max(watermark, op[1])
        elif op[0] == "schedule":
            _, contact, deadline = op
            changed = clock.schedule(contact, deadline)
            assert changed == (pending.get(contact) != deadline)
            if deadline is None:
                pending.pop(contact, None)
            else:
                pending[contact] = deadline
        else:
            clock = stored(clock)
        assert clock.watermark == watermark
        assert clock.pending == pending
        assert clock.next_due == min(pending.values(), default=INF)
        expected = sorted((d, c) for c, d in pending.items() if d <= watermark)
        assert clock.due() == [c for _, c in expected]


def test_rescheduling_keeps_the_heap_bounded_and_the_earliest_right() -> None:
    """Every reschedule leaves a stale heap entry behind; they are dropped as they come to the
    top, and the heap is rebuilt when they outnumber the live ones."""
    clock = PartitionClock()
    clock.schedule("late", 10_000.0)
    for i in range(1_000):
        clock.schedule("open", float(i))
        clock.schedule("open", float(5_000 - i))  # the earliest moves away again
        assert clock.next_due == min(clock.pending.values())
    assert len(clock._heap) <= 2 * len(clock.pending) + 64 + 2
    clock.advance(6_000.0)
    assert clock.due() == ["open"]
    clock.schedule("open", None)
    assert clock.next_due == 10_000.0 and clock.due() == []
