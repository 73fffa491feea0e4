"""`meetlat mail analyze FILE.eml --json` prints the analysis of one message."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from services.cli import app

CORPUS = Path(__file__).parent / "mail" / "corpus"


def test_mail_analyze_json_classifies_an_auto_reply() -> None:
    result = CliRunner().invoke(
        app, ["mail", "analyze", str(CORPUS / "04_exchange_oof_nl.eml"), "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["kind"] == "auto_reply"
    assert document["message"]["subject"].startswith("Automatisch antwoord")


def test_mail_analyze_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    # wide enough that rich does not wrap the message inside the (long) temporary path
    result = CliRunner().invoke(
        app, ["mail", "analyze", str(tmp_path / "nope.eml")], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output
