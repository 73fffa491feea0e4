"""The mail analysis is domain code: no faust, Kafka or SQL, directly or through our own
modules (the same rule tests/unit/test_contract.py enforces for the listed domain modules)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MODULES = sorted((ROOT / "services/ingest/mail").glob("*.py"))
FORBIDDEN = {"faust", "mode", "kafka", "aiokafka", "sqlalchemy", "alembic", "psycopg"}
ALLOWED_OWN = {"schemas.events", "services.aggregation.process"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_mail_modules_are_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
            if name.startswith(("services.", "schemas.")):
                assert name.startswith("services.ingest.mail") or name in ALLOWED_OWN, (
                    f"{path.name} imports {name}"
                )
