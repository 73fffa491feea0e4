"""A consumed batch is committed only once it has been processed completely.

faust's `Stream.take_events` acknowledges a batch when the loop asks for the next one *or when
the loop is left*: also when its body raised, and also when it was cancelled half-way (a
rebalance, a stop). An acknowledged offset is committed, so a batch whose revisions or
changelog values never reached the broker would be skipped for good. Each batch-processing
agent therefore runs its body inside `processing`:

- on an error the batch's messages are held back (never acknowledged, so the committed offset
  stays before them), the pipeline records the failure and the worker stops — the process
  exits with an error for its supervisor to restart, and the new worker reads the batch again;
- on a cancellation they are held back too, without stopping anything: whoever owns the
  partition next reads the batch again.

Reading a batch again is safe: every consumer is idempotent (delivery is at-least-once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.runtime.app import Pipeline


@contextmanager
def processing(pipeline: Pipeline, service: str, events: Sequence[Any]) -> Iterator[None]:
    """Hold the batch `events` back when the block raises (see the module doc)."""
    try:
        yield
    except BaseException as exc:
        for event in events:
            # faust acknowledges a message once: one it takes for acknowledged already is
            # skipped when take_events acknowledges the batch, so the consumer never marks
            # its offset as safe to commit.
            event.message.acked = True
        if not isinstance(exc, asyncio.CancelledError | GeneratorExit):
            pipeline.fail(service, exc, len(events))
        raise
