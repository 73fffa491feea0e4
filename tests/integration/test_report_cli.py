"""`meetlat report` and `meetlat snapshot diff` on a real SQLite database."""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfReader
from typer.testing import CliRunner

from schemas.reference import ReferenceData
from services.cli import app
from services.runtime.db import make_engine, upgrade
from tests.unit.reporting.corpus import SECRETS

from .reporting_data import populate


def test_report_commands(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'meetlat.db'}")
    upgrade(engine)
    data = populate(engine, municipalities=6, seed=2)
    engine.dispose()
    env = {"MEETLAT_DATA_DIR": str(tmp_path), "MEETLAT_DATABASE_URL": "", "COLUMNS": "200"}
    runner = CliRunner()

    pdf = tmp_path / "m.pdf"
    result = runner.invoke(
        app, ["report", "municipality", data.named, "-f", "pdf", "-o", str(pdf)], env=env
    )
    assert result.exit_code == 0, result.output
    text = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    assert "[PERSOON-1]" in text
    assert [s for s in SECRETS if s in text] == []

    result = runner.invoke(app, ["report", "national", "-f", "csv", "-o", "-"], env=env)
    assert result.exit_code == 0 and result.stdout.startswith("scope_kind,scope_id,")

    result = runner.invoke(
        app, ["report", "all", "-f", "html", "-f", "json", "-o", str(tmp_path / "all")], env=env
    )
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "all").iterdir())
    municipalities = {e.municipality for e in data.events if e.wave == 2}
    chambers = {ReferenceData.load().chamber_of[m] for m in municipalities}
    assert len(written) == 2 * (1 + len(chambers) + len(municipalities))
    assert f"municipality-{data.named}.html" in written and "national.json" in written
    for path in (tmp_path / "all").iterdir():
        content = path.read_text(encoding="utf-8")
        assert [s for s in SECRETS if s in content] == [], path.name

    result = runner.invoke(app, ["report", "municipality", "GM9999"], env=env)
    assert result.exit_code == 2 and "no figures for municipality GM9999" in result.output

    result = runner.invoke(app, ["snapshot", "--label", "again"], env=env)
    assert result.exit_code == 0 and "snapshot 2:" in result.output
    result = runner.invoke(app, ["snapshot", "diff", "1", "2"], env=env)
    assert result.exit_code == 0 and "0 figures changed in 0 scopes" in result.output
    result = runner.invoke(app, ["snapshot", "diff", "1", "9"], env=env)
    assert result.exit_code == 2
