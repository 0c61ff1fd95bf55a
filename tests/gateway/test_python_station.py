"""A station built on the Python ``ocpp`` library's charge-point side, through the gateway, OCPP 2.0.1 and 1.6J.

agg-a (world's grid: node ta-1, stations st-agg-a/b/c) has one
platform-managed 7 kW station, cp-1, with a Basic password (profile 2). The
station boots, reports Charging, authorises, starts a transaction and sends
a meter value of 7 000 W / 12 345 Wh. The transaction's session has the
gateway's default needs (20 000 Wh in 8 h: F3 floor 0, ceiling 7 000 W), so
P0 = 7 000 W and agg-a can shed 7 000 W. The grid's real-time instruction
for ta-1 of 3 000 W (all of it agg-a's, the only aggregator with capacity there) therefore arrives as a TxProfile on the running
transaction limited to 4 000 W; the station accepts, and the acknowledgement
is recorded as accepted. After a reconnect the station gets the same limit
again. A zero target cancels the instruction without a reissue: ClearChargingProfile, also
acknowledged. The transaction stops and the session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from dr import world
from dr.world import ts
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from vgi.common.v1 import types_pb2

from clients.market import GridMarketClient
from server.ocpp.mapping import format_time
from store import registry
from store.telemetry import meter_values as meter_values_table

from . import helpers

pytestmark = pytest.mark.timeout(120)

STATION = "cp-1"


class _Profiles:
    """What the gateway put to the station: ("set", payload) and ("clear", payload), answered Accepted."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def next(self) -> tuple[str, dict[str, Any]]:
        return await asyncio.wait_for(self.received.get(), helpers.WAIT_S)


