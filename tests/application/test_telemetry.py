"""application.telemetry on a real store (SQLite and PostgreSQL), without gRPC: a device's batch of meter values
is stored once, and only while the device's aggregator owns its charger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from market_world import NOW, database, run

from application import registry
from application.telemetry import ingest_batch, upload_meter_values
from application.uow import UnitOfWork
from domain.errors import InvalidArgument, NotFound, PermissionDenied
from domain.principal import Principal, Role
from domain.telemetry import FOREIGN_CHARGER, Reading
from store import aggregators, telemetry
from store.db import Database
from store.registry import Charger, GridNode, Station

CHARGING = 3
DEVICE = Principal(Role.DEVICE, "c1", "agg-a")
AGGREGATOR = Principal(Role.AGGREGATOR, "agg-a", "agg-a")


def _readings(charger_id: str = "c1") -> list[Reading]:
    return [
        Reading(charger_id, NOW - timedelta(minutes=m), 7_000, None, Decimal("0.5"), CHARGING) for m in (2, 1)
    ]


async def _stored(db: Database) -> int:
    return await db.read(
        lambda conn: conn.execute(sa.select(sa.func.count()).select_from(telemetry.meter_values)).scalar_one()
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """Charger c1 of agg-a at its station st-a (node ta-1); agg-b has no charger."""
    async with database(database_url) as opened:

        def seed(uow: UnitOfWork) -> None:
            registry.upsert_grid_nodes(uow, [GridNode("ta-1", "TRANSFORMER_AREA", None, "", 0, 0)])
            for aggregator_id in ("agg-a", "agg-b"):
                aggregators.create(
                    uow.conn,
                    aggregator_id=aggregator_id,
                    display_name=aggregator_id,
                    unified_social_credit_code="",
                    contact_email="",
                    now=NOW,
                )
            registry.upsert_stations(uow, "agg-a", [Station("st-a", "", "ta-1", 0, 0)])
            registry.upsert_chargers(uow, "agg-a", [Charger("c1", "st-a", "AC", 7_000, 0, False, False)])

        await run(opened, seed)
        yield opened


async def test_a_batch_is_stored_once_and_a_resent_one_answers_as_the_first_time(db: Database) -> None:
    first = await run(db, lambda uow: upload_meter_values(uow, _readings(), "b-1"), principal=DEVICE)
    assert (first.stored_points, first.replayed) == (2, False)

    again = await run(db, lambda uow: upload_meter_values(uow, _readings(), "b-1"), principal=DEVICE)

    assert (again.stored_points, again.replayed) == (2, True)
    assert await _stored(db) == 2


async def test_a_device_whose_charger_another_aggregator_owns_or_nobody_has_is_refused(db: Database) -> None:
    foreign = Principal(Role.DEVICE, "c1", "agg-b")
    with pytest.raises(PermissionDenied) as not_owned:
        await run(db, lambda uow: upload_meter_values(uow, _readings(), "b-1"), principal=foreign)
    assert not_owned.value.reason == "CHARGER_NOT_OWNED"

    unknown = Principal(Role.DEVICE, "c9", "agg-a")
    with pytest.raises(NotFound) as missing:
        await run(db, lambda uow: upload_meter_values(uow, _readings("c9"), "b-2"), principal=unknown)
    assert missing.value.reason == "CHARGER_NOT_FOUND"

    with pytest.raises(PermissionDenied) as not_a_device:
        await run(db, lambda uow: upload_meter_values(uow, _readings(), "b-3"))  # the grid
    assert not_a_device.value.reason == "NOT_A_DEVICE"
    assert await _stored(db) == 0


async def test_an_aggregators_batch_with_readings_of_chargers_not_its_live_ones_is_refused_whole(
    db: Database,
) -> None:
    """Of a thousand readings, those of another aggregator's charger, an unknown one and a deleted one of
    its own are named; nothing of the batch is stored. The same batch without them is stored."""

    def more_chargers(uow: UnitOfWork) -> None:
        registry.upsert_stations(uow, "agg-b", [Station("st-b", "", "ta-1", 0, 0)])
        registry.upsert_chargers(uow, "agg-b", [Charger("b1", "st-b", "AC", 7_000, 0, False, False)])
        registry.upsert_chargers(
            uow,
            "agg-a",
            [Charger(f"a{i:03d}", "st-a", "AC", 7_000, 0, False, False) for i in range(1_000)],
        )
        registry.delete_charger(uow, "agg-a", "st-a", "a999")

    await run(db, more_chargers)
    good = [
        Reading(f"a{i:03d}", NOW - timedelta(minutes=1), 7_000, None, Decimal("0.5"), CHARGING)
        for i in range(999)
    ]
    bad = [Reading(c, NOW - timedelta(minutes=1), 7_000, None, None, CHARGING) for c in ("b1", "zz", "a999")]
    mixed = good[:500] + bad[:1] + good[500:] + bad[1:]

    with pytest.raises(InvalidArgument) as refused:
        await run(db, lambda uow: ingest_batch(uow, "agg-a", "b-1", mixed, ()), principal=AGGREGATOR)

    assert refused.value.reason == FOREIGN_CHARGER
    assert [v.field for v in refused.value.violations] == [
        f"values[{i}].charger_id" for i in (500, 1_000, 1_001)
    ]
    assert await _stored(db) == 0
    stored = await run(db, lambda uow: ingest_batch(uow, "agg-a", "b-2", good, ()), principal=AGGREGATOR)
    assert stored.stored_points == 999
    assert await _stored(db) == 999
