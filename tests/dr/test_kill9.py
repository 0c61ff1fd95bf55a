"""SPEC section 7: a `vgi serve` process killed with SIGKILL right after the grid's call returned loses nothing.

The server runs as a real subprocess (mutual TLS from the dev PKI) on the
test's database; the grid publishes an event and instructs the node, the
process is killed at once, a new one starts on the same store, and the event,
its instructions, their notifications and the devices' setpoints are all there.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from vgi.common.v1 import aggregator_pb2, market_pb2

from clients.auth import bearer_interceptors
from clients.market import GridMarketClient
from clients.sdk import channel_options
from domain.principal import Principal, Role
from store import aggregators, migrate
from store.db import Database
from wire import notices as wire_notices

from . import world
from .test_realtime_dispatch import SESSIONS, _instruct

pytestmark = pytest.mark.timeout(120)

GRID = Principal(Role.GRID, "grid-1")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def _serve(database_url: str, pki: Any, port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {**os.environ, "VGI_PKI_DIR": str(pki.root), "VGI_JWKS_FILE": str(pki.jwks)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--database",
        database_url,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        assert b"vgi: serving" in line, line
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def _grid_channel(dev_credentials: Any, port: int) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(
        f"127.0.0.1:{port}",
        dev_credentials.tls(GRID),
        options=channel_options(),
        interceptors=bearer_interceptors(dev_credentials.token(GRID.uri)),
    )


class _Seeded:
    """What world.build needs of a platform, on a bare store."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.operator = self

    async def create_aggregator(self, aggregator_id: str, aggregator: aggregator_pb2.Aggregator) -> None:
        now = datetime.now(UTC)
        await self.db.write(
            lambda conn: aggregators.create(
                conn,
                aggregator_id=aggregator_id,
                display_name=aggregator.display_name,
                unified_social_credit_code="",
                contact_email="",
                now=now,
            )
        )


async def test_sigkill_after_the_grid_call_loses_no_instruction(
    database_url: str, dev_credentials: Any
) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url)
    db = Database(database_url, threads=2, publisher=wire_notices.publish)
    try:
        await world.build(_Seeded(db), managed_sessions=SESSIONS)
    finally:
        await db.close()

    port = _free_port()
    async with _serve(database_url, dev_credentials.layout, port) as process:
        channel = _grid_channel(dev_credentials, port)
        grid = GridMarketClient(channel)
        published = await grid.publish_event(world.day_ahead_event("dr-k", world.tomorrow_at(18), [50_000]))
        issued = await _instruct(grid, "gridNodes/ta-1", 9_000)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        await channel.close(None)

    async with _serve(database_url, dev_credentials.layout, port):
        channel = _grid_channel(dev_credentials, port)
        grid = GridMarketClient(channel)
        event = await grid.get_event("events/dr-k")
        assert event.state == market_pb2.EVENT_STATE_PUBLISHED
        assert event.create_time == published.create_time
        listed = await grid.list_instructions(active_only=True)
        assert sorted(
            (i.instruction_id, i.version, list(i.target.values_w)) for i in listed.instructions
        ) == sorted((i.instruction_id, i.version, list(i.target.values_w)) for i in issued.instructions)
        await channel.close(None)

    db = Database(database_url, threads=2, publisher=wire_notices.publish)
    try:
        ids = {i.instruction_id for i in issued.instructions}
        for aggregator_id in ("agg-a", "agg-b"):
            stream = await world.notifications(_Seeded(db), aggregator_id)
            assert [n.invitation.event_id for n in stream if n.HasField("invitation")] == ["dr-k"]
            assert {n.instruction.instruction_id for n in stream if n.HasField("instruction")} <= ids
        assert [s.power_w for s in await world.setpoints(_Seeded(db), "ch-s-long")] == [1_000]
        assert [s.power_w for s in await world.setpoints(_Seeded(db), "ch-s-b")] == [4_000]
    finally:
        await db.close()
