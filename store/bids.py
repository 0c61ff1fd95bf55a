"""Bids and clearing results (SPEC F5): one bid per aggregator and event, the aggregated curve, the stored result.

Clearing itself — the grid's result checked or the platform's merit order,
the event moved to CLEARED, the instructions issued, the notices — is the use
case ``application.market``; ``record_clearing`` stores its result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import clearing as market
from domain import events as rules
from domain.clearing import ClearedQuantity, Clearing
from domain.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
)
from domain.events import ClearingMode
from store.bulk import upsert
from store.events import Event, from_nanos, to_nanos
from store.instructions import Instruction
from store.market_tables import BidRow, BidSlotRow, ClearedQuantityRow, ClearingResultRow
from store.tables import table_of

bids = table_of(BidRow)
bid_slots = table_of(BidSlotRow)
results = table_of(ClearingResultRow)
quantities = table_of(ClearedQuantityRow)

SUBMITTED, WITHDRAWN, CLEARED = "SUBMITTED", "WITHDRAWN", "CLEARED"
CLEARING_MODE_MISMATCH = "CLEARING_MODE_MISMATCH"


@dataclass(frozen=True)
class BidSlot:
    slot_start: datetime
    capacity_w: int
    price: Decimal


@dataclass(frozen=True)
class Bid:
    event_id: str
    aggregator_id: str
    state: str
    submit_time: datetime
    slots: tuple[BidSlot, ...]


@dataclass(frozen=True)
class Cleared:
    """What a clearing call returns: the result and the instructions it issued."""

    clearing: Clearing
    instructions: list[Instruction]


def bid_not_found(event_id: str, aggregator_id: str) -> NotFound:
    return NotFound(
        f"no bid of {aggregator_id} for event {event_id}",
        reason="BID_NOT_FOUND",
        metadata={"bid": f"events/{event_id}/bids/{aggregator_id}"},
    )


def submit(
    conn: Connection,
    event: Event,
    aggregator_id: str,
    slots: Sequence[BidSlot],
    capacity: Mapping[datetime, market.SlotCapacity],
    now: datetime,
) -> Bid:
    """Submit or replace the aggregator's bid (F5): open bidding, slots of the window, price cap, capacity.

    ``capacity`` is the aggregator's declared or available capacity per slot
    start, and which of the two it is (named in a BID_EXCEEDS_CAPACITY
    refusal). A replacement takes the new submit time (it loses price ties to
    bids submitted before it).
    """
    rules.check_bidding_open(event.event_id, event.timing, event.state, now)
    # No slot twice and 15-minute boundaries are the contract's CEL rules (bid.slots_distinct,
    # bid_slot.start_on_slot_boundary), checked by the validation interceptor.
    window = set(event.slot_starts)
    violations = [
        FieldViolation(
            f"bid.slots[{i}].slot_start_time",
            "is not the start of a slot of the event window",
            "SLOT_NOT_IN_WINDOW",
        )
        for i, slot in enumerate(slots)
        if slot.slot_start not in window
    ]
    if violations:
        raise InvalidArgument("invalid bid slots", reason="INVALID_BID_SLOTS", violations=violations)
    checked = market.Bid(
        aggregator_id, now, {i: market.BidSlot(s.capacity_w, s.price) for i, s in enumerate(slots)}
    )
    if event.price_cap is not None:
        _prefixed(lambda: market.check_price_cap(checked, event.price_cap or Decimal(0)))
    market.check_capacity(
        checked,
        {i: capacity[s.slot_start].watts if s.slot_start in capacity else 0 for i, s in enumerate(slots)},
        {i: capacity[s.slot_start].source for i, s in enumerate(slots) if s.slot_start in capacity},
    )
    key = {"event_id": event.event_id, "aggregator_id": aggregator_id}
    upsert(
        conn,
        bids,
        [{**key, "state": SUBMITTED, "submit_time": now, "update_time": now}],
        ["event_id", "aggregator_id"],
        ["state", "submit_time", "update_time"],
    )
    conn.execute(
        sa.delete(bid_slots).where(
            bid_slots.c.event_id == event.event_id, bid_slots.c.aggregator_id == aggregator_id
        )
    )
    conn.execute(
        sa.insert(bid_slots),
        [
            {**key, "slot_start": s.slot_start, "capacity_w": s.capacity_w, "price_nanos": to_nanos(s.price)}
            for s in slots
        ],
    )
    return get(conn, event.event_id, aggregator_id)


def _prefixed(check: Callable[[], None]) -> None:
    """Run a domain bid check, naming the fields as the request does (``bid.slots[i]…``)."""
    try:
        check()
    except InvalidArgument as exc:
        exc.violations = [FieldViolation(f"bid.{v.field}", v.description) for v in exc.violations]
        raise


def withdraw(conn: Connection, event: Event, aggregator_id: str, now: datetime) -> Bid:
    """Withdraw the aggregator's submitted bid before the deadline."""
    bid = get(conn, event.event_id, aggregator_id)
    rules.check_bidding_open(event.event_id, event.timing, event.state, now)
    if bid.state != SUBMITTED:
        raise FailedPrecondition(
            f"the bid is {bid.state}",
            reason="BID_NOT_SUBMITTED",
            violations=[
                PreconditionViolation(
                    "STATE", f"events/{event.event_id}/bids/{aggregator_id}", f"bid is {bid.state}"
                )
            ],
        )
    conn.execute(
        sa.update(bids)
        .where(bids.c.event_id == event.event_id, bids.c.aggregator_id == aggregator_id)
        .values(state=WITHDRAWN, update_time=now)
    )
    return get(conn, event.event_id, aggregator_id)