class Station201(ChargePoint201):  # type: ignore[misc]
    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection)
        self.profiles = _Profiles()

    @on("SetChargingProfile")
    async def on_set(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        await self.profiles.received.put(("set", charging_profile))
        from ocpp.v201 import call_result

        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    async def on_clear(self, **payload: Any) -> Any:
        await self.profiles.received.put(("clear", payload))
        from ocpp.v201 import call_result

        return call_result.ClearChargingProfile(status="Accepted")


class Station16(ChargePoint16):  # type: ignore[misc]
    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection)
        self.profiles = _Profiles()

    @on("SetChargingProfile")
    async def on_set(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        await self.profiles.received.put(("set", cs_charging_profiles))
        from ocpp.v16 import call_result

        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    async def on_clear(self, **payload: Any) -> Any:
        await self.profiles.received.put(("clear", payload))
        from ocpp.v16 import call_result

        return call_result.ClearChargingProfile(status="Accepted")


@contextlib.asynccontextmanager
async def running(platform: Any, version: str) -> AsyncIterator[Any]:
    connection = await helpers.connect(platform, STATION, version)
    station = (Station201 if version == "2.0.1" else Station16)(STATION, connection)
    task = asyncio.create_task(station.start())
    try:
        yield station
    finally:
        task.cancel()
        await connection.close()
        with contextlib.suppress(BaseException):
            await task


async def _instruct(grid: GridMarketClient, watts: int) -> Any:
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    end = start + timedelta(minutes=15)
    return await grid.submit_dispatch_instruction(
        "gridNodes/ta-1",
        types_pb2.DIRECTION_LOAD_DECREASE,
        types_pb2.PowerCurve(start_time=ts(start), step_minutes=15, values_w=[watts]),
        types_pb2.TimeWindow(start_time=ts(start), end_time=ts(end)),
    )


def _meter_value_201(at: datetime, power_w: int, energy_wh: int) -> dict[str, Any]:
    return {
        "timestamp": format_time(at),
        "sampledValue": [
            {"value": power_w, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
            {
                "value": energy_wh / 1000,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "kWh"},
            },
        ],
    }


def _meter_value_16(at: datetime, power_w: int, energy_wh: int) -> dict[str, Any]:
    return {
        "timestamp": format_time(at),
        "sampledValue": [
            {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
            {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        ],
    }


async def _boot_and_start(station: Any, version: str, plug_in: datetime) -> str:
    """Boot, Charging, Authorize, transaction start; returns the transaction id."""
    if version == "2.0.1":
        boot = await station.call(
            call201.BootNotification(
                charging_station={"model": "Wallbox", "vendorName": "Py"}, reason="PowerUp"
            )
        )
        assert boot.status == "Accepted" and boot.interval == 40
        await station.call(
            call201.StatusNotification(
                timestamp=format_time(plug_in), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        auth = await station.call(call201.Authorize(id_token={"idToken": "TAG-1", "type": "ISO14443"}))
        assert auth.id_token_info["status"] == "Accepted"
        await station.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp=format_time(plug_in),
                trigger_reason="Authorized",
                seq_no=0,
                transaction_info={"transactionId": "tx-201", "chargingState": "Charging"},
                id_token={"idToken": "TAG-1", "type": "ISO14443"},
                evse={"id": 1, "connectorId": 1},
            )
        )
        return "tx-201"
    boot = await station.call(call16.BootNotification(charge_point_model="Wallbox", charge_point_vendor="Py"))
    assert boot.status == "Accepted" and boot.interval == 40
    await station.call(
        call16.StatusNotification(
            connector_id=1, error_code="NoError", status="Charging", timestamp=format_time(plug_in)
        )
    )
    auth = await station.call(call16.Authorize(id_tag="TAG-1"))
    assert auth.id_tag_info["status"] == "Accepted"
    started = await station.call(
        call16.StartTransaction(
            connector_id=1, id_tag="TAG-1", meter_start=12_000, timestamp=format_time(plug_in)
        )
    )
    assert started.transaction_id == 1
    return "1"


async def _send_meter_value(station: Any, version: str, transaction_id: str, at: datetime) -> None:
    if version == "2.0.1":
        await station.call(
            call201.TransactionEvent(
                event_type="Updated",
                timestamp=format_time(at),
                trigger_reason="MeterValuePeriodic",
                seq_no=1,
                transaction_info={"transactionId": transaction_id},
                meter_value=[_meter_value_201(at, 7_000, 12_345)],
            )
        )
    else:
        await station.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=int(transaction_id),
                meter_value=[_meter_value_16(at, 7_000, 12_345)],
            )
        )


def _limit(version: str, profile: dict[str, Any]) -> tuple[str, Any, int]:
    """(purpose, transaction id, limit W) of a received profile."""
    schedule = profile["charging_schedule"]
    if version == "2.0.1":
        schedule = schedule[0]
    assert schedule["charging_rate_unit"] == "W"
    [period] = schedule["charging_schedule_period"]
    return profile["charging_profile_purpose"], profile["transaction_id"], int(period["limit"])


@pytest.mark.parametrize("version", ["2.0.1", "1.6"])
async def test_station_session_telemetry_and_profiles(
    platform_factory: Any, database_url: str, version: str
) -> None:
    async with platform_factory(database_url, ocpp_listen="127.0.0.1:0") as platform:
        await world.build(platform)
        await helpers.register(platform, STATION)
        chargers, sessions = registry.chargers.c, registry.sessions.c
        plug_in = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
        sample_at = plug_in + timedelta(minutes=1)

        async with running(platform, version) as station:
            transaction_id = await _boot_and_start(station, version, plug_in)
            charger = await helpers.row(
                platform,
                sa.select(chargers.status, chargers.last_heartbeat_time).where(
                    chargers.charger_id == STATION
                ),
            )
            assert charger.status == ("OCCUPIED" if version == "2.0.1" else "CHARGING")
            assert charger.last_heartbeat_time is not None
            session_id = f"{STATION}.{transaction_id}"
            session = await helpers.row(
                platform,
                sa.select(sessions.state, sessions.plug_in_time, sessions.aggregator_id).where(
                    sessions.session_id == session_id
                ),
            )
            assert (session.state, session.aggregator_id) == ("ACTIVE", "agg-a")
            assert session.plug_in_time == plug_in

            await _send_meter_value(station, version, transaction_id, sample_at)
            mv = meter_values_table.c
            stored = await helpers.row(
                platform,
                sa.select(mv.power_w, mv.energy_register_wh, mv.sample_time).where(mv.charger_id == STATION),
            )
            assert (stored.power_w, stored.energy_register_wh, stored.sample_time) == (
                7_000,
                12_345,
                sample_at,
            )

            result = await _instruct(GridMarketClient(platform.grid), 3_000)
            assert [list(i.target.values_w) for i in result.instructions] == [[3_000]]
            kind, profile = await station.profiles.next()
            assert kind == "set"
            expected_tx = transaction_id if version == "2.0.1" else int(transaction_id)
            assert _limit(version, profile) == ("TxProfile", expected_tx, 4_000)
            acked = await helpers.eventually(
                lambda: helpers.acks(platform, STATION), lambda a: len(a) == 1, "the ack"
            )
            assert acked == [(1, True, "Accepted")]

        # Reconnect: the profile in force is applied again (no new setpoint, no new ack).
        async with running(platform, version) as station:
            if version == "2.0.1":
                await station.call(call201.Heartbeat())
            else:
                await station.call(call16.Heartbeat())
            kind, profile = await station.profiles.next()
            assert kind == "set"
            assert _limit(version, profile)[2] == 4_000
            assert await helpers.acks(platform, STATION) == [(1, True, "Accepted")]

            # Cancel: a zero target releases the station.
            await _instruct(GridMarketClient(platform.grid), 0)
            kind, payload = await station.profiles.next()
            assert kind == "clear"
            purpose = (
                payload["charging_profile_criteria"]["charging_profile_purpose"]
                if version == "2.0.1"
                else payload["charging_profile_purpose"]
            )
            assert purpose == "TxProfile"
            await helpers.eventually(
                lambda: helpers.acks(platform, STATION), lambda a: len(a) == 2, "the release ack"
            )
            assert (await helpers.acks(platform, STATION))[1] == (2, True, "Accepted")

            stop_at = sample_at + timedelta(seconds=30)
            if version == "2.0.1":
                await station.call(
                    call201.TransactionEvent(
                        event_type="Ended",
                        timestamp=format_time(stop_at),
                        trigger_reason="EVDeparted",
                        seq_no=2,
                        transaction_info={"transactionId": transaction_id},
                    )
                )
            else:
                await station.call(
                    call16.StopTransaction(
                        meter_stop=12_400, timestamp=format_time(stop_at), transaction_id=1
                    )
                )
            ended = await helpers.row(
                platform,
                sa.select(sessions.state, sessions.end_time).where(sessions.session_id == session_id),
            )
            assert (ended.state, ended.end_time) == ("ENDED", stop_at)
