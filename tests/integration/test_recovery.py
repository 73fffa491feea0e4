"""A worker that stops and a new one that takes over on the same broker: the new worker rebuilds
the scorer's and the aggregators' tables from their changelogs, and the benchmarks it goes on
publishing equal the batch oracle over everything — the state it did not see being built
(contacts half-way through their life, ledgers, contributions) came back intact. Likewise for a
changelog written by an earlier version, which kept one ledger of every campaign per
municipality."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import orjson
import pytest
from kafka.partitioner.default import murmur2

from schemas.events import EVENT_ADAPTER, Event, SurveyResponse
from schemas.reference import ReferenceData
from services.aggregation.benchmarks import Ledger, rules_for
from services.demo.campaign import CampaignSpec, generate_campaign
from services.demo.run import compare_with_oracle
from services.ingest.archive import EventArchive
from services.ingest.parsing import Accepted
from services.ingest.publisher import KafkaPublisher
from services.ingest.service import ingest, publish_heartbeat
from services.recompute import recompute, score_all
from services.reporting.figures import figure_rows
from services.reporting.topic import latest_benchmarks
from services.runtime.app import load_models
from services.runtime.broker import EmbeddedBroker
from services.runtime.settings import Settings
from services.runtime.topics import Topics, TopicSpec, ensure_topics
from services.runtime.worker import running_pipeline, wait_until_drained

from .conftest import read_topic

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


def test_a_ledger_of_every_campaign_from_an_earlier_version_is_adopted(
    broker: EmbeddedBroker, settings: Settings
) -> None:
    """An earlier version kept one ledger per municipality, of all its campaigns, under its
    code. Such ledgers (half of last year's contacts, and versions already published) are in
    the changelog when the worker starts; the other half and this year's campaign come as
    events. The benchmarks equal the oracle over everything, last year's go on from the
    versions published, and each old ledger is deleted once it is split by campaign."""
    reference = ReferenceData.load()
    years = [
        generate_campaign(
            CampaignSpec(
                campaign=campaign,
                municipalities=6,
                calls_per_municipality=4,
                mails_per_municipality=2,
                surveys_per_municipality=2,
                seed=seed,
            ),
            reference,
        )
        for campaign, seed in (("mg-2025", 3), ("mg-2026", 4))
    ]
    last_year, this_year = years
    contacts = sorted({e.contact_id for e in last_year})
    kept_before = set(contacts[::2])  # every municipality has contacts in both halves
    before = [e for e in last_year if e.contact_id in kept_before]
    streamed = [e for e in last_year if e.contact_id not in kept_before] + this_year
    models, active = load_models(settings)
    rules = rules_for(active, models.by_key, settings.quadrant_reference)

    scores, _ = score_all(before, models.by_key, active)
    ledgers: dict[str, Ledger] = {}
    for revision in scores.values():
        ledgers.setdefault(revision.municipality, Ledger()).apply_revision(revision, rules.phases)
    for event in before:
        if isinstance(event, SurveyResponse):
            ledgers.setdefault(event.municipality, Ledger()).apply_survey(event)
    published_before = 5
    for ledger in ledgers.values():
        for campaign, wave in ledger.waves():
            ledger.versions[f"{campaign}:{wave}"] = published_before
    assert {e.municipality for e in streamed if e.campaign == "mg-2025"} == set(ledgers)

    changelog = f"{settings.app_id}-municipality-ledgers-changelog"
    ensure_topics(broker.url, [TopicSpec(changelog, settings.partitions)])
    publisher = KafkaPublisher(broker.url)
    for code, ledger in ledgers.items():
        partition = (murmur2(code.encode()) & 0x7FFFFFFF) % settings.partitions  # as the scores'
        publisher.send(
            changelog, orjson.dumps(code), orjson.dumps(ledger.to_json()), partition=partition
        )
    publisher.close()

    asyncio.run(
        run_worker_on(
            settings,
            broker.url,
            streamed,
            close_at=max(e.occurred_at for e in streamed) + timedelta(days=14),
        )
    )

    on_topic = latest_benchmarks(broker.url, Topics.for_settings(settings).benchmarks)
    oracle = recompute(before + streamed, models.by_key, active, reference, rules)
    streamed_rows = [row for b in on_topic.values() for row in figure_rows(b)]
    expected = [row for b in oracle.benchmarks for row in figure_rows(b)]
    assert compare_with_oracle(streamed_rows, expected) == []
    last_years = [
        b for b in on_topic.values() if b.scope_kind == "municipality" and b.campaign == "mg-2025"
    ]
    assert last_years and all(b.version > published_before for b in last_years)

    latest: dict[bytes, bytes | None] = {}
    for record in read_topic(broker.url, changelog):
        latest[record.key] = record.value
    for code in ledgers:
        assert latest[orjson.dumps(code)] is None  # deleted
        for campaign in {e.campaign for e in last_year + this_year if e.municipality == code}:
            kept = latest[orjson.dumps(f"{code}:{campaign}")]
            assert kept is not None and {
                c for c, _ in Ledger.from_json(orjson.loads(kept)).waves()
            } == {campaign}
