"""The device and gateway writes of application.telemetry and application.stations, and the one-statement
use cases (aggregators, notifications, signing keys, capacity), on a real store (SQLite and PostgreSQL),
without gRPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from market_world import NOW, database, run

from application import aggregators, registry, stations, telemetry
from application import capacity as capacity_cases
from application import signing_keys as signing_key_cases
from application.uow import UnitOfWork
from domain.errors import AlreadyExists, InvalidArgument, NotFound
from domain.telemetry import Reading
from store import registry as registry_store
from store import signing_keys
from store.db import Database
from store.ocpp import Transaction
from store.registry import Charger, GridNode, Session, Station

CHARGING = 3
TIMEOUT = timedelta(seconds=120)


def _readings() -> list[Reading]:
    return [Reading("c1", NOW - timedelta(minutes=m), 7_000, None, Decimal("0.5"), CHARGING) for m in (2, 1)]


def _session(session_id: str) -> Session:
    return Session(
        session_id=session_id,
        charger_id="c1",
        plug_in_time=NOW - timedelta(minutes=5),
        expected_departure_time=NOW + timedelta(hours=4),
        battery_wh=60_000,
        soc_ppb=200_000_000,
        target_soc_ppb=800_000_000,
        v2g_floor_soc_ppb=0,
        max_charge_w=7_000,
        max_discharge_w=0,
        bidirectional=False,
    )


async def _charger(db: Database) -> Charger:
    return await db.read(lambda conn: registry_store.get_charger(conn, "agg-a", "st-a", "c1", NOW, TIMEOUT))


async def _active_sessions(db: Database) -> list[str]:
    found = await db.read(lambda conn: registry_store.active_sessions(conn, aggregator_id="agg-a"))
    return sorted(session.session_id for session in found)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """Aggregator agg-a with charger c1 at its station st-a (node ta-1)."""
    async with database(database_url) as opened:

        def seed(uow: UnitOfWork) -> None:
            registry.upsert_grid_nodes(uow, [GridNode("ta-1", "TRANSFORMER_AREA", None, "", 0, 0)])
            aggregators.create(
                uow, "agg-a", display_name="A", unified_social_credit_code="", contact_email=""
            )
            registry.upsert_stations(uow, "agg-a", [Station("st-a", "", "ta-1", 0, 0)])
            registry.upsert_chargers(uow, "agg-a", [Charger("c1", "st-a", "AC", 7_000, 0, False, False)])

        await run(opened, seed)
        yield opened


async def test_a_heartbeat_and_a_status_are_recorded_at_their_times(db: Database) -> None:
    status_time = NOW - timedelta(seconds=30)

    await run(db, lambda uow: stations.record_status(uow, "c1", "CHARGING", status_time))

    charger = await _charger(db)
    assert (charger.last_heartbeat_time, charger.status) == (NOW, "CHARGING")

    later = NOW + timedelta(minutes=1)
    await run(db, lambda uow: telemetry.record_heartbeat(uow, "c1"), at=later)
    await run(
        db, lambda uow: telemetry.record_status(uow, "c1", "AVAILABLE", status_time - timedelta(seconds=1))
    )

    charger = await _charger(db)
    assert (charger.last_heartbeat_time, charger.status) == (later, "CHARGING")  # an older report is ignored


async def test_device_meter_values_are_stored_once_per_batch_id(db: Database) -> None:
    first = await run(db, lambda uow: telemetry.ingest_device_meter_values(uow, "c1", _readings(), "b-1"))
    again = await run(db, lambda uow: telemetry.ingest_device_meter_values(uow, "c1", _readings(), "b-1"))

    assert (first.stored_points, first.replayed) == (2, False)
    assert (again.stored_points, again.replayed) == (2, True)


async def test_a_device_session_starts_and_stops_and_an_unknown_one_is_not_found(db: Database) -> None:
    await run(db, lambda uow: telemetry.start_session(uow, "agg-a", "c1", _session("s-1")))
    assert await _active_sessions(db) == ["s-1"]

    await run(db, lambda uow: telemetry.stop_session(uow, "agg-a", "s-1", NOW, charger_id="c1"))
    assert await _active_sessions(db) == []

    with pytest.raises(NotFound) as missing:
        await run(db, lambda uow: telemetry.stop_session(uow, "agg-a", "s-9", NOW, charger_id="c1"))
    assert missing.value.reason == "SESSION_NOT_FOUND"


async def test_a_station_transaction_is_numbered_kept_once_and_stopped(db: Database) -> None:
    plug_in = NOW - timedelta(minutes=5)

    def start(uow: UnitOfWork) -> Transaction:
        return stations.start_transaction(
            uow, "c1", "agg-a", None, plug_in, _readings(), lambda tx: _session(f"t{tx}")
        )

    first = await run(db, start)
    assert (first.transaction_id, first.session_id, first.stop_time) == ("1", "t1", None)
    assert await _active_sessions(db) == ["t1"]

    def resend(uow: UnitOfWork) -> Transaction:
        return stations.start_transaction(uow, "c1", "agg-a", "1", plug_in, [], lambda tx: _session("other"))

    assert await run(db, resend) == first

    await run(db, lambda uow: stations.stop_transaction(uow, "c1", "1", plug_in - timedelta(hours=1), []))
    assert await _active_sessions(db) == []
    assert not await run(db, lambda uow: stations.update_needs(uow, "c1", lambda tx: _session(tx.session_id)))

    with pytest.raises(NotFound) as missing:
        await run(db, lambda uow: stations.stop_transaction(uow, "c1", "7", NOW, []))
    assert missing.value.reason == "TRANSACTION_NOT_FOUND"


def test_an_update_mask_naming_an_immutable_field_is_refused() -> None:
    assert aggregators.update_paths([]) == ["display_name", "unified_social_credit_code", "contact_email"]
    with pytest.raises(InvalidArgument) as refused:
        aggregators.update_paths(["display_name", "state"])
    assert refused.value.reason == "UPDATE_MASK_INVALID"


async def test_an_update_changes_the_named_fields(db: Database) -> None:
    updated = await run(
        db, lambda uow: aggregators.update(uow, "agg-a", changes={"display_name": "B"}, state=None)
    )
    assert updated.display_name == "B"


async def test_a_signing_key_is_registered_once_and_revoked(db: Database) -> None:
    key = signing_keys.SigningKey("k-1", "grid:ops", "ES256", b"\x04" + bytes(64))
    await run(db, lambda uow: signing_key_cases.register(uow, key))
    with pytest.raises(AlreadyExists):
        await run(db, lambda uow: signing_key_cases.register(uow, key))
    await run(db, lambda uow: signing_key_cases.revoke(uow, "k-1"))
    with pytest.raises(NotFound) as revoked:
        await run(db, lambda uow: signing_key_cases.revoke(uow, "k-1"))
    assert revoked.value.reason == "SIGNING_KEY_NOT_FOUND"


async def test_a_capacity_sample_is_measured_at_the_unit_of_work_time(db: Database) -> None:
    figure = await run(db, lambda uow: capacity_cases.record_sample(uow, "aggregators/agg-a", TIMEOUT))
    assert (figure.scope, figure.compute_time) == ("aggregators/agg-a", NOW)
