"""A small grid for the market tests: one transformer area served by three aggregators.

Registry rows are written through the registry store (the same code its RPCs
run); everything the market does is then driven over gRPC.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from google.type import money_pb2
from sqlalchemy.engine import Connection
from vgi.common.v1 import aggregator_pb2, market_pb2, notifications_pb2, types_pb2

from application import registry as use_cases
from application.uow import UnitOfWork
from domain.calendar import SHANGHAI
from store import capacity, outbox
from store.registry import Charger, GridNode, Session, Station
from wire import outbox as wire_outbox

NODE = "ta-1"
AGGREGATORS = ("agg-a", "agg-b", "agg-c")


def ts(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def cny(amount: str) -> money_pb2.Money:
    value = Decimal(amount)
    units = int(value)
    return money_pb2.Money(currency_code="CNY", units=units, nanos=int((value - units) * 10**9))


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    """A local (Asia/Shanghai) time tomorrow, in UTC: a day-ahead window."""
    day = datetime.now(SHANGHAI).date() + timedelta(days=1)
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI).astimezone(UTC)


def day_start(instant: datetime) -> datetime:
    local = instant.astimezone(SHANGHAI)
    return datetime.combine(local.date(), time(0), tzinfo=SHANGHAI).astimezone(UTC)


async def build(platform: Any, *, managed_sessions: dict[str, list[tuple[str, float]]] | None = None) -> None:
    """Node ta-1; agg-a/b/c each with a station there and a 200 kW decrease declaration for tomorrow.

    ``managed_sessions`` gives per aggregator (session_id, hours to departure)
    of EVs plugged into platform-managed 7 kW chargers (60 kWh, SOC 0.5 → 0.9).
    """
    for aggregator_id in AGGREGATORS:
        await platform.operator.create_aggregator(
            aggregator_id, aggregator_pb2.Aggregator(display_name=f"Aggregator {aggregator_id}")
        )
    now = datetime.now(UTC)
    tomorrow = day_start(tomorrow_at(12))

    def seed(conn: Connection) -> None:
        use_cases.upsert_grid_nodes(
            UnitOfWork(conn, now), [GridNode(NODE, "TRANSFORMER_AREA", None, "Area 1", 0, 0)]
        )
        for aggregator_id in AGGREGATORS:
            use_cases.upsert_stations(
                UnitOfWork(conn, now), aggregator_id, [Station(f"st-{aggregator_id}", "", NODE, 0, 0)]
            )
            capacity.declare(
                conn,
                aggregator_id,
                capacity.Declaration(tomorrow, (200_000,) * 96, (0,) * 96, "", ""),
                now,
            )
        for aggregator_id, sessions in (managed_sessions or {}).items():
            use_cases.upsert_chargers(
                UnitOfWork(conn, now),
                aggregator_id,
                [
                    Charger(f"ch-{sid}", f"st-{aggregator_id}", "AC", 7_000, 0, False, True)
                    for sid, _ in sessions
                ],
            )
            use_cases.upsert_sessions(
                UnitOfWork(conn, now),
                aggregator_id,
                [
                    Session(
                        session_id=sid,
                        charger_id=f"ch-{sid}",
                        plug_in_time=now - timedelta(hours=1),
                        expected_departure_time=now + timedelta(hours=hours),
                        battery_wh=60_000,
                        soc_ppb=500_000_000,
                        target_soc_ppb=900_000_000,
                        v2g_floor_soc_ppb=0,
                        max_charge_w=7_000,
                        max_discharge_w=0,
                        bidirectional=False,
                    )
                    for sid, hours in sessions
                ],
            )

    await platform.db.write(seed)


def day_ahead_event(
    event_id: str,
    start: datetime,
    targets_w: list[int],
    *,
    clearing_mode: market_pb2.ClearingMode = market_pb2.CLEARING_MODE_PLATFORM,
    price_mode: market_pb2.PriceMode = market_pb2.PRICE_MODE_UNIFORM,
    deadline: datetime | None = None,
) -> market_pb2.Event:
    end = start + timedelta(minutes=15 * len(targets_w))
    return market_pb2.Event(
        event_id=event_id,
        type=market_pb2.EVENT_TYPE_DAY_AHEAD,
        direction=types_pb2.DIRECTION_LOAD_DECREASE,
        window=types_pb2.TimeWindow(start_time=ts(start), end_time=ts(end)),
        targets=[
            market_pb2.NodeTarget(
                grid_node=f"gridNodes/{NODE}",
                target=types_pb2.PowerCurve(start_time=ts(start), step_minutes=15, values_w=targets_w),
            )
        ],
        bid_deadline=ts(deadline or start - timedelta(hours=2)),
        price_cap=cny("1.00"),
        clearing_mode=clearing_mode,
        price_mode=price_mode,
    )


def slots(start: datetime, offers: list[tuple[int, str]]) -> list[market_pb2.BidSlot]:
    return [
        market_pb2.BidSlot(slot_start_time=ts(start + timedelta(minutes=15 * i)), capacity_w=w, price=cny(p))
        for i, (w, p) in enumerate(offers)
    ]


async def notifications(platform: Any, aggregator_id: str) -> list[notifications_pb2.Notification]:
    """Everything committed to the aggregator's stream, in order."""

    def read(conn: Connection) -> list[notifications_pb2.Notification]:
        items = outbox.read_unacked(conn, outbox.Channel.NOTIFICATIONS, aggregator_id, 0, 10_000)
        return [wire_outbox.notification_from(item) for item in items]

    result: list[notifications_pb2.Notification] = await platform.db.read(read)
    return result


async def setpoints(platform: Any, charger_id: str) -> list[market_pb2.Setpoint]:
    def read(conn: Connection) -> list[market_pb2.Setpoint]:
        items = outbox.read_unacked(conn, outbox.Channel.SETPOINTS, charger_id, 0, 10_000)
        return [wire_outbox.setpoint_from(item) for item in items]

    result: list[market_pb2.Setpoint] = await platform.db.read(read)
    return result
