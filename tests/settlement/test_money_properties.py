"""Money from stored amounts (SPEC F10; issue 15, behaviour 7).

The grid's check must be able to fail: statements go through the amounts
the store writes and reads back (nanos), the grid total is summed from the
stored header amounts, and it must equal Σ payable + Σ fee computed from the
statement lines — for regular statements and adjustments alike. Each
rounded line is checked against its exact SPEC F10 value, and a header that
disagrees with its lines by a single fen is refused.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import FailedPrecondition
from domain.evaluation import Direction, evaluate
from domain.settlement import (
    STATEMENT_AMOUNTS_INCONSISTENT,
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
    round_fen,
)
from store.settlement import _money, _nanos

SLOT_HOURS = Fraction(1, 4)
slot = st.tuples(
    st.integers(0, 2_000_000),  # C
    st.integers(0, 5_000_000),  # B
    st.integers(0, 5_000_000),  # A
    st.decimals(min_value=0, max_value=20, places=4),  # price
)
aggregator_slots = st.lists(slot, min_size=1, max_size=12)


def _statement(statement_id: str, aggregator_id: str, slots: list, settings: SettlementSettings) -> Statement:
    evaluation = evaluate(
        Direction.LOAD_DECREASE,
        {i: c for i, (c, _, _, _) in enumerate(slots)},
        {i: b for i, (_, b, _, _) in enumerate(slots)},
        {i: a for i, (_, _, a, _) in enumerate(slots)},
    )
    prices = EventPrices(PriceMode.PAY_AS_BID, own_bid={i: p for i, (_, _, _, p) in enumerate(slots)})
    return build_statement(statement_id, "ev-1", aggregator_id, evaluation, prices, settings)


def _stored(statement: Statement) -> StoredAmounts:
    """The header as the store writes it (nanos) and reads it back."""
    return StoredAmounts(
        _money(_nanos(statement.compensation)),
        _money(_nanos(statement.penalty)),
        _money(_nanos(statement.fee)),
    )


def _exact(line: StatementLine, settings: SettlementSettings) -> tuple[Fraction, Fraction]:
    """SPEC F10 compensation and penalty of a line, unrounded (CNY)."""
    c, r, rate, p = line.instructed_w, Fraction(line.response_w), Fraction(line.rate), Fraction(line.price)
    kwh = SLOT_HOURS / 1000
    if rate < Fraction(settings.lower_rate):
        shortfall = Fraction(settings.lower_rate) * c - r
        return Fraction(0), shortfall * kwh * p * Fraction(settings.penalty_factor)
    if rate <= Fraction(settings.upper_rate):
        return r * kwh * p, Fraction(0)
    return Fraction(settings.upper_rate) * c * kwh * p, Fraction(0)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(aggregator_slots, st.lists(slot, min_size=1, max_size=12)), min_size=1, max_size=4),
    st.decimals(min_value=0, max_value=1, places=3),
)
def test_property_grid_total_from_stored_amounts_is_payable_plus_fees_after_adjustments(
    per_aggregator: list, fee_ratio: Decimal
) -> None:
    program = SettlementSettings(fee_ratio=fee_ratio)
    statements: list[Statement] = []
    for n, (slots, corrected_slots) in enumerate(per_aggregator):
        original = _statement(f"agg-{n}", f"agg-{n}", slots, program)
        for line in original.lines:
            assert isinstance(line, StatementLine)
            compensation, penalty = _exact(line, program)
            assert (line.compensation, line.penalty) == (round_fen(compensation), round_fen(penalty))
            assert abs(Fraction(line.compensation) - compensation) <= Fraction(1, 200)
        confirmed = dataclasses.replace(original, state=StatementState.CONFIRMED)
        statements.append(confirmed)
        # The data changed after confirmation: the same slots re-evaluated with other actuals.
        redone = [
            (c, b, a2, p)
            for (c, b, _, p), (_, _, a2, _) in zip(slots, corrected_slots * len(slots), strict=False)
        ]
        corrected = _statement(f"agg-{n}", f"agg-{n}", redone, program)
        statements.append(
            build_adjustment(
                f"agg-{n}.adj-1",
                confirmed,
                [line for line in corrected.lines if isinstance(line, StatementLine)],
                program,
            )
        )

    stored = {s.statement_id: _stored(s) for s in statements}
    grid = aggregate_event("ev-1", statements, stored)

    assert grid.total == sum((h.total for h in stored.values()), Decimal(0))
    assert grid.total == sum((s.payable for s in statements), Decimal(0)) + sum(
        (h.fee for h in stored.values()), Decimal(0)
    )
    assert grid.fee == sum((s.fee for s in statements), Decimal(0))

    # One fen off in any stored header amount is refused, never summed.
    victim = statements[-1].statement_id
    for field in ("compensation", "penalty", "fee"):
        altered = dict(stored)
        altered[victim] = dataclasses.replace(
            stored[victim], **{field: getattr(stored[victim], field) + Decimal("0.01")}
        )
        with pytest.raises(FailedPrecondition) as caught:
            aggregate_event("ev-1", statements, altered)
        assert caught.value.reason == STATEMENT_AMOUNTS_INCONSISTENT
