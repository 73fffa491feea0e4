"""Scorer agent.

Per-contact state lives in a table keyed by contact (observations are keyed by contact, so it
is co-partitioned); each partition's event-time clock lives in a second table keyed by
partition. Every change of a contact's score is published as a `ScoreRevision` on the scores
topic, keyed by municipality so aggregation is partitioned by municipality.

Throughput: events are taken in small batches. Decoded states stay in memory between events;
each changed contact (and clock) is written to its table — and so to the changelog, on the
partition of the events that changed it — once per batch, before the batch is acknowledged.
A crash mid-batch replays the batch onto the last written state: same facts, same revisions.
Revisions and changelog values are sent straight through the producer when the batch ends
(already serialised; faust flushes the producer before it commits the batch's offsets).

Revisions are *not* coalesced per batch: every fact that changes a score still gets its own
revision, as of the watermark at that event. Batch boundaries depend on timing, so one
revision per contact per batch would make a replay of the same events emit different
(intermediate) revisions; only the state writes, which nobody reads as output, are coalesced.
"""

from __future__ import annotations

from collections import Counter as Tally
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from prometheus_client import Counter, Gauge
from pydantic import ValidationError

from schemas.events import (
    CHANNELS,
    CONTACT_TYPES,
    EVENT_ADAPTER,
    OBSERVATION_ADAPTER,
    Channel,
    Event,
    Heartbeat,
)
from services.ingest.parsing import describe
from services.runtime.app import Pipeline
from services.runtime.batches import processing
from services.runtime.deadletter import deadletter_headers, message_source
from services.runtime.metrics import ServiceMetrics
from services.runtime.sending import BulkSend
from services.runtime.tables import TableCache
from services.scoring.clock import PartitionClock
from services.scoring.rules import ContactError, is_orphan
from services.scoring.scorer import ContactState, Step, advance, observe

METRICS = ServiceMetrics("scoring")
REVISIONS = Counter("meetlat_score_revisions_total", "Score revisions emitted.", ["channel"])
CORRECTIONS = Counter(
    "meetlat_corrections_applied_total",
    "Corrections listed in emitted score revisions, by kind.",
    ["kind"],
)
DEADLINES_FIRED = Counter(
    "meetlat_deadlines_fired_total", "Contacts re-evaluated because event time passed a deadline."
)
OPEN_CONTACTS = Gauge(
    "meetlat_open_contacts",
    "Contacts with a deadline still ahead (unanswered mail, promised callback), per partition.",
    ["partition"],
)
BATCH = 2000
BATCH_SECONDS = 0.04
"""faust's take_events stops filling the next batch while one is processed, then waits this
long for it: a 10 ms window cut a scored event's latency by about 20 ms, but made batches
small enough to cost about 10 % more CPU per event under load (bench/scoring.py)."""


def _decode_clock(raw: bytes | None) -> PartitionClock:
    return PartitionClock.from_json(orjson.loads(raw) if raw else None)


