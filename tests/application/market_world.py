"""A small grid for the market and dispatch use-case tests, written through the store (no gRPC anywhere).

    fd-1 (feeder)                agg-c: station st-agg-c
      └─ ta-1 (transformer area) agg-a: station st-agg-a, agg-b: station st-agg-b
    ta-2 (transformer area)      agg-d: station st-agg-d

An event at fd-1 invites agg-a, agg-b and agg-c (stations at the node or below it), one at ta-1 only
agg-a and agg-b.

Every aggregator declares 200 kW of decrease for every slot of TOMORROW.
Time is fixed (``NOW``): a use case takes it from its unit of work.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import Connection
from vgi.common.v1 import market_pb2, notifications_pb2

from application import registry as use_cases
from application.uow import UnitOfWork
from domain.calendar import SHANGHAI
from domain.events import EventType, Publication, TargetCurve
from domain.principal import Principal, Role
from store import aggregators, capacity, migrate, outbox
from store.db import Database, is_sqlite, sqlite_path
from store.registry import Charger, GridNode, Session, Station
from wire import notices as wire_notices
from wire import outbox as wire_outbox

T = TypeVar("T")

GRID = Principal(Role.GRID, "grid-1")
NOW = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # 08:00 in Asia/Shanghai
TOMORROW = datetime(2026, 11, 27, 0, 0, tzinfo=SHANGHAI).astimezone(UTC)
WINDOW_START = datetime(2026, 11, 27, 18, 0, tzinfo=SHANGHAI).astimezone(UTC)
DEADLINE = WINDOW_START - timedelta(hours=2)
AGGREGATORS = ("agg-a", "agg-b", "agg-c", "agg-d")


@functools.cache
def _migrated_sqlite() -> Path:
    """One SQLite file migrated to head per test process; each test starts from a copy (a file copy is
    about ten times cheaper than running the migrations)."""
    directory = tempfile.mkdtemp(prefix="vgi-application-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = Path(directory) / "migrated.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@asynccontextmanager
async def database(url: str) -> AsyncIterator[Database]:
    """A migrated store whose notices are published as the server publishes them (``wire.notices``)."""
    path = sqlite_path(url) if is_sqlite(url) else None
    if path is not None:
        await asyncio.to_thread(shutil.copyfile, _migrated_sqlite(), path)
    else:
        await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url, threads=2, publisher=wire_notices.publish)
    try:
        yield db
    finally:
        await db.close()


MANAGED_SESSIONS = {"agg-a": [("s-long", 10.0), ("s-short", 5.0)], "agg-b": [("s-b", 8.0)]}
"""agg-a's two managed sessions (10 h and 5 h to departure) and agg-b's one: the dispatch tests' world."""


@asynccontextmanager
async def managed_world(url: str) -> AsyncIterator[Database]:
    """``database(url)`` with ``seed`` and ``MANAGED_SESSIONS`` written."""
    async with database(url) as opened:

        def world(conn: Connection) -> None:
            seed(conn)
            seed_managed_sessions(conn, MANAGED_SESSIONS)

        await opened.write(world)
        yield opened


async def run(
    db: Database, use_case: Callable[[UnitOfWork], T], *, at: datetime = NOW, principal: Principal = GRID
) -> T:
    """``use_case`` in one write transaction, as ``principal`` at ``at``."""
    return await db.write(lambda conn: use_case(UnitOfWork(conn, at, principal)))


def seed(conn: Connection) -> None:
    use_cases.upsert_grid_nodes(
        UnitOfWork(conn, NOW),
        [
            GridNode("fd-1", "FEEDER", None, "Feeder 1", 0, 0),
            GridNode("ta-1", "TRANSFORMER_AREA", "fd-1", "Area 1", 0, 0),
            GridNode("ta-2", "TRANSFORMER_AREA", None, "Area 2", 0, 0),
        ],
    )
    nodes = {"agg-a": "ta-1", "agg-b": "ta-1", "agg-c": "fd-1", "agg-d": "ta-2"}
    for aggregator_id, node in nodes.items():
        aggregators.create(
            conn,
            aggregator_id=aggregator_id,
            display_name=f"Aggregator {aggregator_id}",
            unified_social_credit_code="",
            contact_email="",
            now=NOW,
        )
        use_cases.upsert_stations(
            UnitOfWork(conn, NOW), aggregator_id, [Station(f"st-{aggregator_id}", "", node, 0, 0)]
        )
        capacity.declare(
            conn, aggregator_id, capacity.Declaration(TOMORROW, (200_000,) * 96, (0,) * 96, "", ""), NOW
        )


def seed_managed_sessions(conn: Connection, sessions: dict[str, list[tuple[str, float]]]) -> None:
    """Per aggregator (session id, hours to departure): an EV (60 kWh, SOC 0.5 → 0.9) on a platform-managed
    7 kW charger ``ch-{session}`` at its station, plugged in an hour before NOW, no meter value yet."""
    for aggregator_id, items in sessions.items():
        use_cases.upsert_chargers(
            UnitOfWork(conn, NOW),
            aggregator_id,
            [Charger(f"ch-{sid}", f"st-{aggregator_id}", "AC", 7_000, 0, False, True) for sid, _ in items],
        )
        use_cases.upsert_sessions(
            UnitOfWork(conn, NOW),
            aggregator_id,
            [
                Session(
                    session_id=sid,
                    charger_id=f"ch-{sid}",
                    plug_in_time=NOW - timedelta(hours=1),
                    expected_departure_time=NOW + timedelta(hours=hours),
                    battery_wh=60_000,
                    soc_ppb=500_000_000,
                    target_soc_ppb=900_000_000,
                    v2g_floor_soc_ppb=0,
                    max_charge_w=7_000,
                    max_discharge_w=0,
                    bidirectional=False,
                )
                for sid, hours in items
            ],
        )


def day_ahead(*nodes_and_targets: tuple[str, list[int]], cap: str | None = "1.00") -> Publication:
    """A day-ahead event over TOMORROW 18:00 local, one 15-minute slot per target value."""
    slots = len(nodes_and_targets[0][1])
    return Publication(
        event_type=EventType.DAY_AHEAD,
        window_start=WINDOW_START,
        window_end=WINDOW_START + timedelta(minutes=15 * slots),
        bid_deadline=DEADLINE,
        targets=tuple(
            TargetCurve(node, WINDOW_START, 15, tuple(values)) for node, values in nodes_and_targets
        ),
        price_cap=None if cap is None else Decimal(cap),
        announced_price=None,
    )


async def notifications(db: Database, aggregator_id: str) -> list[notifications_pb2.Notification]:
    """Everything committed to the aggregator's stream, in order."""

    def read(conn: Connection) -> list[notifications_pb2.Notification]:
        items = outbox.read_unacked(conn, outbox.Channel.NOTIFICATIONS, aggregator_id, 0, 10_000)
        return [wire_outbox.notification_from(item) for item in items]

    return await db.read(read)


async def setpoints(db: Database, charger_id: str) -> list[market_pb2.Setpoint]:
    def read(conn: Connection) -> list[market_pb2.Setpoint]:
        items = outbox.read_unacked(conn, outbox.Channel.SETPOINTS, charger_id, 0, 10_000)
        return [wire_outbox.setpoint_from(item) for item in items]

    return await db.read(read)


def kinds(stream: list[notifications_pb2.Notification]) -> list[str]:
    """The kind of each notification (its ``oneof``), in order."""
    return [str(n.WhichOneof("payload")) for n in stream]
