"""SPEC F4–F10 end to end over the gRPC surfaces, the paths tests/settlement/test_e2e.py does not reach:
valley filling with a V2G aggregator, a window across local midnight, too few candidate days (without
and then with a fallback, the program changed between publication and evaluation), confirmation by
both sides up to SETTLED, a dispute resolved as issued followed by an adjustment, the finance export
read back with independent readers, and an event nobody cleared, cancelled automatically without
becoming an event day. Every figure below is worked out by hand.

World: tests/settlement/scenario.py (calendar, agg-a/agg-b history, program "settle", a 200 000 W
decrease / 0 W increase declaration of D for every aggregator). Metering: all power reaches the
platform as 15-minute station aggregates (UploadTelemetry ``aggregates``). Slot-mean rule each figure
relies on: "an aggregator-uploaded 15-minute value for a slot is the slot's value" (SPEC F2, last
sentence of the slot-mean paragraph) — no figure depends on how meter readings are averaged.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from dr import world
from dr.world import ts
from vgi.common.v1 import capacity_pb2, market_pb2, settlement_pb2, types_pb2

from clients.errors import FailedPreconditionError
from clients.registry import AggregatorRegistryClient
from server import cli

from . import scenario
from .scenario import World, at

pytestmark = pytest.mark.timeout(180)

M = market_pb2
S = settlement_pb2


def d(text: str) -> Decimal:
    return Decimal(text)


def money(value: Any) -> Decimal:
    assert value.currency_code == "CNY"
    return Decimal(value.units) + Decimal(value.nanos) / 10**9


def lines(statement: S.Statement) -> list[tuple[Decimal, Decimal]]:
    return [(money(line.compensation), money(line.penalty)) for line in statement.lines]


def totals(statement: S.Statement) -> tuple[Decimal, ...]:
    return tuple(
        money(getattr(statement, f))
        for f in ("total_compensation", "total_penalty", "total", "fee", "payable")
    )


def fraction(value: S.ExactFraction) -> tuple[int, int]:
    return int(value.numerator), int(value.denominator)


def slot_figures(slot: S.SlotEvaluation) -> tuple[Any, ...]:
    """C, then B, A, R, r each as (wire decimal, exact numerator/denominator)."""
    return (
        slot.instructed_w,
        (slot.baseline_w.value, fraction(slot.baseline_w_exact)),
        (slot.actual_w.value, fraction(slot.actual_w_exact)),
        (slot.response_w.value, fraction(slot.response_w_exact)),
        (slot.rate.value, fraction(slot.rate_exact)),
    )


def days(day: date, *offsets: int) -> list[str]:
    return [(day - timedelta(days=k)).isoformat() for k in offsets]


async def declare(w: World, aggregator_id: str, day: date, *, decrease: int, increase: int) -> None:
    """The aggregator's own DeclareCapacity for the local ``day``: flat values."""
    client = AggregatorRegistryClient(w.platform.channel_for(f"vgi://aggregator/{aggregator_id}"))
    await client.declare_capacity(
        capacity_pb2.CapacityDeclaration(
            day_start_time=ts(at(day, 0)), decrease_w=[decrease] * 96, increase_w=[increase] * 96
        )
    )


async def publish(
    w: World,
    event_id: str,
    start: datetime,
    targets_w: list[int],
    *,
    direction: types_pb2.Direction = types_pb2.DIRECTION_LOAD_DECREASE,
    baseline_method: M.BaselineMethod = M.BASELINE_METHOD_UNSPECIFIED,
) -> None:
    event = world.day_ahead_event(event_id, start, targets_w)
    event.direction = direction
    event.baseline_method = baseline_method
    event.program = scenario.PROGRAM
    await w.grid.publish_event(event)


async def clear_and_run(w: World, event_id: str, start: datetime, end: datetime) -> None:
    """Bidding closes (deadline start − 2 h), the platform clears, the window runs on the scheduler's clock."""
    scheduler = w.platform.platform.scheduler
    await scheduler.tick(start - timedelta(hours=2))
    await w.grid.clear_event(f"events/{event_id}")
    await scheduler.tick(start)
    await scheduler.tick(end)


