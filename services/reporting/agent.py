"""Reporting agent: materialises the benchmarks topic into SQL, batch by batch, recording the
stream position each batch reflects (so a snapshot can say which position it shows)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from schemas.benchmarks import BenchmarkUpdated
from services.ingest.parsing import describe
from services.reporting.store import BenchmarkStore
from services.runtime.app import Pipeline
from services.runtime.batches import processing
from services.runtime.db import outlasting_outages
from services.runtime.deadletter import reject
from services.runtime.metrics import ServiceMetrics

METRICS = ServiceMetrics("reporting")


def register(pipeline: Pipeline) -> None:
    app = pipeline.app
    benchmarks = pipeline.topic(pipeline.topics.benchmarks)
    deadletter = pipeline.topic(pipeline.topics.deadletter)
    store = BenchmarkStore(pipeline.engine)
    patience = pipeline.settings.database_outage_seconds

    @app.agent(benchmarks, name="materialiser")
    async def materialiser(stream: Any) -> None:
        async for events in stream.take_events(1000, within=0.01):
            with processing(pipeline, METRICS.service, events), METRICS.timed():
                updates: list[BenchmarkUpdated] = []
                documents: list[bytes] = []  # each update's JSON, stored as it came
                positions: dict[tuple[str, int], int] = {}
                for event in events:
                    message = event.message
                    where = (message.topic, message.partition)
                    positions[where] = max(positions.get(where, -1), message.offset)
                    document = event.value or b""
                    try:
                        updates.append(BenchmarkUpdated.model_validate_json(document))
                    except ValidationError as exc:
                        await reject(deadletter, event, describe(exc), "invalid_benchmark", METRICS)
                        continue
                    documents.append(document)
                    METRICS.consumed(f"benchmark.{updates[-1].scope_kind}")
                # SQL is blocking: keep the event loop (and the consumer heartbeat) free.
                await outlasting_outages(
                    METRICS.service, patience, store.apply, updates, positions, documents
                )
