"""Ingest service layer: validated outcomes → durable archive → observations / dead-letter."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from services.ingest.archive import EventArchive
from services.ingest.parsing import Accepted, Outcome, Rejected
from services.ingest.publisher import Publisher
from services.runtime.deadletter import deadletter_headers
from services.runtime.metrics import ServiceMetrics
from services.runtime.topics import Topics

METRICS = ServiceMetrics("ingest")


@dataclass
class IngestReport:
    records: int = 0
    accepted: int = 0
    newly_archived: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def deadlettered(self) -> int:
        return len(self.rejected)


def _batches(items: Iterable[Outcome], size: int) -> Iterator[list[Outcome]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def ingest(
    outcomes: Iterable[Outcome],
    archive: EventArchive,
    publisher: Publisher,
    topics: Topics,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Archive every accepted event (committed) before publishing it; dead-letter the rest.

    Re-running the same input is safe: the archive ignores known event ids and every consumer
    downstream is idempotent.
    """
    report = IngestReport()
    for batch in _batches(outcomes, batch_size):
        with METRICS.timed():
            accepted = [o for o in batch if isinstance(o, Accepted)]
            rejected = [o for o in batch if isinstance(o, Rejected)]
            report.newly_archived += archive.append([(o.event, o.payload) for o in accepted])
            for item in accepted:
                publisher.send(topics.observations, item.event.contact_id.encode(), item.payload)
                METRICS.consumed(item.event.type)
                METRICS.produced(item.event.type)
            for bad in rejected:
                publisher.send(
                    topics.deadletter,
                    None,
                    bad.original,
                    deadletter_headers(
                        bad.reason, "invalid_event", "ingest", f"{bad.source}:{bad.line}"
                    ),
                )
                METRICS.consumed("invalid")
                METRICS.deadlettered("invalid_event")
            publisher.flush()
        report.records += len(batch)
        report.accepted += len(accepted)
        report.rejected.extend(rejected)
        if progress:
            progress(len(batch))
    return report


def replay(
    archive: EventArchive,
    publisher: Publisher,
    topics: Topics,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 1000,
) -> int:
    """Re-publish the whole archive to the observations topic, in archive order."""
    from schemas.events import parse_event

    count = 0
    for payload in archive.payloads(batch_size):
        event = parse_event(payload)
        publisher.send(topics.observations, event.contact_id.encode(), payload)
        count += 1
        if progress and count % batch_size == 0:
            progress(batch_size)
    publisher.flush()
    if progress and count % batch_size:
        progress(count % batch_size)
    return count
