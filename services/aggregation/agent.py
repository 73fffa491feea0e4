"""Aggregation agents, in two levels (the maths is in `benchmarks`), two services that can run
in separate processes: `aggregation` (level 1) and `combining` (level 2).

1. `municipality-aggregator` (scores and surveys topics, both keyed by municipality): keeps
   each municipality's ledger of latest revisions and survey responses per campaign, publishes
   the municipality's benchmark per campaign wave and sends its contribution to its Chamber and
   to the nation (partials topic, keyed by target scope and campaign).
2. `scope-combiner` (partials topic): keeps the latest contribution of every municipality of a
   Chamber or the nation, one table entry per municipality and wave (no single huge value),
   and publishes the merged benchmark with standings (and for the nation the quadrants).

Both work in batches: a scope touched many times in a batch is recomputed and published once,
and its state written to its table (and changelog) once, before the batch is acknowledged.
A wave's figures carry the previous wave's, so a change to wave w also republishes w + 1….
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from itertools import islice
from typing import Any

import orjson
from prometheus_client import Counter, Gauge
from pydantic import ValidationError

from schemas.benchmarks import BenchmarkUpdated, PartialUpdated
from schemas.events import SurveyResponse
from schemas.scores import ScoreRevision
from services.aggregation.benchmarks import (
    CombinedScope,
    Contribution,
    Ledger,
    contribution_of,
    ledger_key,
    municipality_updates,
    rules_for,
)
from services.ingest.parsing import describe
from services.runtime.app import Pipeline
from services.runtime.batches import processing
from services.runtime.deadletter import reject
from services.runtime.metrics import ServiceMetrics
from services.runtime.tables import TableCache

METRICS = ServiceMetrics("aggregation")
COMBINING = ServiceMetrics("combining")
UPDATES = Counter(
    "meetlat_benchmark_updates_total", "Benchmark updates published, by scope kind.", ["scope"]
)
RETRACTIONS = Counter(
    "meetlat_benchmark_retractions_total",
    "Benchmarks retracted, by scope kind: a published wave that nothing is left in (its "
    "contacts or responses moved to another wave under the same id).",
    ["scope"],
)
SUPERSEDED = Counter(
    "meetlat_revisions_superseded_total",
    "Score revisions that replaced an earlier revision of their contact in a ledger.",
)
IGNORED = Counter(
    "meetlat_revisions_ignored_total",
    "Score revisions that changed nothing (duplicates, or older than the ledger's).",
)
LAG = Gauge(
    "meetlat_aggregation_lag_seconds",
    "Wall-clock time minus the event time of the newest fact in the last published benchmark.",
    ["scope"],
)
EVENT_TIME = Gauge(
    "meetlat_aggregation_event_time_seconds",
    "Event time (POSIX seconds) of the newest fact in the last published benchmark; compared "
    "with the newest event time ingested it is the aggregation's lag in event time.",
    ["scope"],
)
BATCH = 1000
BATCH_SECONDS = 0.01
"""Municipality level: a short window, so a revision reaches SQL quickly."""
COMBINE_SECONDS = 1.0
COMBINE_BATCH = 10_000
"""Chamber and nation: merging every member is the costly step, so a scope is recomputed at
most about once a second (and once per COMBINE_BATCH contributions under load), never per
revision."""


def _ledger(raw: bytes | None) -> Ledger:
    return Ledger.from_json(orjson.loads(raw) if raw else None)


def _contribution(raw: bytes | None) -> tuple[int, Contribution] | None:
    if raw is None:
        return None
    message = PartialUpdated.model_validate_json(raw)
    return message.version, contribution_of(message)


def _publisher(pipeline: Pipeline, metrics: ServiceMetrics) -> Callable[[BenchmarkUpdated], None]:
    """Publish a benchmark to the compacted benchmarks topic (buffered: faust flushes the
    producer before it commits the offsets of the batch)."""
    benchmarks = pipeline.topic(pipeline.topics.benchmarks)

    def publish(update: BenchmarkUpdated) -> None:
        benchmarks.send_soon(key=update.scope_key.encode(), value=update.model_dump_json().encode())
        metrics.produced(f"benchmark.{update.scope_kind}")
        UPDATES.labels(update.scope_kind).inc()
        if update.retracted:
            RETRACTIONS.labels(update.scope_kind).inc()
        if update.as_of is not None:
            stamp = update.as_of.timestamp()
            LAG.labels(update.scope_kind).set(max(0.0, time.time() - stamp))
            EVENT_TIME.labels(update.scope_kind).set(stamp)

    return publish


def register(pipeline: Pipeline) -> None:
    """Level 1: municipality benchmarks and their contributions upward."""
    app = pipeline.app
    topics = pipeline.topics
    reference = pipeline.reference
    settings = pipeline.settings
    rules = rules_for(pipeline.model, pipeline.models.by_key, settings.quadrant_reference)
    inputs = app.topic(
        topics.scores,
        topics.surveys,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    partials_topic = pipeline.topic(topics.partials)
    deadletter = pipeline.topic(topics.deadletter)
    ledgers = TableCache.of_bytes(
        app,
        "municipality-ledgers",
        settings.partitions,
        "Municipality:campaign → latest revision entry per contact, survey responses, versions.",
        _ledger,
        capacity=settings.aggregator_ledgers_kept,
    )
    publish = _publisher(pipeline, METRICS)

    def adopt_whole_ledger(code: str, partition: int) -> None:
        """A ledger of all the municipality's campaigns, as earlier versions kept it under
        its code, becomes one per campaign (versions included, so its benchmarks go on
        moving forward), and the old one is deleted."""
        if code not in ledgers.stored:
            return
        for campaign, ledger in ledgers.get(code).by_campaign().items():
            key = ledger_key(code, campaign)
            if key not in ledgers.stored:
                ledgers.write(key, ledger, orjson.dumps(ledger.to_json()), partition)
        ledgers.delete(code, partition)

    @app.agent(inputs, name="municipality-aggregator")
    async def municipality_aggregator(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=BATCH_SECONDS):
            with processing(pipeline, METRICS.service, events), METRICS.timed():
                touched: dict[str, set[tuple[str, int]]] = defaultdict(set)  # by ledger key
                partition_of: dict[str, int] = {}
                for event in events:
                    is_survey = event.message.topic == topics.surveys
                    try:
                        if is_survey:
                            item: ScoreRevision | SurveyResponse = (
                                SurveyResponse.model_validate_json(event.value or b"")
                            )
                        else:
                            item = ScoreRevision.model_validate_json(event.value or b"")
                    except ValidationError as exc:
                        kind = "invalid_survey" if is_survey else "invalid_revision"
                        await reject(deadletter, event, describe(exc), kind, METRICS)
                        continue
                    code, partition = item.municipality, event.message.partition
                    adopt_whole_ledger(code, partition)
                    key = ledger_key(code, item.campaign)
                    ledger = ledgers.get(key)
                    if isinstance(item, SurveyResponse):
                        METRICS.consumed("survey.response")
                        changed = ledger.apply_survey(item)
                    else:
                        METRICS.consumed("score.revision")
                        replaces = item.contact_id in ledger.contacts
                        changed = ledger.apply_revision(item, rules.phases)
                        if not changed:
                            IGNORED.inc()
                        elif replaces:
                            SUPERSEDED.inc()
                    if changed:
                        touched[key].update(changed)
                        partition_of[key] = partition
                work = {key: (ledgers.get(key), waves) for key, waves in touched.items()}
                # Pure and CPU-bound: in a thread, so the event loop (the other agents, the
                # consumer) keeps turning while it runs; only this agent touches the ledgers.
                outputs = await asyncio.to_thread(municipality_outputs, work)
                for key, (updates, raw) in outputs.items():
                    for update, messages in updates:
                        publish(update)
                        for message in messages:
                            partials_topic.send_soon(
                                key=f"{message.target_kind}:{message.target_id}:"
                                f"{message.campaign}".encode(),
                                value=message.model_dump_json().encode(),
                            )
                            METRICS.produced("partial")
                    ledgers.write(key, work[key][0], raw, partition_of[key])
                ledgers.trim()

    def municipality_outputs(
        changed: dict[str, tuple[Ledger, set[tuple[str, int]]]],
    ) -> dict[str, tuple[list[tuple[BenchmarkUpdated, list[PartialUpdated]]], bytes]]:
        out = {}
        for key, (ledger, waves) in changed.items():
            code = key.partition(":")[0]
            updates = municipality_updates(code, ledger, waves, reference, rules)
            # (orjson: the campaign's whole ledger is written after every batch that changed
            # it, and the standard library's encoder took a tenth of the aggregator's time)
            out[key] = (updates, orjson.dumps(ledger.to_json()))
        return out


def register_combiner(pipeline: Pipeline) -> None:
    """Level 2: Chamber and national benchmarks from the municipalities' contributions."""
    app = pipeline.app
    reference = pipeline.reference
    settings = pipeline.settings
    rules = rules_for(pipeline.model, pipeline.models.by_key, settings.quadrant_reference)
    partials_topic = pipeline.topic(pipeline.topics.partials)
    deadletter = pipeline.topic(pipeline.topics.deadletter)
    contributions = TableCache.of_bytes(
        app,
        "scope-contributions",
        settings.partitions,
        "'kind:id:campaign|wave|municipality' → that municipality's latest contribution.",
        _contribution,
    )
    versions = TableCache.of_bytes(
        app,
        "scope-versions",
        settings.partitions,
        "'kind:id:campaign|wave' → version of its last published benchmark.",
        lambda raw: int(raw or 0),
    )

    publish = _publisher(pipeline, COMBINING)

    index: dict[str, CombinedScope] = {}  # scope prefix 'kind:id:campaign' → its state

    def combined(message: PartialUpdated) -> CombinedScope:
        """The scope's state, read from the tables when it is not in memory (kept there while
        it is among the `combined_scopes_kept` used most recently)."""
        scope = CombinedScope(message.target_kind, message.target_id, message.campaign)
        held = index.pop(scope.prefix, None)
        if held is not None:
            index[scope.prefix] = held  # (to the end: `index` is in the order of use)
        else:
            held = index[scope.prefix] = scope
            for key in contributions.keys_with_prefix(f"{scope.prefix}|"):
                entry = contributions.get(key)
                if entry is not None:
                    _, wave, code = key.rsplit("|", 2)
                    scope.waves.setdefault(int(wave), {})[code] = entry
            for key in versions.keys_with_prefix(f"{scope.prefix}|"):
                scope.versions[int(key.rsplit("|", 1)[1])] = versions.get(key)
        return held

    @app.on_partitions_revoked.connect
    async def forget(app: Any, /, *args: Any, **kwargs: Any) -> None:
        # another worker may change them: re-read from the tables when assigned (and the
        # decoded contributions go too, or those of a scope never assigned again would stay)
        let_go(len(index))

    @app.agent(partials_topic, name="scope-combiner")
    async def scope_combiner(stream: Any) -> None:
        async for events in stream.take_events(COMBINE_BATCH, within=COMBINE_SECONDS):
            with processing(pipeline, COMBINING.service, events), COMBINING.timed():
                touched: dict[str, set[int]] = defaultdict(set)
                partition_of: dict[str, int] = {}
                # The batch's table writes wait until its updates are published: written first,
                # a batch cut off (or failed) before publishing would leave contributions that
                # the next owner takes for duplicates when it reads the batch again, and the
                # update would never be published.
                kept: list[tuple[str, tuple[int, Contribution], bytes, int]] = []
                for event in events:
                    try:
                        message = PartialUpdated.model_validate_json(event.value or b"")
                    except ValidationError as exc:
                        await reject(deadletter, event, describe(exc), "invalid_partial", COMBINING)
                        continue
                    COMBINING.consumed("partial")
                    scope = combined(message)
                    contribution = contribution_of(message)
                    if not scope.receive(message, contribution):
                        continue  # a duplicate or an older contribution
                    key = f"{scope.prefix}|{message.wave}|{message.municipality}"
                    entry = (message.version, contribution)
                    kept.append((key, entry, event.value or b"", event.message.partition))
                    touched[scope.prefix].add(message.wave)
                    partition_of[scope.prefix] = event.message.partition
                for prefix, changed in touched.items():
                    scope = index[prefix]
                    # the costly merge of every member: in a thread, so the event loop (the
                    # consumer, the other agents of a shared worker) keeps turning while it runs
                    updates = await asyncio.to_thread(scope.updates, changed, reference, rules)
                    for update in updates:
                        publish(update)
                        version = update.version
                        versions.write(
                            f"{prefix}|{update.wave}",
                            version,
                            str(version).encode(),
                            partition_of[prefix],
                        )
                for key, entry, raw, partition in kept:
                    contributions.write(key, entry, raw, partition)
                let_go(len(index) - settings.combined_scopes_kept)

    def let_go(excess: int) -> None:
        """Forget the `excess` scopes used longest ago and their members' decoded
        contributions (an earlier campaign's, mostly): read from the tables again if they
        change."""
        for prefix in list(islice(index, excess)) if excess > 0 else ():
            for wave, members in index.pop(prefix).waves.items():
                for code in members:
                    contributions.forget(f"{prefix}|{wave}|{code}")
        contributions.trim()
