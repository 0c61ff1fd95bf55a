"""Arrival meets settlement (SPEC F2, F10): stale evaluations become adjustments, and the grid's
money is checked against what the store holds (issue 15, behaviour 7).

World: scenario.py with fee ratio 0.1 and the direct-control event "rt-x" of
test_service_settlement (agg-b, C = 40 000 W, 0.80 CNY/kWh, slots 72–76 of D).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from dr.world import cny, ts
from registry.world import charger, meter
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import market_pb2, settlement_pb2, telemetry_pb2, types_pb2

from clients.errors import FailedPreconditionError
from store.settlement import lines as statement_lines

from . import scenario
from .scenario import World

pytestmark = pytest.mark.timeout(180)

SLOTS = 5
ACTUAL_B = {72: 190_000, 73: 180_000, 74: 170_000, 75: 152_000, 76: 140_000}
STATEMENT = "events/rt-x/statements/agg-b"
EVALUATION = "events/rt-x/evaluations/agg-b"


def money(value: Any) -> Decimal:
    return Decimal(value.units) + Decimal(value.nanos) / Decimal(10**9)


async def _evaluated(
    w: World, *, metered: Callable[[], Awaitable[None]] | None = None
) -> settlement_pb2.Statement:
    """The event evaluated; ``metered`` uploads agg-b's event day instead of ``upload_event_day``."""
    await w.build(fee_ratio=scenario.dec("0.1"))
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
    await w.grid.submit_dispatch_instruction(
        "aggregators/agg-b",
        types_pb2.DIRECTION_LOAD_DECREASE,
        types_pb2.PowerCurve(start_time=ts(start), step_minutes=15, values_w=[40_000] * SLOTS),
        types_pb2.TimeWindow(start_time=ts(start), end_time=ts(end)),
        event="events/rt-x",
    )
    if metered is None:
        await w.upload_event_day("agg-b", ACTUAL_B, scenario.BASE_B)
    else:
        await metered()
    await w.run_window(SLOTS)
    [statement] = (await w.settlement.evaluate_event("events/rt-x")).statements
    return statement


async def test_a_correction_inside_an_evaluated_event_marks_it_stale_and_re_evaluation_adjusts(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        statement = await _evaluated(w)
        assert money(statement.total) == Decimal("28.20")
        assert not (await w.statements["agg-b"].get_evaluation(EVALUATION)).stale
        await w.statements["agg-b"].confirm_statement(STATEMENT)
        confirmed = await w.settlement.confirm_statement(STATEMENT)
        assert confirmed.state == settlement_pb2.STATEMENT_STATE_CONFIRMED

        # The aggregator corrects slot 72 (190 000 → 200 000 W: R = 0, r = 0): a correction, counted so.
        resource = "aggregators/agg-b/stations/st-agg-b"
        batch = agg_pb.TelemetryBatch(
            batch_id=str(uuid.uuid4()),
            aggregates=[
                telemetry_pb2.IntervalAggregate(
                    resource=resource, slot_start_time=ts(scenario.at(w.day, 72)), mean_power_w=200_000
                )
            ],
        )
        [ack] = [a async for a in w.telemetry["agg-b"].upload_telemetry([batch])]
        assert (ack.stored_points, ack.duplicate_points, ack.corrected_points) == (0, 0, 1)

        assert (await w.statements["agg-b"].get_evaluation(EVALUATION)).stale
        listed = await w.settlement.list_statements("events/rt-x")
        assert [s for s in listed.statements if s.name == STATEMENT] == [confirmed]  # never silently changed

        adjustment = await w.settlement.create_adjustment_statement(STATEMENT)
        # slot 72 penalty (0.5·40 000 − 0) W · 0.25 h · 0.80 · 0.5 = 2.00 instead of 1.00
        assert (adjustment.kind, adjustment.adjusts) == (settlement_pb2.STATEMENT_KIND_ADJUSTMENT, STATEMENT)
        assert money(adjustment.total) == Decimal("-1.00")
        assert not (await w.statements["agg-b"].get_evaluation(EVALUATION)).stale


async def test_late_new_readings_inside_an_evaluated_event_mark_it_stale_and_re_evaluation_adjusts(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        client = w.telemetry["agg-b"]
        slot = scenario.at(w.day, 72)

        def readings(charger_id: str, watts: int) -> agg_pb.TelemetryBatch:
            # Slot 72 sampled every minute, both boundaries included (whole coverage).
            return agg_pb.TelemetryBatch(
                batch_id=str(uuid.uuid4()),
                meter_values=[meter(charger_id, slot + timedelta(minutes=m), watts) for m in range(16)],
            )

        async def metered() -> None:
            # The station's 15-minute values of D except slot 72, which is metered from two chargers'
            # readings: only cb-1's (100 000 W) have arrived when the event is evaluated.
            await w.upload(
                "agg-b",
                {scenario.at(w.day, s): ACTUAL_B.get(s, scenario.BASE_B) for s in range(96) if s != 72},
            )
            await client.upsert_chargers([charger("cb-1", "st-agg-b"), charger("cb-2", "st-agg-b")])
            [ack] = [a async for a in client.upload_telemetry([readings("cb-1", 100_000)])]
            assert ack.stored_points == 16

        statement = await _evaluated(w, metered=metered)
        assert money(statement.total) != Decimal("28.20")
        assert not (await w.statements["agg-b"].get_evaluation(EVALUATION)).stale
        await w.statements["agg-b"].confirm_statement(STATEMENT)
        await w.settlement.confirm_statement(STATEMENT)

        # cb-2's readings of slot 72 arrive late: new readings, not corrections — and slot 72 is now
        # 190 000 W, the figure the event-day values of the other tests carry.
        [ack] = [a async for a in client.upload_telemetry([readings("cb-2", 90_000)])]
        assert (ack.stored_points, ack.duplicate_points, ack.corrected_points) == (16, 0, 0)
        assert (await w.statements["agg-b"].get_evaluation(EVALUATION)).stale

        adjustment = await w.settlement.create_adjustment_statement(STATEMENT)
        # Re-evaluated on all the readings: the total the complete data gives (28.20), less what was stated.
        assert (adjustment.kind, adjustment.adjusts) == (settlement_pb2.STATEMENT_KIND_ADJUSTMENT, STATEMENT)
        assert money(adjustment.total) == Decimal("28.20") - money(statement.total), statement.total
        assert not (await w.statements["agg-b"].get_evaluation(EVALUATION)).stale


async def test_the_grid_total_is_checked_against_the_stored_statement_amounts(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        statement = await _evaluated(w)
        grid = await w.settlement.get_grid_statement("events/rt-x")
        assert money(grid.total) == money(statement.payable) + money(statement.fee) == Decimal("28.20")

        # One stored line loses 1.00 CNY of compensation while the statement's stored amounts keep it.
        await platform.db.write(
            lambda conn: conn.execute(
                sa.update(statement_lines)
                .where(
                    statement_lines.c.event_id == "rt-x",
                    statement_lines.c.slot_start == scenario.at(w.day, 73),
                )
                .values(
                    compensation_nanos=statement_lines.c.compensation_nanos - 1_000_000_000,
                    line_compensation_nanos=statement_lines.c.line_compensation_nanos - 1_000_000_000,
                )
            )
        )

        with pytest.raises(FailedPreconditionError) as caught:
            await w.settlement.get_grid_statement("events/rt-x")
        assert caught.value.reason == "STATEMENT_AMOUNTS_INCONSISTENT"
        assert caught.value.metadata == {"statement": STATEMENT}