def register(pipeline: Pipeline) -> None:
    app = pipeline.app
    observations = pipeline.topic(pipeline.topics.observations)
    scores = pipeline.topic(pipeline.topics.scores)
    deadletter = pipeline.topic(pipeline.topics.deadletter)
    active = pipeline.model
    lateness = timedelta(seconds=pipeline.settings.watermark_lateness_seconds)
    partitions = pipeline.settings.partitions
    contacts = TableCache.of_bytes(
        app,
        "contacts",
        partitions,
        "Per-contact facts, pinned model, revision, score digest and next deadline.",
        ContactState.from_bytes,
        capacity=pipeline.settings.scorer_contacts_kept,
    )
    clocks = TableCache.of_bytes(
        app,
        "partition-clocks",
        partitions,
        "Per-partition watermark and pending deadlines (key 'p<partition>').",
        _decode_clock,
    )

    lookup = pipeline.models.by_key
    scores_topic = scores.get_topic_name()
    revision_partitions: dict[tuple[str, bytes], int] = {}  # by municipality
    revisions = {channel: REVISIONS.labels(channel) for channel in CHANNELS}

    class Batch:
        """What one batch changed, written to the tables when it ends, what it sends, and
        what it counted (added to the metrics once per batch)."""

        def __init__(self) -> None:
            self.contacts: dict[str, int] = {}  # contact → partition of its events
            self.dropped: dict[str, int] = {}  # orphaned contacts to delete
            self.clocks: dict[str, int] = {}
            self.revisions: list[tuple[bytes, bytes]] = []
            self.dead_letters: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []
            self.consumed: Tally[str] = Tally()
            self.channels: Tally[Channel] = Tally()  # revisions by channel
            self.corrections: Tally[str] = Tally()  # corrections in revisions, by kind
            self.fired = 0  # contacts re-evaluated at a deadline

        def dead_letter(
            self, source: str, key: bytes | None, value: bytes, reason: str, kind: str
        ) -> None:
            headers = deadletter_headers(reason, kind, "scoring", source)
            self.dead_letters.append((key, value, headers))
            METRICS.deadlettered(kind)

        def keep(
            self, contact_id: str, state: ContactState, clock: PartitionClock, partition: int
        ) -> None:
            contacts.put(contact_id, state)
            self.contacts[contact_id] = partition
            if self.dropped:
                self.dropped.pop(contact_id, None)
            deadline = state.deadline
            if clock.schedule(contact_id, None if deadline is None else deadline.timestamp()):
                self.clocks[clock_keys[partition]] = partition

        def publish(self, step: Step) -> None:
            """Queue a revision; `flush` sends it (before the batch is acknowledged)."""
            assert step.score is not None
            score = step.score.fields
            self.revisions.append((score["municipality"].encode(), step.revision_json()))
            self.channels[score["channel"]] += 1
            for correction in score["corrections"]:
                self.corrections[correction.kind] += 1

        async def flush(self) -> None:
            """Send the dead letters, revisions and changed table values straight through
            the producer, in bulk (faust flushes it before it commits the offsets of the
            batch).

            Cancelled half-way (a rebalance, a failed send), only a prefix of them reaches
            the broker, and the batch is read again onto whatever state did. Hence the order:
            - dead letters first: an orphan's facts are in the dead-letter topic before any
              write records the orphan as handled (sent again, they are duplicates there);
            - revisions (duplicates downstream when sent again);
            - orphans' tombstones before the clocks that unschedule them: a clock written
              without the tombstone would never fire the orphan again, leaving its state;
              a tombstone without its clock leaves a deadline that `fire_due` skips;
            - the clocks, then the contacts: a contact written without its clock would be a
              duplicate when read again and its deadline never scheduled; a clock without
              its contact only names a contact that `fire_due` skips until the contact's
              events come again."""
            for message_key, value, headers in self.dead_letters:
                await deadletter.send(key=message_key, value=value, headers=headers)
            producer = await app.maybe_start_producer()
            send = BulkSend(producer, revision_partitions)
            for municipality, value in self.revisions:
                partition = revision_partitions.get((scores_topic, municipality))
                if partition is None:
                    partition = await send.partition(scores_topic, municipality)
                send.add(scores_topic, partition, municipality, value)
            for contact_id, partition in self.dropped.items():
                contacts.write_bulk(send, contact_id, None, partition)
            await send.submit()
            # (a second send: BulkSend queues a topic's batches together, and the contacts'
            # changelog has to come both before and after the clocks')
            send = BulkSend(producer, revision_partitions)
            for key, partition in self.clocks.items():
                clock = clocks.values[key]
                clocks.write_bulk(send, key, orjson.dumps(clock.to_json()), partition)
                OPEN_CONTACTS.labels(str(partition)).set(len(clock.pending))
            for contact_id, partition in self.contacts.items():
                contacts.write_bulk(
                    send, contact_id, contacts.values[contact_id].to_bytes(), partition
                )
            await send.submit()
            for kind, count in self.consumed.items():
                METRICS.consumed(kind, count)
            if self.revisions:
                METRICS.produced("score.revision", len(self.revisions))
            for channel, count in self.channels.items():
                revisions[channel].inc(count)
            for kind, count in self.corrections.items():
                CORRECTIONS.labels(kind).inc(count)
            if self.fired:
                DEADLINES_FIRED.inc(self.fired)

    def fire_due(clock: PartitionClock, partition: int, message: Any, batch: Batch) -> None:
        """Re-evaluate every contact whose deadline the watermark has passed."""
        source = message_source(message)
        watermark = datetime.fromtimestamp(clock.watermark, UTC)
        for contact_id in clock.due():
            state = contacts.get(contact_id)
            if not state.facts.events:
                # scheduled by a batch whose contact write never reached the broker (see
                # `flush`): its events are read again and schedule it anew
                clock.schedule(contact_id, None)
                batch.clocks[clock_keys[partition]] = partition
                continue
            batch.fired += 1
            step = advance(state, lookup, watermark)
            if is_orphan(step.state.facts, lookup(step.state.model_key), watermark):
                for fact in step.state.facts.events:
                    batch.dead_letter(
                        source,
                        contact_id.encode(),
                        EVENT_ADAPTER.dump_json(fact),
                        f"contact {contact_id}: reply facts for a mail that was never sent",
                        "mail_never_sent",
                    )
                contacts.drop(contact_id)
                batch.contacts.pop(contact_id, None)
                batch.dropped[contact_id] = partition
                clock.schedule(contact_id, None)
                batch.clocks[clock_keys[partition]] = partition
                continue
            batch.keep(contact_id, step.state, clock, partition)
            if step.score is not None:
                batch.publish(step)

    clock_keys = {partition: f"p{partition}" for partition in range(partitions)}
    as_of: list[Any] = [None, None]  # the last watermark turned into a datetime, and that

    def score(event: Any, batch: Batch) -> None:
        """Add one event to its contact (or its partition's clock). Synchronous: what it
        sends waits in `batch` until the batch ends."""
        message = event.message
        partition = message.partition
        value = event.value or b""
        try:
            fact = OBSERVATION_ADAPTER.validate_json(value)
        except ValidationError as exc:
            batch.consumed["invalid"] += 1
            batch.dead_letter(
                message_source(message), message.key, value, describe(exc), "invalid_event"
            )
            return
        kind = fact.type
        batch.consumed[kind] += 1
        key = clock_keys.get(partition) or clock_keys.setdefault(partition, f"p{partition}")
        clock = clocks.get(key)
        if type(fact) is Heartbeat:  # (exact classes: isinstance is slow on pydantic models)
            clock.advance(fact.occurred_at.timestamp())
            batch.clocks[key] = partition  # persist the watermark a heartbeat vouches for
        else:
            observed = cast(Event, fact)
            if kind in CONTACT_TYPES:
                contact_id = observed.contact_id
                state = contacts.get(contact_id)
                seconds = clock.watermark if clock.watermark > 0.0 else 0.0
                if as_of[0] != seconds:
                    as_of[0], as_of[1] = seconds, datetime.fromtimestamp(seconds, UTC)
                try:
                    step = observe(state, observed, lookup, active, as_of[1], value)
                except (ContactError, KeyError) as exc:
                    batch.dead_letter(
                        message_source(message), message.key, value, str(exc), "contradicts_contact"
                    )
                    return
                if step.state is not state:
                    batch.keep(contact_id, step.state, clock, partition)
                if step.score is not None:
                    batch.publish(step)
            # (survey responses carry event time too, but belong to no contact)
            clock.advance((observed.occurred_at - lateness).timestamp())
        if clock.watermark >= clock.next_due:
            fire_due(clock, partition, message, batch)

    @app.agent(observations, name="scorer")
    async def scorer(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=BATCH_SECONDS):
            with processing(pipeline, METRICS.service, events), METRICS.timed():
                batch = Batch()
                for event in events:
                    score(event, batch)
                await batch.flush()  # before take_events acknowledges the batch
                contacts.trim()