# ---------------------------------------------------------------- LOAD_INCREASE, V2G


V2G_WINDOW = {
    2: (-50_000, -40_000),
    4: (-60_000, -60_000),
    5: (-45_000, -50_000),
    8: (-30_000, -20_000),
    9: (-52_001, -48_000),
}
"""agg-c's metered slots 72/73 (W) on the days its TRIMMED baseline is drawn from; every other day
has −50 000 W there, and every other slot 30 000 W."""


async def test_valley_filling_by_a_v2g_aggregator_that_discharges_before_the_event(
    database_url: str, platform_factory: Any
) -> None:
    """agg-c runs V2G piles that discharge into the evening peak every day (slots 72/73 negative);
    event "vf" asks for a LOAD_INCREASE (填谷) of 80 000 W then 60 000 W at 18:00–18:30 on D, TRIMMED
    baseline, platform clearing, uniform price.

    Bid: agg-c offers 90 000 @ 0.30 and 60 000 @ 0.30. D's declaration says 0 W of increase, so the
    first bid is refused naming the declared capacity; agg-c declares 100 000 W of increase for D and
    bids again. Cleared: 80 000 (marginal, partly) and 60 000, price 0.30 → C = [80 000, 60 000].

    Baseline (TRIMMED): candidates D−2, D−4 (调休), D−5, D−8, D−9 (agg-c's D−9 is complete; D−3 Sunday,
    D−6 holiday, D−7 the day of "rt-old", to which agg-c was invited, are skipped). Window sums
    (W): −90 000, −120 000, −95 000, −50 000, −100 001 → drop D−8 (highest) and D−4 (lowest):
        B72 = (−50 000 − 45 000 − 52 001) / 3 = −147 001/3 = −49 000.333…   (not a finite decimal)
        B73 = (−40 000 − 50 000 − 48 000) / 3 = −46 000
    On D agg-c discharges 50 000 W in slot 71 (before the event) and then charges: A = 40 000, 10 000.
        R72 = A − B = 40 000 + 147 001/3 = 267 001/3;  r72 = 267 001/240 000 = 1.1125041666…
              compensation 267 001/3 W × 0.25 h = 22.250083… kWh × 0.30 = 6.675025 → 6.68
        R73 = 10 000 + 46 000 = 56 000;                r73 = 14/15
              compensation 14 kWh × 0.30 = 4.20
    Total 10.88, fee 0.05 × 10.88 = 0.544 → 0.54, payable 10.34. Mean rate 491 001/480 000 =
    163 667/160 000 = 1.02291875 (qualified), min 14/15, energy (267 001/3 + 56 000) × 0.25 =
    435 001/12 Wh.
    """
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        await w.build(fee_ratio=scenario.dec("0.05"))
        history: dict[datetime, int] = {}
        for offset in range(1, 21):
            day = w.day - timedelta(days=offset)
            w72, w73 = V2G_WINDOW.get(offset, (-50_000, -50_000))
            for slot in range(96):
                history[at(day, slot)] = {72: w72, 73: w73}.get(slot, 30_000)
        assert await w.upload("agg-c", history) == 20 * 96

        start, end = w.window(2)
        await publish(
            w,
            "vf",
            start,
            [80_000, 60_000],
            direction=types_pb2.DIRECTION_LOAD_INCREASE,
            baseline_method=M.BASELINE_METHOD_TRIMMED,
        )
        offers = world.slots(start, [(90_000, "0.30"), (60_000, "0.30")])
        with pytest.raises(FailedPreconditionError) as refused:
            await w.market["agg-c"].submit_bid("events/vf", offers)
        assert refused.value.reason == "BID_EXCEEDS_CAPACITY"
        assert refused.value.metadata == {
            "slot": "0",
            "bid_w": "90000",
            "capacity_w": "0",
            "capacity_source": "DECLARED",
        }
        assert [(v.type, v.subject, v.description) for v in refused.value.precondition_violations] == [
            ("CAPACITY", "slots[0]", "bid 90000 W exceeds capacity 0 W (declared capacity)"),
            ("CAPACITY", "slots[1]", "bid 60000 W exceeds capacity 0 W (declared capacity)"),
        ]
        await declare(w, "agg-c", w.day, decrease=0, increase=100_000)
        await w.market["agg-c"].submit_bid("events/vf", offers)
        await w.upload_event_day("agg-c", {71: -50_000, 72: 40_000, 73: 10_000}, 30_000)
        await clear_and_run(w, "vf", start, end)

        evaluated = await w.settlement.evaluate_event("events/vf")
        [evaluation] = evaluated.evaluations
        assert evaluation.aggregator == "aggregators/agg-c"
        assert evaluation.baseline_method == M.BASELINE_METHOD_TRIMMED
        assert list(evaluation.baseline_days) == days(w.day, 2, 5, 9)
        assert [slot_figures(s) for s in evaluation.slots] == [
            (
                80_000,
                ("-49000.333333333", (-147_001, 3)),
                ("40000", (40_000, 1)),
                ("89000.333333333", (267_001, 3)),
                ("1.112504167", (267_001, 240_000)),
            ),
            (
                60_000,
                ("-46000", (-46_000, 1)),
                ("10000", (10_000, 1)),
                ("56000", (56_000, 1)),
                ("0.933333333", (14, 15)),
            ),
        ]
        assert (
            (evaluation.mean_rate.value, fraction(evaluation.mean_rate_exact)),
            (evaluation.min_rate.value, fraction(evaluation.min_rate_exact)),
            (evaluation.energy_responded_wh.value, fraction(evaluation.energy_responded_wh_exact)),
            evaluation.qualified,
        ) == (
            ("1.02291875", (163_667, 160_000)),
            ("0.933333333", (14, 15)),
            ("36250.083333333", (435_001, 12)),
            True,
        )
        [statement] = evaluated.statements
        assert {money(line.price) for line in statement.lines} == {d("0.3")}
        assert lines(statement) == [(d("6.68"), d("0")), (d("4.20"), d("0"))]
        assert totals(statement) == (d("10.88"), d("0"), d("10.88"), d("0.54"), d("10.34"))


