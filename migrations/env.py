"""Alembic environment: the schema is SQLModel.metadata, the engine is the platform's own."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import store.schema  # noqa: F401  (registers every table on SQLModel.metadata)
from store.db import create_engine

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not configured")
    # The platform's engine, so SQLite gets the same WAL and BEGIN handling
    # (and therefore transactional DDL) as the server.
    engine = create_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                # SQLite cannot ALTER most things; batch mode rebuilds tables.
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
