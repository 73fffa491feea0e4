"""Ingest service layer: validated outcomes → durable archive → observations / dead-letter."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

from schemas.events import (
    EVENT_ADAPTER,
    OBSERVATION_ADAPTER,
    Event,
    Heartbeat,
    RescoreRequested,
    SurveyResponse,
)
from services.ingest.archive import Appended, EventArchive, Refused
from services.ingest.event_ids import conflicting
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


def destination(event: Event, topics: Topics) -> tuple[str, bytes]:
    """Topic and key of an accepted event: contact facts go to observations keyed by contact
    (the scorer's partitioning); survey responses, which belong to no contact, go straight to
    the surveys topic keyed by municipality (the aggregators' partitioning)."""
    if isinstance(event, SurveyResponse):
        return topics.surveys, event.municipality.encode()
    return topics.observations, event.contact_id.encode()


def _batches(items: Iterable[Outcome], size: int) -> Iterator[list[Outcome]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def passed_on(
    accepted: list[Accepted], appended: Appended
) -> tuple[list[Accepted], list[Rejected]]:
    """The accepted events to publish, and those the archive found in conflict."""
    if not appended.conflicts:
        return accepted, []
    refused = set(appended.conflicts)
    return (
        [item for position, item in enumerate(accepted) if position not in refused],
        [conflicting(accepted[position]) for position in appended.conflicts],
    )


def refusal(bad: Rejected, source: str) -> Refused:
    """What ingest keeps and dead-letters of a rejected record that came from `source`, now
    (to the millisecond, a Kafka timestamp's precision)."""
    now = datetime.now(UTC)
    return Refused(
        bad.kind,
        source,
        bad.reason,
        bad.original,
        now.replace(microsecond=now.microsecond // 1000 * 1000),
    )


def timestamp_ms(refused: Refused) -> int:
    """Its dead letter's Kafka timestamp: the same whenever it is sent."""
    return round(refused.at.timestamp() * 1000)


def send_refused(publisher: Publisher, topics: Topics, refused: Refused) -> None:
    publisher.send(
        topics.deadletter,
        None,
        refused.value,
        deadletter_headers(refused.reason, refused.kind, METRICS.service, refused.source),
        timestamp_ms=timestamp_ms(refused),
    )


def ingest(
    outcomes: Iterable[Outcome],
    archive: EventArchive,
    publisher: Publisher,
    topics: Topics,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Archive every accepted event (committed) before publishing it; dead-letter the rest,
    and the events whose id the archive holds with other content (kept in the archive too).

    Re-running the same input is safe: the archive ignores known event ids and every consumer
    downstream is idempotent.
    """
    report = IngestReport()
    for batch in _batches(outcomes, batch_size):
        with METRICS.timed():
            accepted = [o for o in batch if isinstance(o, Accepted)]
            rejected = [o for o in batch if isinstance(o, Rejected)]
            appended = archive.append([(o.event, o.payload) for o in accepted])
            report.newly_archived += appended.new
            accepted, conflicts = passed_on(accepted, appended)
            rejected += conflicts
            refused = archive.refuse([refusal(bad, f"{bad.source}:{bad.line}") for bad in rejected])
            for item in accepted:
                publisher.send(*destination(item.event, topics), item.payload)
                METRICS.consumed(item.event.type)
                METRICS.produced(item.event.type)
            for record in refused:
                send_refused(publisher, topics, record)
                METRICS.consumed("invalid")
                METRICS.deadlettered(record.kind)
            publisher.flush()
        report.records += len(batch)
        report.accepted += len(accepted)
        report.rejected.extend(rejected)
        if progress:
            progress(len(batch))
    return report


def publish_heartbeat(
    archive: EventArchive, publisher: Publisher, topics: Topics, source: str, at: datetime
) -> Heartbeat:
    """Vouch that every event up to `at` has been passed on: archived first (so a replay
    advances event time the same way), then sent to every partition of observations."""
    heartbeat = Heartbeat(
        event_id=f"hb-{source}-{at.isoformat()}-{uuid.uuid4().hex[:8]}",
        source=source,
        occurred_at=at,
    )
    payload = heartbeat.model_dump_json().encode()
    archive.append([(heartbeat, payload)])
    _send_heartbeat(publisher, topics, payload)
    publisher.flush()
    METRICS.produced("heartbeat")
    return heartbeat


def rescore_requests(
    archive: EventArchive, model_key: str, at: datetime, municipality: str | None = None
) -> list[RescoreRequested]:
    """One rescore request per archived contact (optionally of one municipality)."""
    requests = []
    batch = uuid.uuid4().hex[:8]
    for payload in archive.first_payloads(municipality):
        first = EVENT_ADAPTER.validate_json(payload)
        requests.append(
            RescoreRequested(
                event_id=f"rescore-{batch}-{first.contact_id}",
                contact_id=first.contact_id,
                municipality=first.municipality,
                campaign=first.campaign,
                wave=first.wave,
                case=first.case,
                occurred_at=at,
                model=model_key,
            )
        )
    return requests


def _send_heartbeat(publisher: Publisher, topics: Topics, payload: bytes) -> None:
    for partition in publisher.partitions(topics.observations):
        publisher.send(topics.observations, None, payload, partition=partition)


def replay(
    archive: EventArchive,
    publisher: Publisher,
    topics: Topics,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 1000,
) -> int:
    """Re-publish the whole archive to the observations topic, in archive order (heartbeats
    to every partition, as they were sent)."""
    count = 0
    for payload in archive.payloads(batch_size):
        item = OBSERVATION_ADAPTER.validate_json(payload)
        if isinstance(item, Heartbeat):
            _send_heartbeat(publisher, topics, payload)
        else:
            publisher.send(*destination(item, topics), payload)
        count += 1
        if count % batch_size == 0:
            publisher.flush()  # a broker that went away is noticed within a batch
            if progress:
                progress(batch_size)
    publisher.flush()
    if progress and count % batch_size:
        progress(count % batch_size)
    return count


def resend_refused(archive: EventArchive, publisher: Publisher, topics: Topics) -> int:
    """Send everything ingest refused to the dead-letter topic again, as it was sent (for a
    fresh embedded broker, whose dead-letter topic is empty). Returns the records sent."""
    count = 0
    for refused in archive.refused():
        send_refused(publisher, topics, refused)
        count += 1
    publisher.flush()
    return count
