"""A metered world for the settlement service tests, driven over gRPC.

The event day D is the Wednesday at least 9 days ahead (local time), so every
history day has a fixed weekday relative to D and the calendar below is
hand-checkable whatever the date the tests run on:

    D−1 Tue   never a candidate (candidates start at D−2)
    D−2 Mon   ✓
    D−3 Sun   ✗ weekend
    D−4 Sat   ✓ make-up working day (调休) of program "settle"
    D−5 Fri   ✓
    D−6 Thu   ✗ holiday of program "settle"
    D−7 Wed   ✗ event day: real-time event "rt-old" (10:00–10:15) invites agg-a/b/c
    D−8 Tue   ✓
    D−9 Mon   ✗ slot 10 missing
    D−10/11   ✗ weekend
    D−12 Fri … D−16 Mon ✓, D−17/18 weekend ✗, D−19 Fri ✓, D−20 Thu ✓ (the 11th candidate)

agg-a's metered mean power is 150 000 W in every slot except the window
slots 72/73 (18:00–18:30), set per day in ``AGG_A_WINDOW`` (excluded days
carry 800 000+ W so that including one by mistake changes every figure).
agg-b draws 200 000 W in every slot of every day. All of it reaches the
platform as 15-minute station aggregates through UploadTelemetry.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dr import world
from dr.world import cny, ts
from google.type import date_pb2, decimal_pb2
from sqlalchemy.engine import Connection
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import market_pb2, telemetry_pb2, types_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb

from clients.market import AggregatorMarketClient, GridMarketClient
from clients.registry import AggregatorRegistryClient
from clients.settlement import AggregatorSettlementClient, GridSettlementClient, ProgramClient
from domain.calendar import SHANGHAI
from store import capacity

PROGRAM = "programs/settle"
BASE_A = 150_000
BASE_B = 200_000
WINDOW_SLOTS = (72, 73)
AGG_A_WINDOW: dict[int, tuple[int, int]] = {
    1: (800_000, 800_000),
    2: (300_000, 300_000),
    3: (800_000, 800_000),
    4: (320_000, 300_000),
    5: (280_000, 320_000),
    6: (800_000, 800_000),
    7: (800_000, 800_000),
    8: (310_000, 290_000),
    9: (800_000, 800_000),
    10: (800_000, 800_000),
    11: (800_000, 800_000),
    12: (100_000, 100_000),
    13: (330_000, 310_000),
    14: (150_000, 150_000),
    15: (120_000, 120_000),
    16: (250_000, 350_000),
    17: (800_000, 800_000),
    18: (800_000, 800_000),
    19: (110_000, 110_000),
    20: (900_000, 900_000),
}
MISSING = {9: 10}
"""agg-a's D−9 lacks slot 10."""

# Telemetry of days up to ~16 days ahead is accepted (the event lies in the future).
SETTINGS: dict[str, Any] = {"telemetry_max_skew_seconds": 17 * 86_400}


def event_day() -> date:
    day = datetime.now(SHANGHAI).date() + timedelta(days=9)
    while day.weekday() != 2:
        day += timedelta(days=1)
    return day


def at(day: date, slot: int) -> datetime:
    """The UTC start of ``slot`` of the local ``day``."""
    return (datetime.combine(day, time(0), tzinfo=SHANGHAI) + timedelta(minutes=15 * slot)).astimezone(UTC)


def gdate(day: date) -> date_pb2.Date:
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def dec(text: str) -> decimal_pb2.Decimal:
    return decimal_pb2.Decimal(value=text)


