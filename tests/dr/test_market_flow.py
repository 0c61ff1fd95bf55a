"""SPEC F4–F6 end to end over a real server: publish → invitations → bids → clearing → instructions.

The grid publishes a day-ahead LOAD_DECREASE event on ta-1, served by agg-a,
agg-b and agg-c; target 100 kW in the first slot, 60 kW in the second.

Bids (W @ CNY/kWh), agg-a submitted first, then agg-b, then agg-c:

    slot 0: a 50 000 @ 0.50   b 40 000 @ 0.40   c 30 000 @ 0.50
    slot 1: a 30 000 @ 0.70   b 40 000 @ 0.40   c 20 000 @ 0.60

Merit order, slot 0: b 0.40, a 0.50 (earlier than c at the same price), c
0.50 → b 40 000, a 50 000, c the marginal 10 000 (target 100 000); marginal
price 0.50. Slot 1: b 0.40, c 0.60, a 0.70 → b 40 000, c 20 000, target met,
a 0; marginal price 0.60.
Uniform: everybody at the slot's marginal price. Pay-as-bid: each its own.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from vgi.common.v1 import market_pb2

from clients.errors import FailedPreconditionError, InvalidArgumentError
from clients.market import AggregatorMarketClient, GridMarketClient
from store.market_tables import EventRow, InstructionRow
from store.tables import table_of

from . import world
from .world import AGGREGATORS, cny, day_ahead_event, notifications, slots, tomorrow_at

pytestmark = pytest.mark.timeout(120)

INSTRUCTIONS = table_of(InstructionRow)
EVENTS = table_of(EventRow)

START = tomorrow_at(18)
BIDS = {
    "agg-a": [(50_000, "0.50"), (30_000, "0.70")],
    "agg-b": [(40_000, "0.40"), (40_000, "0.40")],
    "agg-c": [(30_000, "0.50"), (20_000, "0.60")],
}
ACCEPTED = {"agg-a": [50_000, 0], "agg-b": [40_000, 40_000], "agg-c": [10_000, 20_000]}
UNIFORM = {
    ("agg-a", 0): "0.5",
    ("agg-b", 0): "0.5",
    ("agg-c", 0): "0.5",
    ("agg-b", 1): "0.6",
    ("agg-c", 1): "0.6",
}
PAY_AS_BID = {
    ("agg-a", 0): "0.5",
    ("agg-b", 0): "0.4",
    ("agg-c", 0): "0.5",
    ("agg-b", 1): "0.4",
    ("agg-c", 1): "0.6",
}


def _price(money: Any) -> Decimal:
    return Decimal(money.units) + Decimal(money.nanos) / 10**9


def _clients(platform: Any) -> tuple[GridMarketClient, dict[str, AggregatorMarketClient]]:
    grid = GridMarketClient(platform.grid)
    return grid, {
        a: AggregatorMarketClient(platform.channel_for(f"vgi://aggregator/{a}")) for a in AGGREGATORS
    }


async def _publish_and_bid(platform: Any, event_id: str, **modes: Any) -> tuple[GridMarketClient, Any]:
    grid, aggs = _clients(platform)
    published = await grid.publish_event(day_ahead_event(event_id, START, [100_000, 60_000], **modes))
    assert published.state == market_pb2.EVENT_STATE_PUBLISHED
    for aggregator_id in AGGREGATORS:  # a, then b, then c: c loses the slot-0 tie to a
        bid = await aggs[aggregator_id].submit_bid(f"events/{event_id}", slots(START, BIDS[aggregator_id]))
        assert bid.state == market_pb2.BID_STATE_SUBMITTED
        assert bid.name == f"events/{event_id}/bids/{aggregator_id}"
    return grid, aggs


async def _close_bidding(platform: Any, event_id: str) -> None:
    deadline = START - timedelta(hours=2)
    result = await platform.platform.scheduler.tick(deadline)
    assert result.events == 1
    event = await GridMarketClient(platform.grid).get_event(f"events/{event_id}")
    assert event.state == market_pb2.EVENT_STATE_BIDDING_CLOSED
    assert event.transitions[-1].transition_time.ToDatetime().replace(tzinfo=deadline.tzinfo) == deadline


def _accepted(quantities: Any) -> dict[tuple[str, int], tuple[int, Decimal]]:
    return {
        (
            q.aggregator.removeprefix("aggregators/"),
            int((q.slot_start_time.seconds - START.timestamp()) // 900),
        ): (
            q.accepted_w,
            _price(q.price),
        )
        for q in quantities
    }


@pytest.mark.parametrize(
    ("price_mode", "prices"),
    [(market_pb2.PRICE_MODE_UNIFORM, UNIFORM), (market_pb2.PRICE_MODE_PAY_AS_BID, PAY_AS_BID)],
    ids=["uniform", "pay-as-bid"],
)
async def test_platform_clearing_end_to_end(platform: Any, price_mode: Any, prices: dict[Any, str]) -> None:
    await world.build(platform)
    grid, aggs = await _publish_and_bid(platform, "dr-1", price_mode=price_mode)

    for aggregator_id in AGGREGATORS:
        [invitation] = [n for n in await notifications(platform, aggregator_id) if n.HasField("invitation")]
        assert invitation.invitation.name == "events/dr-1"
        assert [e.event_id for e in (await aggs[aggregator_id].list_events()).events] == ["dr-1"]

    curve = await grid.get_aggregated_bid("events/dr-1")
    assert curve.bid_count == 3
    assert [s.total_capacity_w for s in curve.slots] == [120_000, 90_000]
    assert [(str(_price(p.price)), p.capacity_w) for p in curve.slots[0].steps] == [
        ("0.4", 40_000),
        ("0.5", 80_000),
    ]

    await _close_bidding(platform, "dr-1")
    request_id = str(uuid.uuid4())
    cleared = await grid.clear_event("events/dr-1", request_id=request_id)

    expected = {
        (a, slot): (w, Decimal(prices[(a, slot)]))
        for a, ws in ACCEPTED.items()
        for slot, w in enumerate(ws)
        if w
    }
    assert _accepted(cleared.clearing_result.quantities) == expected
    assert cleared.clearing_result.cleared_by == market_pb2.CLEARING_MODE_PLATFORM
    by_aggregator = {i.aggregator: i for i in cleared.instructions}
    assert sorted(by_aggregator) == [f"aggregators/{a}" for a in AGGREGATORS]
    for aggregator_id, values in ACCEPTED.items():
        instruction = by_aggregator[f"aggregators/{aggregator_id}"]
        assert list(instruction.target.values_w) == values
        assert instruction.version == 1
        assert instruction.grid_node == "gridNodes/ta-1"
        assert instruction.validity.start_time.ToSeconds() == int(START.timestamp())
        assert instruction.state == market_pb2.INSTRUCTION_STATE_ACTIVE
        stream = await notifications(platform, aggregator_id)
        assert [n.instruction.instruction_id for n in stream if n.HasField("instruction")] == [
            instruction.instruction_id
        ]
        [share] = [n.clearing for n in stream if n.HasField("clearing")]
        assert {q.aggregator for q in share.quantities} == {f"aggregators/{aggregator_id}"}
        listed = await aggs[aggregator_id].list_instructions(event="events/dr-1")
        assert [i.instruction_id for i in listed.instructions] == [instruction.instruction_id]

    event = await grid.get_event("events/dr-1")
    assert [t.state for t in event.transitions] == [
        market_pb2.EVENT_STATE_PUBLISHED,
        market_pb2.EVENT_STATE_BIDDING_CLOSED,
        market_pb2.EVENT_STATE_CLEARED,
    ]

    # The grid's retry with the same request_id creates nothing new.
    again = await grid.clear_event("events/dr-1", request_id=request_id)
    assert again == cleared
    count = await platform.db.read(
        lambda conn: conn.execute(sa.select(sa.func.count()).select_from(INSTRUCTIONS)).scalar_one()
    )
    assert count == 3


async def test_grid_clearing_result_is_checked_and_recorded(platform: Any) -> None:
    await world.build(platform)
    grid, _ = await _publish_and_bid(platform, "dr-g", clearing_mode=market_pb2.CLEARING_MODE_GRID)
    with pytest.raises(FailedPreconditionError) as early:
        await grid.submit_clearing_result("events/dr-g", [])
    assert early.value.reason == "INVALID_EVENT_TRANSITION"
    await _close_bidding(platform, "dr-g")

    def quantity(aggregator_id: str, slot: int, accepted_w: int, price: str) -> market_pb2.ClearedQuantity:
        return market_pb2.ClearedQuantity(
            aggregator=f"aggregators/{aggregator_id}",
            slot_start_time=world.ts(START + timedelta(minutes=15 * slot)),
            accepted_w=accepted_w,
            price=cny(price),
        )

    with pytest.raises(InvalidArgumentError) as too_much:
        await grid.submit_clearing_result("events/dr-g", [quantity("agg-b", 0, 40_001, "0.45")])
    assert too_much.value.reason == "INVALID_CLEARING_RESULT"
    assert [v.field for v in too_much.value.field_violations] == ["quantities[0].accepted_w"]
    with pytest.raises(FailedPreconditionError) as wrong_mode:
        await grid.clear_event("events/dr-g")
    assert wrong_mode.value.reason == "CLEARING_MODE_MISMATCH"

    result = await grid.submit_clearing_result(
        "events/dr-g", [quantity("agg-b", 0, 40_000, "0.45"), quantity("agg-c", 1, 20_000, "0.45")]
    )
    assert _accepted(result.clearing_result.quantities) == {
        ("agg-b", 0): (40_000, Decimal("0.45")),
        ("agg-c", 1): (20_000, Decimal("0.45")),
    }
    assert result.clearing_result.cleared_by == market_pb2.CLEARING_MODE_GRID
    assert {i.aggregator: list(i.target.values_w) for i in result.instructions} == {
        "aggregators/agg-b": [40_000, 0],
        "aggregators/agg-c": [0, 20_000],
    }
    assert not [n for n in await notifications(platform, "agg-a") if n.HasField("instruction")]


async def test_bids_are_checked_and_close_at_the_deadline(platform: Any) -> None:
    await world.build(platform)
    grid, aggs = _clients(platform)
    await grid.publish_event(day_ahead_event("dr-b", START, [100_000, 60_000]))
    a = aggs["agg-a"]

    with pytest.raises(InvalidArgumentError) as capped:
        await a.submit_bid("events/dr-b", slots(START, [(10_000, "1.01")]))
    assert capped.value.reason == "PRICE_ABOVE_CAP"
    assert [v.field for v in capped.value.field_violations] == ["bid.slots[0].price"]
    with pytest.raises(FailedPreconditionError) as too_big:
        await a.submit_bid("events/dr-b", slots(START, [(200_001, "0.50")]))
    assert too_big.value.reason == "BID_EXCEEDS_CAPACITY"
    with pytest.raises(InvalidArgumentError) as outside:
        await a.submit_bid("events/dr-b", slots(START + timedelta(minutes=30), [(1_000, "0.50")]))
    assert [v.field for v in outside.value.field_violations] == ["bid.slots[0].slot_start_time"]

    first = await a.submit_bid("events/dr-b", slots(START, [(10_000, "0.50")]))
    replaced = await a.submit_bid("events/dr-b", slots(START, [(20_000, "0.60"), (5_000, "0.60")]))
    assert [s.capacity_w for s in replaced.slots] == [20_000, 5_000]
    assert replaced.submit_time.ToDatetime() > first.submit_time.ToDatetime()
    withdrawn = await a.withdraw_bid("events/dr-b/bids/agg-a")
    assert withdrawn.state == market_pb2.BID_STATE_WITHDRAWN
    assert (await grid.get_aggregated_bid("events/dr-b")).bid_count == 0
    await a.submit_bid("events/dr-b", slots(START, [(20_000, "0.60")]))

    await _close_bidding(platform, "dr-b")
    with pytest.raises(FailedPreconditionError) as closed:
        await a.submit_bid("events/dr-b", slots(START, [(1_000, "0.50")]))
    assert closed.value.reason == "BIDDING_CLOSED"
    with pytest.raises(FailedPreconditionError) as late:
        await a.withdraw_bid("events/dr-b/bids/agg-a")
    assert late.value.reason == "BIDDING_CLOSED"
    assert (await a.get_bid("events/dr-b/bids/agg-a")).state == market_pb2.BID_STATE_SUBMITTED


async def test_event_lifecycle_is_driven_by_the_clock_and_cancellable(platform: Any) -> None:
    await world.build(platform)
    grid, aggs = await _publish_and_bid(platform, "dr-l")
    scheduler = platform.platform.scheduler
    await _close_bidding(platform, "dr-l")
    cleared = await grid.clear_event("events/dr-l")
    end = START + timedelta(minutes=30)

    assert (await scheduler.tick(START)).events == 1
    assert (await grid.get_event("events/dr-l")).state == market_pb2.EVENT_STATE_EXECUTING
    assert (await scheduler.tick(START)).events == 0  # idempotent: nothing left to do at the same instant
    assert (await scheduler.tick(end)).events == 1
    completed = await grid.get_event("events/dr-l")
    assert completed.state == market_pb2.EVENT_STATE_COMPLETED
    with pytest.raises(FailedPreconditionError) as too_late:
        await grid.cancel_event("events/dr-l", "too late")
    assert too_late.value.reason == "INVALID_EVENT_TRANSITION"
    states = [
        n.event_state_changed.event.state
        for n in await notifications(platform, "agg-b")
        if n.HasField("event_state_changed")
    ]
    assert states == [
        market_pb2.EVENT_STATE_BIDDING_CLOSED,
        market_pb2.EVENT_STATE_CLEARED,
        market_pb2.EVENT_STATE_EXECUTING,
        market_pb2.EVENT_STATE_COMPLETED,
    ]

    # A second event is cancelled after clearing: its instructions are cancelled and streamed.
    await grid.publish_event(day_ahead_event("dr-x", START, [10_000]))
    await aggs["agg-b"].submit_bid("events/dr-x", slots(START, [(10_000, "0.40")]))
    await scheduler.tick(START - timedelta(hours=2))
    [issued] = (await grid.clear_event("events/dr-x")).instructions
    cancelled = await grid.cancel_event("events/dr-x", "grid emergency over")
    assert cancelled.state == market_pb2.EVENT_STATE_CANCELLED
    assert cancelled.transitions[-1].reason == "grid emergency over"
    stream = await notifications(platform, "agg-b")
    [gone] = [n.instruction_cancelled for n in stream if n.HasField("instruction_cancelled")]
    assert gone.instruction.instruction_id == issued.instruction_id
    assert gone.instruction.state == market_pb2.INSTRUCTION_STATE_CANCELLED
    assert gone.reissued_version == 0
    assert cleared.instructions  # the first event's instructions stay in force
    active = await grid.list_instructions(event="events/dr-l", active_only=True)
    assert len(active.instructions) == 3


async def test_an_uncleared_event_is_cancelled_when_its_window_starts(platform: Any) -> None:
    await world.build(platform)
    grid, _ = await _publish_and_bid(platform, "dr-u")
    assert (await platform.platform.scheduler.tick(START)).events == 2
    event = await grid.get_event("events/dr-u")
    assert [t.state for t in event.transitions][1:] == [
        market_pb2.EVENT_STATE_BIDDING_CLOSED,
        market_pb2.EVENT_STATE_CANCELLED,
    ]
    assert event.transitions[-1].reason == "not cleared before the window started"
    rows = await platform.db.read(lambda conn: conn.execute(sa.select(EVENTS.c.state)).scalars().all())
    assert rows == ["CANCELLED"]
