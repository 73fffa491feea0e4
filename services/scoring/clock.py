"""Event time per partition, pure: the watermark and the deadlines waiting for it.

The scorer advances a partition's watermark with every event (minus an allowed lateness) and
with ingest heartbeats, never with the worker's clock; contacts whose next deadline the
watermark has passed are due for re-evaluation. The clock is stored in a table keyed by
partition, written only when its set of pending deadlines changes or a heartbeat arrives:
a watermark that lags after a restart is safe (it only ever moves forward, from new events).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PartitionClock:
    watermark: float = float("-inf")  # epoch seconds
    pending: dict[str, float] = field(default_factory=dict)  # contact → next deadline
    next_due: float = float("inf")

    def advance(self, event_time: float) -> bool:
        """Move the watermark forward (never back); True if it moved."""
        if event_time > self.watermark:
            self.watermark = event_time
            return True
        return False

    def schedule(self, contact_id: str, deadline: float | None) -> bool:
        """Record a contact's next deadline (None: nothing pending); True if anything changed."""
        current = self.pending.get(contact_id)
        if deadline == current:
            return False
        if deadline is None:
            del self.pending[contact_id]
        else:
            self.pending[contact_id] = deadline
        if deadline is not None and deadline < self.next_due:
            self.next_due = deadline
        elif current is not None and current <= self.next_due:  # the earliest may be gone
            self.next_due = min(self.pending.values(), default=float("inf"))
        return True

    def due(self) -> list[str]:
        """Contacts whose deadline the watermark has reached, earliest first (not removed:
        re-evaluating them reschedules each)."""
        if self.watermark < self.next_due:
            return []
        ready = [(d, c) for c, d in self.pending.items() if d <= self.watermark]
        return [c for _, c in sorted(ready)]

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
        return cls(
            watermark=float("-inf") if wm is None else float(wm),
            pending=pending,
            next_due=min(pending.values(), default=float("inf")),
        )
