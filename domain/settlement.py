"""Settlement (结算), SPEC F10 and the money rules of SPEC section 2.

Per evaluated slot (Δt = 0.25 h, energy in kWh = W·h / 1000, price p per kWh):

- r < lower (0.5): compensation 0, penalty = (lower·C − R)·Δt·p·penalty_factor (0.5);
- lower ≤ r ≤ upper (1.2): compensation = R·Δt·p;
- r > upper: compensation = upper·C·Δt·p.

Each line's compensation and penalty are computed exactly and then rounded to
0.01 CNY half-up (四舍五入, away from zero on a tie). Statement total =
Σ compensation − Σ penalty; platform fee = fee_ratio·Σ compensation rounded
half-up; payable = total − fee. The grid's aggregate statement for an event is
Σ totals = Σ payable + Σ fees.

Lifecycle (pure, every transition returns a new value): DRAFT → CONFIRMED or
DISPUTED (with a reason); a DISPUTED statement is confirmed as issued or revised
back to DRAFT; a CONFIRMED statement never changes (FailedPrecondition
STATEMENT_CONFIRMED) and is corrected by adjustment statements carrying delta lines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from domain.baseline import Exact
from domain.calendar import SLOT_HOURS
from domain.errors import FailedPrecondition, FieldViolation, InvalidArgument
from domain.evaluation import Evaluation, SlotEvaluation

STATEMENT_CONFIRMED = "STATEMENT_CONFIRMED"
STATEMENT_NOT_CONFIRMED = "STATEMENT_NOT_CONFIRMED"
STATEMENT_DISPUTED = "STATEMENT_DISPUTED"
PRICE_MISSING = "PRICE_MISSING"

WH_PER_KWH = 1000
_INT64_MAX = 2**63 - 1
_NANOS = 10**9


def _decimal_violation(name: str, value: object, rule: str) -> InvalidArgument:
    return InvalidArgument(f"{name} = {value!r}: {rule}", violations=[FieldViolation(name, rule)])


def _non_negative(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise _decimal_violation(name, value, "must be a finite Decimal >= 0")


@dataclass(frozen=True)
class SettlementSettings:
    """Program settings of SPEC F10. ``fee_ratio`` has no SPEC default and must be given."""

    fee_ratio: Decimal
    lower_rate: Decimal = Decimal("0.5")
    upper_rate: Decimal = Decimal("1.2")
    penalty_factor: Decimal = Decimal("0.5")

    def __post_init__(self) -> None:
        for name in ("fee_ratio", "lower_rate", "upper_rate", "penalty_factor"):
            _non_negative(name, getattr(self, name))
        if self.fee_ratio > 1:
            raise _decimal_violation("fee_ratio", self.fee_ratio, "must be at most 1")
        if self.lower_rate > self.upper_rate:
            raise _decimal_violation("lower_rate", self.lower_rate, "must not exceed upper_rate")


class PriceMode(StrEnum):
    """Which price a slot is settled at (SPEC F5, F10)."""

    UNIFORM = "UNIFORM"
    """The slot's uniform clearing price (the marginal accepted bid's)."""
    PAY_AS_BID = "PAY_AS_BID"
    """The aggregator's own bid price for the slot."""
    DIRECT_CONTROL = "DIRECT_CONTROL"
    """The price the event announced (real-time direct control, no bidding)."""


@dataclass(frozen=True)
class EventPrices:
    """The prices (CNY per kWh) an aggregator's statement for one event may use."""

    mode: PriceMode
    clearing: Mapping[int, Decimal] = field(default_factory=dict)
    own_bid: Mapping[int, Decimal] = field(default_factory=dict)
    announced: Decimal | None = None

    def price_for(self, slot: int) -> Decimal:
        """The price of ``slot`` under ``mode``; FailedPrecondition PRICE_MISSING when there is none."""
        if self.mode is PriceMode.DIRECT_CONTROL:
            price = self.announced
        else:
            source = self.clearing if self.mode is PriceMode.UNIFORM else self.own_bid
            price = source.get(slot)
        if price is None:
            raise FailedPrecondition(
                f"no {self.mode.value} price for slot {slot}",
                reason=PRICE_MISSING,
                metadata={"mode": self.mode.value, "slot": str(slot)},
            )
        _non_negative(f"price[{slot}]", price)
        return price