def get(conn: Connection, event_id: str, aggregator_id: str) -> Bid:
    found = _load(conn, event_id, aggregator_id)
    if not found:
        raise bid_not_found(event_id, aggregator_id)
    return found[0]


def live(conn: Connection, event_id: str) -> list[Bid]:
    """The event's bids that take part in clearing (not withdrawn), by aggregator id."""
    return [bid for bid in _load(conn, event_id) if bid.state != WITHDRAWN]


def _load(conn: Connection, event_id: str, aggregator_id: str | None = None) -> list[Bid]:
    query = sa.select(bids).where(bids.c.event_id == event_id).order_by(bids.c.aggregator_id)
    slot_query = sa.select(bid_slots).where(bid_slots.c.event_id == event_id).order_by(bid_slots.c.slot_start)
    if aggregator_id is not None:
        query = query.where(bids.c.aggregator_id == aggregator_id)
        slot_query = slot_query.where(bid_slots.c.aggregator_id == aggregator_id)
    slots: dict[str, list[BidSlot]] = {}
    for row in conn.execute(slot_query):
        slots.setdefault(row.aggregator_id, []).append(
            BidSlot(row.slot_start, row.capacity_w, from_nanos(row.price_nanos) or Decimal(0))
        )
    return [
        Bid(
            row.event_id,
            row.aggregator_id,
            row.state,
            row.submit_time,
            tuple(slots.get(row.aggregator_id, ())),
        )
        for row in conn.execute(query)
    ]


def domain_bids(event: Event, found: Sequence[Bid]) -> list[market.Bid]:
    """Bids keyed by the slot's index in the event window, as ``domain.clearing`` wants."""
    index = {start: i for i, start in enumerate(event.slot_starts)}
    return [
        market.Bid(
            bid.aggregator_id,
            bid.submit_time,
            {index[s.slot_start]: market.BidSlot(s.capacity_w, s.price) for s in bid.slots},
        )
        for bid in found
    ]


def aggregated_curve(event: Event, found: Sequence[Bid]) -> list[market.SlotCurve]:
    """The aggregated curve with one entry per slot of the window (empty slots included)."""
    curves = {c.slot: c for c in market.aggregate_bid_curve(domain_bids(event, found))}
    return [curves.get(i, market.SlotCurve(i, 0, ())) for i in range(len(event.slot_starts))]


def record_clearing(
    conn: Connection,
    event: Event,
    cleared_by: ClearingMode,
    cleared: Sequence[ClearedQuantity],
    now: datetime,
) -> Clearing:
    """Store a clearing result: its accepted quantities, and the event's submitted bids marked CLEARED."""
    conn.execute(
        sa.insert(results).values(
            event_id=event.event_id,
            cleared_by=cleared_by.value,
            price_mode=event.price_mode.value,
            clear_time=now,
        )
    )
    if cleared:
        conn.execute(
            sa.insert(quantities),
            [
                {
                    "event_id": event.event_id,
                    "aggregator_id": q.aggregator_id,
                    "grid_node": q.grid_node,
                    "slot_start": q.slot_start,
                    "accepted_w": q.accepted_w,
                    "price_nanos": to_nanos(q.price),
                }
                for q in cleared
            ],
        )
    conn.execute(
        sa.update(bids)
        .where(bids.c.event_id == event.event_id, bids.c.state == SUBMITTED)
        .values(state=CLEARED, update_time=now)
    )
    return Clearing(event.event_id, cleared_by, event.price_mode, now, tuple(cleared))
