"""`POST /api/events` on a real broker and database: events in JSON, JSON Lines and CSV are
archived and published like a file's; a request with a bad record, or with an event id
accepted before with other content, is refused whole with every bad record named; without a
broker, or when it goes away, the answer is 503 and a restarted worker's new broker is found
again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from services.ingest import intake_api
from services.ingest.archive import EventArchive
from services.ingest.publisher import KafkaPublisher, PublishError
from services.reporting.api import create_app
from services.runtime.broker import EmbeddedBroker
from services.runtime.db import make_engine, upgrade
from services.runtime.settings import Settings
from services.runtime.topics import Topics
from tests.conftest import kafka_io_threads

from .conftest import read_topic

pytestmark = pytest.mark.broker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def event(n: int, kind: str = "call.placed", **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": f"http-{n}",
        "contact_id": f"http-call-{n}",
        "municipality": "GM0599",
        "campaign": "mg-test",
        "wave": 1,
        "case": "terrasvergunning",
        "occurred_at": (T0 + timedelta(minutes=n)).isoformat(),
        **fields,
    }


SURVEY = {
    **event(9, "survey.response"),
    "survey_channel": "counter",
    "totaaloordeel": 8,
    "effort": 2,
    "hostmanship": [7, 8, 8, 6, 7, 9],
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'meetlat.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


def client_for(settings: Settings, engine: Engine) -> TestClient:
    return TestClient(create_app(settings, engine))


def test_events_in_every_format_are_archived_and_published(
    broker: EmbeddedBroker, settings: Settings, engine: Engine
) -> None:
    settings = settings.model_copy(update={"broker_url": broker.url})
    topics = Topics.for_settings(settings)
    csv_body = "type,event_id,contact_id,municipality,campaign,wave,case,occurred_at\n" + ",".join(
        str(v) for v in event(4).values()
    )
    with client_for(settings, engine) as client:
        answers = [
            client.post("/api/events", json=[event(1), SURVEY]),
            client.post("/api/events", json=event(2)),
            client.post(
                "/api/events",
                content=json.dumps(event(3)) + "\n\n",
                headers={"Content-Type": "application/x-ndjson"},
            ),
            client.post(
                "/api/events", content=csv_body, headers={"Content-Type": "text/csv; charset=utf-8"}
            ),
            client.post("/api/events", json=[event(1), event(2)]),  # sent again: kept once
        ]
    assert [(a.status_code, a.json()) for a in answers] == [
        (202, {"events": 2, "new_in_archive": 2, "deadlettered": 0}),
        (202, {"events": 1, "new_in_archive": 1, "deadlettered": 0}),
        (202, {"events": 1, "new_in_archive": 1, "deadlettered": 0}),
        (202, {"events": 1, "new_in_archive": 1, "deadlettered": 0}),
        (202, {"events": 2, "new_in_archive": 0, "deadlettered": 0}),
    ]
    assert EventArchive(engine).count() == 5
    observations = read_topic(broker.url, topics.observations)
    assert sorted((r.key, json.loads(r.value)["event_id"]) for r in observations) == [
        (b"http-call-1", "http-1"),
        (b"http-call-1", "http-1"),
        (b"http-call-2", "http-2"),
        (b"http-call-2", "http-2"),
        (b"http-call-3", "http-3"),
        (b"http-call-4", "http-4"),
    ]
    surveys = read_topic(broker.url, topics.surveys)
    assert [(r.key, json.loads(r.value)["event_id"]) for r in surveys] == [(b"GM0599", "http-9")]


def test_with_an_api_token_events_are_put_in_with_it_alone(
    broker: EmbeddedBroker, settings: Settings, engine: Engine
) -> None:
    settings = settings.model_copy(
        update={"broker_url": broker.url, "api_token": SecretStr("intake-token")}
    )
    with client_for(settings, engine) as client:
        without = client.post("/api/events", json=event(1))
        wrong = client.post("/api/events", json=event(1), headers={"Authorization": "Bearer x"})
        right = client.post(
            "/api/events", json=event(1), headers={"Authorization": "Bearer intake-token"}
        )
    assert [without.status_code, wrong.status_code, right.status_code] == [401, 401, 202]
    assert EventArchive(engine).count() == 1
    observations = read_topic(broker.url, Topics.for_settings(settings).observations)
    assert [json.loads(r.value)["event_id"] for r in observations] == ["http-1"]


def test_a_request_with_a_bad_record_is_refused_whole(
    broker: EmbeddedBroker,
    settings: Settings,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings.model_copy(update={"broker_url": broker.url})
    naive = {**event(2), "occurred_at": "2026-03-02T09:00:00"}
    elsewhere = {**event(3), "municipality": "GM9999"}
    with client_for(settings, engine) as client:
        refused = client.post("/api/events", json=[event(1), naive, elsewhere, 7])
        assert refused.status_code == 422
        assert refused.json()["detail"] == [
            {
                "loc": ["body", 1, "occurred_at"],
                "msg": "Input should have timezone info",
                "type": "timezone_aware",
            },
            {
                "loc": ["body", 2, "municipality"],
                "msg": "unknown CBS code 'GM9999'",
                "type": "unknown_municipality",
            },
            {"loc": ["body", 3], "msg": "not a JSON object", "type": "invalid_event"},
        ]
        one = client.post("/api/events", json={**naive, "wave": 0})
        assert [(p["loc"], p["type"]) for p in one.json()["detail"]] == [
            (["body", "wave"], "greater_than_equal"),
            (["body", "occurred_at"], "timezone_aware"),
        ]
        untyped = client.post("/api/events", json=[{"event_id": "x"}])
        assert untyped.json()["detail"] == [
            {
                "loc": ["body", 0],
                "msg": "Unable to extract tag using discriminator 'type'",
                "type": "union_tag_not_found",
            }
        ]
        csv_body = "type,event_id,contact_id,municipality,campaign,wave,case,occurred_at,answers\n"
        csv_body += "call.assessed,a,c,GM0599,mg-test,1,terrasvergunning,2026-03-02T09:00:00Z,{x\n"
        in_csv = client.post("/api/events", content=csv_body, headers={"Content-Type": "text/csv"})
        [problem] = in_csv.json()["detail"]
        assert problem["loc"] == ["body", "line", 2, "answers"], problem
        assert problem["msg"].startswith("not valid JSON (") and problem["type"] == "json_invalid"
        lines = client.post(
            "/api/events",
            content=json.dumps(event(1)) + "\n{no json\n",
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert lines.status_code == 422
        [problem] = lines.json()["detail"]
        assert problem["loc"] == ["body", "line", 2] and problem["msg"].startswith("not valid JSON")
        not_json = client.post(
            "/api/events", content=b"\xff{", headers={"Content-Type": "application/json"}
        )
        assert not_json.json()["detail"][0]["loc"] == ["body"]
        empty = client.post("/api/events", json=[])
        assert empty.status_code == 422 and empty.json()["detail"][0]["msg"] == "no events"
        xml = client.post("/api/events", content=b"<e/>", headers={"Content-Type": "text/xml"})
        assert xml.status_code == 415 and "text/xml" in xml.json()["detail"]
        monkeypatch.setattr(intake_api, "MAX_BODY_BYTES", 100)
        large = client.post("/api/events", json=[event(n) for n in range(5)])
        assert large.status_code == 413
    assert EventArchive(engine).count() == 0  # none of it is kept


def test_an_event_id_accepted_before_with_other_content_refuses_the_request(
    broker: EmbeddedBroker, settings: Settings, engine: Engine
) -> None:
    settings = settings.model_copy(update={"broker_url": broker.url})
    topics = Topics.for_settings(settings)
    moved = {**event(1), "occurred_at": (T0 + timedelta(hours=1)).isoformat()}
    with client_for(settings, engine) as client:
        assert client.post("/api/events", json=event(1)).status_code == 202
        refused = client.post("/api/events", json=[event(2), event(1), moved])
        assert refused.status_code == 409
        assert refused.json()["detail"] == [
            {
                "loc": ["body", 2, "event_id"],
                "msg": "'http-1' was accepted before with other content; the first stays (a "
                "changed fact needs an event id of its own)",
                "type": "event_id_conflict",
            }
        ]
        within = client.post(
            "/api/events",
            content=json.dumps(event(3)) + "\n" + json.dumps({**event(3), "case": "x"}),
            headers={"Content-Type": "application/x-ndjson"},
        )
        assert within.status_code == 409
        assert [p["loc"] for p in within.json()["detail"]] == [["body", "line", 2, "event_id"]]
        # the same fact again, its time in another offset, is no conflict
        shifted = {**event(1), "occurred_at": "2026-03-02T10:01:00+01:00"}
        assert client.post("/api/events", json=shifted).json() == {
            "events": 1,
            "new_in_archive": 0,
            "deadlettered": 0,
        }
    assert EventArchive(engine).count() == 1
    observations = read_topic(broker.url, topics.observations)
    assert [json.loads(r.value)["occurred_at"] for r in observations] == [
        "2026-03-02T09:01:00Z",
        "2026-03-02T10:01:00+01:00",
    ]


def test_the_documented_examples_are_accepted_and_may_be_sent_again(
    broker: EmbeddedBroker, settings: Settings, engine: Engine
) -> None:
    settings = settings.model_copy(update={"broker_url": broker.url})
    with client_for(settings, engine) as client:
        document = client.get("/openapi.json").json()
        content = document["paths"]["/api/events"]["post"]["requestBody"]["content"]
        bodies = [
            (media_type, json.dumps(example["value"]) if media_type == "application/json" else "")
            for media_type, spec in content.items()
            for example in spec.get("examples", {}).values()
        ] + [
            (media_type, spec["example"])
            for media_type, spec in content.items()
            if "example" in spec
        ]
        assert sorted(media_type for media_type, _ in bodies) == [
            "application/json",
            "application/json",
            "application/x-ndjson",
            "text/csv",
        ]
        for sent_before in (0, 1):
            answers = [
                client.post("/api/events", content=body, headers={"Content-Type": media_type})
                for media_type, body in bodies
            ]
            assert [(a.status_code, a.json()["events"]) for a in answers] == [
                (202, 1),
                (202, 3),
                (202, 2),
                (202, 1),
            ], [a.json() for a in answers]
            if sent_before:
                assert all(a.json()["new_in_archive"] == 0 for a in answers)
    assert EventArchive(engine).count() == 6  # (the one-event example is one of the array's)


def test_without_a_broker_the_answer_is_503_and_a_new_broker_is_found(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as beside `meetlat worker` on the embedded broker: the broker is found through its
    # URL file in the data dir, and a restarted worker's broker has a new port
    monkeypatch.setattr(intake_api, "PUBLISH_TIMEOUT_S", 3.0)
    monkeypatch.setattr(intake_api, "CONNECT_TIMEOUT_S", 1.0)
    with client_for(settings, engine) as client:
        nothing = client.post("/api/events", json=event(1))
        assert nothing.status_code == 503 and nothing.headers["retry-after"] == "5"
        assert nothing.json()["detail"].startswith("no broker: set MEETLAT_BROKER_URL")
        assert EventArchive(engine).count() == 0
        with EmbeddedBroker() as first:
            settings.broker_url_file.write_text(first.url)
            assert client.post("/api/events", json=event(1)).status_code == 202
        gone = client.post("/api/events", json=event(2))
        assert gone.status_code == 503, gone.text
        assert gone.json()["detail"].startswith("cannot publish to the broker: ")
        # broker.url still names the broker that is gone (as after a worker's crash): the
        # answer comes once the connection has had its time, with nothing left running
        threads, started = kafka_io_threads(), time.monotonic()
        stale = client.post("/api/events", json=event(2))
        assert stale.status_code == 503, stale.text
        assert stale.json()["detail"].startswith("cannot publish to the broker: ")
        assert time.monotonic() - started < 10  # (30 s, kafka-python's default)
        assert kafka_io_threads() == threads
        with EmbeddedBroker() as second:
            settings.broker_url_file.write_text(second.url)
            again = client.post("/api/events", json=event(2))
            assert (again.status_code, again.json()) == (
                202,
                {"events": 1, "new_in_archive": 0, "deadlettered": 0},
            )
            topics = Topics.for_settings(settings)
            [record] = read_topic(second.url, topics.observations)
            assert json.loads(record.value)["event_id"] == "http-2"


def test_a_publisher_says_when_the_broker_did_not_store_what_was_sent(
    settings: Settings,
) -> None:
    topic = Topics.for_settings(settings).observations
    with EmbeddedBroker() as gone:
        publisher = KafkaPublisher(gone.url, delivery_timeout_s=3)
        publisher.send(topic, b"k", b"stored")
        publisher.flush()
    publisher.send(topic, b"k", b"lost")
    with pytest.raises(PublishError, match=r"^the broker did not store 1 of 1 records: "):
        publisher.flush()
    with pytest.raises(PublishError):
        publisher.send(topic, b"k", b"lost too")
        publisher.close()