# ---------------------------------------------------------------- across local midnight


async def test_a_window_across_local_midnight_is_two_event_days_then_disputed_and_adjusted(
    database_url: str, platform_factory: Any, tmp_path: Path
) -> None:
    """Event "night": LOAD_DECREASE 23:30 on D (Wednesday) to 00:30 on D+1 (Thursday), 50 000 W per
    slot; agg-b bids 60 000 @ 0.40 in each slot → C = 50 000, price 0.40.

    The first bid is refused for the D+1 slots: nothing is declared for D+1, so they were checked
    against agg-b's real-time capacity, 0 W (no live sessions). agg-b declares D+1 and bids again.

    Each local day of the window is its own D for the baseline (TOP5_OF_10, agg-b flat 200 000 W,
    except D−1's slots 0/1, corrected to 260 000 W):
    - D's slots 94/95: candidates from D−2: D−2, D−4, D−5, D−8, D−9, D−12 … all 200 000 → the five most
      recent, B = 200 000;
    - D+1's slots 0/1: candidates from D−1 (D−1 is D+1 − 2): D−1 at 260 000, then D−2, D−4, D−5, D−8
      → B = (260 000 + 4 × 200 000) / 5 = 212 000.
    Baseline days (union, most recent first): D−1, D−2, D−4, D−5, D−8, D−9.

    Actual 160 000, 150 000 | 172 000, 147 000 → R 40 000, 50 000 | 40 000, 65 000,
    r 0.8, 1, 0.8, 1.3 (capped at 1.2 × 50 000 = 60 000) → 10, 12.5, 10, 15 kWh × 0.40 =
    4.00, 5.00, 4.00, 6.00; total 19.00, fee 0.95, payable 18.05.

    agg-b disputes; the grid confirms as issued (CONFIRMED, event SETTLED). A late meter correction
    of D+1's slot 0 to 162 000 W (R 50 000, r 1 → 5.00) gives adjustment agg-b.adj-1: +1.00 on that
    line, fee 0.05 × 20.00 = 1.00 → +0.05, payable +0.95. Once both confirm it, the grid's total is
    20.00 = 19.00 payable + 1.00 fees.
    """
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        await w.build(fee_ratio=scenario.dec("0.05"))
        day, next_day = w.day, w.day + timedelta(days=1)
        start, end = at(day, 94), at(next_day, 2)
        await w.upload("agg-b", {at(day - timedelta(days=1), s): 260_000 for s in (0, 1)})
        await publish(w, "night", start, [50_000] * 4)

        offers = world.slots(start, [(60_000, "0.40")] * 4)
        with pytest.raises(FailedPreconditionError) as refused:
            await w.market["agg-b"].submit_bid("events/night", offers)
        assert refused.value.reason == "BID_EXCEEDS_CAPACITY"
        assert refused.value.metadata == {
            "slot": "2",
            "bid_w": "60000",
            "capacity_w": "0",
            "capacity_source": "REAL_TIME",
        }
        assert [v.subject for v in refused.value.precondition_violations] == ["slots[2]", "slots[3]"]
        assert refused.value.precondition_violations[0].description == (
            "bid 60000 W exceeds capacity 0 W (real-time capacity)"
        )
        await declare(w, "agg-b", next_day, decrease=200_000, increase=0)
        await w.market["agg-b"].submit_bid("events/night", offers)

        await w.upload_event_day("agg-b", {94: 160_000, 95: 150_000}, scenario.BASE_B)
        await w.upload("agg-b", {at(next_day, 0): 172_000, at(next_day, 1): 147_000})
        await clear_and_run(w, "night", start, end)

        evaluated = await w.settlement.evaluate_event("events/night")
        [evaluation] = evaluated.evaluations
        assert list(evaluation.baseline_days) == days(day, 1, 2, 4, 5, 8, 9)
        assert [s.slot_start_time.ToDatetime().isoformat() for s in evaluation.slots] == [
            t.replace(tzinfo=None).isoformat()
            for t in (at(day, 94), at(day, 95), at(next_day, 0), at(next_day, 1))
        ]
        assert [
            (s.instructed_w, s.baseline_w.value, s.actual_w.value, s.response_w.value, s.rate.value)
            for s in evaluation.slots
        ] == [
            (50_000, "200000", "160000", "40000", "0.8"),
            (50_000, "200000", "150000", "50000", "1"),
            (50_000, "212000", "172000", "40000", "0.8"),
            (50_000, "212000", "147000", "65000", "1.3"),
        ]
        [statement] = evaluated.statements
        assert lines(statement) == [
            (d("4.00"), d("0")),
            (d("5.00"), d("0")),
            (d("4.00"), d("0")),
            (d("6.00"), d("0")),
        ]
        assert totals(statement) == (d("19.00"), d("0"), d("19.00"), d("0.95"), d("18.05"))

        name = "events/night/statements/agg-b"
        disputed = await w.statements["agg-b"].dispute_statement(name, "slot 3 was capped")
        assert disputed.state == S.STATEMENT_STATE_DISPUTED
        assert (await w.grid.get_event("events/night")).state == M.EVENT_STATE_EVALUATED
        resolved = await w.settlement.confirm_statement(name)
        assert (resolved.state, resolved.dispute_reason) == (S.STATEMENT_STATE_CONFIRMED, "slot 3 was capped")
        assert totals(resolved) == totals(statement)
        assert (await w.grid.get_event("events/night")).state == M.EVENT_STATE_SETTLED

        await w.upload("agg-b", {at(next_day, 0): 162_000})
        adjustment = await w.settlement.create_adjustment_statement(name)
        assert (adjustment.name, adjustment.kind, adjustment.adjusts) == (
            "events/night/statements/agg-b.adj-1",
            S.STATEMENT_KIND_ADJUSTMENT,
            name,
        )
        assert lines(adjustment) == [
            (d("0"), d("0")),
            (d("0"), d("0")),
            (d("1.00"), d("0")),
            (d("0"), d("0")),
        ]
        assert totals(adjustment) == (d("1.00"), d("0"), d("1.00"), d("0.05"), d("0.95"))
        await w.statements["agg-b"].confirm_statement(adjustment.name)
        await w.settlement.confirm_statement(adjustment.name)
        grid = await w.settlement.get_grid_statement("events/night")
        assert (money(grid.total), money(grid.total_payable), money(grid.total_fee)) == (
            d("20.00"),
            d("19.00"),
            d("1.00"),
        )

        listed = list((await w.settlement.list_statements("events/night")).statements)
        assert [s.name for s in listed] == [name, adjustment.name]
        for fmt in ("csv", "xlsx"):
            path = tmp_path / f"night.{fmt}"
            assert await export(database_url, path, fmt, "--event", "events/night") == 0
            assert read_export(path) == expected_rows(listed), fmt


