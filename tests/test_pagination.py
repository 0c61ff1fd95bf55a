"""store.pagination.keyset, the one keyset read of every List: mixed directions, ties on a leading key.

Pages of two over the stored programs ordered by deviation_minutes descending,
then id ascending, walk every program once in exactly that order, on SQLite and
PostgreSQL; a token is refused by another collection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.errors import InvalidArgument
from store import migrate, pagination, programs
from store.db import Database

pytestmark = pytest.mark.timeout(120)

MINUTES = {"p1": 3, "p2": 1, "p3": 3, "p4": 2, "p5": 3, "p6": 2, "p7": 1}
KEYS = [
    pagination.Key(programs.programs.c.deviation_minutes, int, descending=True),
    pagination.Key(programs.programs.c.program_id),
]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    database = Database(database_url, threads=2)
    try:
        yield database
    finally:
        await database.close()


async def test_pages_follow_the_keys_through_ties_and_mixed_directions(db: Database) -> None:
    def seed(conn: Connection) -> None:
        default = programs.get(conn, "default")
        for program_id, minutes in MINUTES.items():
            programs.upsert(
                conn,
                replace(
                    default,
                    program_id=program_id,
                    deviation_minutes=minutes,
                    update_time=datetime(2026, 1, 1, tzinfo=UTC),
                ),
            )

    await db.write(seed)
    query = sa.select(programs.programs).where(programs.programs.c.program_id != "default")

    def page(token: str) -> Callable[[Connection], tuple[list[str], str]]:
        def read(conn: Connection) -> tuple[list[str], str]:
            rows, following = pagination.keyset(
                conn, query, KEYS, collection="test-programs", page_size=2, page_token=token
            )
            return [row.program_id for row in rows], following

        return read

    walked: list[list[str]] = []
    token = ""
    while True:
        ids, token = await db.read(page(token))
        walked.append(ids)
        if not token:
            break
    assert walked == [["p1", "p3"], ["p5", "p4"], ["p6", "p2"], ["p7"]]

    _, first_token = await db.read(page(""))
    with pytest.raises(InvalidArgument) as refused:
        await db.read(
            lambda conn: pagination.keyset(
                conn, query, KEYS, collection="other", page_size=2, page_token=first_token
            )
        )
    assert refused.value.reason == "INVALID_PAGE_TOKEN"
