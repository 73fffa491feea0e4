"""`meetlat recompute FILE` scores and aggregates a JSONL file, listing the lines it skips."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from schemas.events import EVENT_ADAPTER
from schemas.reference import ReferenceData
from services.cli import app
from services.demo.campaign import CampaignSpec, generate_campaign


def test_skipped_lines_are_listed_as_they_are_and_the_rest_is_recomputed(tmp_path: Path) -> None:
    events = generate_campaign(CampaignSpec(seed=2, municipalities=4), ReferenceData.load())
    good = [EVENT_ADAPTER.dump_json(event) for event in events]
    assessed = json.loads(next(raw for raw in good if b'"call.assessed"' in raw))
    # an answer key that rich would read as a closing tag: quoted in the reason as it is
    bad = json.dumps({**assessed, "answers": {"[/b]": ""}}).encode()
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([good[0], bad, *good[1:]]) + b"\n")

    result = CliRunner().invoke(
        app, ["recompute", str(path), "--json", "--workers", "2"], env={"COLUMNS": "300"}
    )

    assert result.exit_code == 0, result.output
    assert "skipped events.jsonl:2: answers.[/b]: String should have at least 1" in result.stderr
    document = json.loads(result.stdout)
    assert len(document["scores"]) > 10
    assert {b["scope_kind"] for b in document["benchmarks"]} == {
        "municipality",
        "chamber",
        "nation",
    }
