"""Scorer agent: per-contact state in a table keyed by contact; a score revision is emitted to
the scores topic (keyed by municipality, so aggregation is partitioned by municipality)
whenever a contact's facts change its score."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from schemas.events import channel_of, parse_event
from services.ingest.parsing import describe
from services.runtime.app import Pipeline
from services.runtime.deadletter import deadletter_headers
from services.runtime.metrics import ServiceMetrics
from services.scoring.rules import ContactError
from services.scoring.scorer import ContactState, observe

METRICS = ServiceMetrics("scoring")


def register(pipeline: Pipeline) -> None:
    app = pipeline.app
    observations = pipeline.topic(pipeline.topics.observations)
    scores = pipeline.topic(pipeline.topics.scores)
    deadletter = pipeline.topic(pipeline.topics.deadletter)
    model = pipeline.model
    contacts = app.Table(
        "contacts",
        key_type=str,
        default=None,
        partitions=pipeline.settings.partitions,
        help="Per-contact facts, revision number and digest of the last emitted score.",
    )

    async def dead_letter(event: Any, reason: str, kind: str) -> None:
        message = event.message
        source = f"{message.topic}/{message.partition}@{message.offset}"
        await deadletter.send(
            key=message.key,
            value=event.value or b"",
            headers=deadletter_headers(reason, kind, "scoring", source),
        )
        METRICS.deadlettered(kind)

    @app.agent(observations, name="scorer")
    async def scorer(stream: Any) -> None:
        async for event in stream.events():
            with METRICS.timed():
                try:
                    fact = parse_event(event.value or b"")
                except ValidationError as exc:
                    METRICS.consumed("invalid")
                    await dead_letter(event, describe(exc), "invalid_event")
                    continue
                METRICS.consumed(fact.type)
                if channel_of(fact) is None:
                    continue  # survey responses are not contacts; aggregation reads them
                state = ContactState.from_json(contacts.get(fact.contact_id))
                try:
                    new_state, revision = observe(state, fact, model)
                except ContactError as exc:
                    await dead_letter(event, str(exc), "contradicts_contact")
                    continue
                if new_state is not state:
                    contacts[fact.contact_id] = new_state.to_json()
                if revision is not None:
                    await scores.send(
                        key=revision.municipality.encode(),
                        value=revision.model_dump_json().encode(),
                    )
                    METRICS.produced("score.revision")
