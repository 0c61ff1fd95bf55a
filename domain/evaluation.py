"""Response evaluation (效果评估), SPEC F9.

Per slot: response R = B − A for LOAD_DECREASE (削峰) or A − B for LOAD_INCREASE
(填谷), with B the baseline and A the actual 15-minute mean power; C the
instructed quantity in force at the end of the slot; rate r = R / C. Slots with
C = 0 are not evaluated. All arithmetic is exact (``Fraction``), see domain.baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from domain.baseline import Exact, Measured, as_exact
from domain.calendar import SLOT_HOURS
from domain.errors import FailedPrecondition, FieldViolation, InvalidArgument

MISSING_SLOT_DATA = "MISSING_SLOT_DATA"


class Direction(StrEnum):
    """SPEC section 2: LOAD_DECREASE includes V2G discharge."""

    LOAD_DECREASE = "LOAD_DECREASE"
    LOAD_INCREASE = "LOAD_INCREASE"


@dataclass(frozen=True)
class QualificationBounds:
    """An event qualifies when its mean rate is within [low, high] (SPEC F9 defaults 0.8, 1.2)."""

    low: Decimal = Decimal("0.8")
    high: Decimal = Decimal("1.2")


@dataclass(frozen=True)
class SlotEvaluation:
    """One evaluated slot: C (W), B, A, R (W) and r = R / C, all exact."""

    slot: int
    instructed_w: int
    baseline_w: Exact
    actual_w: Exact
    response_w: Exact
    rate: Exact


@dataclass(frozen=True)
class Evaluation:
    """The evaluated slots in slot order and the event KPIs of SPEC F9.

    ``mean_rate`` and ``min_rate`` are None when no slot was evaluated (all C = 0);
    such an evaluation is not qualified. ``energy_responded_wh`` = Σ R·Δt.
    """

    direction: Direction
    slots: tuple[SlotEvaluation, ...]
    skipped_slots: tuple[int, ...]
    mean_rate: Exact | None
    min_rate: Exact | None
    energy_responded_wh: Exact
    qualified: bool


def response(direction: Direction, baseline_w: Exact, actual_w: Exact) -> Exact:
    """R of SPEC F9: B − A for a decrease, A − B for an increase."""
    if direction is Direction.LOAD_DECREASE:
        return baseline_w - actual_w
    return actual_w - baseline_w


def evaluate(
    direction: Direction,
    instructed_w: Mapping[int, int],
    baseline_w: Mapping[int, Measured],
    actual_w: Mapping[int, Measured],
    *,
    bounds: QualificationBounds | None = None,
) -> Evaluation:
    """Evaluate the slots of ``instructed_w`` (slot → C in W, the version in force at slot end).

    Every slot with C > 0 needs a baseline and an actual value, else
    FailedPrecondition MISSING_SLOT_DATA (metadata: slot, missing). C < 0 is invalid.
    """
    bounds = bounds or QualificationBounds()
    evaluated: list[SlotEvaluation] = []
    skipped: list[int] = []
    for slot in sorted(instructed_w):
        c = instructed_w[slot]
        if isinstance(c, bool) or not isinstance(c, int) or c < 0:
            raise InvalidArgument(
                f"instructed quantity for slot {slot} must be whole non-negative watts, got {c!r}",
                violations=[FieldViolation(f"instructed_w[{slot}]", "must be an int >= 0")],
            )
        if c == 0:
            skipped.append(slot)
            continue
        b = as_exact(_require(baseline_w, slot, "baseline"), f"baseline_w[{slot}]")
        a = as_exact(_require(actual_w, slot, "actual"), f"actual_w[{slot}]")
        r = response(direction, b, a)
        evaluated.append(SlotEvaluation(slot, c, b, a, r, r / c))
    return _kpis(direction, evaluated, skipped, bounds)


def _require(values: Mapping[int, Measured], slot: int, what: str) -> Measured:
    if slot not in values:
        raise FailedPrecondition(
            f"slot {slot} has no {what} value",
            reason=MISSING_SLOT_DATA,
            metadata={"slot": str(slot), "missing": what},
        )
    return values[slot]


def _kpis(
    direction: Direction,
    evaluated: Sequence[SlotEvaluation],
    skipped: Sequence[int],
    bounds: QualificationBounds,
) -> Evaluation:
    rates = [s.rate for s in evaluated]
    mean_rate = sum(rates, Fraction(0)) / len(rates) if rates else None
    return Evaluation(
        direction=direction,
        slots=tuple(evaluated),
        skipped_slots=tuple(skipped),
        mean_rate=mean_rate,
        min_rate=min(rates) if rates else None,
        energy_responded_wh=sum((s.response_w * SLOT_HOURS for s in evaluated), Fraction(0)),
        qualified=mean_rate is not None and Fraction(bounds.low) <= mean_rate <= Fraction(bounds.high),
    )
