"""Alembic environment of Meetlat.

At run time `services.runtime.db.upgrade` hands over its connection in
`config.attributes["connection"]`; from the command line (`alembic -c alembic.ini ...`) the
database is `-x url=...`, else `MEETLAT_DATABASE_URL`, else the default SQLite file.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

import services.ingest.archive
import services.ingest.mail_store
import services.reporting.store
import services.reporting.text_store
from services.runtime.db import Base, make_engine

# The modules whose models make up the schema: importing them registers their tables.
MODEL_MODULES = (
    services.ingest.archive,
    services.ingest.mail_store,
    services.reporting.store,
    services.reporting.text_store,
)

config = context.config
if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "MEETLAT_DATABASE_URL"
    )
    if url:
        return url
    ini_url = config.get_main_option("sqlalchemy.url")
    if ini_url and "driver://" not in ini_url:
        return ini_url
    from services.runtime.settings import Settings

    return Settings().sqlalchemy_url


def configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=database_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        # The caller owns the connection and its transaction.
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(database_url())
    try:
        with engine.connect() as conn:
            configure(conn)
            with context.begin_transaction():
                context.run_migrations()
            if conn.in_transaction():
                conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
