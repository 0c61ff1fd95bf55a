"""SPEC F2 → F8 (PRE_EVENT) → F9 → F10 on field-shaped telemetry (tests/fieldgen.py), to the fen.

agg-b's station st-agg-b runs a fleet of chargers with their own habits
(unsynchronised intervals, jitter, bursts, gaps, V2G piles discharging) from
23:00 local on D to 01:00 on D+1. Their readings reach the platform late,
out of order, duplicated, in overlapping and re-sent batches, and some are
corrected by a later batch. A real-time direct-control event (price 0.80
CNY/kWh, PRE_EVENT baseline) runs 23:30–00:30 — across local midnight — and
agg-b is instructed a different quantity in each slot, chosen from the
response so that the slots fall in each F10 regime (r < 0.5, 0.5 ≤ r ≤ 1.2,
r > 1.2). Fee ratio 0.1.

Everything expected is computed here from the SPEC's formulas, not the
product's code: slot means by ``fieldgen.spec_slot_means`` (F2), the
baseline as the slot before the window (F8 PRE_EVENT), R = B − A and r = R/C
(F9), compensation, penalty, half-up rounding per line, total, fee and
payable (F10) in exact fractions, compared to the fen.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import fieldgen
import pytest
from dr import world
from dr.world import ts
from registry.world import charger
from sqlalchemy.engine import Connection
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import market_pb2, settlement_pb2, types_pb2

from store import capacity

from . import scenario
from .scenario import World
from .test_e2e import cny

pytestmark = pytest.mark.timeout(180)

PRICE = Fraction(8, 10)
FEE_RATIO = Fraction(1, 10)
LOW, HIGH, PENALTY_FACTOR = Fraction(1, 2), Fraction(6, 5), Fraction(1, 2)
DT = Fraction(1, 4)
SLOTS = 4
STATEMENT = "events/rt-night/statements/agg-b"


def _fen(amount: Fraction) -> Decimal:
    """Half-up to 0.01 CNY (amounts here are never negative)."""
    assert amount >= 0
    return Decimal(math.floor(amount * 100 + Fraction(1, 2))) / 100


def _exact(value: Any) -> Fraction:
    return Fraction(int(value.numerator), int(value.denominator))


async def _send(w: World, batches: Sequence[fieldgen.Batch]) -> None:
    requests = [
        agg_pb.TelemetryBatch(batch_id=b.batch_id, meter_values=[fieldgen.meter_value(s) for s in b.samples])
        for b in batches
    ]
    async for _ in w.telemetry["agg-b"].upload_telemetry(requests):
        pass


def _instructed(response: Fraction, aim: Fraction) -> int:
    """A quantity that puts the slot's rate near ``aim`` when it responded, else a plain 20 kW."""
    return max(1_000, round(response / aim)) if response > 0 else 20_000


