"""Event time per partition, pure: the watermark and the deadlines waiting for it.

The scorer advances a partition's watermark with every event (minus an allowed lateness) and
with ingest heartbeats, never with the worker's clock; contacts whose next deadline the
watermark has passed are due for re-evaluation. The clock is stored in a table keyed by
partition, written only when its set of pending deadlines changes or a heartbeat arrives:
a watermark that lags after a restart is safe (it only ever moves forward, from new events).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

INF = float("inf")


@dataclass
class PartitionClock:
    """A partition's watermark and each open contact's next deadline. The deadlines are also
    kept in a heap (with stale entries, dropped when they come to the top), so the earliest
    is known in O(log n) when a contact is rescheduled: a partition holds thousands of open
    mails, and finding the earliest anew by a scan made every fired deadline cost O(n)."""

    watermark: float = float("-inf")  # epoch seconds
    pending: dict[str, float] = field(default_factory=dict)  # contact → next deadline
    next_due: float = field(default=INF, init=False)  # the earliest pending deadline
    _heap: list[tuple[float, str]] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._heap = [(deadline, contact) for contact, deadline in self.pending.items()]
        heapq.heapify(self._heap)
        self.next_due = self._heap[0][0] if self._heap else INF

    def advance(self, event_time: float) -> bool:
        """Move the watermark forward (never back); True if it moved."""
        if event_time > self.watermark:
            self.watermark = event_time
            return True
        return False

    def schedule(self, contact_id: str, deadline: float | None) -> bool:
        """Record a contact's next deadline (None: nothing pending); True if anything changed."""
        pending = self.pending
        current = pending.get(contact_id)
        if deadline == current:
            return False
        if deadline is None:
            del pending[contact_id]
        else:
            pending[contact_id] = deadline
            heapq.heappush(self._heap, (deadline, contact_id))
        if current is not None and current <= self.next_due:  # the earliest may be gone
            self._settle()
        elif deadline is not None and deadline < self.next_due:
            self.next_due = deadline
        return True

    def _settle(self) -> None:
        """Drop stale entries from the top of the heap; the top is then the earliest."""
        heap, pending = self._heap, self.pending
        if len(heap) > 2 * len(pending) + 64:  # mostly stale: rebuild
            self.__post_init__()
            return
        while heap and pending.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        self.next_due = heap[0][0] if heap else INF

    def due(self) -> list[str]:
        """Contacts whose deadline the watermark has reached, earliest first (not removed:
        re-evaluating them reschedules each)."""
        if self.watermark < self.next_due:
            return []
        heap, pending = self._heap, self.pending
        ready: list[tuple[float, str]] = []
        while heap and heap[0][0] <= self.watermark:
            entry = heapq.heappop(heap)
            if pending.get(entry[1]) == entry[0] and (not ready or ready[-1] != entry):
                ready.append(entry)  # (a contact may be in the heap twice with one deadline)
        for entry in ready:  # still pending until rescheduled
            heapq.heappush(heap, entry)
        return [contact for _, contact in ready]

    def to_json(self) -> dict[str, Any]:
        return {
            "wm": self.watermark if self.watermark != float("-inf") else None,
            "pending": self.pending,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> PartitionClock:
        if not raw:
            return cls()
        pending = {str(k): float(v) for k, v in raw.get("pending", {}).items()}
        wm = raw.get("wm")
        return cls(watermark=float("-inf") if wm is None else float(wm), pending=pending)
