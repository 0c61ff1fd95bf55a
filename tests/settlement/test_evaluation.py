"""SPEC F9 evaluation: R = B − A (decrease) or A − B (increase), r = R / C, C = 0 slots skipped."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from domain.errors import FailedPrecondition, InvalidArgument
from domain.evaluation import MISSING_SLOT_DATA, Direction, QualificationBounds, evaluate


def test_load_decrease_with_a_zero_instruction_slot() -> None:
    result = evaluate(
        Direction.LOAD_DECREASE,
        instructed_w={72: 1000, 73: 0, 74: 2000, 75: 500},
        baseline_w={72: 5000, 74: 6000, 75: Decimal("3000.5")},  # slot 73 has no data: it is not evaluated
        actual_w={72: 4100, 74: 3500, 75: Decimal("2900.5")},
    )
    # 72: R = 5000 − 4100 = 900, r = 0.9
    # 74: R = 6000 − 3500 = 2500, r = 1.25
    # 75: R = 3000.5 − 2900.5 = 100, r = 0.2
    assert [(s.slot, s.response_w, s.rate) for s in result.slots] == [
        (72, 900, Decimal("0.9")),
        (74, 2500, Decimal("1.25")),
        (75, 100, Decimal("0.2")),
    ]
    assert result.skipped_slots == (73,)
    # mean = (0.9 + 1.25 + 0.2) / 3 = 2.35 / 3 = 47/60 ≈ 0.783 → not qualified
    assert result.mean_rate == Fraction(47, 60)
    assert result.min_rate == Decimal("0.2")
    # Σ R·Δt = (900 + 2500 + 100) · 0.25 = 875 Wh
    assert result.energy_responded_wh == 875
    assert not result.qualified


def test_load_increase() -> None:
    result = evaluate(
        Direction.LOAD_INCREASE,
        instructed_w={10: 1000, 11: 1000},
        baseline_w={10: 2000, 11: 2000},
        actual_w={10: 3000, 11: 2900},
    )
    # 10: R = 3000 − 2000 = 1000, r = 1; 11: R = 2900 − 2000 = 900, r = 0.9
    assert [s.rate for s in result.slots] == [1, Decimal("0.9")]
    assert result.mean_rate == Decimal("0.95")
    assert result.min_rate == Decimal("0.9")
    # (1000 + 900) · 0.25 = 475 Wh
    assert result.energy_responded_wh == 475
    assert result.qualified


def test_consumption_above_baseline_is_a_negative_decrease_response() -> None:
    result = evaluate(Direction.LOAD_DECREASE, {5: 400}, {5: 1000}, {5: 1100})
    # R = 1000 − 1100 = −100, r = −100 / 400 = −0.25; energy −100 · 0.25 = −25 Wh
    assert result.slots[0].rate == Decimal("-0.25")
    assert result.energy_responded_wh == -25


def test_exact_rational_baseline_flows_through() -> None:
    result = evaluate(Direction.LOAD_DECREASE, {73: 100}, {73: Fraction(620, 3)}, {73: 100})
    # R = 620/3 − 100 = 320/3, r = 320/300 = 16/15, energy = 320/3 · 1/4 = 80/3 Wh
    assert result.slots[0].response_w == Fraction(320, 3)
    assert result.slots[0].rate == Fraction(16, 15)
    assert result.energy_responded_wh == Fraction(80, 3)


@pytest.mark.parametrize(
    ("actual", "qualified"),
    [
        (8000, True),  # R = 10000 − 8000 = 2000, r = 2000 / 2500 = 0.8: on the lower bound
        (Decimal("8000.01"), False),  # R = 1999.99, r = 0.799996
        (7000, True),  # R = 3000, r = 1.2: on the upper bound
        (Decimal("6999.99"), False),  # R = 3000.01, r = 1.200004
    ],
)
def test_qualification_bounds_are_inclusive(actual: Decimal | int, qualified: bool) -> None:
    assert evaluate(Direction.LOAD_DECREASE, {0: 2500}, {0: 10000}, {0: actual}).qualified is qualified


def test_qualification_bounds_are_parameters() -> None:
    # r = 0.7 fails the default [0.8, 1.2] but passes [0.7, 1.1]
    args = (Direction.LOAD_DECREASE, {0: 1000}, {0: 1000}, {0: 300})
    assert not evaluate(*args).qualified
    assert evaluate(*args, bounds=QualificationBounds(Decimal("0.7"), Decimal("1.1"))).qualified


def test_nothing_instructed_means_nothing_evaluated() -> None:
    result = evaluate(Direction.LOAD_DECREASE, {0: 0, 1: 0}, {}, {})
    assert result.slots == ()
    assert result.mean_rate is None and result.min_rate is None
    assert result.energy_responded_wh == 0
    assert not result.qualified


def test_missing_actual_fails_the_precondition() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        evaluate(Direction.LOAD_DECREASE, {0: 10, 1: 10}, {0: 50, 1: 50}, {0: 40})
    assert caught.value.reason == MISSING_SLOT_DATA
    assert caught.value.metadata == {"slot": "1", "missing": "actual"}


def test_negative_instruction_is_invalid() -> None:
    with pytest.raises(InvalidArgument):
        evaluate(Direction.LOAD_DECREASE, {0: -10}, {0: 50}, {0: 40})
