"""SPEC F10 settlement, hand-computed.

Every line below uses Δt = 0.25 h and kWh = W·h / 1000, so one watt held over a
slot is 0.00025 kWh; with C = 4000 W a rate of 1 is 4000 · 0.00025 = 1 kWh.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.baseline import BaselineMethod, compute_baseline
from domain.calendar import SlotWindow, WorkingCalendar
from domain.errors import FailedPrecondition, InvalidArgument
from domain.evaluation import Direction, evaluate
from domain.settlement import (
    PRICE_MISSING,
    STATEMENT_CONFIRMED,
    STATEMENT_DISPUTED,
    STATEMENT_NOT_CONFIRMED,
    DeltaLine,
    EventPrices,
    PriceMode,
    SettlementSettings,
    Statement,
    StatementLine,
    StatementState,
    StoredAmounts,
    aggregate_event,
    build_adjustment,
    build_statement,
    confirm,
    dispute,
    from_units_nanos,
    position_lines,
    revise,
    round_fen,
    to_units_nanos,
)

SETTINGS = SettlementSettings(fee_ratio=Decimal("0.05"))
D = Decimal


def _stored(*statements: Statement) -> dict[str, StoredAmounts]:
    """The header amounts the store writes for these statements."""
    return {s.statement_id: StoredAmounts(s.compensation, s.penalty, s.fee) for s in statements}


def settle(
    actual: Mapping[int, int | Decimal],
    prices: EventPrices,
    *,
    instructed: Mapping[int, int] | None = None,
    baseline: Mapping[int, int | Decimal | Fraction] | None = None,
    statement_id: str = "st-1",
    aggregator_id: str = "agg-1",
    direction: Direction = Direction.LOAD_DECREASE,
) -> Statement:
    """Settle a decrease event with C = 4000 W and B = 10000 W unless told otherwise."""
    instructed = instructed if instructed is not None else {s: 4000 for s in actual}
    baseline = baseline if baseline is not None else {s: 10000 for s in actual}
    evaluation = evaluate(direction, instructed, baseline, actual)
    return build_statement(statement_id, "ev-1", aggregator_id, evaluation, prices, SETTINGS)


# slot: A with B = 10000, C = 4000 → R, r
BANDS = {
    0: 6800,  # R = 3200, r = 0.8     → compensation 0.8 kWh · p
    1: 8000,  # R = 2000, r = 0.5     → compensation 0.5 kWh · p (lower boundary: paid)
    2: 5200,  # R = 4800, r = 1.2     → compensation 1.2 kWh · p (upper boundary: not capped below)
    3: 5100,  # R = 4900, r = 1.225   → capped: 1.2 · 4000 · 0.00025 = 1.2 kWh · p
    4: 9000,  # R = 1000, r = 0.25    → penalty (2000 − 1000) · 0.00025 · 0.5 = 0.125 kWh · p
    5: 8001,  # R = 1999, r = 0.49975 → penalty (2000 − 1999) · 0.00025 · 0.5 = 0.000125 kWh · p
    6: 10400,  # R = −400, r = −0.1   → penalty (2000 + 400) · 0.00025 · 0.5 = 0.3 kWh · p
}


def all_prices(mode: PriceMode) -> EventPrices:
    """Clearing 3.00, own bid 2.00 and announced 5.00 are all present; ``mode`` picks one."""
    return EventPrices(
        mode,
        clearing={s: D("3.00") for s in BANDS},
        own_bid={s: D("2.00") for s in BANDS},
        announced=D("5.00"),
    )


@pytest.mark.parametrize(
    ("mode", "compensation", "penalty"),
    [
        # p = 3.00 (clearing): 2.40, 1.50, 3.60, 3.60 | 0.375 → 0.38, 0.000375 → 0.00, 0.90
        (
            PriceMode.UNIFORM,
            ["2.40", "1.50", "3.60", "3.60", "0", "0", "0"],
            ["0", "0", "0", "0", "0.38", "0", "0.90"],
        ),
        # p = 2.00 (own bid): 1.60, 1.00, 2.40, 2.40 | 0.25, 0.00025 → 0.00, 0.60
        (
            PriceMode.PAY_AS_BID,
            ["1.60", "1.00", "2.40", "2.40", "0", "0", "0"],
            ["0", "0", "0", "0", "0.25", "0", "0.60"],
        ),
        # p = 5.00 (announced): 4.00, 2.50, 6.00, 6.00 | 0.625 → 0.63, 0.000625 → 0.00, 1.50
        (
            PriceMode.DIRECT_CONTROL,
            ["4.00", "2.50", "6.00", "6.00", "0", "0", "0"],
            ["0", "0", "0", "0", "0.63", "0", "1.50"],
        ),
    ],
)
def test_bands_and_boundaries_in_every_price_mode(
    mode: PriceMode, compensation: list[str], penalty: list[str]
) -> None:
    statement = settle(dict(BANDS), all_prices(mode))
    assert [line.compensation for line in statement.lines] == [D(x) for x in compensation]
    assert [line.penalty for line in statement.lines] == [D(x) for x in penalty]
    assert all(line.compensation.as_tuple().exponent == -2 for line in statement.lines)


def test_statement_line_carries_the_audit_values() -> None:
    line = settle({4: 9000}, EventPrices(PriceMode.UNIFORM, clearing={4: D("3.00")})).lines[0]
    assert line == StatementLine(
        slot=4,
        instructed_w=4000,
        baseline_w=Fraction(10000),
        actual_w=Fraction(9000),
        response_w=Fraction(1000),
        rate=Fraction(1, 4),
        price=D("3.00"),
        compensation=D("0.00"),
        penalty=D("0.38"),
    )


def test_pay_as_bid_uses_each_slots_own_price() -> None:
    prices = EventPrices(
        PriceMode.PAY_AS_BID, clearing={0: D("9"), 1: D("9")}, own_bid={0: D("2.50"), 1: D("2.80")}
    )
    statement = settle({0: 6800, 1: 9000}, prices)
    # 0.8 kWh · 2.50 = 2.00; penalty 0.125 kWh · 2.80 = 0.35
    assert [(x.compensation, x.penalty) for x in statement.lines] == [
        (D("2.00"), D("0")),
        (D("0"), D("0.35")),
    ]
    assert statement.total == D("1.65")


def test_missing_price_fails_the_precondition() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        settle({0: 6800, 1: 6800}, EventPrices(PriceMode.UNIFORM, clearing={0: D("3")}))
    assert caught.value.reason == PRICE_MISSING
    assert caught.value.metadata == {"mode": "UNIFORM", "slot": "1"}
    with pytest.raises(FailedPrecondition):
        settle({0: 6800}, EventPrices(PriceMode.DIRECT_CONTROL))


def test_load_increase_is_settled_on_a_minus_b() -> None:
    # B = 1000, A = 4200 → R = 3200, C = 4000, r = 0.8 → 0.8 kWh · 3 = 2.40
    statement = settle(
        {0: 4200},
        EventPrices(PriceMode.UNIFORM, clearing={0: D("3")}),
        baseline={0: 1000},
        direction=Direction.LOAD_INCREASE,
    )
    assert statement.lines[0].compensation == D("2.40")


def test_zero_instruction_slots_get_no_line() -> None:
    statement = settle(
        {0: 6800, 1: 0}, EventPrices(PriceMode.UNIFORM, clearing={0: D("3")}), instructed={0: 4000, 1: 0}
    )
    assert [line.slot for line in statement.lines] == [0]


@pytest.mark.parametrize(
    ("c", "b", "a", "price", "expected"),
    [
        (1000, 1000, 500, "1.00", "0.13"),  # R = 500, r = 0.5: 500 · 0.00025 · 1 = 0.125 → 0.13
        (20, 20, 0, "1.00", "0.01"),  # R = 20, r = 1: 20 · 0.00025 · 1 = 0.005 → 0.01
        (20, D("19.6"), 0, "1.00", "0.00"),  # R = 19.6, r = 0.98: 0.0049 → 0.00
        (4000, 4000, 2000, "0.99", "0.50"),  # R = 2000, r = 0.5: 0.5 kWh · 0.99 = 0.495 → 0.50
    ],
)
def test_half_up_rounding_of_a_line(c: int, b: int | Decimal, a: int, price: str, expected: str) -> None:
    statement = settle(
        {0: a}, EventPrices(PriceMode.DIRECT_CONTROL, announced=D(price)), instructed={0: c}, baseline={0: b}
    )
    assert str(statement.lines[0].compensation) == expected


def test_penalty_on_an_exact_third_lands_on_the_half_fen() -> None:
    # TRIMMED over one slot: 5 days at 500, 67, 68, 68, 0 → drop 500 and 0 → B = 203/3
    days = [date(2025, 6, 9), date(2025, 6, 6), date(2025, 6, 5), date(2025, 6, 4), date(2025, 6, 3)]
    history = {
        d: {s: 0 for s in range(96)} | {10: v} for d, v in zip(days, [500, 67, 68, 68, 0], strict=True)
    }
    window = SlotWindow(10, 11)
    baseline = compute_baseline(
        history, date(2025, 6, 11), window, WorkingCalendar(), method=BaselineMethod.TRIMMED
    )
    assert baseline.values[10] == Fraction(203, 3)
    # C = 2, A = 200: R = 203/3 − 200 = −397/3; penalty = (1 + 397/3) · 0.00025 · 0.30 · 0.5
    #   = 400/3 · 0.0000375 = 0.005 exactly → 0.01. A baseline cut to 28 digits
    #   (67.66…67) would give 0.00499… → 0.00, one fen short.
    statement = settle(
        {10: 200},
        EventPrices(PriceMode.DIRECT_CONTROL, announced=D("0.30")),
        instructed={10: 2},
        baseline=dict(baseline.values),
    )
    assert statement.lines[0].penalty == D("0.01")


def test_round_fen_negative_side_is_symmetric() -> None:
    assert round_fen(D("0.125")) == D("0.13")
    assert round_fen(D("-0.125")) == D("-0.13")
    assert round_fen(Fraction(-1, 200)) == D("-0.01")  # −0.005
    assert round_fen(D("-0.0049")) == D("0.00")
    assert str(round_fen(D("-0.004"))) == "0.00"  # no negative zero on a statement
    assert str(round_fen(Fraction(1, 3))) == "0.33"


def main_statement(statement_id: str = "st-1", aggregator_id: str = "agg-1") -> Statement:
    """Slots 0–4 of BANDS at the uniform price 3.00."""
    actual = {s: BANDS[s] for s in range(5)}
    return settle(
        actual,
        EventPrices(PriceMode.UNIFORM, clearing={s: D("3.00") for s in actual}),
        statement_id=statement_id,
        aggregator_id=aggregator_id,
    )


def test_totals_fee_and_payable() -> None:
    statement = main_statement()
    assert statement.compensation == D("11.10")  # 2.40 + 1.50 + 3.60 + 3.60
    assert statement.penalty == D("0.38")
    assert statement.total == D("10.72")  # 11.10 − 0.38
    assert statement.fee == D("0.56")  # 0.05 · 11.10 = 0.555 → 0.56
    assert statement.payable == D("10.16")  # 10.72 − 0.56
    assert statement.state is StatementState.DRAFT


def test_grid_aggregate_identity() -> None:
    first = main_statement()
    # second aggregator: one slot at r = 0.8 → 2.40, fee 0.12; one at r = 0.25 → penalty 0.38
    second = settle(
        {0: 6800, 1: 9000},
        EventPrices(PriceMode.UNIFORM, clearing={0: D(3), 1: D(3)}),
        statement_id="st-2",
        aggregator_id="agg-2",
    )
    assert (second.total, second.fee, second.payable) == (D("2.02"), D("0.12"), D("1.90"))
    aggregate = aggregate_event("ev-1", [first, second], _stored(first, second))
    assert aggregate.total == D("12.74")  # 10.72 + 2.02
    assert aggregate.fee == D("0.68")  # 0.56 + 0.12
    assert aggregate.payable == D("12.06")  # 10.16 + 1.90
    assert aggregate.total == aggregate.payable + aggregate.fee
    assert aggregate.total_by_aggregator == {"agg-1": D("10.72"), "agg-2": D("2.02")}
    with pytest.raises(InvalidArgument):
        aggregate_event("ev-2", [first], _stored(first))


def test_lifecycle_confirm() -> None:
    confirmed = confirm(main_statement())
    assert confirmed.state is StatementState.CONFIRMED
    for change in (confirm, lambda s: dispute(s, "meter"), lambda s: revise(s, [], SETTINGS)):
        with pytest.raises(FailedPrecondition) as caught:
            change(confirmed)
        assert caught.value.reason == STATEMENT_CONFIRMED


def test_lifecycle_dispute_then_confirm_or_revise() -> None:
    draft = main_statement()
    disputed = dispute(draft, "meter 3 was offline")
    assert (disputed.state, disputed.dispute_reason) == (StatementState.DISPUTED, "meter 3 was offline")
    assert draft.state is StatementState.DRAFT  # transitions never mutate
    with pytest.raises(FailedPrecondition) as caught:
        dispute(disputed, "again")
    assert caught.value.reason == STATEMENT_DISPUTED
    with pytest.raises(InvalidArgument):
        dispute(draft, "  ")
    assert confirm(disputed).state is StatementState.CONFIRMED
    revised = revise(
        disputed, [x for x in draft.lines[:2] if isinstance(x, StatementLine)], SETTINGS
    )  # keep slots 0, 1: 2.40 + 1.50
    assert (revised.state, revised.dispute_reason) == (StatementState.DRAFT, None)
    assert (revised.total, revised.fee) == (D("3.90"), D("0.20"))  # 0.05 · 3.90 = 0.195 → 0.20


def corrected_lines(original: Statement) -> list[StatementLine]:
    """Slot 2 re-metered at A = 6000 (R = 4000, r = 1 → 1 kWh · 3 = 3.00); slot 4 dropped."""
    lines = [line for line in original.lines if isinstance(line, StatementLine) and line.slot != 4]
    lines[2] = dataclasses.replace(
        lines[2], actual_w=Fraction(6000), response_w=Fraction(4000), rate=Fraction(1), compensation=D("3.00")
    )
    return lines


def test_adjustment_carries_deltas_and_keeps_the_original() -> None:
    original = confirm(main_statement())
    adjustment = build_adjustment("st-1-a1", original, corrected_lines(original), SETTINGS)
    assert adjustment.adjusts == "st-1" and adjustment.state is StatementState.DRAFT
    assert [(x.slot, x.compensation, x.penalty) for x in adjustment.lines] == [
        (0, D(0), D(0)),
        (1, D(0), D(0)),
        (2, D("-0.60"), D(0)),  # 3.00 − 3.60
        (3, D(0), D(0)),
        (4, D(0), D("-0.38")),  # penalty withdrawn
    ]
    last = adjustment.lines[4]
    assert isinstance(last, DeltaLine) and last.corrected is None
    # corrected: Σ comp 10.50, no penalty, fee 0.525 → 0.53, payable 9.97
    assert adjustment.total == D("-0.22")  # −0.60 + 0.38
    assert adjustment.fee == D("-0.03")  # 0.53 − 0.56
    assert adjustment.payable == D("-0.19")
    assert original.payable + adjustment.payable == D("9.97")
    assert original.fee + adjustment.fee == D("0.53")
    aggregate = aggregate_event("ev-1", [original, adjustment], _stored(original, adjustment))
    assert aggregate.total == D("10.50") == aggregate.payable + aggregate.fee


def test_second_adjustment_is_taken_against_the_position_left_by_the_first() -> None:
    original = confirm(main_statement())
    first = confirm(build_adjustment("st-1-a1", original, corrected_lines(original), SETTINGS))
    assert len(position_lines(original, [first])) == 4
    back = [line for line in original.lines if isinstance(line, StatementLine)]
    second = build_adjustment("st-1-a2", original, back, SETTINGS, prior=[first])
    assert [(x.slot, x.compensation, x.penalty) for x in second.lines if x.compensation or x.penalty] == [
        (2, D("0.60"), D(0)),
        (4, D(0), D("0.38")),
    ]
    assert (second.total, second.fee) == (D("0.22"), D("0.03"))  # fee 0.56 − (0.56 − 0.03)
    with pytest.raises(FailedPrecondition) as caught:
        revise(first, back, SETTINGS)
    assert caught.value.reason == STATEMENT_CONFIRMED


def test_adjustment_needs_a_confirmed_original_and_confirmed_priors() -> None:
    draft = main_statement()
    with pytest.raises(FailedPrecondition) as caught:
        build_adjustment("a", draft, [], SETTINGS)
    assert caught.value.reason == STATEMENT_NOT_CONFIRMED
    original = confirm(draft)
    pending = build_adjustment("a1", original, [], SETTINGS)
    with pytest.raises(FailedPrecondition):
        build_adjustment("a2", pending, [], SETTINGS)  # an adjustment is not an original
    with pytest.raises(InvalidArgument):
        build_adjustment("a2", original, [], SETTINGS, prior=[pending])
    with pytest.raises(InvalidArgument):
        revise(pending, [], SETTINGS)


@pytest.mark.parametrize(
    ("amount", "units", "nanos"),
    [
        (D("10.16"), 10, 160_000_000),
        (D("-0.19"), 0, -190_000_000),
        (D("-1.50"), -1, -500_000_000),
        (D("0.000000001"), 0, 1),
        (D("-9223372036854775807.999999999"), -(2**63 - 1), -999_999_999),
    ],
)
def test_money_units_and_nanos(amount: Decimal, units: int, nanos: int) -> None:
    assert to_units_nanos(amount) == (units, nanos)
    assert from_units_nanos(units, nanos) == amount


def test_money_refuses_what_google_type_money_cannot_hold() -> None:
    with pytest.raises(InvalidArgument):
        to_units_nanos(D("0.0000000001"))
    with pytest.raises(InvalidArgument):
        to_units_nanos(D("NaN"))
    with pytest.raises(InvalidArgument):
        from_units_nanos(-1, 500_000_000)
    with pytest.raises(InvalidArgument):
        from_units_nanos(1, 1_000_000_000)


def test_settings_are_validated() -> None:
    with pytest.raises(InvalidArgument):
        SettlementSettings(fee_ratio=D("0.05"), lower_rate=D("1.3"))
    with pytest.raises(InvalidArgument):
        SettlementSettings(fee_ratio=D("-0.01"))


def test_settings_change_the_bands() -> None:
    settings = SettlementSettings(
        fee_ratio=D(0), lower_rate=D("0.3"), upper_rate=D("1"), penalty_factor=D("1")
    )
    evaluation = evaluate(
        Direction.LOAD_DECREASE,
        {0: 4000, 1: 4000, 2: 4000},
        {0: 10000, 1: 10000, 2: 10000},
        {0: 9000, 1: 8800, 2: 5100},
    )
    statement = build_statement(
        "s", "ev-1", "agg-1", evaluation, EventPrices(PriceMode.DIRECT_CONTROL, announced=D(1)), settings
    )
    # 0: r = 0.25 < 0.3 → penalty (1200 − 1000) · 0.00025 · 1 · 1 = 0.05
    # 1: r = 0.3 → compensation 1200 · 0.00025 = 0.30
    # 2: r = 1.225 > 1 → compensation 4000 · 0.00025 = 1.00
    assert [(x.compensation, x.penalty) for x in statement.lines] == [
        (D(0), D("0.05")),
        (D("0.30"), D(0)),
        (D("1.00"), D(0)),
    ]


slot_inputs = st.tuples(
    st.integers(min_value=0, max_value=2_000_000),  # C
    st.integers(min_value=0, max_value=5_000_000),  # B
    st.integers(min_value=0, max_value=5_000_000),  # A
    st.decimals(min_value=0, max_value=20, places=4),  # price
)


def random_statement(
    statement_id: str, aggregator_id: str, slots: list[tuple[int, int, int, Decimal]], fee_ratio: Decimal
) -> Statement:
    evaluation = evaluate(
        Direction.LOAD_DECREASE,
        {i: c for i, (c, _, _, _) in enumerate(slots)},
        {i: b for i, (_, b, _, _) in enumerate(slots)},
        {i: a for i, (_, _, a, _) in enumerate(slots)},
    )
    prices = EventPrices(PriceMode.PAY_AS_BID, own_bid={i: p for i, (_, _, _, p) in enumerate(slots)})
    return build_statement(
        statement_id, "ev-1", aggregator_id, evaluation, prices, SettlementSettings(fee_ratio=fee_ratio)
    )


fee_ratios = st.decimals(min_value=0, max_value=1, places=3)


@given(st.lists(slot_inputs, max_size=96), fee_ratios)
def test_property_statement_arithmetic(
    slots: list[tuple[int, int, int, Decimal]], fee_ratio: Decimal
) -> None:
    statement = random_statement("s", "agg", slots, fee_ratio)
    lines = [x for x in statement.lines if isinstance(x, StatementLine)]
    assert statement.total == sum(x.compensation for x in lines) - sum(x.penalty for x in lines)
    assert statement.payable + statement.fee == statement.total
    for line in lines:
        assert line.compensation >= 0 and line.penalty >= 0
        assert line.compensation == 0 or line.penalty == 0
        # never more than the cap 1.2 · C · Δt · p
        assert line.compensation <= round_fen(
            Fraction(6, 5) * line.instructed_w / 4000 * Fraction(line.price)
        )


@given(st.lists(st.tuples(st.lists(slot_inputs, max_size=8), fee_ratios), max_size=6))
def test_property_aggregate_is_payable_plus_fees(per_aggregator: list) -> None:
    statements = [
        random_statement(f"s{i}", f"agg-{i}", slots, ratio) for i, (slots, ratio) in enumerate(per_aggregator)
    ]
    aggregate = aggregate_event("ev-1", statements, _stored(*statements))
    assert aggregate.total == sum(s.total for s in statements)
    assert aggregate.total == sum(s.payable for s in statements) + sum(s.fee for s in statements)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=6))
def test_property_round_fen_is_decimal_half_up(amount: Decimal) -> None:
    with localcontext() as context:
        context.prec = 50
        assert round_fen(amount) == amount.quantize(D("0.01"), rounding=ROUND_HALF_UP)
    assert round_fen(-amount) == -round_fen(amount)


@given(st.decimals(min_value=-(10**15), max_value=10**15, places=9))
def test_property_units_nanos_round_trip(amount: Decimal) -> None:
    units, nanos = to_units_nanos(amount)
    assert units * nanos >= 0 and abs(nanos) < 10**9
    assert from_units_nanos(units, nanos) == amount