# ---------------------------------------------------------------- too few candidate days


async def test_too_few_days_then_a_fallback_then_confirmed_by_both_and_settled(
    database_url: str, platform_factory: Any, tmp_path: Path
) -> None:
    """agg-c's metered history is four working days (D−2, D−4, D−5, D−8, 90 000 W flat): TOP5_OF_10
    finds 4 of the 5 days it needs. Event "few", 18:00–18:30 on D, agg-c bids 30 000 @ 0.50 twice
    → C = 30 000, price 0.50. On D agg-c draws 100 000 W in slot 71, then 80 000 and 62 000.

    Without a fallback the evaluation fails (INSUFFICIENT_BASELINE_DAYS) and changes nothing. The
    operator then changes program "settle" — fallback PRE_EVENT, fee ratio 0.05 → 0.10 — and the
    evaluation uses the program as it stands: B = slot 71 of D = 100 000 flat;
        R 20 000, r 2/3 → 5 kWh × 0.50 = 2.50;  R 38 000, r 19/15 > 1.2 → 1.2 × 30 000 = 36 000 →
        9 kWh × 0.50 = 4.50; total 7.00, fee 0.10 × 7.00 = 0.70, payable 6.30.
    agg-c confirms (still DRAFT: the grid has not), the grid confirms → CONFIRMED, and with its only
    regular statement confirmed the event is SETTLED. A confirmed statement refuses every change.
    """
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        await w.build(fee_ratio=scenario.dec("0.05"))
        assert (
            await w.upload(
                "agg-c",
                {at(w.day - timedelta(days=k), s): 90_000 for k in (2, 4, 5, 8) for s in range(96)},
            )
            == 4 * 96
        )
        start, end = w.window(2)
        await publish(w, "few", start, [30_000, 30_000])
        await w.market["agg-c"].submit_bid("events/few", world.slots(start, [(30_000, "0.50")] * 2))
        await w.upload_event_day("agg-c", {71: 100_000, 72: 80_000, 73: 62_000}, 90_000)
        await clear_and_run(w, "few", start, end)

        with pytest.raises(FailedPreconditionError) as short:
            await w.settlement.evaluate_event("events/few")
        assert short.value.reason == "INSUFFICIENT_BASELINE_DAYS"
        assert short.value.metadata == {
            "method": "TOP5_OF_10",
            "found": "4",
            "needed": "5",
            "scope": "aggregators/agg-c",
        }
        assert (await w.grid.get_event("events/few")).state == M.EVENT_STATE_COMPLETED
        assert list((await w.settlement.list_statements("events/few")).statements) == []

        await w.set_program(
            fee_ratio=scenario.dec("0.10"), fallback_baseline_method=M.BASELINE_METHOD_PRE_EVENT
        )
        evaluated = await w.settlement.evaluate_event("events/few")
        [evaluation] = evaluated.evaluations
        assert (evaluation.baseline_method, list(evaluation.baseline_days)) == (
            M.BASELINE_METHOD_PRE_EVENT,
            [w.day.isoformat()],
        )
        assert [
            (s.baseline_w.value, s.response_w.value, fraction(s.rate_exact)) for s in evaluation.slots
        ] == [
            ("100000", "20000", (2, 3)),
            ("100000", "38000", (19, 15)),
        ]
        [statement] = evaluated.statements
        assert lines(statement) == [(d("2.50"), d("0")), (d("4.50"), d("0"))]
        assert totals(statement) == (d("7.00"), d("0"), d("7.00"), d("0.70"), d("6.30"))

        name = "events/few/statements/agg-c"
        assert (await w.statements["agg-c"].confirm_statement(name)).state == S.STATEMENT_STATE_DRAFT
        assert (await w.grid.get_event("events/few")).state == M.EVENT_STATE_EVALUATED
        confirmed = await w.settlement.confirm_statement(name)
        assert confirmed.state == S.STATEMENT_STATE_CONFIRMED
        event = await w.grid.get_event("events/few")
        assert [t.state for t in event.transitions][-3:] == [
            M.EVENT_STATE_COMPLETED,
            M.EVENT_STATE_EVALUATED,
            M.EVENT_STATE_SETTLED,
        ]
        for attempt in (
            w.statements["agg-c"].dispute_statement(name, "too late"),
            w.statements["agg-c"].confirm_statement(name),
            w.settlement.confirm_statement(name),
        ):
            with pytest.raises(FailedPreconditionError) as frozen:
                await attempt
            assert frozen.value.reason == "STATEMENT_CONFIRMED"
        assert list((await w.settlement.list_statements("events/few")).statements) == [confirmed]

        # The finance export of D (a local-day range) holds exactly this event's statement.
        for fmt in ("csv", "xlsx"):
            path = tmp_path / f"few.{fmt}"
            assert await export(database_url, path, fmt, "--from", str(w.day), "--to", str(w.day)) == 0
            assert read_export(path) == expected_rows([confirmed]), fmt
        empty = tmp_path / "none.csv"
        before = str(w.day - timedelta(days=1))
        assert await export(database_url, empty, "csv", "--from", before, "--to", before) == 0
        assert read_export(empty) == []


