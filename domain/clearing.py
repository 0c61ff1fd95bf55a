"""Bidding and clearing (SPEC F5): bid checks, merit-order clearing, the aggregated bid curve.

Capacities are whole watts, prices exact ``Decimal`` CNY per kWh. Slots are
identified by an int (e.g. the index 0–95 of the day); a slot's target and
every bid for it use the same key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from domain.errors import FailedPrecondition, FieldViolation, InvalidArgument, PreconditionViolation
from domain.events import ClearingMode
from domain.settlement import PriceMode


@dataclass(frozen=True)
class BidSlot:
    """What an aggregator offers in one slot: capacity (W) at a price (CNY/kWh)."""

    capacity_w: int
    price: Decimal


@dataclass(frozen=True)
class Bid:
    """An aggregator's one bid for an event; ``submitted_at`` breaks price ties."""

    aggregator_id: str
    submitted_at: datetime
    slots: Mapping[int, BidSlot]

    def __post_init__(self) -> None:
        violations = [
            FieldViolation(f"slots[{slot}].capacity_w", "must not be negative")
            for slot, offer in self.slots.items()
            if offer.capacity_w < 0
        ] + [
            FieldViolation(f"slots[{slot}].price", "must not be negative")
            for slot, offer in self.slots.items()
            if offer.price < 0
        ]
        if violations:
            raise InvalidArgument(f"invalid bid of {self.aggregator_id}", violations=violations)


def check_price_cap(bid: Bid, price_cap: Decimal) -> None:
    """Reject a bid with any slot priced above the event's cap (F5).

    Raises InvalidArgument, reason PRICE_ABOVE_CAP, one violation per slot.
    """
    violations = [
        FieldViolation(f"slots[{slot}].price", f"{offer.price} is above the price cap {price_cap}")
        for slot, offer in sorted(bid.slots.items())
        if offer.price > price_cap
    ]
    if violations:
        raise InvalidArgument(
            "bid price above the event's price cap",
            reason="PRICE_ABOVE_CAP",
            violations=violations,
            metadata={"price_cap": str(price_cap)},
        )


class CapacitySource(StrEnum):
    """Which capacity a bid was checked against (SPEC F5 precondition, docs/SETTLEMENT.md)."""

    DECLARED = "DECLARED"
    """The aggregator's capacity declaration (DeclareCapacity) for the slot's local day."""
    REAL_TIME = "REAL_TIME"
    """No declaration for that day: the real-time F3 capacity of its live sessions at the event's nodes."""


@dataclass(frozen=True)
class SlotCapacity:
    """An aggregator's capacity for one slot and where it comes from."""

    watts: int
    source: CapacitySource


def check_capacity(
    bid: Bid, capacity_w: Mapping[int, int], sources: Mapping[int, CapacitySource] | None = None
) -> None:
    """Reject a bid offering more than the aggregator's available/declared capacity per slot.

    A slot missing from ``capacity_w`` has capacity 0. Raises FailedPrecondition,
    reason BID_EXCEEDS_CAPACITY, one violation per slot naming the figures and
    (with ``sources``) which capacity it was checked against; the ErrorInfo
    metadata carries the first such slot: ``slot``, ``bid_w``, ``capacity_w``,
    ``capacity_source`` (``DECLARED``, ``REAL_TIME``, or both comma-separated
    when the window's days differ).
    """
    over = [
        (slot, offer.capacity_w, capacity_w.get(slot, 0))
        for slot, offer in sorted(bid.slots.items())
        if offer.capacity_w > capacity_w.get(slot, 0)
    ]
    if not over:
        return
    sources = sources or {}

    def checked_against(slot: int) -> str:
        source = sources.get(slot)
        return "" if source is None else f" ({source.value.lower().replace('_', '-')} capacity)"

    slot, bid_w, available_w = over[0]
    metadata = {"slot": str(slot), "bid_w": str(bid_w), "capacity_w": str(available_w)}
    used = sorted({sources[s].value for s, _, _ in over if s in sources})
    if used:
        metadata["capacity_source"] = ",".join(used)
    raise FailedPrecondition(
        "bid exceeds the aggregator's capacity",
        reason="BID_EXCEEDS_CAPACITY",
        violations=[
            PreconditionViolation(
                type="CAPACITY",
                subject=f"slots[{s}]",
                description=f"bid {b} W exceeds capacity {c} W{checked_against(s)}",
            )
            for s, b, c in over
        ],
        metadata=metadata,
    )


@dataclass(frozen=True)
class Offer:
    """One bid's offer in one slot, as ranked in the merit order."""

    aggregator_id: str
    submitted_at: datetime
    capacity_w: int
    price: Decimal


def merit_order(slot: int, bids: Iterable[Bid]) -> list[Offer]:
    """The slot's offers with capacity, by ascending price, then earlier submission, then aggregator id."""
    offers = [
        Offer(bid.aggregator_id, bid.submitted_at, offer.capacity_w, offer.price)
        for bid in bids
        if (offer := bid.slots.get(slot)) is not None and offer.capacity_w > 0
    ]
    return sorted(offers, key=lambda o: (o.price, o.submitted_at, o.aggregator_id))