def round_fen(amount: Exact | Decimal) -> Decimal:
    """Round to 0.01 CNY half-up (四舍五入): ties away from zero, so −0.125 → −0.13."""
    exact = Fraction(amount)
    numerator, denominator = (abs(exact) * 100).as_integer_ratio()
    cents = (2 * numerator + denominator) // (2 * denominator)
    return Decimal(f"{-cents if exact < 0 else cents}E-2")


def _kwh(power_w: Exact) -> Exact:
    return power_w * SLOT_HOURS / WH_PER_KWH


class StatementState(StrEnum):
    DRAFT = "DRAFT"
    CONFIRMED = "CONFIRMED"
    DISPUTED = "DISPUTED"


@dataclass(frozen=True)
class StatementLine:
    """One settled slot: C, B, A, R (W, exact), r, the price and the rounded money."""

    slot: int
    instructed_w: int
    baseline_w: Exact
    actual_w: Exact
    response_w: Exact
    rate: Exact
    price: Decimal
    compensation: Decimal
    penalty: Decimal


@dataclass(frozen=True)
class DeltaLine:
    """One slot of an adjustment: corrected minus previously settled money, and the corrected line.

    ``corrected`` is None when the slot is no longer settled.
    """

    slot: int
    compensation: Decimal
    penalty: Decimal
    corrected: StatementLine | None