async def test_field_telemetry_across_midnight_settles_to_the_fen_of_spec_f2_f8_f9_f10(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        await world.build(platform)
        await w.set_program(fee_ratio=scenario.dec("0.1"))
        start = scenario.at(w.day, 94)  # 23:30 local on D
        end = start + SLOTS * fieldgen.SLOT  # 00:30 local on D+1
        slots = [start + k * fieldgen.SLOT for k in range(SLOTS)]
        before = start - fieldgen.SLOT

        def declare(conn: Connection) -> None:
            for day in (w.day, w.day + timedelta(days=1)):
                capacity.declare(
                    conn,
                    "agg-b",
                    capacity.Declaration(scenario.at(day, 0), (400_000,) * 96, (0,) * 96, "", ""),
                    datetime.now(UTC),
                )

        await platform.db.write(declare)

        rng = random.Random(1506)
        fleet = fieldgen.fleet(rng, "fb", 7, v2g_share=0.4)
        await w.telemetry["agg-b"].upsert_chargers(
            [charger(c.charger_id, "st-agg-b", v2g=c.bidirectional, rated_w=c.rated_w) for c in fleet]
        )
        samples = fieldgen.readings(rng, fleet, before - fieldgen.SLOT, end + fieldgen.SLOT, gap_chance=0.02)
        # A V2G pile (metered from power: its wire reading carries the import register only) goes
        # quiet for 4 minutes in the midnight slot: under 90 % covered, it has no value there.
        quiet = next(c.charger_id for c in fleet if c.bidirectional)
        samples = [
            s
            for s in samples
            if not (
                s.charger_id == quiet
                and slots[2] + timedelta(minutes=5) <= s.sample_time < slots[2] + timedelta(minutes=9)
            )
        ]
        # Late, duplicated, overlapping, re-sent; then a batch correcting some readings of the window.
        await _send(w, fieldgen.arrivals(rng, samples))
        corrected = {
            s.key: fieldgen.replace(s, power_w=s.power_w + rng.choice((-1, 1)) * rng.randint(500, 3000))
            for s in rng.sample([s for s in samples if start <= s.sample_time < end], 25)
        }
        await _send(w, [fieldgen.Batch(str(uuid.uuid4()), tuple(corrected.values()))])
        truth = [corrected.get(s.key, s) for s in samples]

        # F2: each charger's slot means, summed over the chargers that have a value.
        per_charger = {
            c.charger_id: fieldgen.spec_slot_means(
                [s for s in truth if s.charger_id == c.charger_id],
                [before, *slots],
                registers=not c.bidirectional,
            )
            for c in fleet
        }
        assert slots[2] not in per_charger[quiet]
        assert any(v < 0 for means in per_charger.values() for v, _ in means.values())  # V2G discharge
        assert any(cov < 1 for means in per_charger.values() for _, cov in means.values())  # partial slots
        actual = {
            at: sum((means[at][0] for means in per_charger.values() if at in means), Fraction(0))
            for at in [before, *slots]
        }
        baseline = actual[before]  # F8 PRE_EVENT: the slot before the window, flat
        response = {at: baseline - actual[at] for at in slots}  # F9, LOAD_DECREASE
        # The slots that responded most are aimed at r = 2 (capped at 1.2) and r = 0.8, the others at
        # r = 0.2 (a penalty) and r = 1, so every F10 regime is met whatever the fleet did.
        ranked = sorted(slots, key=lambda at: -response[at])
        aims = dict(zip(ranked, (Fraction(2), Fraction(4, 5), Fraction(1, 5), Fraction(1)), strict=True))
        instructed = [_instructed(response[at], aims[at]) for at in slots]
        rates = [response[at] / c for at, c in zip(slots, instructed, strict=True)]
        assert any(r < LOW for r in rates) and any(LOW <= r <= HIGH for r in rates), rates
        assert any(r > HIGH for r in rates), rates

        window = types_pb2.TimeWindow(start_time=ts(start), end_time=ts(end))
        curve = types_pb2.PowerCurve(start_time=ts(start), step_minutes=15, values_w=instructed)
        await w.grid.publish_event(
            market_pb2.Event(
                event_id="rt-night",
                type=market_pb2.EVENT_TYPE_REAL_TIME,
                direction=types_pb2.DIRECTION_LOAD_DECREASE,
                window=window,
                targets=[market_pb2.NodeTarget(grid_node=f"gridNodes/{world.NODE}", target=curve)],
                announced_price=world.cny("0.80"),
                program=scenario.PROGRAM,
                baseline_method=market_pb2.BASELINE_METHOD_PRE_EVENT,
            )
        )
        await w.grid.submit_dispatch_instruction(
            "aggregators/agg-b", types_pb2.DIRECTION_LOAD_DECREASE, curve, window, event="events/rt-night"
        )
        await platform.platform.scheduler.tick(start)
        await platform.platform.scheduler.tick(end)
        evaluated = await w.settlement.evaluate_event("events/rt-night")

        # F9 per slot, exact.
        [evaluation] = [e for e in evaluated.evaluations if e.name == "events/rt-night/evaluations/agg-b"]
        assert [
            (
                s.slot_start_time.ToDatetime(tzinfo=UTC),
                s.instructed_w,
                _exact(s.baseline_w_exact),
                _exact(s.actual_w_exact),
                _exact(s.response_w_exact),
                _exact(s.rate_exact),
            )
            for s in evaluation.slots
        ] == [
            (at, c, baseline, actual[at], response[at], response[at] / c)
            for at, c in zip(slots, instructed, strict=True)
        ]

        # F10 per line, rounded half-up to the fen; totals from the rounded lines.
        lines = []
        for at, c in zip(slots, instructed, strict=True):
            r, rate = response[at], response[at] / c
            kwh_price = DT * PRICE / 1000
            if rate < LOW:
                lines.append((Decimal(0), _fen((LOW * c - r) * kwh_price * PENALTY_FACTOR)))
            elif rate <= HIGH:
                lines.append((_fen(r * kwh_price), Decimal(0)))
            else:
                lines.append((_fen(HIGH * c * kwh_price), Decimal(0)))
        compensation = sum((comp for comp, _ in lines), Decimal(0))
        penalty = sum((pen for _, pen in lines), Decimal(0))
        total = compensation - penalty
        fee = _fen(FEE_RATIO * Fraction(compensation))
        [statement] = [s for s in evaluated.statements if s.name == STATEMENT]
        assert statement.state == settlement_pb2.STATEMENT_STATE_DRAFT
        assert [(cny(line.compensation), cny(line.penalty)) for line in statement.lines] == lines
        assert [line.slot.slot_start_time.ToDatetime(tzinfo=UTC) for line in statement.lines] == slots
        assert (
            cny(statement.total_compensation),
            cny(statement.total_penalty),
            cny(statement.total),
            cny(statement.fee),
            cny(statement.payable),
        ) == (compensation, penalty, total, fee, total - fee)
        grid = await w.settlement.get_grid_statement("events/rt-night")
        assert cny(grid.total) == total