class World:
    """Clients for the grid, the operator and each aggregator, and the event day."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.day = event_day()
        self.grid = GridMarketClient(platform.grid)
        self.settlement = GridSettlementClient(platform.grid)
        self.programs = ProgramClient(platform.channel)
        self.market = {
            a: AggregatorMarketClient(platform.channel_for(f"vgi://aggregator/{a}"))
            for a in world.AGGREGATORS
        }
        self.statements = {
            a: AggregatorSettlementClient(platform.channel_for(f"vgi://aggregator/{a}"))
            for a in world.AGGREGATORS
        }
        self.telemetry = {
            a: AggregatorRegistryClient(platform.channel_for(f"vgi://aggregator/{a}"))
            for a in world.AGGREGATORS
        }

    def window(self, slots: int = 2) -> tuple[datetime, datetime]:
        start = at(self.day, WINDOW_SLOTS[0])
        return start, start + timedelta(minutes=15 * slots)

    async def upload(self, aggregator_id: str, values: Mapping[datetime, int]) -> int:
        """Station aggregates of st-{aggregator} through UploadTelemetry; returns the points stored."""
        resource = f"aggregators/{aggregator_id}/stations/st-{aggregator_id}"
        batch = agg_pb.TelemetryBatch(
            batch_id=str(uuid.uuid4()),
            aggregates=[
                telemetry_pb2.IntervalAggregate(
                    resource=resource, slot_start_time=ts(start), mean_power_w=watts
                )
                for start, watts in sorted(values.items())
            ],
        )
        [ack] = [ack async for ack in self.telemetry[aggregator_id].upload_telemetry([batch])]
        return ack.stored_points

    async def upload_history(self) -> None:
        """D−20 … D−1 for agg-a (``AGG_A_WINDOW``, ``MISSING``) and agg-b (flat)."""
        a: dict[datetime, int] = {}
        b: dict[datetime, int] = {}
        for offset, (w72, w73) in AGG_A_WINDOW.items():
            day = self.day - timedelta(days=offset)
            for slot in range(96):
                b[at(day, slot)] = BASE_B
                if MISSING.get(offset) == slot:
                    continue
                a[at(day, slot)] = {72: w72, 73: w73}.get(slot, BASE_A)
        assert await self.upload("agg-a", a) == 20 * 96 - 1
        assert await self.upload("agg-b", b) == 20 * 96

    async def upload_event_day(self, aggregator_id: str, window_values: Mapping[int, int], base: int) -> None:
        """All 96 slots of D at ``base`` W except ``window_values`` (slot → W)."""
        await self.upload(
            aggregator_id, {at(self.day, slot): window_values.get(slot, base) for slot in range(96)}
        )

    async def set_program(self, **fields: Any) -> operator_pb.Program:
        """Program "settle": holiday D−6, make-up working day D−4, plus ``fields``."""
        program = operator_pb.Program(
            name=PROGRAM,
            holidays=[gdate(self.day - timedelta(days=6))],
            make_up_working_days=[gdate(self.day - timedelta(days=4))],
            **fields,
        )
        return await self.programs.upsert_program(program)

    async def build(self, **program: Any) -> None:
        """Aggregators, node ta-1 and stations (tests/dr/world), capacity declarations for D, program
        "settle" with ``program`` settings, the real-time event "rt-old" on D−7, and the metered history."""
        await world.build(self.platform)
        day_start, now = at(self.day, 0), datetime.now(UTC)

        def declare(conn: Connection) -> None:
            for aggregator_id in world.AGGREGATORS:
                capacity.declare(
                    conn,
                    aggregator_id,
                    capacity.Declaration(day_start, (200_000,) * 96, (0,) * 96, "", ""),
                    now,
                )

        await self.platform.db.write(declare)
        await self.set_program(**program)
        old = at(self.day - timedelta(days=7), 40)
        await self.grid.publish_event(
            market_pb2.Event(
                event_id="rt-old",
                type=market_pb2.EVENT_TYPE_REAL_TIME,
                direction=types_pb2.DIRECTION_LOAD_DECREASE,
                window=types_pb2.TimeWindow(start_time=ts(old), end_time=ts(old + timedelta(minutes=15))),
                targets=[
                    market_pb2.NodeTarget(
                        grid_node=f"gridNodes/{world.NODE}",
                        target=types_pb2.PowerCurve(start_time=ts(old), step_minutes=15, values_w=[1_000]),
                    )
                ],
                announced_price=cny("1.00"),
                program=PROGRAM,
            )
        )
        await self.upload_history()

    async def day_ahead(
        self,
        event_id: str,
        targets_w: list[int],
        bids: Mapping[str, list[tuple[int, str]]],
        *,
        baseline_method: market_pb2.BaselineMethod = market_pb2.BASELINE_METHOD_UNSPECIFIED,
        **fields: Any,
    ) -> None:
        """Publish a day-ahead event on the window, bid, close bidding and clear it by merit order."""
        start, _ = self.window(len(targets_w))
        event = world.day_ahead_event(event_id, start, targets_w, **fields)
        event.program = PROGRAM
        event.baseline_method = baseline_method
        await self.grid.publish_event(event)
        for aggregator_id, offers in bids.items():
            await self.market[aggregator_id].submit_bid(f"events/{event_id}", world.slots(start, offers))
        await self.platform.platform.scheduler.tick(start - timedelta(hours=2))
        await self.grid.clear_event(f"events/{event_id}")

    async def run_window(self, slots: int = 2) -> None:
        """The scheduler's clock through the window: executing at its start, completed at its end."""
        start, end = self.window(slots)
        await self.platform.platform.scheduler.tick(start)
        await self.platform.platform.scheduler.tick(end)
