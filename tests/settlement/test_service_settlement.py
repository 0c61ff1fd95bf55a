"""SPEC F10 through the service: every band and both boundaries, in each price mode, totals by hand.

World: scenario.py, program "settle" with fee ratio 0.1. Window 18:00–19:15
on D (5 slots). agg-b's baseline is 200 000 W in every slot (flat history)
and C = 40 000 W in each slot of each event:

    slot  A        R       r      band
    0     190 000  10 000  0.25   r < 0.5: penalty (0.5·40 000 − 10 000) = 10 000 W → 2.5 kWh × p × 0.5
    1     180 000  20 000  0.5    boundary: compensated, 5 kWh × p
    2     170 000  30 000  0.75   7.5 kWh × p
    3     152 000  48 000  1.2    boundary: R itself, 12 kWh × p
    4     140 000  60 000  1.5    capped at 1.2 × 40 000 = 48 000 → 12 kWh × p

Events on the same window:
- "dr-u" UNIFORM: agg-b bids 40 000 @ 0.40, agg-a 40 000 @ 0.50, target 60 000 → b 40 000,
  a 20 000 (marginal); p = 0.50:
  penalty 0.625 → 0.63 (half-up), compensation 2.50 + 3.75 + 6.00 + 6.00 = 18.25,
  total 17.62, fee 1.825 → 1.83, payable 15.79
- "dr-p" PAY_AS_BID, same bids: agg-b is paid its own 0.40:
  penalty 0.50, compensation 2.00 + 3.00 + 4.80 + 4.80 = 14.60, total 14.10, fee 1.46, payable 12.64
- "rt-x" real-time direct control, announced 0.80; the grid instructs agg-b 10 000 W, then revises
  to 40 000 W (version 2, in force at the end of every slot):
  penalty 1.00, compensation 4.00 + 6.00 + 9.60 + 9.60 = 29.20, total 28.20, fee 2.92, payable 25.28
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from dr.world import cny, ts
from vgi.common.v1 import market_pb2, settlement_pb2, types_pb2

from . import scenario
from .scenario import World

pytestmark = pytest.mark.timeout(120)

SLOTS = 5
ACTUAL_B = {72: 190_000, 73: 180_000, 74: 170_000, 75: 152_000, 76: 140_000}
BIDS = {"agg-b": [(40_000, "0.40")] * SLOTS, "agg-a": [(40_000, "0.50")] * SLOTS}


def money(value: Any) -> Decimal:
    return Decimal(value.units) + Decimal(value.nanos) / 10**9


def d(text: str) -> Decimal:
    return Decimal(text)


def summary(statement: settlement_pb2.Statement) -> tuple[list[tuple[Decimal, Decimal]], tuple[Decimal, ...]]:
    return (
        [(money(line.compensation), money(line.penalty)) for line in statement.lines],
        tuple(
            money(getattr(statement, f))
            for f in ("total_compensation", "total_penalty", "total", "fee", "payable")
        ),
    )


async def _direct_control(w: World) -> None:
    start, end = w.window(SLOTS)
    await w.grid.publish_event(
        market_pb2.Event(
            event_id="rt-x",
            type=market_pb2.EVENT_TYPE_REAL_TIME,
            direction=types_pb2.DIRECTION_LOAD_DECREASE,
            window=types_pb2.TimeWindow(start_time=ts(start), end_time=ts(end)),
            targets=[
                market_pb2.NodeTarget(
                    grid_node="gridNodes/ta-1",
                    target=types_pb2.PowerCurve(
                        start_time=ts(start), step_minutes=15, values_w=[40_000] * SLOTS
                    ),
                )
            ],
            announced_price=cny("0.80"),
            program=scenario.PROGRAM,
        )
    )
    for watts in (10_000, 40_000):
        await w.grid.submit_dispatch_instruction(
            "aggregators/agg-b",
            types_pb2.DIRECTION_LOAD_DECREASE,
            types_pb2.PowerCurve(start_time=ts(start), step_minutes=15, values_w=[watts] * SLOTS),
            types_pb2.TimeWindow(start_time=ts(start), end_time=ts(end)),
            event="events/rt-x",
        )


async def test_bands_boundaries_and_price_modes(database_url: str, platform_factory: Any) -> None:
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        await w.build(fee_ratio=scenario.dec("0.1"))
        await w.day_ahead("dr-u", [60_000] * SLOTS, BIDS, price_mode=market_pb2.PRICE_MODE_UNIFORM)
        await w.day_ahead("dr-p", [60_000] * SLOTS, BIDS, price_mode=market_pb2.PRICE_MODE_PAY_AS_BID)
        await _direct_control(w)
        await w.upload_event_day("agg-b", ACTUAL_B, scenario.BASE_B)
        await w.upload_event_day("agg-a", {}, scenario.BASE_A)
        await w.run_window(SLOTS)

        rates = ["0.25", "0.5", "0.75", "1.2", "1.5"]
        expected = {
            "dr-u": (
                d("0.5"),
                [
                    (d("0"), d("0.63")),
                    (d("2.50"), d("0")),
                    (d("3.75"), d("0")),
                    (d("6.00"), d("0")),
                    (d("6.00"), d("0")),
                ],
                (d("18.25"), d("0.63"), d("17.62"), d("1.83"), d("15.79")),
            ),
            "dr-p": (
                d("0.4"),
                [
                    (d("0"), d("0.50")),
                    (d("2.00"), d("0")),
                    (d("3.00"), d("0")),
                    (d("4.80"), d("0")),
                    (d("4.80"), d("0")),
                ],
                (d("14.60"), d("0.50"), d("14.10"), d("1.46"), d("12.64")),
            ),
            "rt-x": (
                d("0.8"),
                [
                    (d("0"), d("1.00")),
                    (d("4.00"), d("0")),
                    (d("6.00"), d("0")),
                    (d("9.60"), d("0")),
                    (d("9.60"), d("0")),
                ],
                (d("29.20"), d("1.00"), d("28.20"), d("2.92"), d("25.28")),
            ),
        }
        for event_id, (price, lines, totals) in expected.items():
            evaluated = await w.settlement.evaluate_event(f"events/{event_id}")
            [statement] = [s for s in evaluated.statements if s.aggregator == "aggregators/agg-b"]
            assert [line.slot.instructed_w for line in statement.lines] == [40_000] * SLOTS, event_id
            assert [line.slot.rate.value for line in statement.lines] == rates, event_id
            assert {money(line.price) for line in statement.lines} == {price}, event_id
            assert summary(statement) == (lines, totals), event_id
            grid = await w.settlement.get_grid_statement(f"events/{event_id}")
            everyone = list(evaluated.statements)
            assert money(grid.total) == sum((money(s.payable) + money(s.fee) for s in everyone), Decimal(0))
            assert money(grid.total_fee) == sum((money(s.fee) for s in everyone), Decimal(0))
        # Only agg-b was instructed in the direct-control event.
        assert [e.aggregator for e in (await w.settlement.list_evaluations("events/rt-x")).evaluations] == [
            "aggregators/agg-b"
        ]
