"""A real ``vgi serve`` subprocess (mutual TLS from the test PKI) and clients for it.

The process is what an operator runs: ``python -m server.cli serve`` with
its configuration in ``VGI_*``/``OTEL_*`` variables; stdout and stderr are
read all along (a full pipe would stall the server) and kept. ``stop()``
sends SIGTERM and waits for the graceful exit, which flushes the exporters.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from conftest import OPERATOR, DevCredentials, as_principal
from dr import world
from vgi.common.v1 import telemetry_pb2

from clients.auth import bearer_interceptors
from clients.sdk import OperatorClient, channel_options
from store.db import Database
from wire import notices as wire_notices

from waiting import until

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

#: agg-a's one platform-managed 7 kW charger at node ta-1 (``dr.world``), with an EV plugged in.
AGGREGATOR = "vgi://aggregator/agg-a"
CHARGER = "ch-s-1"
DEVICE = f"vgi://device/{CHARGER}"


@dataclass
class VgiProcess:
    process: asyncio.subprocess.Process
    port: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def logged(self, text: str) -> None:
        """Wait until a line of stderr contains ``text``."""
        await until(lambda: any(text in line for line in self.stderr), what=f"{text!r} in the log")

    async def stop(self) -> int:
        """SIGTERM, then the exit code once the process has shut down and its output is read."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_TIMEOUT_S):
            code = await self.process.wait()
            await asyncio.gather(*self._readers)
        return code


async def _collect(stream: asyncio.StreamReader, into: list[str]) -> None:
    async for line in stream:
        into.append(line.decode(errors="replace").rstrip("\n"))


@asynccontextmanager
async def vgi_serve(
    database_url: str, credentials: DevCredentials, env: Mapping[str, str]
) -> AsyncIterator[VgiProcess]:
    """``vgi serve`` on a free loopback port with ``env`` added to a clean environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VGI_", "OTEL_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        "--pki",
        str(credentials.layout.root),
        "--listen",
        "127.0.0.1:0",
        "--database",
        database_url,
        "--grace",
        "1",
        env={**clean, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    stderr: list[str] = []
    readers = [asyncio.create_task(_collect(process.stderr, stderr))]
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            first = (await process.stdout.readline()).decode()
        assert first.startswith("vgi: serving"), (first, stderr)
        served = VgiProcess(process, int(first.rsplit(" ", 1)[1]), [first.rstrip("\n")], stderr, readers)
        readers.append(asyncio.create_task(_collect(process.stdout, served.stdout)))
        yield served
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


def channel(
    served: VgiProcess,
    credentials: DevCredentials,
    principal: str,
    *,
    aggregator_id: str | None = None,
    token: str | None = None,
    interceptors: Sequence[Any] = (),
) -> grpc.aio.Channel:
    """An mTLS channel as ``principal`` sending ``token`` (default: a valid one for it) after ``interceptors``."""
    who = as_principal(principal, aggregator_id)
    bearer = token if token is not None else credentials.token(who.uri)
    return grpc.aio.secure_channel(
        served.target,
        credentials.tls(who),
        options=channel_options(),
        interceptors=[*interceptors, *bearer_interceptors(bearer)],
    )


async def seed(served: VgiProcess, credentials: DevCredentials, database_url: str) -> None:
    """``dr.world``'s node ta-1 and aggregators (created over gRPC by the operator), plus agg-a's charger
    ch-s-1 with an EV that can shed 7 kW; the registry rows go straight to the shared store."""

    class Seeding:
        def __init__(self, operator: OperatorClient, db: Database) -> None:
            self.operator, self.db = operator, db

    db = Database(database_url, threads=1, publisher=wire_notices.publish)
    try:
        async with channel(served, credentials, OPERATOR.uri) as operator:
            await world.build(
                Seeding(OperatorClient(operator), db), managed_sessions={"agg-a": [("s-1", 10.0)]}
            )
    finally:
        await db.close()


def meter_values(count: int) -> list[telemetry_pb2.MeterValue]:
    """``count`` one-minute readings of ch-s-1 ending now, at 7 kW."""
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        telemetry_pb2.MeterValue(
            charger_id=CHARGER,
            sample_time=world.ts(now - timedelta(minutes=count - 1 - i)),
            power_w=7_000,
            energy_register_wh=1_000 + i * 117,
        )
        for i in range(count)
    ]
