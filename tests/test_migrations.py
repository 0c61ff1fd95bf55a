"""Alembic migrations on both databases: empty → head → base."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import store.schema  # noqa: F401  (the tables the migrations must produce)
from store import migrate
from store.db import create_engine

# Every model table; the first migration's two are named so this cannot pass vacuously.
APP_TABLES = set(SQLModel.metadata.tables)
assert {"aggregators", "idempotency_keys"} <= APP_TABLES


def _tables(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_to_head_then_downgrade_to_base(database_url: str) -> None:
    assert _tables(database_url) == set()

    migrate.upgrade(database_url)
    assert _tables(database_url) == APP_TABLES | {"alembic_version"}

    migrate.downgrade(database_url, "base")
    assert _tables(database_url) == {"alembic_version"}


def test_head_matches_the_models(database_url: str) -> None:
    """Every schema change is a migration: autogenerate finds nothing left to do at head."""
    migrate.upgrade(database_url)
    engine = create_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()
