"""Stations for the OCPP gateway tests: registration in the store and websocket connections to the gateway.

``register`` makes a platform-managed 7 kW charger (= station) of an
aggregator at world's station and gives it a Basic password (profile 2).
``connect`` opens a wss connection with the dev PKI's CA, offering one OCPP
version, with Basic credentials or a client certificate (profile 3).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from application import registry as use_cases
from application.uow import UnitOfWork
from domain.principal import Principal, Role
from server.ocpp import passwords
from store import ocpp
from store.outbox_tables import OutboxSetpointRow
from store.registry import Charger
from store.tables import table_of

T = TypeVar("T")

PASSWORD = "correct-horse-battery-staple"
SUBPROTOCOL = {"2.0.1": "ocpp2.0.1", "1.6": "ocpp1.6"}
WAIT_S = 20.0
_setpoints = table_of(OutboxSetpointRow)


async def register(
    platform: Any, charger_id: str, aggregator_id: str = "agg-a", *, managed: bool = True
) -> None:
    now = datetime.now(UTC)
    hashed = passwords.hash_password(PASSWORD)

    def seed(conn: Connection) -> None:
        use_cases.upsert_chargers(
            UnitOfWork(conn, now),
            aggregator_id,
            [Charger(charger_id, f"st-{aggregator_id}", "AC", 7_000, 0, False, managed)],
        )
        ocpp.set_password_hash(conn, charger_id, hashed, now)

    await platform.db.write(seed)


def client_tls(platform: Any, principal: Principal | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=platform.credentials.ca_pem.decode())
    if principal is not None:
        issued = platform.credentials.issued(principal)
        folder = Path(tempfile.mkdtemp())
        (folder / "cert.pem").write_bytes(issued.cert_pem())
        (folder / "key.pem").write_bytes(issued.key_pem())
        context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def device(charger_id: str, aggregator_id: str) -> Principal:
    return Principal(Role.DEVICE, charger_id, aggregator_id)


def url(platform: Any, station_id: str) -> str:
    return f"wss://localhost:{platform.platform.gateway.port}/ocpp/{station_id}"


def basic(station_id: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def connect(
    platform: Any,
    station_id: str,
    version: str,
    *,
    password: str | None = PASSWORD,
    certificate: Principal | None = None,
) -> ClientConnection:
    headers = basic(station_id, password) if password is not None and certificate is None else {}
    return await ws_connect(
        url(platform, station_id),
        subprotocols=[SUBPROTOCOL[version]],  # type: ignore[list-item]
        additional_headers=headers,
        ssl=client_tls(platform, certificate),
        open_timeout=WAIT_S,
    )


async def eventually(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str) -> T:
    """Poll ``probe`` until ``done`` holds (generous timeout for a loaded machine)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        value = await probe()
        if done(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        await asyncio.sleep(0.05)


async def acks(platform: Any, charger_id: str) -> list[tuple[int, bool | None, str | None]]:
    """(sequence, accepted, reason) of a charger's setpoints that are acknowledged, in order."""

    def read(conn: Connection) -> list[tuple[int, bool | None, str | None]]:
        rows = conn.execute(
            sa.select(_setpoints.c.sequence, _setpoints.c.accepted, _setpoints.c.ack_reason)
            .where(_setpoints.c.charger_id == charger_id, _setpoints.c.ack_time.is_not(None))
            .order_by(_setpoints.c.sequence)
        )
        return [(r.sequence, r.accepted, r.ack_reason) for r in rows]

    result: list[tuple[int, bool | None, str | None]] = await platform.db.read(read)
    return result


async def row(platform: Any, query: Any) -> Any:
    return await platform.db.read(lambda conn: conn.execute(query).first())
