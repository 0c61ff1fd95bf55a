"""SPEC F4–F10 end to end over the gRPC surfaces: metered history and event day → publish, bid, clear,
execute (the scheduler's clock) → EvaluateEvent → statements → confirmation, dispute, adjustment.

World: tests/settlement/scenario.py (calendar, history). Program "settle":
TOP5_OF_10, UNIFORM, fee ratio 0.05. Event "dr-e2e", LOAD_DECREASE, 18:00–18:30
on D, target 100 000 W then 60 000 W. Bids (W @ CNY/kWh):

    slot 0: agg-b 50 000 @ 0.40, agg-a 60 000 @ 0.50 → b 50 000, a 50 000 (marginal); price 0.50
    slot 1: agg-b 40 000 @ 0.40, agg-a 30 000 @ 0.60 → b 40 000, a 20 000 (marginal); price 0.60

So C(agg-a) = [50 000, 20 000], C(agg-b) = [50 000, 40 000].

Baseline agg-a, candidates D−2, D−4 (调休), D−5, D−8, D−12, D−13, D−14, D−15,
D−16, D−19 (D−20 the 11th); window sums (kW) 600, 620, 600, 600, 200, 640, 300,
240, 600, 220 → top 5: D−13 640, D−4 620, then of the four at 600 the three most
recent D−2, D−5, D−8 (D−16 left out):
    B72 = (330 + 320 + 300 + 280 + 310) / 5 = 308 000;  B73 = (310 + 300 + 300 + 320 + 290) / 5 = 304 000
agg-b: B = 200 000.

Actual on D and the statements (Δt = 0.25 h):
    agg-a slot 0: A 268 000 → R 40 000, r 0.8 → 10 kWh × 0.50 = 5.00
          slot 1: A 274 000 → R 30 000, r 1.5 → capped 1.2 × 20 000 = 24 000 → 6 kWh × 0.60 = 3.60
          total 8.60, fee 0.05 × 8.60 = 0.43, payable 8.17; mean rate 1.15 (qualified), min 0.8,
          energy (40 000 + 30 000) × 0.25 = 17 500 Wh
    agg-b slot 0: A 180 000 → R 20 000, r 0.4 → penalty (25 000 − 20 000) × 0.25 h = 1.25 kWh × 0.50 × 0.5
                  = 0.3125 → 0.31
          slot 1: A 170 000 → R 30 000, r 0.75 → 7.5 kWh × 0.60 = 4.50
          total 4.50 − 0.31 = 4.19, fee 0.225 → 0.23 (half-up), payable 3.96; mean 0.575 (not qualified)
    grid: total 8.60 + 4.19 = 12.79 = payable 12.13 + fees 0.66

Correction: agg-a re-uploads slot 0 as 258 000 W → R 50 000, r 1.0 → 12.5 kWh × 0.50 = 6.25; the
adjustment carries +1.25 on slot 0 and 0 on slot 1; fee 0.05 × 9.85 = 0.4925 → 0.49, i.e. +0.06;
adjustment total 1.25, payable 1.19. Once confirmed, the grid total is 14.04 = 13.32 + 0.72.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from dr.world import notifications
from vgi.common.v1 import market_pb2, settlement_pb2

from clients.errors import FailedPreconditionError

from . import scenario
from .scenario import World

pytestmark = pytest.mark.timeout(120)

STATEMENT_A = "events/dr-e2e/statements/agg-a"
STATEMENT_B = "events/dr-e2e/statements/agg-b"


def cny(money: Any) -> Decimal:
    assert money.currency_code == "CNY"
    return Decimal(money.units) + Decimal(money.nanos) / 10**9


def figures(statement: settlement_pb2.Statement) -> dict[str, Decimal]:
    return {
        name: cny(getattr(statement, name))
        for name in ("total_compensation", "total_penalty", "total", "fee", "payable")
    }


def money_lines(statement: settlement_pb2.Statement) -> list[tuple[Decimal, Decimal]]:
    return [(cny(line.compensation), cny(line.penalty)) for line in statement.lines]


def d(text: str) -> Decimal:
    return Decimal(text)


async def test_metered_event_is_evaluated_settled_and_adjusted(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        await w.build(fee_ratio=scenario.dec("0.05"))
        await w.day_ahead(
            "dr-e2e",
            [100_000, 60_000],
            {"agg-b": [(50_000, "0.40"), (40_000, "0.40")], "agg-a": [(60_000, "0.50"), (30_000, "0.60")]},
        )
        await w.upload_event_day("agg-a", {72: 268_000, 73: 274_000}, scenario.BASE_A)
        await w.upload_event_day("agg-b", {72: 180_000, 73: 170_000}, scenario.BASE_B)

        # Not before the window has run: the event is CLEARED, evaluation needs COMPLETED.
        with pytest.raises(FailedPreconditionError) as early:
            await w.settlement.evaluate_event("events/dr-e2e")
        assert early.value.reason == "INVALID_EVENT_TRANSITION"
        assert early.value.metadata["state"] == "CLEARED"

        await w.run_window()
        request_id = str(uuid.uuid4())
        evaluated = await w.settlement.evaluate_event("events/dr-e2e", request_id=request_id)

        # ---- evaluations
        by_name = {e.name: e for e in evaluated.evaluations}
        assert sorted(by_name) == ["events/dr-e2e/evaluations/agg-a", "events/dr-e2e/evaluations/agg-b"]
        a = by_name["events/dr-e2e/evaluations/agg-a"]
        assert a.baseline_method == market_pb2.BASELINE_METHOD_TOP5_OF_10
        day = w.day
        assert list(a.baseline_days) == [(day - timedelta(days=k)).isoformat() for k in (2, 4, 5, 8, 13)]
        assert [
            (s.instructed_w, s.baseline_w.value, s.actual_w.value, s.response_w.value, s.rate.value)
            for s in a.slots
        ] == [
            (50_000, "308000", "268000", "40000", "0.8"),
            (20_000, "304000", "274000", "30000", "1.5"),
        ]
        assert [s.slot_start_time.ToDatetime().isoformat() for s in a.slots] == [
            scenario.at(day, 72).replace(tzinfo=None).isoformat(),
            scenario.at(day, 73).replace(tzinfo=None).isoformat(),
        ]
        assert (a.mean_rate.value, a.min_rate.value, a.energy_responded_wh.value, a.qualified) == (
            "1.15",
            "0.8",
            "17500",
            True,
        )
        b = by_name["events/dr-e2e/evaluations/agg-b"]
        assert [(s.baseline_w.value, s.rate.value) for s in b.slots] == [
            ("200000", "0.4"),
            ("200000", "0.75"),
        ]
        assert (b.mean_rate.value, b.min_rate.value, b.energy_responded_wh.value, b.qualified) == (
            "0.575",
            "0.4",
            "12500",
            False,
        )

        # ---- draft statements, one line per slot, and the grid's aggregate
        statements = {s.name: s for s in evaluated.statements}
        sa_, sb = statements[STATEMENT_A], statements[STATEMENT_B]
        assert money_lines(sa_) == [(d("5.00"), d("0")), (d("3.60"), d("0"))]
        assert [cny(line.price) for line in sa_.lines] == [d("0.5"), d("0.6")]
        assert figures(sa_) == {
            "total_compensation": d("8.60"),
            "total_penalty": d("0"),
            "total": d("8.60"),
            "fee": d("0.43"),
            "payable": d("8.17"),
        }
        assert money_lines(sb) == [(d("0"), d("0.31")), (d("4.50"), d("0"))]
        assert figures(sb) == {
            "total_compensation": d("4.50"),
            "total_penalty": d("0.31"),
            "total": d("4.19"),
            "fee": d("0.23"),
            "payable": d("3.96"),
        }
        for statement in (sa_, sb):
            assert statement.state == settlement_pb2.STATEMENT_STATE_DRAFT
            assert statement.kind == settlement_pb2.STATEMENT_KIND_REGULAR
        grid_statement = await w.settlement.get_grid_statement("events/dr-e2e")
        assert list(grid_statement.statements) == [STATEMENT_A, STATEMENT_B]
        assert (
            cny(grid_statement.total),
            cny(grid_statement.total_payable),
            cny(grid_statement.total_fee),
        ) == (
            d("12.79"),
            d("12.13"),
            d("0.66"),
        )
        assert cny(grid_statement.total) == sum((cny(s.payable) + cny(s.fee) for s in (sa_, sb)), Decimal(0))

        # The grid's retry answers the same; a fresh request cannot evaluate twice.
        assert await w.settlement.evaluate_event("events/dr-e2e", request_id=request_id) == evaluated
        with pytest.raises(FailedPreconditionError) as twice:
            await w.settlement.evaluate_event("events/dr-e2e")
        assert twice.value.reason == "INVALID_EVENT_TRANSITION"
        assert twice.value.metadata["state"] == "EVALUATED"

        # Each aggregator is told, on its stream, and reads its own.
        for aggregator_id, name in (("agg-a", STATEMENT_A), ("agg-b", STATEMENT_B)):
            ready = [n.statement_ready.statement for n in await notifications(platform, aggregator_id)]
            assert [r for r in ready if r] == [name]
            assert (
                await w.statements[aggregator_id].get_evaluation(f"events/dr-e2e/evaluations/{aggregator_id}")
            ) == (by_name[f"events/dr-e2e/evaluations/{aggregator_id}"])
            listed = await w.statements[aggregator_id].list_statements(event="events/dr-e2e")
            assert [s.name for s in listed.statements] == [name]
        assert [n for n in await notifications(platform, "agg-c") if n.HasField("statement_ready")] == []
        event = await w.grid.get_event("events/dr-e2e")
        assert event.state == market_pb2.EVENT_STATE_EVALUATED

        # ---- confirmation: agg-a and the grid both confirm; agg-b disputes, the grid resolves it as issued
        first = await w.statements["agg-a"].confirm_statement(STATEMENT_A)
        assert first.state == settlement_pb2.STATEMENT_STATE_DRAFT  # the grid has not confirmed yet
        confirmed_a = await w.settlement.confirm_statement(STATEMENT_A)
        assert confirmed_a.state == settlement_pb2.STATEMENT_STATE_CONFIRMED
        assert confirmed_a.HasField("confirm_time")
        assert figures(confirmed_a) == figures(sa_)

        disputed = await w.statements["agg-b"].dispute_statement(STATEMENT_B, "slot 0 meter gap")
        assert (disputed.state, disputed.dispute_reason) == (
            settlement_pb2.STATEMENT_STATE_DISPUTED,
            "slot 0 meter gap",
        )
        with pytest.raises(FailedPreconditionError) as own_dispute:
            await w.statements["agg-b"].confirm_statement(STATEMENT_B)
        assert own_dispute.value.reason == "STATEMENT_DISPUTED"
        assert (await w.grid.get_event("events/dr-e2e")).state == market_pb2.EVENT_STATE_EVALUATED
        resolved = await w.settlement.confirm_statement(STATEMENT_B)
        assert resolved.state == settlement_pb2.STATEMENT_STATE_CONFIRMED
        event = await w.grid.get_event("events/dr-e2e")
        assert [t.state for t in event.transitions][-3:] == [
            market_pb2.EVENT_STATE_COMPLETED,
            market_pb2.EVENT_STATE_EVALUATED,
            market_pb2.EVENT_STATE_SETTLED,
        ]

        # ---- a confirmed statement never changes
        for attempt in (
            w.statements["agg-a"].confirm_statement(STATEMENT_A),
            w.statements["agg-a"].dispute_statement(STATEMENT_A, "too late"),
            w.settlement.confirm_statement(STATEMENT_A),
        ):
            with pytest.raises(FailedPreconditionError) as frozen:
                await attempt
            assert frozen.value.reason == "STATEMENT_CONFIRMED"
            assert frozen.value.metadata == {"statement_id": "agg-a", "state": "CONFIRMED"}
            # A PreconditionFailure detail for every FAILED_PRECONDITION: one of its own named by the reason.
            assert [(v.type, v.subject) for v in frozen.value.precondition_violations] == [
                ("STATEMENT_CONFIRMED", "agg-a")
            ]
            assert frozen.value.precondition_violations[0].description.startswith(
                "statement agg-a is confirmed"
            )

        # ---- a correction: late meter data, then an adjustment statement referencing the original
        await w.upload("agg-a", {scenario.at(day, 72): 258_000})
        adjustment = await w.settlement.create_adjustment_statement(STATEMENT_A)
        assert adjustment.name == "events/dr-e2e/statements/agg-a.adj-1"
        assert (adjustment.kind, adjustment.adjusts, adjustment.state) == (
            settlement_pb2.STATEMENT_KIND_ADJUSTMENT,
            STATEMENT_A,
            settlement_pb2.STATEMENT_STATE_DRAFT,
        )
        assert money_lines(adjustment) == [(d("1.25"), d("0")), (d("0"), d("0"))]
        assert [(line.slot.actual_w.value, line.slot.rate.value) for line in adjustment.lines] == [
            ("258000", "1"),
            ("274000", "1.5"),
        ]
        assert figures(adjustment) == {
            "total_compensation": d("1.25"),
            "total_penalty": d("0"),
            "total": d("1.25"),
            "fee": d("0.06"),
            "payable": d("1.19"),
        }
        original = [
            s
            for s in (await w.settlement.list_statements("events/dr-e2e")).statements
            if s.name == STATEMENT_A
        ]
        assert original == [confirmed_a]
        with pytest.raises(FailedPreconditionError) as pending:
            await w.settlement.create_adjustment_statement(STATEMENT_A)
        assert pending.value.reason == "ADJUSTMENT_PENDING"
        # Until it is agreed, the grid's aggregate is unchanged.
        assert cny((await w.settlement.get_grid_statement("events/dr-e2e")).total) == d("12.79")
        await w.statements["agg-a"].confirm_statement(adjustment.name)
        await w.settlement.confirm_statement(adjustment.name)
        grid_statement = await w.settlement.get_grid_statement("events/dr-e2e")
        assert list(grid_statement.statements) == [STATEMENT_A, adjustment.name, STATEMENT_B]
        assert (
            cny(grid_statement.total),
            cny(grid_statement.total_payable),
            cny(grid_statement.total_fee),
        ) == (
            d("14.04"),
            d("13.32"),
            d("0.72"),
        )
        ready = [n.statement_ready.statement for n in await notifications(platform, "agg-a")]
        assert [r for r in ready if r] == [STATEMENT_A, adjustment.name]
