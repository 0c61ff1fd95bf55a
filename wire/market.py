"""Market records ⇄ vgi.common.v1 messages.

Shared by the servicers (responses) and the notice encoder (``wire.notices``:
notifications committed in the same transaction as the change they announce,
SPEC section 7), so an aggregator reads the same Event, Instruction or
ClearingResult on its stream as the grid reads in its answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from google.type import money_pb2
from vgi.common.v1 import market_pb2, types_pb2

from domain.baseline import BaselineMethod
from domain.clearing import ClearedQuantity, Clearing, SlotCurve
from domain.dispatch import Instruction
from domain.errors import FieldViolation, InvalidArgument
from domain.evaluation import Direction
from domain.events import ClearingMode, Event, EventState, EventType, TargetCurve
from domain.monitoring import DEVIATION, REDISPATCH, Alarm
from domain.settlement import PriceMode, from_units_nanos, to_units_nanos
from wire.timestamps import timestamp as timestamp
from wire.timestamps import to_datetime as to_datetime

if TYPE_CHECKING:
    from store.bids import Bid

CURRENCY = "CNY"
K = TypeVar("K")
V = TypeVar("V")

EVENT_TYPES = {
    EventType.DAY_AHEAD: market_pb2.EVENT_TYPE_DAY_AHEAD,
    EventType.INTRADAY: market_pb2.EVENT_TYPE_INTRADAY,
    EventType.REAL_TIME: market_pb2.EVENT_TYPE_REAL_TIME,
    EventType.PRICE_SIGNAL: market_pb2.EVENT_TYPE_PRICE_SIGNAL,
}
EVENT_STATES = {
    EventState.PUBLISHED: market_pb2.EVENT_STATE_PUBLISHED,
    EventState.BIDDING_CLOSED: market_pb2.EVENT_STATE_BIDDING_CLOSED,
    EventState.CLEARED: market_pb2.EVENT_STATE_CLEARED,
    EventState.EXECUTING: market_pb2.EVENT_STATE_EXECUTING,
    EventState.COMPLETED: market_pb2.EVENT_STATE_COMPLETED,
    EventState.EVALUATED: market_pb2.EVENT_STATE_EVALUATED,
    EventState.SETTLED: market_pb2.EVENT_STATE_SETTLED,
    EventState.CANCELLED: market_pb2.EVENT_STATE_CANCELLED,
}
DIRECTIONS = {
    Direction.LOAD_DECREASE: types_pb2.DIRECTION_LOAD_DECREASE,
    Direction.LOAD_INCREASE: types_pb2.DIRECTION_LOAD_INCREASE,
}
CLEARING_MODES = {
    ClearingMode.GRID: market_pb2.CLEARING_MODE_GRID,
    ClearingMode.PLATFORM: market_pb2.CLEARING_MODE_PLATFORM,
}
PRICE_MODES = {
    PriceMode.UNIFORM: market_pb2.PRICE_MODE_UNIFORM,
    PriceMode.PAY_AS_BID: market_pb2.PRICE_MODE_PAY_AS_BID,
    PriceMode.DIRECT_CONTROL: market_pb2.PRICE_MODE_ANNOUNCED,
}
ALARM_KINDS = {DEVIATION: market_pb2.ALARM_KIND_DEVIATION, REDISPATCH: market_pb2.ALARM_KIND_REDISPATCH}
BASELINE_METHODS = {
    BaselineMethod.TOP5_OF_10: market_pb2.BASELINE_METHOD_TOP5_OF_10,
    BaselineMethod.RECENT5: market_pb2.BASELINE_METHOD_RECENT5,
    BaselineMethod.TRIMMED: market_pb2.BASELINE_METHOD_TRIMMED,
    BaselineMethod.PRE_EVENT: market_pb2.BASELINE_METHOD_PRE_EVENT,
}


def reverse(mapping: Mapping[K, V]) -> dict[V, K]:
    """Wire enum value → domain value."""
    return {wire: value for value, wire in mapping.items()}


def money(amount: Decimal) -> money_pb2.Money:
    units, nanos = to_units_nanos(amount)
    return money_pb2.Money(currency_code=CURRENCY, units=units, nanos=nanos)


def decimal_of(value: money_pb2.Money, field: str) -> Decimal:
    """A wire price as an exact Decimal; only CNY (or no currency) is accepted."""
    if value.currency_code not in ("", CURRENCY):
        raise InvalidArgument(
            f"{field} must be in {CURRENCY}",
            violations=[FieldViolation(f"{field}.currency_code", f"must be {CURRENCY}")],
            reason="CURRENCY_NOT_CNY",
        )
    try:
        return from_units_nanos(value.units, value.nanos)
    except InvalidArgument as exc:
        raise InvalidArgument(
            f"{field} is not a valid amount",
            violations=[FieldViolation(f"{field}.{v.field}", v.description) for v in exc.violations],
        ) from None


def curve(start: datetime, step_minutes: int, values: Sequence[int]) -> types_pb2.PowerCurve:
    return types_pb2.PowerCurve(start_time=timestamp(start), step_minutes=step_minutes, values_w=values)


def event_message(event: Event) -> market_pb2.Event:
    message = market_pb2.Event(
        name=f"events/{event.event_id}",
        event_id=event.event_id,
        type=EVENT_TYPES[event.event_type],
        direction=DIRECTIONS[event.direction],
        window=types_pb2.TimeWindow(
            start_time=timestamp(event.window_start), end_time=timestamp(event.window_end)
        ),
        targets=[
            market_pb2.NodeTarget(
                grid_node=f"gridNodes/{t.grid_node}", target=curve(t.start, t.step_minutes, t.values_w)
            )
            for t in event.targets
        ],
        clearing_mode=CLEARING_MODES[event.clearing_mode],
        price_mode=PRICE_MODES[event.price_mode],
        baseline_method=BASELINE_METHODS[event.baseline_method],
        program=f"programs/{event.program_id}",
        state=EVENT_STATES[event.state],
        transitions=[
            market_pb2.StateTransition(
                state=EVENT_STATES[t.state], transition_time=timestamp(t.transition_time), reason=t.reason
            )
            for t in event.transitions
        ],
        create_time=timestamp(event.create_time),
    )
    if event.bid_deadline is not None:
        message.bid_deadline.CopyFrom(timestamp(event.bid_deadline))
    if event.price_cap is not None:
        message.price_cap.CopyFrom(money(event.price_cap))
    if event.announced_price is not None:
        message.announced_price.CopyFrom(money(event.announced_price))
    return message


def bid_message(bid: Bid) -> market_pb2.Bid:
    return market_pb2.Bid(
        name=f"events/{bid.event_id}/bids/{bid.aggregator_id}",
        aggregator=f"aggregators/{bid.aggregator_id}",
        slots=[
            market_pb2.BidSlot(
                slot_start_time=timestamp(s.slot_start), capacity_w=s.capacity_w, price=money(s.price)
            )
            for s in bid.slots
        ],
        state={
            "SUBMITTED": market_pb2.BID_STATE_SUBMITTED,
            "WITHDRAWN": market_pb2.BID_STATE_WITHDRAWN,
            "CLEARED": market_pb2.BID_STATE_CLEARED,
        }[bid.state],
        submit_time=timestamp(bid.submit_time),
    )


def quantity_message(quantity: ClearedQuantity) -> market_pb2.ClearedQuantity:
    return market_pb2.ClearedQuantity(
        aggregator=f"aggregators/{quantity.aggregator_id}",
        grid_node=f"gridNodes/{quantity.grid_node}" if quantity.grid_node else "",
        slot_start_time=timestamp(quantity.slot_start),
        accepted_w=quantity.accepted_w,
        price=money(quantity.price),
    )


def clearing_message(clearing: Clearing, aggregator_id: str | None = None) -> market_pb2.ClearingResult:
    """The clearing result; with ``aggregator_id``, that aggregator's share only."""
    return market_pb2.ClearingResult(
        event=f"events/{clearing.event_id}",
        quantities=[
            quantity_message(q)
            for q in clearing.quantities
            if aggregator_id is None or q.aggregator_id == aggregator_id
        ],
        cleared_by=CLEARING_MODES[clearing.cleared_by],
        clear_time=timestamp(clearing.clear_time),
    )


