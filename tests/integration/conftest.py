"""Integration fixtures: a fresh database on every SQL backend Meetlat supports.

`database_url` (params `sqlite`, `postgresql`) is the URL of a new, empty database: a file in
`tmp_path`, or a uniquely named PostgreSQL database created for the test and dropped after it.
`engine` is an engine on that database with the schema migrated to head. `broker` is an
embedded Tansu broker, one per test module; `settings` gives each test its own consumer group,
topics and SQLite file on it.

PostgreSQL comes from `MEETLAT_TEST_POSTGRES_URL` (default
`postgresql+psycopg://postgres@127.0.0.1:5432/test`, trust auth); when user `postgres` is
refused the current OS user and `root` are tried. Unreachable: skipped locally, failed in CI.
"""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from services.runtime.broker import BrokerError, EmbeddedBroker
from services.runtime.clients import read_to_end
from services.runtime.db import make_engine, upgrade
from services.runtime.settings import Settings
from tests.conftest import missing_peer

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    try:
        with EmbeddedBroker() as running:
            yield running
    except BrokerError as exc:
        missing_peer(f"embedded Tansu broker unavailable: {exc}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Each test its own consumer group, topics and SQLite file on the shared broker."""
    tag = uuid.uuid4().hex[:8]
    return Settings(
        data_dir=tmp_path,
        app_id=f"meetlat-{tag}",
        topic_prefix=f"t{tag}",
        partitions=2,
        metrics_port=0,
    )


def _candidate_urls(raw: str) -> list[URL]:
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    candidates = [url]
    if url.username == "postgres":
        for user in (getpass.getuser(), "root"):
            alternative = url.set(username=user)
            if alternative not in candidates:
                candidates.append(alternative)
    return candidates


def _admin_engine(url: URL) -> Engine:
    return create_engine(
        url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
    )


@pytest.fixture(scope="session")
def postgres_admin_url() -> URL:
    """URL of the maintenance database on the test PostgreSQL server (skip if unreachable)."""
    raw = os.environ.get("MEETLAT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    errors: list[str] = []
    for url in _candidate_urls(raw):
        admin = _admin_engine(url)
        try:
            with admin.connect() as conn:
                conn.execute(text("SELECT 1"))
            return url
        except SQLAlchemyError as exc:
            errors.append(f"{url.username}: {type(getattr(exc, 'orig', None) or exc).__name__}")
        finally:
            admin.dispose()
    missing_peer(
        f"PostgreSQL not reachable at {make_url(raw).render_as_string()} ({'; '.join(errors)})"
    )
    raise AssertionError("unreachable")  # missing_peer skips or fails


@contextmanager
def fresh_postgres_database(admin_url: URL) -> Iterator[str]:
    """The URL of a new PostgreSQL database, dropped (forcibly) afterwards."""
    name = f"meetlat_t_{uuid.uuid4().hex[:16]}"
    admin = _admin_engine(admin_url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_database_url(postgres_admin_url: URL) -> Iterator[str]:
    """A fresh PostgreSQL database for one test."""
    with fresh_postgres_database(postgres_admin_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a new, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'meetlat.db'}"
    url: str = request.getfixturevalue("postgres_database_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh database whose schema is migrated to head."""
    eng = make_engine(database_url)
    try:
        upgrade(eng)
        yield eng
    finally:
        eng.dispose()


def read_topic(broker_url: str, topic: str) -> list[ConsumerRecord]:
    """Every record on `topic`, from the start of each partition to its end; blocking."""
    return list(read_to_end(broker_url, topic, "meetlat-tests"))
