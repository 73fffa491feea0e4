"""A worker that stops and a new one that takes over on the same broker: the new worker rebuilds
the scorer's and the aggregators' tables from their changelogs, and the benchmarks it goes on
publishing equal the batch oracle over everything — the state it did not see being built
(contacts half-way through their life, ledgers, contributions) came back intact."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from schemas.events import EVENT_ADAPTER, Event
from schemas.reference import ReferenceData
from services.aggregation.benchmarks import rules_for
from services.demo.campaign import CampaignSpec, generate_campaign
from services.demo.run import compare_with_oracle
from services.ingest.archive import EventArchive
from services.ingest.parsing import Accepted
from services.ingest.publisher import KafkaPublisher
from services.ingest.service import ingest, publish_heartbeat
from services.recompute import recompute
from services.reporting.figures import figure_rows
from services.reporting.topic import latest_benchmarks
from services.runtime.app import load_models
from services.runtime.broker import EmbeddedBroker
from services.runtime.settings import Settings
from services.runtime.topics import Topics
from services.runtime.worker import running_pipeline, wait_until_drained

pytestmark = pytest.mark.broker


def accepted(events: list[Event]) -> list[Accepted]:
    return [Accepted("test", i, e, EVENT_ADAPTER.dump_json(e)) for i, e in enumerate(events, 1)]


async def run_worker_on(
    settings: Settings, broker_url: str, events: list[Event], close_at: datetime | None = None
) -> None:
    """One worker's life: ingest `events` (and a closing heartbeat), drain, stop."""
    async with running_pipeline(settings, broker_url) as pipeline:
        archive = EventArchive(pipeline.engine)
        publisher = KafkaPublisher(broker_url)
        await asyncio.to_thread(ingest, accepted(events), archive, publisher, pipeline.topics)
        if close_at is not None:
            await asyncio.to_thread(
                publish_heartbeat, archive, publisher, pipeline.topics, "test:closed", close_at
            )
        publisher.close()
        await wait_until_drained(pipeline, broker_url, timeout=180)


def test_a_new_worker_recovers_every_table_from_its_changelog(
    broker: EmbeddedBroker, settings: Settings
) -> None:
    reference = ReferenceData.load()
    spec = CampaignSpec(
        municipalities=12,
        calls_per_municipality=4,
        mails_per_municipality=3,
        surveys_per_municipality=12,
        seed=5,
    )
    events = generate_campaign(spec, reference)
    # by event time: the split leaves contacts half-way, mails waiting for their reply, …
    events.sort(key=lambda e: e.occurred_at)
    half = len(events) // 2
    closed = max(e.occurred_at for e in events) + timedelta(days=14)

    asyncio.run(run_worker_on(settings, broker.url, events[:half]))
    # same consumer group and changelogs: the new worker starts from the committed offsets
    # with nothing in memory but what it reads back from the changelogs
    asyncio.run(run_worker_on(settings, broker.url, events[half:], close_at=closed))

    on_topic = latest_benchmarks(broker.url, Topics.for_settings(settings).benchmarks)
    models, active = load_models(settings)
    rules = rules_for(active, models.by_key, settings.quadrant_reference)
    oracle = recompute(events, models.by_key, active, reference, rules)
    streamed = [row for b in on_topic.values() for row in figure_rows(b)]
    expected = [row for b in oracle.benchmarks for row in figure_rows(b)]
    assert compare_with_oracle(streamed, expected) == []
