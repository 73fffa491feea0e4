"""The wire contract: JSON Schema export is current; domain modules stay pure."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from schemas.export import JSON_DIR, documents, stale
from services.ingest.parsing import Rejected, parse_event_record
from tests.unit.test_parsing import record

ROOT = Path(__file__).resolve().parents[2]

# Pure domain and contract modules: no faust, no Kafka client, no SQL.
DOMAIN_MODULES = [
    "schemas/events.py",
    "schemas/scores.py",
    "schemas/benchmarks.py",
    "schemas/reference.py",
    "schemas/scoring_model.py",
    "services/scoring/catalogue.py",
    "services/scoring/clock.py",
    "services/scoring/rules.py",
    "services/scoring/scorer.py",
    "services/aggregation/benchmarks.py",
    "services/aggregation/statistics.py",
    "services/aggregation/surveys.py",
    "services/aggregation/process.py",
    "services/ingest/parsing.py",
    "services/ingest/event_ids.py",
    "services/ingest/mail/analyze.py",
    "services/ingest/mail/checks.py",
    "services/ingest/mail/classify.py",
    "services/ingest/mail/message.py",
    "services/ingest/mail/reply.py",
    "services/ingest/mail/threading.py",
    "services/reporting/figures.py",
    "services/reporting/summary.py",
    "services/reporting/model.py",
    "services/reporting/charts.py",
    "services/reporting/contacts.py",
    "services/reporting/diff.py",
    "services/reporting/tips.py",
    "services/reporting/render.py",
    "services/reporting/svgtext.py",
    "services/reporting/reports.py",
    "services/reporting/deidentify.py",
    "services/recompute.py",
    "services/demo/campaign.py",
]
FORBIDDEN = ("faust", "mode", "kafka", "aiokafka", "sqlalchemy", "alembic", "psycopg")


def test_json_schema_export_is_current() -> None:
    assert stale() == [], "run `meetlat schema export` and commit schemas/json/"
    assert {p.name for p in JSON_DIR.glob("*.json")} == set(documents())


def test_event_schema_names_every_event_type() -> None:
    event = documents()["event.schema.json"]
    tags = {
        d["properties"]["type"]["const"]
        for d in event["$defs"].values()
        if "type" in d.get("properties", {})
    }
    assert {"call.placed", "call.assessed", "mail.sent", "mail.replied", "survey.response"} <= tags


def _assessed(answers: Any) -> dict[str, Any]:
    return record(type="call.assessed", answers=answers, report="Netjes.")


@pytest.mark.parametrize(
    "event",
    [
        record(),
        record(wave=2.0),  # an integer, to JSON Schema and to the server
        record(wave=True),
        record(wave="2"),
        record(event_id=" "),
        record(event_id=" e-1 "),
        record(event_id="e\n1"),
        record(occurred_at=1772438400),
        _assessed({"vriendelijkheid_aanname": "vriendelijk"}),
        _assessed({"vriendelijkheid_aanname": 8}),
        _assessed({"vriendelijk\x01": "vriendelijk"}),
        _assessed({" ": "vriendelijk"}),
        _assessed({"vriendelijkheid_aanname": " "}),
        _assessed({}),
    ],
)
def test_the_event_schema_accepts_what_the_server_accepts(event: dict[str, Any]) -> None:
    """What a producer checks against `event.schema.json` is what ingest accepts (the ranges
    of event times, and rules across fields and events, are beyond a JSON Schema)."""
    schema = jsonschema_rs.validator_for(documents()["event.schema.json"])
    raw = json.dumps(event).encode()
    server = not isinstance(parse_event_record(raw, "test", 1), Rejected)
    assert schema.is_valid(event) == server, event


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_domain_modules_import_no_infrastructure(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
            # follow imports of our own modules one level: they must be domain modules too
            if node.module.startswith(("services.", "schemas.")):
                target = node.module.replace(".", "/") + ".py"
                assert target in DOMAIN_MODULES or target.endswith("__init__.py"), (
                    f"{module} imports {node.module}, which is not a pure domain module"
                )
    assert not imported & set(FORBIDDEN), f"{module} imports {imported & set(FORBIDDEN)}"