# ---------------------------------------------------------------- an event nobody cleared


async def test_an_event_not_cleared_by_its_window_start_is_cancelled_and_is_no_event_day(
    database_url: str, platform_factory: Any
) -> None:
    """Day-ahead event "missed" on D−5 (Friday) 18:00–18:30 invites agg-a/b/c and is never cleared: at
    its window start the scheduler cancels it, and D−5 stays a candidate day. Event "kept" on D (agg-b
    bids 50 000 @ 0.40 twice, C = 50 000) is evaluated with TOP5_OF_10 over agg-b's flat history; its
    ten most recent candidates start D−2, D−4, D−5, D−8, D−9 — had "missed" counted as an event day,
    D−5 would give way to D−12. B = 200 000, A = 160 000 → R 40 000, r 0.8, 10 kWh × 0.40 = 4.00 a slot.
    """
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        await w.build(fee_ratio=scenario.dec("0.05"))
        missed_start = at(w.day - timedelta(days=5), 72)
        await publish(w, "missed", missed_start, [50_000, 50_000])
        await w.platform.platform.scheduler.tick(missed_start)
        missed = await w.grid.get_event("events/missed")
        assert missed.state == M.EVENT_STATE_CANCELLED
        assert [(t.state, t.reason) for t in missed.transitions][-2:] == [
            (M.EVENT_STATE_BIDDING_CLOSED, ""),
            (M.EVENT_STATE_CANCELLED, "not cleared before the window started"),
        ]
        assert missed.transitions[-1].transition_time.ToDatetime(tzinfo=UTC) == missed_start

        start, end = w.window(2)
        await publish(w, "kept", start, [50_000, 50_000])
        await w.market["agg-b"].submit_bid("events/kept", world.slots(start, [(50_000, "0.40")] * 2))
        await w.upload_event_day("agg-b", {72: 160_000, 73: 160_000}, scenario.BASE_B)
        await clear_and_run(w, "kept", start, end)
        [evaluation] = (await w.settlement.evaluate_event("events/kept")).evaluations
        assert list(evaluation.baseline_days) == days(w.day, 2, 4, 5, 8, 9)
        [statement] = (await w.settlement.list_statements("events/kept")).statements
        assert lines(statement) == [(d("4.00"), d("0")), (d("4.00"), d("0"))]


