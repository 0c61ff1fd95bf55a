"""application.market on a real store (SQLite and PostgreSQL), without gRPC: publish, bid, clear, cancel, the clock.

The world is ``market_world``: fd-1 (agg-c) above ta-1 (agg-a, agg-b), and ta-2 (agg-d).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from market_world import (
    AGGREGATORS,
    DEADLINE,
    NOW,
    WINDOW_START,
    database,
    day_ahead,
    kinds,
    notifications,
    run,
    seed,
)

from application import market
from domain.clearing import ClearedQuantity
from domain.errors import FailedPrecondition, InvalidArgument, NotFound
from domain.evaluation import Direction
from domain.events import ClearingMode, EventState, EventType, Publication
from domain.principal import Principal, Role
from domain.settlement import PriceMode
from store import bids
from store import events as event_store
from store.bids import BidSlot
from store.db import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with database(database_url) as opened:
        await opened.write(seed)
        yield opened


def agg(aggregator_id: str) -> Principal:
    return Principal(Role.AGGREGATOR, aggregator_id, aggregator_id)


async def publish(
    db: Database, event_id: str, publication: Publication, **terms: object
) -> event_store.Event:
    return await run(
        db,
        lambda uow: market.publish_event(
            uow, event_id=event_id, publication=publication, direction=Direction.LOAD_DECREASE, **terms
        ),
    )


async def bid(db: Database, aggregator_id: str, event_id: str, offers: list[tuple[int, str]]) -> bids.Bid:
    slots = [
        BidSlot(WINDOW_START + timedelta(minutes=15 * i), watts, Decimal(price))
        for i, (watts, price) in enumerate(offers)
    ]
    return await run(
        db, lambda uow: market.submit_bid(uow, aggregator_id, event_id, slots), principal=agg(aggregator_id)
    )


async def test_publishing_invites_exactly_the_aggregators_at_the_event_nodes(db: Database) -> None:
    event = await publish(db, "dr-1", day_ahead(("ta-1", [100_000, 50_000])))

    assert event.state is EventState.PUBLISHED
    assert event.event_type is EventType.DAY_AHEAD
    assert event.nodes == ["ta-1"]
    # The program's terms (the seeded `default`: PLATFORM clearing, UNIFORM price, TOP5_OF_10 baseline).
    assert (event.program_id, event.clearing_mode, event.price_mode) == (
        "default",
        ClearingMode.PLATFORM,
        PriceMode.UNIFORM,
    )
    assert await db.read(lambda conn: event_store.invitees(conn, "dr-1")) == {
        "agg-a": ["ta-1"],
        "agg-b": ["ta-1"],
    }
    # The Invited notice reached the outbox of the invitees, and nobody else's, in the same transaction.
    for aggregator_id in ("agg-a", "agg-b"):
        [invited] = await notifications(db, aggregator_id)
        assert invited.invitation.name == "events/dr-1"
        assert list(invited.invitation.targets[0].target.values_w) == [100_000, 50_000]
    assert await notifications(db, "agg-c") == []
    assert await notifications(db, "agg-d") == []

    # A node's subtree counts: an event at fd-1 also invites agg-a and agg-b, whose stations are below it.
    await publish(
        db, "dr-2", day_ahead(("fd-1", [10_000]), ("ta-2", [10_000])), price_mode=PriceMode.PAY_AS_BID
    )
    invited = await db.read(lambda conn: event_store.invitees(conn, "dr-2"))
    assert invited == {"agg-a": ["fd-1"], "agg-b": ["fd-1"], "agg-c": ["fd-1"], "agg-d": ["ta-2"]}
    for aggregator_id in AGGREGATORS:
        stream = await notifications(db, aggregator_id)
        assert stream[-1].invitation.name == "events/dr-2"


async def test_an_unknown_node_is_refused_naming_each_target_and_nothing_is_written(db: Database) -> None:
    publication = day_ahead(("nowhere", [1_000]), ("ta-1", [1_000]), ("gone", [1_000]))
    with pytest.raises(InvalidArgument) as refused:
        await publish(db, "dr-1", publication)

    assert refused.value.reason == "GRID_NODE_NOT_FOUND"
    assert [(v.field, v.description) for v in refused.value.violations] == [
        ("event.targets[0].grid_node", "does not exist"),
        ("event.targets[2].grid_node", "does not exist"),
    ]
    with pytest.raises(NotFound):
        await db.read(lambda conn: event_store.get(conn, "dr-1"))
    for aggregator_id in AGGREGATORS:
        assert await notifications(db, aggregator_id) == []


async def test_publication_checks_run_before_the_store(db: Database) -> None:
    # An event with bidding settles at a clearing price, never at an announced one.
    with pytest.raises(InvalidArgument) as refused:
        market.check_publication(day_ahead(("ta-1", [1_000])), PriceMode.DIRECT_CONTROL, NOW)
    assert [v.field for v in refused.value.violations] == ["event.price_mode"]
    # The use case runs the same checks: a deadline already passed is refused, nothing written.
    with pytest.raises(InvalidArgument):
        await run(
            db,
            lambda uow: market.publish_event(
                uow,
                event_id="late",
                publication=day_ahead(("ta-1", [1_000])),
                direction=Direction.LOAD_DECREASE,
            ),
            at=DEADLINE,
        )
    with pytest.raises(NotFound):
        await db.read(lambda conn: event_store.get(conn, "late"))
    # An unknown program is named.
    with pytest.raises(InvalidArgument) as unknown:
        await publish(db, "dr-1", day_ahead(("ta-1", [1_000])), program_id="nope")
    assert unknown.value.reason == "PROGRAM_NOT_FOUND"


async def test_bids_are_cleared_by_merit_order_and_instructed(db: Database) -> None:
    await publish(db, "dr-1", day_ahead(("ta-1", [150_000, 50_000])))
    await bid(db, "agg-a", "dr-1", [(100_000, "0.50"), (100_000, "0.50")])
    await bid(db, "agg-b", "dr-1", [(100_000, "0.80"), (100_000, "0.90")])
    # Not invited: agg-d's bid is refused as if the event did not exist.
    with pytest.raises(NotFound):
        await bid(db, "agg-d", "dr-1", [(1_000, "0.10")])
    # More than the 200 kW declared for the day is refused.
    with pytest.raises(FailedPrecondition) as too_much:
        await bid(db, "agg-b", "dr-1", [(250_000, "0.10")])
    assert too_much.value.reason == "BID_EXCEEDS_CAPACITY"

    with pytest.raises(FailedPrecondition):  # bidding is still open
        await run(db, lambda uow: market.clear_event(uow, "dr-1"))
    cleared = await run(db, lambda uow: market.clear_event(uow, "dr-1"), at=DEADLINE)

    assert cleared.clearing.cleared_by is ClearingMode.PLATFORM
    # UNIFORM: every accepted offer of a slot at the slot's marginal price.
    assert sorted(
        (q.aggregator_id, q.slot_start, q.accepted_w, q.price) for q in cleared.clearing.quantities
    ) == [
        ("agg-a", WINDOW_START, 100_000, Decimal("0.8")),
        ("agg-a", WINDOW_START + timedelta(minutes=15), 50_000, Decimal("0.5")),
        ("agg-b", WINDOW_START, 50_000, Decimal("0.8")),
    ]
    assert {i.aggregator_id: i.target_w for i in cleared.instructions} == {
        "agg-a": (100_000, 50_000),
        "agg-b": (50_000, 0),
    }
    event = await db.read(lambda conn: event_store.get(conn, "dr-1"))
    assert [t.state for t in event.transitions] == [
        EventState.PUBLISHED,
        EventState.BIDDING_CLOSED,
        EventState.CLEARED,
    ]
    assert kinds(await notifications(db, "agg-a")) == [
        "invitation",
        "event_state_changed",
        "event_state_changed",
        "clearing",
        "instruction",
    ]
    assert kinds(await notifications(db, "agg-c")) == []


async def test_a_bid_is_withdrawn_only_by_its_owner(db: Database) -> None:
    await publish(db, "dr-1", day_ahead(("ta-1", [100_000])))
    await bid(db, "agg-a", "dr-1", [(50_000, "0.50")])

    with pytest.raises(NotFound):
        await run(db, lambda uow: market.withdraw_bid(uow, "agg-b", "dr-1", "agg-a"), principal=agg("agg-b"))
    withdrawn = await run(
        db, lambda uow: market.withdraw_bid(uow, "agg-a", "dr-1", "agg-a"), principal=agg("agg-a")
    )
    assert withdrawn.state == bids.WITHDRAWN
    assert await db.read(lambda conn: bids.live(conn, "dr-1")) == []


async def test_the_grid_clears_a_grid_mode_event_within_the_bids(db: Database) -> None:
    await publish(db, "dr-1", day_ahead(("ta-1", [100_000])), clearing_mode=ClearingMode.GRID)
    await bid(db, "agg-a", "dr-1", [(60_000, "0.50")])
    with pytest.raises(FailedPrecondition) as mismatch:
        await run(db, lambda uow: market.clear_event(uow, "dr-1"), at=DEADLINE)
    assert mismatch.value.reason == bids.CLEARING_MODE_MISMATCH

    offered = ClearedQuantity("agg-a", "ta-1", WINDOW_START, 60_000, Decimal("0.50"))
    too_much = ClearedQuantity("agg-a", "ta-1", WINDOW_START, 70_000, Decimal("0.50"))
    with pytest.raises(InvalidArgument):
        await run(db, lambda uow: market.submit_clearing_result(uow, "dr-1", [too_much]), at=DEADLINE)
    cleared = await run(db, lambda uow: market.submit_clearing_result(uow, "dr-1", [offered]), at=DEADLINE)
    assert cleared.clearing.cleared_by is ClearingMode.GRID
    assert [(i.aggregator_id, i.grid_node, i.target_w) for i in cleared.instructions] == [
        ("agg-a", "ta-1", (60_000,))
    ]
    [share] = [n.clearing for n in await notifications(db, "agg-a") if n.HasField("clearing")]
    assert [q.accepted_w for q in share.quantities] == [60_000]
    assert [n for n in await notifications(db, "agg-b") if n.HasField("clearing")] == []


async def test_cancelling_tells_the_invitees_and_is_final(db: Database) -> None:
    await publish(db, "dr-1", day_ahead(("ta-1", [100_000])))

    cancelled = await run(db, lambda uow: market.cancel_event(uow, "dr-1", "forecast changed"))
    assert cancelled.state is EventState.CANCELLED
    assert cancelled.transitions[-1].reason == "forecast changed"
    for aggregator_id in ("agg-a", "agg-b"):
        changed = (await notifications(db, aggregator_id))[-1].event_state_changed.event
        assert changed.name == "events/dr-1"
        assert changed.transitions[-1].reason == "forecast changed"
    with pytest.raises(FailedPrecondition) as again:
        await run(db, lambda uow: market.cancel_event(uow, "dr-1", "twice"))
    assert again.value.reason == "INVALID_EVENT_TRANSITION"


async def test_the_clock_advances_an_event_once(db: Database) -> None:
    await publish(db, "dr-1", day_ahead(("ta-1", [100_000])))
    assert (
        await run(db, lambda uow: market.advance_event(uow, "dr-1"), at=DEADLINE - timedelta(seconds=1)) == 0
    )
    assert await run(db, lambda uow: market.advance_event(uow, "dr-1"), at=DEADLINE) == 1
    assert await run(db, lambda uow: market.advance_event(uow, "dr-1"), at=DEADLINE) == 0
    # Nothing was bid, so nothing clears it: at the window start the event is cancelled.
    assert await run(db, lambda uow: market.advance_event(uow, "dr-1"), at=WINDOW_START) == 1
    event = await db.read(lambda conn: event_store.get(conn, "dr-1"))
    assert [(t.state, t.transition_time) for t in event.transitions] == [
        (EventState.PUBLISHED, NOW),
        (EventState.BIDDING_CLOSED, DEADLINE),
        (EventState.CANCELLED, WINDOW_START),
    ]
