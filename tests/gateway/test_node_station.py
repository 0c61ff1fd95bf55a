"""A station on ocpp-rpc (npm; node_station.js), an OCPP implementation the gateway does not share, both versions.

The same story as test_python_station with another implementation on the
station side, in strict mode (every CALL and CALLRESULT checked against
the official OCPP JSON schemas both ways): boot, status, authorize,
transaction start, a meter value of 7 kW / 12 345 Wh stored exactly, the
grid's 3 000 W decrease at ta-1 arriving as a 4 000 W TxProfile that is
Accepted and recorded, the profile re-applied after a reconnect, the cancel
as ClearChargingProfile, the stop ending the session.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dr import world

from clients.market import GridMarketClient
from server.ocpp.mapping import format_time
from store import registry
from store.telemetry import meter_values as meter_values_table

from . import helpers
from .test_python_station import _instruct

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
]

STATION = "cp-node"
SCRIPT = Path(__file__).with_name("node_station.js")


class NodeStation:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def next(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), helpers.WAIT_S)
        assert line, "the node station exited"
        event: dict[str, Any] = json.loads(line)
        assert event["event"] not in ("failed", "invalid"), event
        return event

    async def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()


def _limit(version: str, params: dict[str, Any]) -> tuple[str, Any, int, str]:
    if version == "2.0.1":
        profile = params["chargingProfile"]
        schedule = profile["chargingSchedule"][0]
    else:
        profile = params["csChargingProfiles"]
        schedule = profile["chargingSchedule"]
    [period] = schedule["chargingSchedulePeriod"]
    return (
        profile["chargingProfilePurpose"],
        profile["transactionId"],
        period["limit"],
        schedule["chargingRateUnit"],
    )


@pytest.mark.parametrize("version", ["2.0.1", "1.6"])
async def test_ocpp_rpc_station(
    platform_factory: Any, database_url: str, version: str, tmp_path: Path
) -> None:
    async with platform_factory(database_url, ocpp_listen="127.0.0.1:0") as platform:
        await world.build(platform)
        await helpers.register(platform, STATION)
        ca_file = tmp_path / "ca.pem"
        ca_file.write_bytes(platform.credentials.ca_pem)
        plug_in = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
        sample_at = plug_in + timedelta(minutes=1)
        process = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT),
            f"wss://localhost:{platform.platform.gateway.port}/ocpp",
            STATION,
            version,
            helpers.PASSWORD,
            str(ca_file),
            format_time(plug_in),
            format_time(sample_at),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        station = NodeStation(process)
        try:
            started = await station.next()
            assert started["event"] == "started"
            transaction_id = started["transactionId"]
            session_id = f"{STATION}.{transaction_id}"
            sessions = registry.sessions.c
            session = await helpers.row(
                platform,
                sa.select(sessions.state, sessions.aggregator_id).where(sessions.session_id == session_id),
            )
            assert (session.state, session.aggregator_id) == ("ACTIVE", "agg-a")
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

            await _instruct(GridMarketClient(platform.grid), 3_000)
            event = await station.next()
            assert event["event"] == "set"
            assert _limit(version, event["params"]) == ("TxProfile", transaction_id, 4_000, "W")
            await helpers.eventually(
                lambda: helpers.acks(platform, STATION), lambda a: len(a) == 1, "the ack"
            )
            assert await helpers.acks(platform, STATION) == [(1, True, "Accepted")]

            await station.send("reconnect")
            events = [await station.next(), await station.next()]
            assert sorted(e["event"] for e in events) == ["reconnected", "set"]
            [again] = [e for e in events if e["event"] == "set"]
            assert _limit(version, again["params"])[2] == 4_000

            await _instruct(GridMarketClient(platform.grid), 0)
            cleared = await station.next()
            assert cleared["event"] == "clear"
            await helpers.eventually(
                lambda: helpers.acks(platform, STATION), lambda a: len(a) == 2, "the release ack"
            )
            assert (await helpers.acks(platform, STATION))[1] == (2, True, "Accepted")

            stop_at = sample_at + timedelta(seconds=30)
            await station.send(f"stop {format_time(stop_at)}")
            assert (await station.next())["event"] == "stopped"
            ended = await helpers.row(
                platform,
                sa.select(sessions.state, sessions.end_time).where(sessions.session_id == session_id),
            )
            assert (ended.state, ended.end_time) == ("ENDED", stop_at)
            assert await asyncio.wait_for(process.wait(), helpers.WAIT_S) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
