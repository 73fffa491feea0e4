"""HTTP intake: outside producers (the mystery callers' forms, a survey tool) POST events to
`/api/events` as JSON (one event or an array of them), JSON Lines or CSV, the formats of
`meetlat ingest FILE`.

A request is validated as a whole. One bad record refuses all of it with a 422 that names every
bad record and field: the producer still holds what it sent, so nothing is lost, and a corrected
request is never half a duplicate. An event whose id the archive holds with other content
refuses the request as well, with a 409 that names it. Otherwise every event is archived in SQL
and published by the same ingest service as a file, and the answer is 202. Sending a request
again is safe: the archive keeps each event id once and every consumer downstream is
idempotent.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Container, Iterable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from kafka.errors import KafkaError
from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from schemas.events import Event
from schemas.export import ContractJsonSchema
from services.ingest.archive import EventArchive
from services.ingest.event_ids import conflicting
from services.ingest.parsing import (
    Accepted,
    Outcome,
    Rejected,
    parse_csv,
    parse_json_document,
    parse_jsonl,
)
from services.ingest.publisher import KafkaPublisher, PublishError
from services.ingest.service import IngestReport, ingest
from services.runtime.settings import Settings
from services.runtime.topics import Topics, ensure_topics
from services.runtime.web import (
    InvalidRequest,
    Problem,
    RecordProblem,
    writer_checks,
    writer_responses,
)

MAX_BODY_BYTES = 32 * 1024 * 1024
# How long a request waits for the broker to store its events before it answers 503.
PUBLISH_TIMEOUT_S = 15.0
# How long a request waits for a broker to answer at all (a worker that crashed leaves the URL of
# a broker that is gone): requests queue behind the one that is connecting.
CONNECT_TIMEOUT_S = 5.0
BROKER_RETRY_AFTER_S = 5
SOURCE = "request"
_ONE_OBJECT = re.compile(rb"[ \t\r\n]*\{")  # (JSON's white space; no copy of the body)

Parser = Callable[[bytes, Container[str]], list[Outcome]]

PARSERS: dict[str, Parser] = {
    "application/json": lambda body, known: parse_json_document(body, SOURCE, known),
    "application/x-ndjson": lambda body, known: list(
        parse_jsonl(body.splitlines(keepends=True), SOURCE, known)
    ),
    "text/csv": lambda body, known: list(parse_csv(body.splitlines(keepends=True), SOURCE, known)),
}

# The body as OpenAPI shows it: the event contract (schemas/json/event.schema.json).
EVENTS_IN = TypeAdapter(Event | Annotated[list[Event], Field(min_length=1)])


class Receipt(BaseModel):
    """What a request put in: every event archived and published (but `deadlettered`)."""

    events: int
    new_in_archive: int
    deadlettered: int = Field(
        0,
        description="Events that another writer put in with the same id and other content "
        "while this request was checked: dead-lettered, as ingest does with such events.",
    )


class BrokerUnavailable(Exception):
    pass


def record_problems(rejected: Rejected, media_type: str, single: bool) -> list[RecordProblem]:
    """A bad record's problems in the form of FastAPI's own 422: located by the item of a
    JSON array (none for a body of one object) or the line of JSON Lines or CSV, then by the
    field (`["body", 2, "occurred_at"]`), or the whole body when it could not be read."""
    if rejected.line < 0:
        where: list[str | int] = ["body"]
    elif media_type != "application/json":
        where = ["body", "line", rejected.line]
    else:
        where = ["body"] if single else ["body", rejected.line]
    if not rejected.fields:
        return [RecordProblem(loc=where, msg=rejected.reason, type="invalid_event")]
    return [RecordProblem(loc=[*where, *f.loc], msg=f.msg, type=f.type) for f in rejected.fields]


class Publishing:
    """One connection to the broker for every request, made at the first and made again after
    a failure (a restarted worker's embedded broker has a new port); one request at a time."""

    def __init__(self, settings: Settings, topics: Topics) -> None:
        self._settings = settings
        self._topics = topics
        self._lock = threading.Lock()
        self._publisher: KafkaPublisher | None = None

    def ingest(self, accepted: list[Accepted], archive: EventArchive) -> IngestReport:
        with self._lock:
            try:
                return ingest(accepted, archive, self._connected(), self._topics)
            except (PublishError, KafkaError) as exc:
                self._forget()
                raise BrokerUnavailable(f"cannot publish to the broker: {exc}") from exc

    def _connected(self) -> KafkaPublisher:
        if self._publisher is None:
            url = self._settings.reachable_broker_url()
            if not url:
                raise BrokerUnavailable(
                    "no broker: set MEETLAT_BROKER_URL, or start `meetlat worker` with the "
                    "same MEETLAT_DATA_DIR"
                )
            specs = self._topics.specs(self._settings.partitions)
            ensure_topics(url, specs, self._settings.replication_factor, CONNECT_TIMEOUT_S)
            self._publisher = KafkaPublisher(
                url, delivery_timeout_s=PUBLISH_TIMEOUT_S, connect_timeout_s=CONNECT_TIMEOUT_S
            )
        return self._publisher

    def _forget(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            # what failed was reported already: that is why it is forgotten
            with contextlib.suppress(PublishError, KafkaError):
                publisher.close()

    def close(self) -> None:
        with self._lock:
            self._forget()


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"more than {MAX_BODY_BYTES} bytes: send the events in parts")
        chunks.append(chunk)
    return b"".join(chunks)


class EventIntake:
    """The `/api/events` route and the broker connection it publishes through."""

    def __init__(self, settings: Settings, engine: Engine, municipalities: Container[str]):
        self.publishing = Publishing(settings, Topics.for_settings(settings))
        self.router = APIRouter()
        archive = EventArchive(engine)

        @self.router.post(
            "/api/events",
            status_code=202,
            summary="Put in events (callers' forms, survey responses)",
            openapi_extra={"requestBody": _request_body()},
            responses={**_responses(), **writer_responses(settings.api_token)},
            dependencies=writer_checks(settings.api_token),
        )
        async def put_in_events(request: Request) -> Any:
            media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            parse = PARSERS.get(media_type)
            if parse is None:
                raise HTTPException(
                    415, f"Content-Type must be one of {', '.join(PARSERS)}, not {media_type!r}"
                )
            body = await _body(request)
            outcomes = await run_in_threadpool(parse, body, municipalities)
            rejected = [o for o in outcomes if isinstance(o, Rejected)]
            problems = []
            if rejected:
                single = _ONE_OBJECT.match(body) is not None  # (JSON: not an array)
                problems = [p for r in rejected for p in record_problems(r, media_type, single)]
            if not outcomes:
                problems = [RecordProblem(loc=["body"], msg="no events", type="no_events")]
            if problems:
                invalid = InvalidRequest(detail=problems)
                return JSONResponse(invalid.model_dump(), status_code=422)
            accepted = [o for o in outcomes if isinstance(o, Accepted)]
            events = [(o.event, o.payload) for o in accepted]
            clashes = await run_in_threadpool(archive.conflicts, events)
            if clashes:
                single = _ONE_OBJECT.match(body) is not None
                problems = [
                    p
                    for position in clashes
                    for p in record_problems(conflicting(accepted[position]), media_type, single)
                ]
                return JSONResponse(InvalidRequest(detail=problems).model_dump(), status_code=409)
            try:
                report = await run_in_threadpool(self.publishing.ingest, accepted, archive)
            except BrokerUnavailable as exc:
                raise HTTPException(
                    503, str(exc), {"Retry-After": str(BROKER_RETRY_AFTER_S)}
                ) from None
            return Receipt(
                events=report.accepted,
                new_in_archive=report.newly_archived,
                deadlettered=report.deadlettered,
            )


# What a caller's form and a survey tool send (each example's event ids are its own: posted
# again, an example changes nothing).
_CALL = {
    "type": "call.placed",
    "event_id": "example-call-7-placed",
    "contact_id": "example-call-7",
    "municipality": "GM0344",
    "campaign": "mg-2026",
    "wave": 1,
    "case": "standplaatsvergunning",
    "occurred_at": "2026-03-02T09:00:00+01:00",
}
_ANSWERED = {
    **_CALL,
    "type": "call.answered",
    "event_id": "example-call-7-answered",
    "occurred_at": "2026-03-02T09:00:25+01:00",
    "seconds_waited": 25,
}
_SURVEY = {
    **_CALL,
    "type": "survey.response",
    "event_id": "example-kto-12",
    "contact_id": "example-kto-12",
    "case": "kto",
    "survey_channel": "counter",
    "totaaloordeel": 8,
    "effort": 2,
    "hostmanship": [8, 7, 8, 9, 7, 8],
    "recommend": 9,
}
_CSV_HEADER = "type,event_id,contact_id,municipality,campaign,wave,case,occurred_at"
_JSON_LINES = "\n".join(
    orjson.dumps({**event, "event_id": f"{event['event_id']}-jsonl"}).decode()
    for event in (_CALL, _ANSWERED)
)


def _request_body() -> dict[str, Any]:
    text = {"type": "string", "minLength": 1}
    return {
        "required": True,
        "description": "One event or an array of events (JSON), or JSON Lines or CSV as for "
        "`meetlat ingest FILE`; the event contract is schemas/json/event.schema.json.",
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/EventsIn"},
                "examples": {
                    "one": {"summary": "One event: a mystery call placed", "value": _CALL},
                    "several": {
                        "summary": "A call placed and answered, and a survey response",
                        "value": [_CALL, _ANSWERED, _SURVEY],
                    },
                },
            },
            "application/x-ndjson": {"schema": text, "example": _JSON_LINES + "\n"},
            "text/csv": {
                "schema": text,
                "example": f"{_CSV_HEADER}\n"
                "call.placed,example-call-8-placed,example-call-8,GM0344,mg-2026,1,"
                "terrasvergunning,2026-03-02T10:30:00+01:00\n",
            },
        },
    }


