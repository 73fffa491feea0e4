"""`meetlat deadletter` reads back what the services refused, on the real embedded broker: with
the reason, the service and the source, filtered, as JSON Lines, or as the original bytes to
correct and ingest again."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from kafka import KafkaProducer
from typer.testing import CliRunner, Result

from services.cli import app
from services.runtime.app import create_pipeline
from services.runtime.broker import EmbeddedBroker
from services.runtime.deadletter import deadletter_headers
from services.runtime.settings import Settings, bootstrap_servers
from services.runtime.topics import Topics
from services.runtime.worker import prepare, restore_embedded

pytestmark = pytest.mark.broker

PLACED = {
    "type": "call.placed",
    "event_id": "dl-1",
    "contact_id": "dl-call-1",
    "municipality": "GM0344",
    "campaign": "mg-test",
    "wave": 1,
    "case": "terrasvergunning",
    "occurred_at": "2026-03-02T09:00:00Z",
}


def meetlat(broker: EmbeddedBroker, settings: Settings, *args: str) -> Result:
    env = {
        "COLUMNS": "400",
        "MEETLAT_BROKER_URL": broker.url,
        "MEETLAT_DATA_DIR": str(settings.data_dir),
        "MEETLAT_TOPIC_PREFIX": settings.topic_prefix,
        "MEETLAT_PARTITIONS": str(settings.partitions),
    }
    return CliRunner().invoke(app, list(args), env=env)


def test_dead_letters_are_read_back_with_their_reasons(
    broker: EmbeddedBroker, settings: Settings, tmp_path: Path
) -> None:
    bad_wave = json.dumps({**PLACED, "event_id": "dl-2", "wave": 0})
    changed = json.dumps({**PLACED, "case": "evenementenvergunning"})
    events = tmp_path / "forms.jsonl"
    events.write_text("\n".join([json.dumps(PLACED), bad_wave, "{not json", changed]) + "\n")
    ingested = meetlat(broker, settings, "ingest", "file", str(events), "--no-heartbeat")
    assert ingested.exit_code == 3, ingested.output

    # as the scorer and the ingest agent dead-letter what they consumed: one record over
    # several lines, and bytes that are not text
    pretty = json.dumps({**PLACED, "event_id": "dl-3", "type": "call.teleported"}, indent=2)
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(broker.url))
    topic = Topics.for_settings(settings).deadletter
    for value, kind, service in [
        (pretty.encode(), "invalid_event", "ingest"),
        (b"\xff\xfe", "contradicts_contact", "scoring"),
    ]:
        headers = deadletter_headers(f"a {kind}", kind, service, f"{topic}-in/0@7")
        producer.send(topic, value=value, headers=headers).get(timeout=10)
    producer.close()

    table = meetlat(broker, settings, "deadletter")
    assert table.exit_code == 0, table.output
    assert "5 dead letters on" in table.stdout
    assert "forms.jsonl:2" in table.stdout and "wave: Input should be greater" in table.stdout
    assert "'dl-1' was accepted before with other content" in table.stdout

    listed = meetlat(broker, settings, "deadletter", "--json")
    # (in the order they were dead-lettered: within one millisecond, by partition and offset)
    letters = {d["source"] + d["kind"]: d for d in map(json.loads, listed.stdout.splitlines())}
    assert sorted((d["service"], d["kind"], d["source"]) for d in letters.values()) == sorted(
        [
            ("ingest", "invalid_event", "forms.jsonl:2"),
            ("ingest", "invalid_event", "forms.jsonl:3"),
            ("ingest", "conflicting_event", "forms.jsonl:4"),
            ("ingest", "invalid_event", f"{topic}-in/0@7"),
            ("scoring", "contradicts_contact", f"{topic}-in/0@7"),
        ]
    )
    assert letters["forms.jsonl:2invalid_event"]["value"] == bad_wave
    assert letters["forms.jsonl:2invalid_event"]["at"].endswith("Z")
    binary = letters[f"{topic}-in/0@7contradicts_contact"]
    assert "value" not in binary and base64.b64decode(binary["value_base64"]) == b"\xff\xfe"

    scoring = meetlat(broker, settings, "deadletter", "--service", "scoring", "--json")
    assert [json.loads(line)["kind"] for line in scoring.stdout.splitlines()] == [
        "contradicts_contact"
    ]

    # the refused records, to correct and ingest again
    values = meetlat(broker, settings, "deadletter", "--kind", "invalid_event", "--values")
    assert values.exit_code == 0, values.output
    assert sorted(values.stdout.splitlines()) == sorted(
        [bad_wave, "{not json", json.dumps(json.loads(pretty), separators=(",", ":"))]
    )
    corrected = tmp_path / "corrected.jsonl"
    corrected.write_text(
        values.stdout.replace('"wave": 0', '"wave": 1').replace("teleported", "placed")
    )
    again = meetlat(broker, settings, "ingest", "file", str(corrected), "--no-heartbeat")
    assert again.exit_code == 3 and "1 dead-lettered" in again.stdout  # ({not json stays bad)
    assert "3 records: 2 accepted (2 new in the archive)" in again.stdout


def test_without_a_broker_it_says_so(settings: Settings) -> None:
    result = CliRunner().invoke(
        app, ["deadletter"], env={"MEETLAT_DATA_DIR": str(settings.data_dir), "COLUMNS": "300"}
    )
    assert result.exit_code == 2
    assert "No broker" in result.stderr


def test_a_fresh_embedded_broker_gets_what_ingest_refused_again_as_it_was(
    broker: EmbeddedBroker, settings: Settings, tmp_path: Path
) -> None:
    """The embedded broker's dead-letter topic lives only as long as the broker: an embedded
    worker that starts again sends what ingest refused to the new one from the archive, with
    the time it was refused (what the other services refuse, they refuse again in the
    replay)."""
    changed = json.dumps({**PLACED, "case": "evenementenvergunning"})
    events = tmp_path / "forms.jsonl"
    events.write_text("\n".join([json.dumps(PLACED), "{not json", changed, "\xff"]) + "\n")
    assert meetlat(broker, settings, "ingest", "file", str(events)).exit_code == 3

    def ingest_letters(settings: Settings) -> list[dict[str, str]]:
        listed = meetlat(broker, settings, "deadletter", "--service", "ingest", "--json")
        assert listed.exit_code == 0, listed.output
        letters = [json.loads(line) for line in listed.stdout.splitlines()]
        return sorted(
            ({k: v for k, v in d.items() if k not in ("partition", "offset")} for d in letters),
            key=lambda d: d["source"],
        )

    before = ingest_letters(settings)
    assert [(d["kind"], d["source"]) for d in before] == [
        ("invalid_event", "forms.jsonl:2"),
        ("conflicting_event", "forms.jsonl:3"),
        ("invalid_event", "forms.jsonl:4"),
    ]
    fresh = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}-fresh"})
    pipeline = create_pipeline(fresh, broker.url)
    prepare(pipeline, broker.url)
    assert restore_embedded(pipeline, broker.url) == 2  # (the event and the heartbeat)
    assert ingest_letters(fresh) == before
