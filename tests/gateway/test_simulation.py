"""`vgi simulate --ocpp`: two of the simulated fleet's managed chargers join through the gateway (OCPP 2.0.1,
security profile 3 with the certificates the operator issued) and receive their charging profiles.

The simulated day runs as in tests/sim (50 chargers, simulated clock); the
OCPP stations get a profile for every instruction that drives them (the
simulator waits for it by the instruction named in the profile's customData),
and every one of them is recorded in the store as the device's accepted
acknowledgement. The frames are logged at DEBUG on both sides (``make demo``
printed every one at INFO): at INFO the simulator says one line per station
that booted, and the ``ocpp`` library's own logger says nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from clients.simulate.cli import run_against
from clients.simulate.run import Config
from store.outbox_tables import OutboxSetpointRow
from store.tables import table_of

pytestmark = pytest.mark.timeout(240)

CONFIG = Config(seed=11, chargers=50, aggregators=3, history_days=30, progress=False)
_setpoints = table_of(OutboxSetpointRow)


FRAME_LOGGERS = ("clients.simulate.frames", "server.ocpp.frames")


async def test_simulated_fleet_through_the_gateway(
    database_url: str,
    platform_factory: Any,
    dev_credentials: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    for name in FRAME_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    async with platform_factory(database_url, simulated_clock=True, ocpp_listen="127.0.0.1:0") as running:
        gateway = f"127.0.0.1:{running.platform.gateway.port}"
        report = await run_against(CONFIG, running.target, dev_credentials.layout.root, ocpp_target=gateway)
        through_ocpp = [d for d in report.devices if d.charger_id.endswith(" (OCPP 2.0.1)")]
        assert len(through_ocpp) == 2
        assert any(d.setpoints > 0 for d in through_ocpp), report.devices
        for device in through_ocpp:
            charger_id = device.charger_id.removesuffix(" (OCPP 2.0.1)")
            rows = await running.db.read(
                lambda conn, charger_id=charger_id: conn.execute(
                    sa.select(_setpoints.c.accepted, _setpoints.c.ack_reason)
                    .where(_setpoints.c.charger_id == charger_id)
                    .order_by(_setpoints.c.sequence)
                ).all()
            )
            assert len(rows) == device.setpoints
            assert all(row.accepted and row.ack_reason == "Accepted" for row in rows), rows
    assert any(note.startswith("OCPP gateway: ") for note in report.notes)

    assert not [r.getMessage() for r in caplog.records if r.name == "ocpp" and r.levelno <= logging.INFO]
    for name in FRAME_LOGGERS:
        frames = [r for r in caplog.records if r.name == name]
        assert any(" send [" in r.getMessage() for r in frames), name
        assert any(" receive message [" in r.getMessage() for r in frames), name
        assert {r.levelno for r in frames} == {logging.DEBUG}, name
    booted = [
        r.getMessage()
        for r in caplog.records
        if r.name == "clients.simulate.ocpp_station" and r.levelno == logging.INFO
    ]
    assert len(booted) == 2 and all("booted through the gateway" in line for line in booted), booted
