"""application.programs on a real store (SQLite and PostgreSQL), without gRPC: create, change some settings, merge."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from market_world import NOW, database, run

from application.programs import MUTABLE_FIELDS, upsert_program
from domain.baseline import BaselineMethod
from domain.errors import InvalidArgument
from domain.events import ClearingMode
from domain.settlement import PriceMode
from store import programs
from store.db import Database
from store.programs import Program

FRESH = Program(
    program_id="summer",
    baseline_method=BaselineMethod.RECENT5,
    fallback_baseline_method=None,
    clearing_mode=ClearingMode.GRID,
    price_mode=PriceMode.PAY_AS_BID,
    penalty_threshold_rate=Decimal("0.5"),
    cap_rate=Decimal("1.2"),
    penalty_factor=Decimal("0.5"),
    qualified_min_rate=Decimal("0.8"),
    qualified_max_rate=Decimal("1.2"),
    fee_ratio=Decimal("0.1"),
    holidays=(date(2026, 10, 1),),
    make_up_working_days=(),
    deviation_threshold=Decimal("0.1"),
    deviation_minutes=2,
    redispatch_enabled=True,
    update_time=NOW,
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with database(database_url) as opened:
        yield opened


def test_every_setting_but_the_id_and_the_time_is_mutable() -> None:
    assert set(MUTABLE_FIELDS) == {f.name for f in dataclasses.fields(Program)} - {
        "program_id",
        "update_time",
    }


async def test_a_new_program_takes_every_setting_and_an_update_only_the_changed_ones(db: Database) -> None:
    created = await run(db, lambda uow: upsert_program(uow, FRESH, MUTABLE_FIELDS))
    assert created == FRESH

    later = NOW + timedelta(hours=1)
    # What the request gives for the settings it does not change (defaults here) is ignored.
    request = dataclasses.replace(
        FRESH,
        clearing_mode=ClearingMode.PLATFORM,
        fee_ratio=Decimal("0"),
        holidays=(),
        update_time=later,
    )
    changed = await run(db, lambda uow: upsert_program(uow, request, {"clearing_mode"}), at=later)
    assert changed == dataclasses.replace(FRESH, clearing_mode=ClearingMode.PLATFORM, update_time=later)
    assert await db.read(lambda conn: programs.get(conn, "summer")) == changed


async def test_the_merged_settings_are_checked_and_nothing_is_written(db: Database) -> None:
    await run(db, lambda uow: upsert_program(uow, FRESH, MUTABLE_FIELDS))
    # Alone the new penalty threshold is fine; above the stored cap rate it is not.
    request = dataclasses.replace(FRESH, penalty_threshold_rate=Decimal("1.5"), cap_rate=Decimal("2"))
    with pytest.raises(InvalidArgument) as refused:
        await run(db, lambda uow: upsert_program(uow, request, {"penalty_threshold_rate"}))
    assert refused.value.reason == programs.INVALID_PROGRAM
    assert [v.field for v in refused.value.violations] == ["program.penalty_threshold_rate"]
    assert await db.read(lambda conn: programs.get(conn, "summer")) == FRESH
