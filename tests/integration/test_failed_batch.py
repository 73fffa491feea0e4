"""A batch whose processing fails is not committed: the worker stops, the failed batch's
offsets stay uncommitted, and the next worker reads it again — nothing is lost.

faust's `take_events` acknowledges a batch when the loop moves on *or is closed*, also when
its body raised: unguarded, a failed batch would be committed unprocessed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.benchmarks import NATION_ID, BenchmarkUpdated
from schemas.events import EVENT_ADAPTER, OBSERVATION_ADAPTER, Heartbeat, MailReplied
from schemas.reference import ReferenceData
from schemas.scores import ScoreRevision
from services.aggregation.benchmarks import CombinedScope
from services.demo.campaign import CampaignSpec, generate_campaign
from services.ingest.archive import EventArchive
from services.ingest.publisher import KafkaPublisher
from services.recompute import score_all
from services.runtime.app import load_models
from services.runtime.broker import EmbeddedBroker
from services.runtime.db import make_engine, upgrade
from services.runtime.sending import BulkSend
from services.runtime.settings import Settings
from services.runtime.topics import Topics
from services.runtime.worker import LagProbe, running_pipeline, wait_for_group
from tests.integration.conftest import read_topic

pytestmark = pytest.mark.broker


def latest_revisions(broker_url: str, topic: str) -> dict[str, ScoreRevision]:
    latest: dict[str, ScoreRevision] = {}
    for record in read_topic(broker_url, topic):
        revision = ScoreRevision.model_validate_json(record.value)
        held = latest.get(revision.contact_id)
        if held is None or held.revision < revision.revision:
            latest[revision.contact_id] = revision
    return latest


async def stopped_by_failure(pipeline: Any, timeout: float = 60) -> BaseException | None:
    """Wait until a batch of the in-process worker has failed and the worker has stopped
    itself (leaving `running_pipeline`'s block then waits until it has stopped)."""
    deadline = time.monotonic() + timeout
    while pipeline.failure is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    while not pipeline.app.consumer.should_stop and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return pipeline.failure


def test_a_failed_batch_stops_the_worker_and_is_read_again(
    broker: EmbeddedBroker, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = ReferenceData.load()
    spec = CampaignSpec(
        municipalities=6, calls_per_municipality=3, mails_per_municipality=2, seed=9
    )
    events = [e for e in generate_campaign(spec, reference) if e.type != "survey.response"]
    topics = Topics.for_settings(settings)

    # the producer is down for the scorer's first batch (and only then)
    real_submit = BulkSend.submit
    calls = [0]

    async def failing_submit(self: BulkSend) -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise ConnectionError("broker unreachable (injected)")
        await real_submit(self)

    monkeypatch.setattr(BulkSend, "submit", failing_submit)

    async def first_worker() -> Any:
        async with running_pipeline(settings, broker.url, services=("scoring",)) as pipeline:
            publisher = KafkaPublisher(broker.url)
            for event in events:
                publisher.send(
                    topics.observations, event.contact_id.encode(), EVENT_ADAPTER.dump_json(event)
                )
            publisher.close()
            failure = await stopped_by_failure(pipeline)
            # it stops without waiting for messages the failed agent had buffered (faust's
            # wait_empty: the stop hung on them now and then)
            assert pipeline.app.conf.stream_wait_empty is False
            return failure

    failure = asyncio.run(first_worker())
    assert isinstance(failure, ConnectionError)
    probe = LagProbe(broker.url, settings.app_id, [topics.observations])
    try:
        assert probe.lag() > 0, "the failed batch was committed"
    finally:
        probe.close()

    async def second_worker() -> None:
        async with running_pipeline(settings, broker.url, services=("scoring",)) as pipeline:
            interval = pipeline.app.conf.broker_commit_interval
            await asyncio.to_thread(
                wait_for_group, broker.url, settings.app_id, [topics.observations], interval, 120
            )
            assert pipeline.failure is None

    asyncio.run(second_worker())
    models, active = load_models(settings)
    expected, _ = score_all(events, models.by_key, active)
    got = latest_revisions(broker.url, topics.scores)
    assert got.keys() == expected.keys()
    for contact_id, revision in expected.items():
        assert got[contact_id].model_dump(exclude={"revision"}) == revision.model_dump(
            exclude={"revision"}
        )


WORKER_WITH_A_FAILING_PRODUCER = """
import asyncio, sys
import faust
from services.runtime import worker
from services.runtime.sending import BulkSend
from services.runtime.settings import Settings

async def failing_submit(self):
    raise ConnectionError("broker unreachable (injected)")

async def stop_for_good(self):
    await asyncio.Event().wait()

BulkSend.submit = failing_submit
if sys.argv[1] == "hangs":
    faust.Worker.stop = stop_for_good
    worker.STOP_GRACE_S = 2.0
worker.run_worker(Settings(), services=("scoring",))
"""


@pytest.mark.parametrize("stop", ["stops", "hangs"])
def test_meetlat_worker_exits_with_an_error_when_a_batch_fails(tmp_path: Path, stop: str) -> None:
    """`meetlat worker --service scoring` whose producer is down stops by itself and exits
    non-zero, for its supervisor to restart it (a process of its own: it must also get past
    the interpreter's exit, threads and all) — also when faust's stop never ends. Its
    embedded broker starts empty: the events reach the scorer by the replay of the SQL event
    archive, as after any restart."""
    spec = CampaignSpec(municipalities=2, calls_per_municipality=2, mails_per_municipality=1)
    events = [
        e for e in generate_campaign(spec, ReferenceData.load()) if e.type != "survey.response"
    ]
    settings = Settings(data_dir=tmp_path, partitions=2, metrics_port=0)
    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)
    EventArchive(engine).append([(e, EVENT_ADAPTER.dump_json(e)) for e in events])
    engine.dispose()
    environment = {
        **os.environ,
        "MEETLAT_DATA_DIR": str(tmp_path),
        "MEETLAT_PARTITIONS": "2",
        "MEETLAT_METRICS_PORT": "0",
    }
    environment.pop("MEETLAT_BROKER_URL", None)
    environment.pop("MEETLAT_DATABASE_URL", None)
    try:
        worker = subprocess.run(
            [sys.executable, "-c", WORKER_WITH_A_FAILING_PRODUCER, stop],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the worker did not stop after its batch failed")
    assert worker.returncode == 1, worker.stderr[-2000:]
    # its embedded broker is gone with it: no `meetlat ingest` may be sent there
    assert not settings.broker_url_file.exists()
    if stop == "stops":
        assert "meetlat worker stopped: a batch failed: ConnectionError" in worker.stderr
    else:
        assert "meetlat worker did not stop within 2 s after a batch failed (ConnectionError(" in (
            worker.stderr
        )


@pytest.mark.parametrize("batches_sent", [0, 1])  # of the two: a tombstone and a clock
def test_an_orphan_cut_off_half_way_is_still_dead_lettered_and_dropped(
    broker: EmbeddedBroker,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    batches_sent: int,
) -> None:
    """A reply to a mail that was never sent is dead-lettered once its deadline has passed,
    and its contact state deleted. When the flush of that batch is cut off after any number
    of its record batches (a rebalance, a failed send), the next worker still ends with the
    reply in the dead-letter topic and no state for the contact: until 2026-11-30 a cut
    between the clock (which unschedules the orphan) and the tombstone left the state, and
    the dead letters, sent last, were lost."""
    topics = Topics.for_settings(settings)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    reply = MailReplied(
        event_id="orphan-reply",
        contact_id="orphan-mail",
        municipality="GM0344",
        campaign="mg-2026",
        wave=1,
        case="standplaatsvergunning",
        occurred_at=start,
    )
    later = Heartbeat(event_id="hb-1", source="test", occurred_at=start + timedelta(days=10))
    key = reply.contact_id.encode()  # the heartbeat on the orphan's partition

    def publish(observation: Any) -> None:
        publisher = KafkaPublisher(broker.url)
        publisher.send(topics.observations, key, OBSERVATION_ADAPTER.dump_json(observation))
        publisher.close()

    async def run_worker(observation: Any, cut: bool) -> Any:
        async with running_pipeline(settings, broker.url, services=("scoring",)) as pipeline:
            if cut:
                cut_after(batches_sent)
            publish(observation)
            if not cut:
                interval = pipeline.app.conf.broker_commit_interval
                await asyncio.to_thread(
                    wait_for_group, broker.url, settings.app_id, [topics.observations], interval, 60
                )
                return pipeline.failure
            return await stopped_by_failure(pipeline)

    real_submit = BulkSend.submit
    budget: list[int | None] = [None]  # record batches the producer still takes; None: all

    def cut_after(batches: int) -> None:
        budget[0] = batches

    async def cut_submit(self: BulkSend) -> None:
        if budget[0] is None:
            await real_submit(self)
            return
        queued = [(topic, batch) for topic, batches in self.queued.items() for batch in batches]
        self.queued, self.batches = {}, {}
        for topic, (partition, batch) in queued:
            if budget[0] == 0:
                budget[0] = None  # the worker after this one sends everything
                raise ConnectionError("cut off half-way (injected)")
            budget[0] -= 1
            await self.client.send_batch(batch, topic, partition=partition)

    monkeypatch.setattr(BulkSend, "submit", cut_submit)

    # the reply is absorbed and written: the orphan's state and deadline are in the changelogs
    assert asyncio.run(run_worker(reply, cut=False)) is None
    # event time passes the deadline: the batch that fires the orphan is cut off
    failure = asyncio.run(run_worker(later, cut=True))
    assert isinstance(failure, ConnectionError)
    # the next worker reads that batch again
    assert asyncio.run(run_worker(later, cut=False)) is None

    dead = [r for r in read_topic(broker.url, topics.deadletter) if r.key == key]
    assert dead, "the orphan's reply never reached the dead-letter topic"
    assert {EVENT_ADAPTER.validate_json(r.value).event_id for r in dead} == {"orphan-reply"}
    changelog = f"{settings.app_id}-contacts-changelog"
    states = [r for r in read_topic(broker.url, changelog) if r.key == b'"orphan-mail"']
    assert states and states[-1].value is None, "the orphan's state was left in its table"


def test_a_combiner_batch_that_fails_before_publishing_is_published_by_the_next_worker(
    broker: EmbeddedBroker, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scope combiner's first batch fails while it merges (before it publishes). The next
    worker reads the partials again and publishes the Chamber and national benchmarks: until
    2026-11-30 the combiner had already written the contributions to its tables, so the next
    worker took the partials for duplicates and never published those scopes."""
    reference = ReferenceData.load()
    spec = CampaignSpec(
        municipalities=4, calls_per_municipality=3, mails_per_municipality=2, seed=5
    )
    events = [e for e in generate_campaign(spec, reference) if e.type != "survey.response"]
    models, active = load_models(settings)
    scores, _ = score_all(events, models.by_key, active)
    topics = Topics.for_settings(settings)

    real_updates = CombinedScope.updates
    calls = [0]

    def failing_updates(self: CombinedScope, *args: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("merge failed (injected)")
        return real_updates(self, *args)

    monkeypatch.setattr(CombinedScope, "updates", failing_updates)

    async def first_worker() -> Any:
        async with running_pipeline(
            settings, broker.url, services=("aggregation", "combining")
        ) as pipeline:
            publisher = KafkaPublisher(broker.url)
            for revision in scores.values():
                publisher.send(
                    topics.scores,
                    revision.municipality.encode(),
                    revision.model_dump_json().encode(),
                )
            publisher.close()
            return await stopped_by_failure(pipeline)

    assert isinstance(asyncio.run(first_worker()), RuntimeError)

    async def second_worker() -> None:
        async with running_pipeline(
            settings, broker.url, services=("aggregation", "combining")
        ) as pipeline:
            interval = pipeline.app.conf.broker_commit_interval
            drained = [topics.scores, topics.partials]  # (no materialiser reads the benchmarks)
            await asyncio.to_thread(
                wait_for_group, broker.url, settings.app_id, drained, interval, 120, 2
            )
            assert pipeline.failure is None

    asyncio.run(second_worker())
    published = {
        (update.scope_kind, update.scope_id): update
        for update in (
            BenchmarkUpdated.model_validate_json(r.value)
            for r in read_topic(broker.url, topics.benchmarks)
        )
    }
    assert ("nation", NATION_ID) in published, "the national benchmark was never published"
    assert published["nation", NATION_ID].contacts == len(scores)
    chambers = {reference.chamber_of[code] for code in {r.municipality for r in scores.values()}}
    assert {scope_id for kind, scope_id in published if kind == "chamber"} == chambers