def instruction_message(instruction: Instruction) -> market_pb2.Instruction:
    message = market_pb2.Instruction(
        name=f"aggregators/{instruction.aggregator_id}/instructions/{instruction.instruction_id}",
        instruction_id=instruction.instruction_id,
        version=instruction.version,
        event=f"events/{instruction.event_id}" if instruction.event_id else "",
        aggregator=f"aggregators/{instruction.aggregator_id}",
        grid_node=f"gridNodes/{instruction.grid_node}" if instruction.grid_node else "",
        direction=DIRECTIONS[instruction.direction],
        target=curve(instruction.target_start, instruction.step_minutes, instruction.target_w),
        validity=types_pb2.TimeWindow(
            start_time=timestamp(instruction.validity_start), end_time=timestamp(instruction.validity_end)
        ),
        state=market_pb2.INSTRUCTION_STATE_ACTIVE
        if instruction.active
        else market_pb2.INSTRUCTION_STATE_CANCELLED,
        create_time=timestamp(instruction.create_time),
        cancel_reason=instruction.cancel_reason,
    )
    return message


def alarm_message(alarm: Alarm) -> market_pb2.Alarm:
    return market_pb2.Alarm(
        alarm_id=alarm.alarm_id,
        kind=ALARM_KINDS[alarm.kind],
        event=f"events/{alarm.event_id}",
        aggregator=f"aggregators/{alarm.aggregator_id}",
        message=alarm.message,
        raise_time=timestamp(alarm.raise_time),
    )


def target_curve(curve: market_pb2.NodeTarget) -> TargetCurve:
    """A wire node target → the domain's target curve (grid node id, start, step, values)."""
    return TargetCurve(
        curve.grid_node.removeprefix("gridNodes/"),
        to_datetime(curve.target.start_time),
        curve.target.step_minutes,
        tuple(curve.target.values_w),
    )


def aggregated_bid_message(
    event: Event, bid_count: int, curve: Sequence[SlotCurve]
) -> market_pb2.AggregatedBid:
    """An event's aggregated bid curve (one entry per slot of its window) as the grid reads it."""
    starts = event.slot_starts
    return market_pb2.AggregatedBid(
        event=f"events/{event.event_id}",
        bid_count=bid_count,
        slots=[
            market_pb2.AggregatedBidSlot(
                slot_start_time=timestamp(starts[c.slot]),
                total_capacity_w=c.total_w,
                steps=[market_pb2.PriceStep(price=money(s.price), capacity_w=s.capacity_w) for s in c.steps],
            )
            for c in curve
        ],
    )
