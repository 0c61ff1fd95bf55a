"""Alembic migrations on both databases: empty → head → base."""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import store.schema  # noqa: F401  (the tables the migrations must produce)
from store import migrate
from store.db import create_engine
from store.partitions import DEFAULT_PARTITION

# Every model table; the first migration's two are named so this cannot pass vacuously.
APP_TABLES = set(SQLModel.metadata.tables)
assert {"aggregators", "idempotency_keys"} <= APP_TABLES


def _partition(name: str | None) -> bool:
    """A partition of meter_values (PostgreSQL, ``store.partitions``): storage of a model table, not one."""
    return name is not None and (
        name == DEFAULT_PARTITION or re.fullmatch(r"meter_values_p\d{8}", name) is not None
    )


def _include(name: str | None, type_: str, _parents: object) -> bool:
    return not (type_ == "table" and _partition(name))


def _tables(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        return {name for name in sa.inspect(engine).get_table_names() if not _partition(name)}
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
            context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": _include})
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()