@dataclass(frozen=True)
class Award:
    """What one aggregator was accepted for in one slot, and the price it is paid."""

    aggregator_id: str
    accepted_w: int
    price: Decimal


@dataclass(frozen=True)
class SlotClearing:
    """The cleared slot. ``marginal_price`` is the last accepted offer's price (None if none)."""

    slot: int
    target_w: int
    accepted_w: int
    shortfall_w: int
    marginal_price: Decimal | None
    awards: tuple[Award, ...]


def clear_slot(slot: int, target_w: int, bids: Iterable[Bid], mode: PriceMode) -> SlotClearing:
    """F5 for one slot.

    Offers are accepted in merit order until ``target_w`` is met, the marginal
    one partly; if they fall short, all are accepted. UNIFORM pays every
    accepted offer the marginal (highest accepted) price, PAY_AS_BID its own;
    a negative target or DIRECT_CONTROL raises InvalidArgument.
    """
    _check_clearing_input(slot, target_w, mode)
    accepted: list[tuple[Offer, int]] = []
    remaining = target_w
    for offer in merit_order(slot, bids):
        if remaining <= 0:
            break
        take = min(offer.capacity_w, remaining)
        accepted.append((offer, take))
        remaining -= take
    if not accepted:
        return SlotClearing(slot, target_w, 0, target_w, None, ())
    marginal = accepted[-1][0].price
    total = sum(take for _, take in accepted)
    return SlotClearing(
        slot=slot,
        target_w=target_w,
        accepted_w=total,
        shortfall_w=target_w - total,
        marginal_price=marginal,
        awards=tuple(
            Award(offer.aggregator_id, take, marginal if mode is PriceMode.UNIFORM else offer.price)
            for offer, take in accepted
        ),
    )


def _check_clearing_input(slot: int, target_w: int, mode: PriceMode) -> None:
    violations = []
    if target_w < 0:
        violations.append(FieldViolation(f"targets_w[{slot}]", "must not be negative"))
    if mode is PriceMode.DIRECT_CONTROL:
        violations.append(FieldViolation("mode", "must be UNIFORM or PAY_AS_BID (no bids in direct control)"))
    if violations:
        raise InvalidArgument("cannot clear this slot", violations=violations)


@dataclass(frozen=True)
class ClearingResult:
    """Every slot of an event cleared, in slot order."""

    slots: tuple[SlotClearing, ...]

    def by_aggregator(self) -> dict[str, dict[int, Award]]:
        """Per aggregator, per slot: its award (slots where it got nothing are absent)."""
        result: dict[str, dict[int, Award]] = {}
        for cleared in self.slots:
            for award in cleared.awards:
                result.setdefault(award.aggregator_id, {})[cleared.slot] = award
        return result


def clear(targets_w: Mapping[int, int], bids: Iterable[Bid], mode: PriceMode) -> ClearingResult:
    """F5 platform clearing: each slot of ``targets_w`` cleared on its own; other bid slots are ignored."""
    bid_list = list(bids)
    return ClearingResult(
        tuple(clear_slot(slot, targets_w[slot], bid_list, mode) for slot in sorted(targets_w))
    )


@dataclass(frozen=True)
class CurveStep:
    """One step of the aggregated offer stack: all capacity offered at one price."""

    price: Decimal
    capacity_w: int


@dataclass(frozen=True)
class SlotCurve:
    """The aggregated bid curve of one slot, forwarded to the grid (F5)."""

    slot: int
    total_w: int
    steps: tuple[CurveStep, ...]


def aggregate_bid_curve(bids: Iterable[Bid]) -> tuple[SlotCurve, ...]:
    """Per slot, in slot order: the total offered capacity and the stack by ascending price.

    Offers at the same price are merged into one step, so the curve names no
    aggregator.
    """
    stacks: dict[int, dict[Decimal, int]] = {}
    for bid in bids:
        for slot, offer in bid.slots.items():
            if offer.capacity_w > 0:
                stack = stacks.setdefault(slot, {})
                stack[offer.price] = stack.get(offer.price, 0) + offer.capacity_w
    return tuple(
        SlotCurve(
            slot=slot,
            total_w=sum(stack.values()),
            steps=tuple(CurveStep(price, stack[price]) for price in sorted(stack)),
        )
        for slot, stack in sorted(stacks.items())
    )


@dataclass(frozen=True)
class ClearedQuantity:
    aggregator_id: str
    grid_node: str
    slot_start: datetime
    accepted_w: int
    price: Decimal


@dataclass(frozen=True)
class Clearing:
    event_id: str
    cleared_by: ClearingMode
    price_mode: PriceMode
    clear_time: datetime
    quantities: tuple[ClearedQuantity, ...]
