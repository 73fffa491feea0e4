"""The reporting API answers as its OpenAPI document says, for inputs schemathesis generates
from that document (valid and invalid paths, queries and headers), on SQLite and PostgreSQL:
never a 500, and every status code, content type, header and JSON body as documented — a 405
names every method of its path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, note, settings
from schemathesis import APIOperation, GenerationMode
from sqlalchemy.engine import URL

from services.reporting.api import create_app
from services.runtime.db import make_engine, upgrade
from services.runtime.settings import Settings

from .conftest import fresh_postgres_database
from .reporting_data import populate


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_schema(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    folder: Path = tmp_path_factory.mktemp("contract")
    with _database_url(request, folder) as url:
        engine = make_engine(url)
        upgrade(engine)
        populate(engine, municipalities=4)
        app = create_app(Settings(data_dir=folder, database_url=url), engine)
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
        engine.dispose()


def _database_url(
    request: pytest.FixtureRequest, folder: Path
) -> contextlib.AbstractContextManager[str]:
    if request.param == "sqlite":
        return contextlib.nullcontext(f"sqlite:///{folder / 'meetlat.db'}")
    admin: URL = request.getfixturevalue("postgres_admin_url")
    return fresh_postgres_database(admin)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_answers_as_documented(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode
) -> None:
    # (schemathesis' own pytest loader does not run on pytest 9: it reads a private attribute)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 7
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not list(operation.iter_parameters()):
            continue  # nothing to get wrong
        answers_as_documented(operation, mode)


def answers_as_documented(operation: APIOperation, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def calls(case: schemathesis.Case) -> None:
        note(f"{operation.label}: {case.as_curl_command()}")
        case.call_and_validate()

    calls()