@dataclass(frozen=True)
class Statement:
    """An aggregator's statement for one event, or an adjustment of one (``adjusts`` set).

    ``lines`` are StatementLines for an original statement and DeltaLines for an
    adjustment; either way total = Σ compensation − Σ penalty over them. ``fee``
    is fixed when the statement is built.
    """

    statement_id: str
    event_id: str
    aggregator_id: str
    lines: tuple[StatementLine | DeltaLine, ...]
    fee: Decimal
    state: StatementState = StatementState.DRAFT
    dispute_reason: str | None = None
    adjusts: str | None = None

    @property
    def compensation(self) -> Decimal:
        return sum((line.compensation for line in self.lines), Decimal("0.00"))

    @property
    def penalty(self) -> Decimal:
        return sum((line.penalty for line in self.lines), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.compensation - self.penalty

    @property
    def payable(self) -> Decimal:
        return self.total - self.fee


def settle_slot(evaluated: SlotEvaluation, price: Decimal, settings: SettlementSettings) -> StatementLine:
    """The SPEC F10 line of one evaluated slot at ``price`` CNY/kWh."""
    _non_negative("price", price)
    p = Fraction(price)
    c, r, rate = evaluated.instructed_w, evaluated.response_w, evaluated.rate
    lower, upper = Fraction(settings.lower_rate), Fraction(settings.upper_rate)
    compensation = penalty = Fraction(0)
    if rate < lower:
        penalty = _kwh(lower * c - r) * p * Fraction(settings.penalty_factor)
    elif rate <= upper:
        compensation = _kwh(r) * p
    else:
        compensation = _kwh(upper * c) * p
    return StatementLine(
        slot=evaluated.slot,
        instructed_w=c,
        baseline_w=evaluated.baseline_w,
        actual_w=evaluated.actual_w,
        response_w=r,
        rate=rate,
        price=price,
        compensation=round_fen(compensation),
        penalty=round_fen(penalty),
    )


def platform_fee(lines: Iterable[StatementLine | DeltaLine], settings: SettlementSettings) -> Decimal:
    """fee_ratio · Σ compensation, rounded half-up to the fen."""
    compensation = sum((Fraction(line.compensation) for line in lines), Fraction(0))
    return round_fen(compensation * Fraction(settings.fee_ratio))


def build_statement(
    statement_id: str,
    event_id: str,
    aggregator_id: str,
    evaluation: Evaluation,
    prices: EventPrices,
    settings: SettlementSettings,
) -> Statement:
    """A DRAFT statement with one line per evaluated slot (slots with C = 0 were never evaluated)."""
    lines = tuple(settle_slot(s, prices.price_for(s.slot), settings) for s in evaluation.slots)
    return Statement(statement_id, event_id, aggregator_id, lines, fee=platform_fee(lines, settings))


def _refuse_if_confirmed(statement: Statement, action: str) -> None:
    if statement.state is StatementState.CONFIRMED:
        raise FailedPrecondition(
            f"statement {statement.statement_id} is confirmed and cannot be {action}; issue an adjustment",
            reason=STATEMENT_CONFIRMED,
            metadata={"statement_id": statement.statement_id, "state": statement.state.value},
        )


def confirm(statement: Statement) -> Statement:
    """DRAFT → CONFIRMED, or DISPUTED → CONFIRMED when the dispute is settled without change."""
    _refuse_if_confirmed(statement, "confirmed again")
    return dataclasses.replace(statement, state=StatementState.CONFIRMED)


def dispute(statement: Statement, reason: str) -> Statement:
    """DRAFT → DISPUTED with the aggregator's ``reason``."""
    _refuse_if_confirmed(statement, "disputed")
    if statement.state is StatementState.DISPUTED:
        raise FailedPrecondition(
            f"statement {statement.statement_id} is already disputed",
            reason=STATEMENT_DISPUTED,
            metadata={"statement_id": statement.statement_id, "state": statement.state.value},
        )
    if not reason.strip():
        raise InvalidArgument(
            "a dispute needs a reason", violations=[FieldViolation("reason", "must not be empty")]
        )
    return dataclasses.replace(statement, state=StatementState.DISPUTED, dispute_reason=reason)


def revise(statement: Statement, lines: Sequence[StatementLine], settings: SettlementSettings) -> Statement:
    """Replace the lines of a DRAFT or DISPUTED original statement; the result is a DRAFT again.

    An adjustment is not revised: build a new one against the original instead.
    """
    _refuse_if_confirmed(statement, "changed")
    if statement.adjusts is not None:
        raise InvalidArgument(
            f"statement {statement.statement_id} is an adjustment; build a new adjustment instead",
            violations=[FieldViolation("statement_id", "must name an original statement")],
        )
    return dataclasses.replace(
        statement,
        lines=tuple(lines),
        fee=platform_fee(lines, settings),
        state=StatementState.DRAFT,
        dispute_reason=None,
    )


def build_adjustment(
    statement_id: str,
    original: Statement,
    corrected: Sequence[StatementLine],
    settings: SettlementSettings,
    *,
    prior: Sequence[Statement] = (),
) -> Statement:
    """A DRAFT adjustment of the CONFIRMED ``original`` that brings it to the ``corrected`` lines.

    ``prior`` are the CONFIRMED adjustments of ``original`` already issued, in
    order; the delta is taken against the position they left. There is a delta
    line for every slot settled before or after (zero deltas included), so the
    last adjustment's corrected lines are the full position. The fee delta is
    fee(corrected) − the fees charged so far, so the original plus its
    adjustments always carry exactly the fee of the corrected statement.
    """
    if original.state is not StatementState.CONFIRMED or original.adjusts is not None:
        raise FailedPrecondition(
            f"statement {original.statement_id} is not a confirmed original statement",
            reason=STATEMENT_NOT_CONFIRMED,
            metadata={"statement_id": original.statement_id, "state": original.state.value},
        )
    for earlier in prior:
        if earlier.adjusts != original.statement_id or earlier.state is not StatementState.CONFIRMED:
            raise InvalidArgument(
                f"statement {earlier.statement_id} is not a confirmed adjustment of {original.statement_id}",
                violations=[FieldViolation("prior", "must be confirmed adjustments of the original")],
            )
    previous = {line.slot: line for line in position_lines(original, prior)}
    now = {line.slot: line for line in corrected}
    deltas = []
    for slot in sorted(previous.keys() | now.keys()):
        before, after = previous.get(slot), now.get(slot)
        deltas.append(
            DeltaLine(
                slot=slot,
                compensation=_money(after, "compensation") - _money(before, "compensation"),
                penalty=_money(after, "penalty") - _money(before, "penalty"),
                corrected=after,
            )
        )
    charged = original.fee + sum((earlier.fee for earlier in prior), Decimal("0.00"))
    return Statement(
        statement_id,
        original.event_id,
        original.aggregator_id,
        tuple(deltas),
        fee=platform_fee(corrected, settings) - charged,
        adjusts=original.statement_id,
    )


def _money(line: StatementLine | None, attribute: str) -> Decimal:
    return Decimal("0.00") if line is None else getattr(line, attribute)


def position_lines(original: Statement, prior: Sequence[Statement] = ()) -> tuple[StatementLine, ...]:
    """The lines in force: the last adjustment's corrected lines, else the original's."""
    if not prior:
        return tuple(line for line in original.lines if isinstance(line, StatementLine))
    return tuple(
        line.corrected
        for line in prior[-1].lines
        if isinstance(line, DeltaLine) and line.corrected is not None
    )


@dataclass(frozen=True)
class GridAggregate:
    """The grid's aggregate statement for one event: Σ totals = Σ payable + Σ fees."""

    event_id: str
    total: Decimal
    payable: Decimal
    fee: Decimal
    total_by_aggregator: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class StoredAmounts:
    """A statement's amounts as its header row stores them (CNY, rounded)."""

    compensation: Decimal
    penalty: Decimal
    fee: Decimal

    @property
    def total(self) -> Decimal:
        return self.compensation - self.penalty


STATEMENT_AMOUNTS_INCONSISTENT = "STATEMENT_AMOUNTS_INCONSISTENT"


def aggregate_event(
    event_id: str, statements: Iterable[Statement], stored: Mapping[str, StoredAmounts]
) -> GridAggregate:
    """Sum the statements (originals and adjustments) of every aggregator for ``event_id``.

    The grid's total is taken from the amounts each statement's header
    stores, payable and fees from its lines and fee: the two are computed
    independently, so a header that disagrees with its lines (a lost or
    altered line, a fee changed alone) is refused with
    STATEMENT_AMOUNTS_INCONSISTENT instead of being summed into the grid's money.
    """
    by_aggregator: dict[str, Decimal] = {}
    payable = fee = Decimal("0.00")
    for statement in statements:
        if statement.event_id != event_id:
            raise InvalidArgument(
                f"statement {statement.statement_id} belongs to event {statement.event_id}, not {event_id}",
                violations=[FieldViolation("statements", "must all belong to the event")],
            )
        header = stored[statement.statement_id]
        if header.total - header.fee != statement.payable or header.fee != statement.fee:
            raise FailedPrecondition(
                f"statement {statement.statement_id} of event {event_id}: stored amounts disagree with its lines",
                reason=STATEMENT_AMOUNTS_INCONSISTENT,
                metadata={"statement": f"events/{event_id}/statements/{statement.statement_id}"},
            )
        by_aggregator[statement.aggregator_id] = (
            by_aggregator.get(statement.aggregator_id, Decimal("0.00")) + header.total
        )
        payable += statement.payable
        fee += header.fee
    total = sum(by_aggregator.values(), Decimal("0.00"))
    return GridAggregate(event_id, total, payable, fee, by_aggregator)


def to_units_nanos(amount: Decimal) -> tuple[int, int]:
    """``amount`` as google.type.Money (units, nanos): same sign, |nanos| < 10⁹, exact or refused."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise _decimal_violation("amount", amount, "must be a finite Decimal")
    scaled = Fraction(amount) * _NANOS
    if scaled.denominator != 1:
        raise _decimal_violation("amount", amount, "must have at most 9 decimal places")
    units, nanos = divmod(abs(scaled.numerator), _NANOS)
    if units > _INT64_MAX:
        raise _decimal_violation("amount", amount, "units must fit in int64")
    sign = -1 if scaled < 0 else 1
    return sign * units, sign * nanos


def from_units_nanos(units: int, nanos: int) -> Decimal:
    """The Decimal of a google.type.Money (units, nanos), refusing values Money itself forbids."""
    if not -_NANOS < nanos < _NANOS:
        raise _decimal_violation("nanos", nanos, "must be within ±999,999,999")
    if (units > 0 and nanos < 0) or (units < 0 and nanos > 0):
        raise _decimal_violation("nanos", nanos, "must have the sign of units")
    if not -_INT64_MAX - 1 <= units <= _INT64_MAX:
        raise _decimal_violation("units", units, "must fit in int64")
    return Decimal(f"{units * _NANOS + nanos}E-9")
