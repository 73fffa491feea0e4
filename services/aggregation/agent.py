"""Aggregation agents, in two levels.

1. `municipality-aggregator` (scores topic, keyed by municipality): keeps each municipality's
   ledger of latest revisions, publishes the municipality's benchmark and sends its partials
   to its Chamber and to the nation (partials topic, keyed by target scope).
2. `scope-combiner` (partials topic): keeps the latest partials of every municipality of a
   Chamber or the nation and publishes the merged benchmark.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from schemas.benchmarks import NATION_ID, BenchmarkUpdated, PartialUpdated, ScopeKind
from schemas.scores import ScoreRevision
from services.aggregation.benchmarks import (
    LedgerEntry,
    Partial,
    apply_revision,
    breakdown_figures,
    ledger_partials,
    merge_partials,
)
from services.ingest.parsing import describe
from services.runtime.app import Pipeline
from services.runtime.deadletter import reject
from services.runtime.metrics import ServiceMetrics

METRICS = ServiceMetrics("aggregation")


def register(pipeline: Pipeline) -> None:
    app = pipeline.app
    reference = pipeline.reference
    scores = pipeline.topic(pipeline.topics.scores)
    partials_topic = pipeline.topic(pipeline.topics.partials)
    benchmarks = pipeline.topic(pipeline.topics.benchmarks)
    deadletter = pipeline.topic(pipeline.topics.deadletter)
    partitions = pipeline.settings.partitions
    ledgers = app.Table(
        "municipality-ledgers",
        key_type=str,
        default=None,
        partitions=partitions,
        help="Municipality → version and latest revision entry of each of its contacts.",
    )
    scope_parts = app.Table(
        "scope-partials",
        key_type=str,
        default=None,
        partitions=partitions,
        help="Chamber/nation scope → version and latest partials of each municipality.",
    )

    async def publish(update: BenchmarkUpdated) -> None:
        await benchmarks.send(
            key=update.scope_key.encode(), value=update.model_dump_json().encode()
        )
        METRICS.produced(f"benchmark.{update.scope_kind}")

    @app.agent(scores, name="municipality-aggregator")
    async def municipality_aggregator(stream: Any) -> None:
        async for event in stream.events():
            with METRICS.timed():
                try:
                    revision = ScoreRevision.model_validate_json(event.value or b"")
                except ValidationError as exc:
                    await reject(deadletter, event, describe(exc), "invalid_revision", METRICS)
                    continue
                METRICS.consumed("score.revision")
                code = revision.municipality
                stored = ledgers.get(code) or {"v": 0, "contacts": {}}
                ledger = {cid: LedgerEntry.from_json(e) for cid, e in stored["contacts"].items()}
                if not apply_revision(ledger, revision):
                    continue  # duplicate or superseded: changes nothing
                version = stored["v"] + 1
                ledgers[code] = {
                    "v": version,
                    "contacts": {c: e.to_json() for c, e in ledger.items()},
                }
                parts = ledger_partials(ledger)
                municipality = reference.municipalities.get(code)
                await publish(
                    BenchmarkUpdated(
                        scope_kind="municipality",
                        scope_id=code,
                        name=municipality.name if municipality else code,
                        version=version,
                        breakdowns=breakdown_figures(parts),
                    )
                )
                wire = {k: p.to_json() for k, p in parts.items()}
                targets: list[tuple[ScopeKind, str]] = [("nation", NATION_ID)]
                chamber = reference.chamber_of.get(code)
                if chamber:
                    targets.insert(0, ("chamber", chamber))
                for kind, target in targets:
                    message = PartialUpdated(
                        target_kind=kind,
                        target_id=target,
                        municipality=code,
                        version=version,
                        partials=wire,
                    )
                    await partials_topic.send(
                        key=f"{kind}:{target}".encode(), value=message.model_dump_json().encode()
                    )
                    METRICS.produced("partial")

    @app.agent(partials_topic, name="scope-combiner")
    async def scope_combiner(stream: Any) -> None:
        async for event in stream.events():
            with METRICS.timed():
                try:
                    update = PartialUpdated.model_validate_json(event.value or b"")
                except ValidationError as exc:
                    await reject(deadletter, event, describe(exc), "invalid_partial", METRICS)
                    continue
                METRICS.consumed("partial")
                key = f"{update.target_kind}:{update.target_id}"
                stored = scope_parts.get(key) or {"v": 0, "parts": {}}
                known = stored["parts"].get(update.municipality)
                if known is not None and known["v"] >= update.version:
                    continue
                stored["parts"][update.municipality] = {"v": update.version, "p": update.partials}
                version = stored["v"] + 1
                scope_parts[key] = {"v": version, "parts": stored["parts"]}
                merged = merge_partials(
                    {b: Partial.from_json(p) for b, p in part["p"].items()}
                    for _, part in sorted(stored["parts"].items())
                )
                await publish(
                    BenchmarkUpdated(
                        scope_kind=update.target_kind,
                        scope_id=update.target_id,
                        name=scope_name(pipeline, update.target_kind, update.target_id),
                        version=version,
                        breakdowns=breakdown_figures(merged),
                    )
                )


def scope_name(pipeline: Pipeline, kind: str, scope_id: str) -> str:
    if kind == "nation":
        return "Nederland"
    chamber = pipeline.reference.chambers.get(scope_id)
    return chamber.name if chamber else scope_id