def _responses() -> dict[int | str, dict[str, Any]]:
    return {
        202: {
            "model": Receipt,
            "description": "Every event is archived and published (but `deadlettered`).",
        },
        422: {"model": InvalidRequest, "description": "Every bad record and field; none is kept."},
        409: {
            "model": InvalidRequest,
            "description": "Events whose id was accepted before with other content (the first "
            "stays; a changed fact needs an event id of its own); none is kept.",
        },
        413: {"model": Problem, "description": f"More than {MAX_BODY_BYTES} bytes."},
        415: {"model": Problem, "description": "Not JSON, JSON Lines or CSV."},
        503: {
            "model": Problem,
            "description": "The broker or the database cannot be reached; nothing was lost "
            "that is not in the archive, and the request may be sent again.",
        },
    }


def document_request_body(openapi: dict[str, Any], municipalities: Iterable[str]) -> None:
    """Add the event contract to an OpenAPI document's components, for the body of
    `/api/events` (FastAPI cannot: the route reads its body itself, in three formats), with the
    municipalities this server knows (the reference data, which a CSV may override)."""
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    schema = EVENTS_IN.json_schema(
        ref_template="#/components/schemas/{model}", schema_generator=ContractJsonSchema
    )
    definitions = schema.pop("$defs", {})
    clash = set(definitions) & set(components)
    if clash:
        raise ValueError(f"event models named like API models: {sorted(clash)}")
    municipality = {"$ref": "#/components/schemas/Municipality"}
    for definition in definitions.values():
        if "municipality" in definition.get("properties", {}):
            definition["properties"]["municipality"] = municipality
    components.update(definitions)
    components["Municipality"] = {
        "type": "string",
        "description": "The CBS code of a municipality in the reference data.",
        "enum": sorted(municipalities),
    }
    components["EventsIn"] = schema
