"""The API (reports and the event intake) answers as its OpenAPI document says, for inputs
schemathesis generates from that document (valid and invalid paths, queries, headers and
bodies), on SQLite and PostgreSQL: never a 500, and every status code, content type, header and
JSON body as documented; the events it accepts are published to a real broker."""

from __future__ import annotations

import contextlib
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, note, settings
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import positive_data_acceptance
from sqlalchemy.engine import URL

from services.runtime.broker import EmbeddedBroker
from services.runtime.db import make_engine, upgrade
from tests.conftest import serving

from .conftest import fresh_postgres_database
from .reporting_data import populate

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_schema(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    # `meetlat serve` in a process of its own, over real HTTP: schemathesis' in-process ASGI
    # transport keeps an event loop thread for the rest of the process (and a process with
    # threads may not fork, which the batch oracle's tests need)
    folder: Path = tmp_path_factory.mktemp("contract")
    with _database_url(request, folder) as url:
        engine = make_engine(url)
        upgrade(engine)
        populate(engine, municipalities=4)
        engine.dispose()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEETLAT_")}
        broker: EmbeddedBroker = request.getfixturevalue("broker")
        env.update(
            MEETLAT_DATA_DIR=str(folder),
            MEETLAT_DATABASE_URL=url,
            MEETLAT_BROKER_URL=broker.url,
            MEETLAT_TOPIC_PREFIX=f"contract-{request.param}",
        )
        with serving(env, folder / "serve.log") as base:
            # the first report loads deduce (seconds, more on a busy machine): not in a case's time
            with urllib.request.urlopen(f"{base}/api/reports/national", timeout=300):
                pass
            yield schemathesis.openapi.from_url(f"{base}/openapi.json")


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
    assert len(operations) == 8
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not list(operation.iter_parameters()):
            continue  # nothing to get wrong
        answers_as_documented(operation, mode)


# The event contract says more than a JSON Schema can (event time from 1970 to 2099, rules
# across fields; bodies in JSON Lines and CSV): a body the schema allows may still be refused,
# with the documented 422 that names the field. Likewise a page's `after` cursor: opaque, so
# only one a `Link` header gave is taken.
MAY_REFUSE_SCHEMA_VALID = {"POST /api/events", "GET /api/snapshots/{snapshot_id}/figures"}


def answers_as_documented(operation: APIOperation, mode: GenerationMode) -> None:
    excluded = [positive_data_acceptance] if operation.label in MAY_REFUSE_SCHEMA_VALID else []

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def calls(case: schemathesis.Case) -> None:
        note(f"{operation.label}: {case.as_curl_command()}")
        case.call_and_validate(excluded_checks=excluded, timeout=60)

    calls()
