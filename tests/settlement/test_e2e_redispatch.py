"""A re-dispatch that moves capacity, settled end to end (SPEC F6, F7, F8 PRE_EVENT, F9, F10 direct control).

Everything goes through the public surfaces. Node ta-1 is served by agg-a (4 chargers), agg-b (4)
and agg-c (2), registered by each aggregator: 7.2 kW AC chargers, each with a live session (60 kWh,
SOC 0.5 → 0.9, leaving 10 h after the window: the F3 floor is 0). Times are the window's, ``S`` =
its start, a slot boundary about three hours ahead; the test is the scheduler's and the monitor's
clock.

* Real-time direct-control event "rd" on ta-1, S to S + 30 min, 35 000 W per slot, announced price
  0.80 CNY/kWh, baseline PRE_EVENT, program "settle" (fee ratio 0.05).
* Pre-event slot [S − 15, S): the aggregators upload station aggregates 28 800, 28 800, 14 400 W
  → PRE_EVENT baselines of the monitor and of the evaluation alike.
* The grid's node instruction (before the window) is split by available capacity; no fresh reading,
  so P0 = Pmax = 7 200 W per session: 28 800 : 28 800 : 14 400 → agg-a 14 000, agg-b 14 000,
  agg-c 7 000 W in both slots (version 1).
* From S every charger reads constant power each minute (readings at :30, energy register advancing
  by exactly P/60 Wh a minute): agg-a 6 900 W (27 600: a 1 200 W response to 14 000 instructed),
  agg-b and agg-c 3 600 W (14 400 and 7 200: on target).
* Monitor minutes S+14 and S+15 (ticks at S+15, S+16): agg-a's deviation (14 000 − 1 200)/14 000 > 0.1
  twice → at S+16 its shortfall 12 800 W is re-dispatched to agg-b and agg-c in proportion to their
  capacity left (P0 − Pmin = 4 × 3 600 = 14 400 and 2 × 3 600 = 7 200): 8 533.33 / 4 266.67 →
  largest remainder 8 533 / 4 267. Version 2 changes only the step not yet ended (slot 1):
  agg-a [14 000, 1 200], agg-b [14 000, 22 533], agg-c [7 000, 11 267].
* C per slot (the version in force at the slot's END): slot 0 ended at S+15, before version 2
  existed → version 1; slot 1 → version 2.

Metered slot means (station aggregates uploaded after the window; SPEC F2: "an aggregator-uploaded
15-minute value for a slot replaces that sum", so the figures do not depend on how readings are
averaged; the minute readings only drive the monitor and are constant power with a consistent
energy register, which every slot/minute-mean rule reads alike):

    agg-a  B 28 800  A 27 600, 27 600  R 1 200, 1 200
           slot 0: C 14 000, r 3/35 < 0.5 → penalty (7 000 − 1 200) W × 0.25 h = 1.45 kWh × 0.80 × 0.5 = 0.58
           slot 1: C 1 200, r 1 → 0.3 kWh × 0.80 = 0.24
           total 0.24 − 0.58 = −0.34, fee 0.012 → 0.01, payable −0.35
    agg-b  B 28 800  A 14 400, 6 400  R 14 400, 22 400
           slot 0: C 14 000, r 36/35 → 3.6 kWh × 0.80 = 2.88
           slot 1: C 22 533, r 22 400/22 533 = 3 200/3 219 → 5.6 kWh × 0.80 = 4.48
           total 7.36, fee 0.368 → 0.37, payable 6.99
           (had C stayed 14 000, r 1.6 would be capped: 16 800 W → 3.36, not 4.48)
    agg-c  B 14 400  A 7 200, 3 200  R 7 200, 11 200
           slot 0: C 7 000, r 36/35 → 1.8 kWh × 0.80 = 1.44
           slot 1: C 11 267, r 11 200/11 267 → 2.8 kWh × 0.80 = 2.24
           total 3.68, fee 0.184 → 0.18, payable 3.50
    grid   total −0.34 + 7.36 + 3.68 = 10.70 = payable 10.14 + fees 0.56
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from dr.world import cny, ts
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import aggregator_pb2, market_pb2, resources_pb2, telemetry_pb2, types_pb2

from clients.registry import AggregatorRegistryClient, GridRegistryClient

from . import scenario
from .scenario import World

pytestmark = pytest.mark.timeout(180)

NODE = "ta-1"
CHARGERS = {"agg-a": 4, "agg-b": 4, "agg-c": 2}
RATED_W = 7_200
SLOT = timedelta(minutes=15)
MINUTE = timedelta(minutes=1)
M = market_pb2


def charger_ids(aggregator_id: str) -> list[str]:
    return [f"ch-{aggregator_id}-{i}" for i in range(CHARGERS[aggregator_id])]


def money(value: Any) -> Decimal:
    assert value.currency_code == "CNY"
    return Decimal(value.units) + Decimal(value.nanos) / 10**9


def d(text: str) -> Decimal:
    return Decimal(text)


async def seed(platform: Any, now: datetime, departure: datetime) -> None:
    """Aggregators (operator), node ta-1 (grid), stations, chargers and live sessions (each aggregator)."""
    for aggregator_id in CHARGERS:
        await platform.operator.create_aggregator(
            aggregator_id, aggregator_pb2.Aggregator(display_name=f"Aggregator {aggregator_id}")
        )
    await GridRegistryClient(platform.grid).upsert_grid_nodes(
        [
            resources_pb2.GridNode(
                node_id=NODE, kind=resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA, display_name="Area 1"
            )
        ]
    )
    for aggregator_id in CHARGERS:
        client = AggregatorRegistryClient(platform.channel_for(f"vgi://aggregator/{aggregator_id}"))
        station = f"st-{aggregator_id}"
        await client.upsert_stations(
            [resources_pb2.Station(station_id=station, grid_node=f"gridNodes/{NODE}")]
        )
        await client.upsert_chargers(
            [
                resources_pb2.Charger(
                    charger_id=c,
                    station_id=station,
                    kind=resources_pb2.CHARGER_KIND_AC,
                    rated_charge_w=RATED_W,
                )
                for c in charger_ids(aggregator_id)
            ]
        )
        await client.upsert_sessions(
            [
                resources_pb2.EvSession(
                    session_id=f"s-{c}",
                    charger_id=c,
                    plug_in_time=ts(now - timedelta(hours=1)),
                    expected_departure_time=ts(departure),
                    battery_wh=60_000,
                    soc=0.5,
                    target_soc=0.9,
                    max_charge_w=RATED_W,
                )
                for c in charger_ids(aggregator_id)
            ]
        )


async def upload(platform: Any, aggregator_id: str, batch: agg_pb.TelemetryBatch) -> int:
    client = AggregatorRegistryClient(platform.channel_for(f"vgi://aggregator/{aggregator_id}"))
    [ack] = [ack async for ack in client.upload_telemetry([batch])]
    return ack.stored_points


async def upload_minutes(
    platform: Any, aggregator_id: str, power_w: int, first: datetime, minutes: int
) -> None:
    """Every charger of the aggregator reads ``power_w`` at first + 30 s, + 90 s, …; the import register
    advances by exactly power_w / 60 Wh between readings."""
    assert power_w % 60 == 0
    batch = agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()),
        meter_values=[
            telemetry_pb2.MeterValue(
                charger_id=c,
                sample_time=ts(first + k * MINUTE + timedelta(seconds=30)),
                power_w=power_w,
                energy_register_wh=1_000_000 + k * power_w // 60,
            )
            for c in charger_ids(aggregator_id)
            for k in range(minutes)
        ],
    )
    assert await upload(platform, aggregator_id, batch) == minutes * CHARGERS[aggregator_id]


async def upload_slots(platform: Any, aggregator_id: str, values: dict[datetime, int]) -> None:
    """The aggregator's station aggregate (its one station) for each slot start."""
    batch = agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()),
        aggregates=[
            telemetry_pb2.IntervalAggregate(
                resource=f"aggregators/{aggregator_id}/stations/st-{aggregator_id}",
                slot_start_time=ts(start),
                mean_power_w=watts,
            )
            for start, watts in sorted(values.items())
        ],
    )
    assert await upload(platform, aggregator_id, batch) == len(values)