# ---------------------------------------------------------------- the finance export


async def export(database_url: str, path: Path, fmt: str, *selection: str) -> int:
    """``vgi statements export`` in a worker thread (it reads the store synchronously)."""
    argv = ["statements", "export", "--database", database_url, "--format", fmt, "--output", str(path)]
    return await asyncio.to_thread(cli.main, [*argv, *selection])


Row = dict[str, str]
_MONEY_COLUMNS = ("compensation_cny", "penalty_cny", "total_cny", "fee_cny", "payable_cny")


def read_export(path: Path) -> list[Row]:
    """The file as text rows, read with the csv module or openpyxl (not with the writer's code);
    numbers from the spreadsheet normalised: money to 2 places, prices and watts as plain decimals."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return [dict(row) for row in csv.DictReader(f)]
    sheet = openpyxl.load_workbook(path, read_only=True)["statements"]
    table = list(sheet.iter_rows(values_only=True))
    header = [str(h) for h in table[0]]
    rows = []
    for values in table[1:]:
        row: Row = {}
        for name, value in zip(header, values, strict=True):
            if value is None:
                row[name] = ""
            elif name in _MONEY_COLUMNS:
                row[name] = str(Decimal(str(value)).quantize(Decimal("0.01")))
            elif isinstance(value, float | int):
                row[name] = format(Decimal(str(value)).normalize(), "f")
            else:
                row[name] = str(value)
        rows.append(row)
    return rows


def _fraction_text(value: S.ExactFraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def expected_rows(statements: Sequence[S.Statement]) -> list[Row]:
    """What the export must hold, built from ListStatements' answer."""
    kinds = {S.STATEMENT_KIND_REGULAR: "REGULAR", S.STATEMENT_KIND_ADJUSTMENT: "ADJUSTMENT"}
    states = {
        S.STATEMENT_STATE_DRAFT: "DRAFT",
        S.STATEMENT_STATE_CONFIRMED: "CONFIRMED",
        S.STATEMENT_STATE_DISPUTED: "DISPUTED",
    }
    empty = dict.fromkeys(
        (
            "slot_start",
            "instructed_w",
            "baseline_w",
            "baseline_w_exact",
            "actual_w",
            "actual_w_exact",
            "response_w",
            "response_w_exact",
            "rate",
            "rate_exact",
            "price_cny_per_kwh",
            *_MONEY_COLUMNS,
        ),
        "",
    )
    rows: list[Row] = []
    for s in statements:
        common = {
            "event": s.name.split("/")[1],
            "statement": s.name,
            "aggregator": s.aggregator.removeprefix("aggregators/"),
            "kind": kinds[s.kind],
            "adjusts": s.adjusts,
            "state": states[s.state],
        }
        for line in s.lines:
            slot = line.slot
            row = {"record": "LINE", **common, **empty}
            row["slot_start"] = slot.slot_start_time.ToDatetime(tzinfo=UTC).isoformat()
            if slot.HasField("baseline_w"):
                row["instructed_w"] = str(slot.instructed_w)
                for name in ("baseline_w", "actual_w", "response_w", "rate"):
                    row[name] = getattr(slot, name).value
                    row[f"{name}_exact"] = _fraction_text(getattr(slot, f"{name}_exact"))
                row["price_cny_per_kwh"] = format(money(line.price).normalize(), "f")
            row["compensation_cny"] = str(money(line.compensation).quantize(Decimal("0.01")))
            row["penalty_cny"] = str(money(line.penalty).quantize(Decimal("0.01")))
            rows.append(row)
        total = {"record": "TOTAL", **common, **empty}
        (
            total["compensation_cny"],
            total["penalty_cny"],
            total["total_cny"],
            total["fee_cny"],
            total["payable_cny"],
        ) = (str(v.quantize(Decimal("0.01"))) for v in totals(s))
        rows.append(total)
    return rows
