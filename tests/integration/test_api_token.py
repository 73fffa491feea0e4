"""The API token (MEETLAT_API_TOKEN): with one set, the API's two writes (taking a snapshot,
putting in events) answer 401 without it or with another and keep nothing; reading asks for
no token; OpenAPI shows the scheme on the writes alone. `meetlat serve` with a token listens
beyond loopback."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from services.ingest.archive import EventArchive
from services.reporting.api import create_app
from services.reporting.store import BenchmarkStore
from services.runtime.db import make_engine, upgrade
from services.runtime.settings import Settings
from tests.conftest import serving

from .reporting_data import populate

TOKEN = "0f3c-meetlat-test-token"
EVENT = {
    "type": "call.placed",
    "event_id": "token-1",
    "contact_id": "token-call-1",
    "municipality": "GM0599",
    "campaign": "mg-test",
    "wave": 1,
    "case": "terrasvergunning",
    "occurred_at": "2026-03-02T09:00:00+01:00",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder: Path = tmp_path_factory.mktemp("token")
    engine = make_engine(f"sqlite:///{folder / 'meetlat.db'}")
    upgrade(engine)
    populate(engine, municipalities=4)
    yield engine
    engine.dispose()


def client(engine: Engine, tmp_path: Path, token: str | None) -> TestClient:
    settings = Settings(
        data_dir=tmp_path,
        database_url=str(engine.url),
        api_token=None if token is None else SecretStr(token),
    )
    return TestClient(create_app(settings, engine))


def refused(answer: Any) -> None:  # (a TestClient response)
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_writes_ask_for_the_token_and_keep_nothing_without_it(
    engine: Engine, tmp_path: Path
) -> None:
    store, archive = BenchmarkStore(engine), EventArchive(engine)
    snapshots, archived = len(store.snapshots()), archive.count()
    with client(engine, tmp_path, TOKEN) as api:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            refused(api.post("/api/snapshots", params={"label": "x"}, headers=headers))
            refused(api.post("/api/events", json=EVENT, headers=headers))
        assert api.post("/api/snapshots").json() == {
            "detail": "this request writes: send the API token as 'Authorization: Bearer <token>'"
        }
        assert api.post("/api/snapshots", headers={"Authorization": "Bearer x"}).json() == {
            "detail": "wrong API token"
        }
        assert len(store.snapshots()) == snapshots and archive.count() == archived

        taken = api.post("/api/snapshots", params={"label": "with token"}, headers=bearer(TOKEN))
        assert taken.status_code == 201 and taken.json()["label"] == "with token"
        # past the token, the request is checked as ever: here, for its body
        bad = api.post("/api/events", json={**EVENT, "wave": 0}, headers=bearer(TOKEN))
        assert bad.status_code == 422

        # reading asks for no token
        for path in ("/api/snapshots", "/api/reports/national?format=json", "/dashboard"):
            assert api.get(path).status_code == 200, path


def test_without_a_token_the_writes_are_open(engine: Engine, tmp_path: Path) -> None:
    with client(engine, tmp_path, None) as api:
        assert api.post("/api/snapshots", params={"label": "open"}).status_code == 201
        openapi = api.get("/openapi.json").json()
    assert "securitySchemes" not in openapi.get("components", {})
    assert all(
        "security" not in operation and "401" not in operation["responses"]
        for path in openapi["paths"].values()
        for operation in path.values()
    )


def test_openapi_shows_the_token_on_the_writes_alone(engine: Engine, tmp_path: Path) -> None:
    with client(engine, tmp_path, TOKEN) as api:
        openapi = api.get("/openapi.json").json()
    assert openapi["components"]["securitySchemes"]["token"]["scheme"].lower() == "bearer"
    guarded = {
        (method.upper(), path)
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{"token": []}]
    }
    assert guarded == {("POST", "/api/snapshots"), ("POST", "/api/events")}
    for method, path in guarded:
        assert "401" in openapi["paths"][path][method.lower()]["responses"]


def test_serve_with_a_token_listens_beyond_loopback(engine: Engine, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETLAT_")}
    env.update(
        MEETLAT_DATA_DIR=str(tmp_path),
        MEETLAT_DATABASE_URL=str(engine.url),
        MEETLAT_API_TOKEN=TOKEN,
    )
    with serving(env, tmp_path / "serve.log", host="0.0.0.0") as base:
        without = urllib.request.Request(f"{base}/api/snapshots?label=http", method="POST")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(without, timeout=30)
        assert error.value.code == 401
        assert error.value.headers["WWW-Authenticate"] == "Bearer"
        with_token = urllib.request.Request(
            f"{base}/api/snapshots?label=http", method="POST", headers=bearer(TOKEN)
        )
        with urllib.request.urlopen(with_token, timeout=30) as answer:
            assert answer.status == 201 and json.load(answer)["label"] == "http"
    assert "http" in [s.label for s in BenchmarkStore(engine).snapshots()]
    assert TOKEN not in (tmp_path / "serve.log").read_text()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
