"""SPEC section 7 for OCPP: SIGKILL of the gateway's process loses no meter value the station got an answer for.

A `vgi serve --ocpp-listen` subprocess on the test's store; a 2.0.1
station sends MeterValues one after another (each answered only once
committed), the process is killed with SIGKILL while the next one is in
flight, and every answered reading is in the store with its exact values.
A new process then admits the station again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from dr import world
from dr.test_kill9 import _free_port, _Seeded
from websockets.exceptions import ConnectionClosed

from server.ocpp.mapping import format_time
from store import migrate
from store.db import Database
from store.telemetry import meter_values as meter_values_table
from wire import notices as wire_notices

from . import helpers

pytestmark = pytest.mark.timeout(120)

STATION = "cp-k"
ANSWERED = 25


class _Gateway:
    """What helpers.connect needs of a platform, for a gateway in another process."""

    def __init__(self, credentials: Any, port: int) -> None:
        self.credentials = credentials
        self.platform = self
        self.gateway = self
        self.port = port


@asynccontextmanager
async def _serve(database_url: str, pki: Any) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    env = {**os.environ, "VGI_PKI_DIR": str(pki.root), "VGI_JWKS_FILE": str(pki.jwks)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        "--listen",
        f"127.0.0.1:{_free_port()}",
        "--ocpp-listen",
        "127.0.0.1:0",
        "--database",
        database_url,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        assert first.startswith(b"vgi: ocpp gateway on port "), first
        second = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        assert b"vgi: serving" in second, second
        yield process, int(first.rsplit(b" ", 1)[1])
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def _meter_values(seq: int, at: datetime) -> str:
    value = {
        "timestamp": format_time(at),
        "sampledValue": [
            {"value": 1_000 + seq, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
            {
                "value": 50_000 + seq,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
            },
        ],
    }
    return json.dumps([2, f"mv-{seq}", "MeterValues", {"evseId": 1, "meterValue": [value]}])


async def test_sigkill_loses_no_answered_meter_value(database_url: str, dev_credentials: Any) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url)
    db = Database(database_url, threads=2, publisher=wire_notices.publish)
    try:
        await world.build(_Seeded(db))
        await helpers.register(_Seeded(db), STATION)
    finally:
        await db.close()

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    answered: dict[datetime, int] = {}
    async with _serve(database_url, dev_credentials.layout) as (process, port):
        gateway = _Gateway(dev_credentials, port)
        async with await helpers.connect(gateway, STATION, "2.0.1") as station:
            seq = 0
            while len(answered) < ANSWERED:
                await station.send(_meter_values(seq, start + timedelta(seconds=seq)))
                reply = json.loads(await station.recv())
                assert reply == [3, f"mv-{seq}", {}], reply
                answered[start + timedelta(seconds=seq)] = seq
                seq += 1
            # One more in flight when the process dies: it may or may not be stored, but it was not answered.
            await station.send(_meter_values(seq, start + timedelta(seconds=seq)))
            process.send_signal(signal.SIGKILL)
            await process.wait()
            with pytest.raises(ConnectionClosed):
                await station.recv()

    db = Database(database_url, threads=2, publisher=wire_notices.publish)
    try:
        mv = meter_values_table.c
        rows = await db.read(
            lambda conn: conn.execute(
                sa.select(mv.sample_time, mv.power_w, mv.energy_register_wh).where(mv.charger_id == STATION)
            ).all()
        )
    finally:
        await db.close()
    stored = {row.sample_time: (row.power_w, row.energy_register_wh) for row in rows}
    for at, seq in answered.items():
        assert stored.get(at) == (1_000 + seq, 50_000 + seq), at
    assert len(stored) in (ANSWERED, ANSWERED + 1)

    async with _serve(database_url, dev_credentials.layout) as (_, port):
        assert await _heartbeat(_Gateway(dev_credentials, port)) == [3, "hb"]


async def _heartbeat(gateway: _Gateway) -> list[Any]:
    async with await helpers.connect(gateway, STATION, "2.0.1") as station:
        await station.send(json.dumps([2, "hb", "Heartbeat", {}]))
        answer: list[Any] = json.loads(await station.recv())
        return answer[:2]
