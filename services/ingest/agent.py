"""Ingest agent: outside producers publish raw JSON events to the intake topic; each record is
validated, archived in SQL (before its offset is acknowledged) and forwarded to observations,
or dead-lettered with the reason and its original bytes (also an event whose id the archive
holds with other content), which are archived first too."""

from __future__ import annotations

from typing import Any

from services.ingest.archive import EventArchive
from services.ingest.parsing import Accepted, Rejected, parse_json_record
from services.ingest.service import destination, passed_on, refusal, timestamp_ms
from services.runtime.app import Pipeline
from services.runtime.batches import processing
from services.runtime.db import outlasting_outages
from services.runtime.deadletter import deadletter_headers, message_source
from services.runtime.metrics import ServiceMetrics

METRICS = ServiceMetrics("ingest")


def register(pipeline: Pipeline) -> None:
    app = pipeline.app
    intake = pipeline.topic(pipeline.topics.intake)
    deadletter = pipeline.topic(pipeline.topics.deadletter)
    known = set(pipeline.reference.municipalities)
    archive = EventArchive(pipeline.engine)
    patience = pipeline.settings.database_outage_seconds

    @app.agent(intake, name="ingest")
    async def ingest_agent(stream: Any) -> None:
        async for events in stream.take_events(500, within=0.2):
            with processing(pipeline, METRICS.service, events), METRICS.timed():
                outcomes = []
                for event in events:
                    message = event.message
                    source = message_source(message)
                    outcomes.append(parse_json_record(event.value or b"", source, 0, known))
                accepted = [o for o in outcomes if isinstance(o, Accepted)]
                # Durable first: the batch is acknowledged only after this returns.
                appended = await outlasting_outages(
                    METRICS.service,
                    patience,
                    archive.append,
                    [(o.event, o.payload) for o in accepted],
                )
                accepted, conflicts = passed_on(accepted, appended)
                rejected = [o for o in outcomes if isinstance(o, Rejected)] + conflicts
                refused = [refusal(bad, bad.source) for bad in rejected]
                if refused:  # (what was refused before, when the batch is read again)
                    refused = await outlasting_outages(
                        METRICS.service, patience, archive.refuse, refused
                    )
                for item in accepted:
                    topic, key = destination(item.event, pipeline.topics)
                    await pipeline.topic(topic).send(key=key, value=item.payload)
                    METRICS.consumed(item.event.type)
                    METRICS.produced(item.event.type)
                for record in refused:
                    await deadletter.send(
                        value=record.value,
                        timestamp=timestamp_ms(record) / 1000,
                        headers=deadletter_headers(
                            record.reason, record.kind, METRICS.service, record.source
                        ),
                    )
                    METRICS.consumed("invalid")
                    METRICS.deadlettered(record.kind)