async def test_redispatch_moves_capacity_and_the_money_follows_the_version_in_force(
    database_url: str, platform_factory: Any
) -> None:
    settings = {**scenario.SETTINGS, "monitor_interval_seconds": 0}
    async with platform_factory(database_url, **settings) as platform:
        now = datetime.now(UTC)
        floor = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 15)
        start = floor + timedelta(hours=3)
        end = start + 2 * SLOT
        await seed(platform, now, end + timedelta(hours=10))
        w = World(platform)
        await w.set_program(fee_ratio=scenario.dec("0.05"))
        for aggregator_id, watts in (("agg-a", 28_800), ("agg-b", 28_800), ("agg-c", 14_400)):
            await upload_slots(platform, aggregator_id, {start - SLOT: watts})

        window = types_pb2.TimeWindow(start_time=ts(start), end_time=ts(end))
        curve = types_pb2.PowerCurve(start_time=ts(start), step_minutes=15, values_w=[35_000, 35_000])
        await w.grid.publish_event(
            M.Event(
                event_id="rd",
                type=M.EVENT_TYPE_REAL_TIME,
                direction=types_pb2.DIRECTION_LOAD_DECREASE,
                window=window,
                targets=[M.NodeTarget(grid_node=f"gridNodes/{NODE}", target=curve)],
                announced_price=cny("0.80"),
                baseline_method=M.BASELINE_METHOD_PRE_EVENT,
                program=scenario.PROGRAM,
            )
        )
        first = await w.grid.submit_dispatch_instruction(
            f"gridNodes/{NODE}", types_pb2.DIRECTION_LOAD_DECREASE, curve, window, event="events/rd"
        )
        assert {i.aggregator: list(i.target.values_w) for i in first.instructions} == {
            "aggregators/agg-a": [14_000, 14_000],
            "aggregators/agg-b": [14_000, 14_000],
            "aggregators/agg-c": [7_000, 7_000],
        }

        scheduler, monitor = platform.platform.scheduler, platform.platform.monitor
        await scheduler.tick(start)
        assert (await w.grid.get_event("events/rd")).state == M.EVENT_STATE_EXECUTING
        for aggregator_id, watts in (("agg-a", 6_900), ("agg-b", 3_600), ("agg-c", 3_600)):
            await upload_minutes(platform, aggregator_id, watts, start, 17)
        assert "rd" in await monitor.tick(start + 15 * MINUTE)
        done = await monitor.tick(start + 16 * MINUTE)
        assert [(a.kind, a.aggregator_id) for a in done["rd"].alarms] == [
            ("DEVIATION", "agg-a"),
            ("REDISPATCH", "agg-a"),
            ("REDISPATCH", "agg-b"),
            ("REDISPATCH", "agg-c"),
        ]
        listed = await w.grid.list_instructions(event="events/rd")
        assert sorted(
            (i.aggregator, i.version, i.state, list(i.target.values_w)) for i in listed.instructions
        ) == [
            ("aggregators/agg-a", 1, M.INSTRUCTION_STATE_CANCELLED, [14_000, 14_000]),
            ("aggregators/agg-a", 2, M.INSTRUCTION_STATE_ACTIVE, [14_000, 1_200]),
            ("aggregators/agg-b", 1, M.INSTRUCTION_STATE_CANCELLED, [14_000, 14_000]),
            ("aggregators/agg-b", 2, M.INSTRUCTION_STATE_ACTIVE, [14_000, 22_533]),
            ("aggregators/agg-c", 1, M.INSTRUCTION_STATE_CANCELLED, [7_000, 7_000]),
            ("aggregators/agg-c", 2, M.INSTRUCTION_STATE_ACTIVE, [7_000, 11_267]),
        ]

        await scheduler.tick(end)
        for aggregator_id, (a0, a1) in (
            ("agg-a", (27_600, 27_600)),
            ("agg-b", (14_400, 6_400)),
            ("agg-c", (7_200, 3_200)),
        ):
            await upload_slots(platform, aggregator_id, {start: a0, start + SLOT: a1})

        evaluated = await w.settlement.evaluate_event("events/rd")
        by_aggregator = {e.aggregator.removeprefix("aggregators/"): e for e in evaluated.evaluations}
        assert {
            a: (
                e.baseline_method,
                [
                    (
                        s.instructed_w,
                        s.baseline_w.value,
                        s.actual_w.value,
                        s.response_w.value,
                        s.rate_exact.numerator,
                        s.rate_exact.denominator,
                    )
                    for s in e.slots
                ],
            )
            for a, e in by_aggregator.items()
        } == {
            "agg-a": (
                M.BASELINE_METHOD_PRE_EVENT,
                [(14_000, "28800", "27600", "1200", "3", "35"), (1_200, "28800", "27600", "1200", "1", "1")],
            ),
            "agg-b": (
                M.BASELINE_METHOD_PRE_EVENT,
                [
                    (14_000, "28800", "14400", "14400", "36", "35"),
                    (22_533, "28800", "6400", "22400", "3200", "3219"),
                ],
            ),
            "agg-c": (
                M.BASELINE_METHOD_PRE_EVENT,
                [
                    (7_000, "14400", "7200", "7200", "36", "35"),
                    (11_267, "14400", "3200", "11200", "11200", "11267"),
                ],
            ),
        }

        statements = {s.aggregator.removeprefix("aggregators/"): s for s in evaluated.statements}
        assert {
            a: (
                {money(line.price) for line in s.lines},
                [(money(line.compensation), money(line.penalty)) for line in s.lines],
                tuple(
                    money(getattr(s, f))
                    for f in ("total_compensation", "total_penalty", "total", "fee", "payable")
                ),
            )
            for a, s in statements.items()
        } == {
            "agg-a": (
                {d("0.8")},
                [(d("0"), d("0.58")), (d("0.24"), d("0"))],
                (d("0.24"), d("0.58"), d("-0.34"), d("0.01"), d("-0.35")),
            ),
            "agg-b": (
                {d("0.8")},
                [(d("2.88"), d("0")), (d("4.48"), d("0"))],
                (d("7.36"), d("0"), d("7.36"), d("0.37"), d("6.99")),
            ),
            "agg-c": (
                {d("0.8")},
                [(d("1.44"), d("0")), (d("2.24"), d("0"))],
                (d("3.68"), d("0"), d("3.68"), d("0.18"), d("3.50")),
            ),
        }
        grid = await w.settlement.get_grid_statement("events/rd")
        assert (money(grid.total), money(grid.total_payable), money(grid.total_fee)) == (
            d("10.70"),
            d("10.14"),
            d("0.56"),
        )
