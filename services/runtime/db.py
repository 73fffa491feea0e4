"""The SQL adapter: declarative base, engine factory and schema migrations.

SQLAlchemy and Alembic live only in adapter modules (this one, `services.ingest.archive`,
`services.reporting.store` and the migrations); domain code never imports them.

- `make_engine(url)` builds an engine for SQLite (the default; WAL, foreign keys, a 30 s busy
  timeout, real transactions) or PostgreSQL (always through psycopg 3).
- `upgrade(engine)` brings the schema to the newest Alembic revision. It needs no alembic.ini,
  is idempotent and is meant to be called at every start.
- `write_transaction(engine)` opens a transaction that will write; on SQLite it takes the write
  lock up front (`BEGIN IMMEDIATE`) so that a read-then-write transaction can wait for a
  concurrent writer instead of failing with "database is locked".
- `outlasting_outages(...)` runs a worker's blocking write in a thread and tries it again
  while the database is away (a restart or fail-over), for a bounded time.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from services.runtime.metrics import DATABASE_RETRIES

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_S = 30.0

# Execution option read by the SQLite "begin" hook: the BEGIN flavour to emit.
_SQLITE_BEGIN_OPTION = "meetlat_sqlite_begin"

# pg_advisory_xact_lock key serialising concurrent `upgrade` calls ("meetlat" in ASCII).
_MIGRATION_LOCK_KEY = 0x6D6565746C6174


class Base(DeclarativeBase):
    """Declarative base of every Meetlat table; constraint names are deterministic."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that always hands back aware UTC datetimes.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so values are normalised to UTC
    before they are stored and marked UTC when read. Naive datetimes are refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: Meetlat stores aware datetimes only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _enable_wal(cursor: Any) -> None:
    """Switch the database to WAL (persistent, so only the first connection ever does it).

    The switch needs an exclusive lock, and SQLite reports "database is locked" for it at once,
    without its busy handler, when other connections race for the same fresh file: retry.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    pause = 0.01
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() in ("wal", "memory"):
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


class JsonText(str):
    """A JSON column value already serialised (and validated by its model), stored as it is."""


def _json_text(value: Any) -> str:
    if isinstance(value, JsonText):
        return value
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (a benchmark document is ~12 KB of floats) through orjson: ~12x faster than the
# json module's dumps, which the materialiser otherwise spends most of its time in.
JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def database_backend(url: str) -> str:
    """'sqlite' or 'postgresql': the database a SQLAlchemy URL names, which must be one of the
    two the store is written for (ValueError otherwise: SQLAlchemy would take any URL and fail
    later, on a missing driver or in the first upsert)."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise ValueError("not a database URL (e.g. postgresql://user@host/db)") from None
    if backend == "postgres":
        return "postgresql"
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"Meetlat keeps its data in SQLite or PostgreSQL, not {backend!r}")
    return backend


def make_engine(url: str) -> Engine:
    """An engine for a SQLAlchemy URL (SQLite file or PostgreSQL via psycopg 3)."""
    sa_url = make_url(url)
    if database_backend(url) == "postgresql":
        if sa_url.drivername in ("postgresql", "postgres"):
            sa_url = sa_url.set(drivername="postgresql+psycopg")
        return create_engine(sa_url, pool_pre_ping=True, **JSON_CODEC)

    database = sa_url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        sa_url,
        pool_pre_ping=True,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
        **JSON_CODEC,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (its legacy mode does not
        # BEGIN before SELECT or DDL); the "begin" hook below emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            _enable_wal(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


@contextmanager
def write_transaction(engine: Engine, **execution_options: Any) -> Iterator[Connection]:
    """A connection inside one transaction that commits on success (rolls back on error).

    On SQLite the transaction starts with `BEGIN IMMEDIATE`, taking the single write lock up
    front (waiting up to the busy timeout for it) so reads inside it stay consistent with the
    writes that follow.
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        if execution_options:
            conn.execution_options(**execution_options)
        with conn.begin():
            yield conn


@contextmanager
def one_at_a_time(engine: Engine, key: int) -> Iterator[None]:
    """Hold PostgreSQL's session advisory lock `key` meanwhile, on a connection of its own, so
    that a REPEATABLE READ transaction started inside begins after the previous holder's has
    committed (its snapshot then sees what that one wrote). Nothing on SQLite, whose write
    transactions already take its single write lock."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()
        try:
            yield
        finally:
            if not conn.invalidated:  # (a lost connection took the lock with it)
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()


T = TypeVar("T")
log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE: tuple[type[DBAPIError], ...] = (OperationalError, InterfaceError)
"""What a database that cannot be reached right now raises: a connection lost or refused, and
SQLite's lock held past the busy timeout."""


def database_failure(exc: DBAPIError) -> str:
    """The driver's own first line of a database error, without SQLAlchemy's statement and
    parameters (for a log line)."""
    cause = exc.orig or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


async def outlasting_outages(
    service: str, patience: float, write: Callable[..., T], *args: Any
) -> T:
    """`write(*args)` in a thread; while it fails on a lost or refused connection, or on
    SQLite's lock held past the busy timeout, it is tried again after growing pauses (0.5 s
    doubling to 8 s), for up to `patience` seconds. A restart or fail-over of the database
    then stalls the service instead of stopping it; after that the error is raised (and the
    batch is read again by the next worker). The write must be idempotent, as every
    consumer's is: a commit whose answer was lost is made twice."""
    deadline = time.monotonic() + patience
    pause = 0.5
    while True:
        try:
            return await asyncio.to_thread(write, *args)
        except DATABASE_UNAVAILABLE as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            wait = min(pause, left)
            log.warning(
                "%s: a database write failed (%s); trying again in %.1f s",
                service,
                database_failure(exc),
                wait,
            )
            DATABASE_RETRIES.labels(service).inc()
            await asyncio.sleep(wait)
            pause = min(pause * 2, 8.0)


def upsert_insert(
    dialect_name: str, table: type[Base] | Table
) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that supports `ON CONFLICT` (`on_conflict_do_nothing/do_update`, `excluded`)."""
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"no INSERT ... ON CONFLICT support for dialect {dialect_name!r}")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration built in code: no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Migrate the database to the newest revision (`alembic upgrade head`); idempotent."""
    config = alembic_config()
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            # Several workers may start at once: let one migrate, the others then find head.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
