"""application.dispatch on a real store (SQLite and PostgreSQL), without gRPC: instructions and their setpoints.

ta-1 has three platform-managed 7 kW chargers with EVs at 60 kWh, SOC 0.5 → 0.9
(E = 24 000 Wh), no meter value yet (P0 = Pmax = 7 000 W) and far enough from
departure that the F3 floor is 0: each can shed 7 000 W (as in tests/dr/test_realtime_dispatch.py).

    agg-a: s-long leaves in 10 h (laxity ≈ 6.57 h), s-short in 5 h (≈ 1.57 h)
    agg-b: s-b leaves in 8 h

Available decrease at ta-1: agg-a 14 000 W, agg-b 7 000 W. A node target of
9 000 W splits 2 : 1 → agg-a 6 000 (s-long sheds it all: setpoint 1 000,
s-short keeps 7 000), agg-b 3 000 (s-b: setpoint 4 000).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from market_world import (
    DEADLINE,
    NOW,
    WINDOW_START,
    day_ahead,
    kinds,
    managed_world,
    notifications,
    run,
    setpoints,
)

from application import dispatch, market
from domain.errors import FailedPrecondition, InvalidArgument, NotFound
from domain.evaluation import Direction
from domain.events import EventState, EventType, Publication, TargetCurve
from store import events as event_store
from store import instructions
from store.db import Database
from store.instructions import Dispatched, Target


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with managed_world(database_url) as opened:
        yield opened


def target(watts: int, start: datetime = NOW, slots: int = 1) -> Target:
    return Target(start, 15, (watts,) * slots, start, start + timedelta(minutes=15 * slots))


async def instruct(
    db: Database,
    watts: int,
    *,
    grid_node: str | None = "ta-1",
    aggregator_id: str | None = None,
    event_id: str | None = None,
    direction: Direction = Direction.LOAD_DECREASE,
    start: datetime = NOW,
    at: datetime = NOW,
) -> Dispatched:
    return await run(
        db,
        lambda uow: dispatch.submit_dispatch_instruction(
            uow,
            event_id=event_id,
            grid_node=grid_node,
            aggregator_id=aggregator_id,
            direction=direction,
            target=target(watts, start),
        ),
        at=at,
    )


async def all_instructions(db: Database) -> list[instructions.Instruction]:
    page = await db.read(lambda conn: instructions.list_page(conn, page_size=100, page_token=""))
    return page.instructions


def powers(items: list[Any]) -> list[int]:
    return [s.power_w for s in items]


async def test_a_node_target_is_split_instructed_and_sent_to_the_managed_chargers(db: Database) -> None:
    first = await instruct(db, 9_000)

    assert first.shortfall_w == 0
    assert {i.aggregator_id: i.target_w for i in first.instructions} == {"agg-a": (6_000,), "agg-b": (3_000,)}
    assert {(i.version, i.grid_node, i.active) for i in first.instructions} == {(1, "ta-1", True)}
    # Real time: the setpoints went out with the instruction, in the same transaction.
    assert powers(await setpoints(db, "ch-s-long")) == [1_000]
    assert powers(await setpoints(db, "ch-s-short")) == [7_000]
    assert powers(await setpoints(db, "ch-s-b")) == [4_000]
    by_aggregator = {i.aggregator_id: i for i in first.instructions}
    [sent] = await setpoints(db, "ch-s-long")
    assert sent.instruction == by_aggregator["agg-a"].name
    # Each aggregator's stream carries its own instruction, and only that.
    for aggregator_id in ("agg-a", "agg-b"):
        stream = await notifications(db, aggregator_id)
        assert [n.instruction.name for n in stream] == [by_aggregator[aggregator_id].name]
    assert await notifications(db, "agg-c") == []

    # A new target revises by cancel-and-reissue: same ids, version 2, the old version announced as cancelled.
    second = await instruct(db, 3_000)
    assert {(i.aggregator_id, i.instruction_id, i.version) for i in second.instructions} == {
        (a, by_aggregator[a].instruction_id, 2) for a in ("agg-a", "agg-b")
    }
    assert kinds(await notifications(db, "agg-a")) == ["instruction", "instruction_cancelled", "instruction"]
    assert powers(await setpoints(db, "ch-s-long")) == [1_000, 5_000]

    # More than the node can shed: everybody at capacity, the rest is the shortfall.
    third = await instruct(db, 30_000)
    assert third.shortfall_w == 9_000
    assert {i.aggregator_id: i.target_w for i in third.instructions} == {
        "agg-a": (14_000,),
        "agg-b": (7_000,),
    }
    # Every setpoint has its own id (one random id per dispatch, then the index: instructions.new_ids),
    # the one the instruction's record of it keeps.
    sent_ids = [s.setpoint_id for c in ("ch-s-long", "ch-s-short", "ch-s-b") for s in await setpoints(db, c)]
    assert len(sent_ids) == 9
    assert len(set(sent_ids)) == 9
    assert all(0 < len(i) <= 64 for i in sent_ids)
    recorded = await db.read(
        lambda conn: set(conn.execute(sa.select(instructions.setpoints.c.setpoint_id)).scalars())
    )
    assert recorded == set(sent_ids)


async def test_an_unknown_place_is_not_found_and_nothing_is_issued(db: Database) -> None:
    with pytest.raises(NotFound):
        await instruct(db, 1_000, grid_node="nowhere")
    with pytest.raises(NotFound):
        await instruct(db, 1_000, grid_node=None, aggregator_id="agg-zz")
    assert await all_instructions(db) == []
    assert await setpoints(db, "ch-s-long") == []
    # A target that does not cover its validity is refused before any store read.
    with pytest.raises(InvalidArgument) as refused:
        await run(
            db,
            lambda uow: dispatch.submit_dispatch_instruction(
                uow,
                event_id=None,
                grid_node="nowhere",
                aggregator_id=None,
                direction=Direction.LOAD_DECREASE,
                target=Target(NOW, 15, (1_000,), NOW, NOW + timedelta(minutes=30)),
            ),
        )
    assert refused.value.reason == "INVALID_INSTRUCTION_TARGET"


async def test_an_instruction_starting_later_sends_its_setpoints_when_the_clock_gets_there(
    db: Database,
) -> None:
    later = NOW + timedelta(minutes=30)
    [issued] = (await instruct(db, 4_000, grid_node=None, aggregator_id="agg-b", start=later)).instructions
    assert issued.target_w == (4_000,)
    assert await setpoints(db, "ch-s-b") == []
    pending = await db.read(lambda conn: instructions.pending_setpoints(conn, later, 10))
    assert [p.instruction_id for p in pending] == [issued.instruction_id]

    assert await run(db, lambda uow: dispatch.start_setpoints(uow, pending[0]), at=later) is True
    assert powers(await setpoints(db, "ch-s-b")) == [3_000]
    # Another process (or tick) finds it done.
    assert await run(db, lambda uow: dispatch.start_setpoints(uow, pending[0]), at=later) is False
    assert len(await setpoints(db, "ch-s-b")) == 1
    assert await db.read(lambda conn: instructions.pending_setpoints(conn, later, 10)) == []


async def test_an_event_takes_instructions_only_in_its_direction_window_and_state(db: Database) -> None:
    real_time = Publication(
        event_type=EventType.REAL_TIME,
        window_start=NOW,
        window_end=NOW + timedelta(minutes=15),
        bid_deadline=None,
        targets=(TargetCurve("ta-1", NOW, 15, (9_000,)),),
        price_cap=None,
        announced_price=Decimal("1.50"),
    )
    await run(
        db,
        lambda uow: market.publish_event(
            uow, event_id="rt-1", publication=real_time, direction=Direction.LOAD_DECREASE
        ),
    )
    with pytest.raises(InvalidArgument) as wrong:
        await instruct(db, 1_000, event_id="rt-1", direction=Direction.LOAD_INCREASE)
    assert [v.field for v in wrong.value.violations] == ["direction"]
    with pytest.raises(InvalidArgument) as outside:
        await instruct(db, 1_000, event_id="rt-1", start=NOW + timedelta(minutes=15))
    assert [v.field for v in outside.value.violations] == ["validity"]

    # In the window the event first takes its due transition (PUBLISHED → EXECUTING), then the instruction.
    dispatched = await instruct(db, 9_000, event_id="rt-1")
    assert {(i.event_id, i.aggregator_id, i.target_w) for i in dispatched.instructions} == {
        ("rt-1", "agg-a", (6_000,)),
        ("rt-1", "agg-b", (3_000,)),
    }
    event = await db.read(lambda conn: event_store.get(conn, "rt-1"))
    assert [t.state for t in event.transitions] == [EventState.PUBLISHED, EventState.EXECUTING]

    await run(
        db,
        lambda uow: market.publish_event(
            uow, event_id="dr-1", publication=day_ahead(("ta-1", [9_000])), direction=Direction.LOAD_DECREASE
        ),
    )
    # Still PUBLISHED (not cleared): a day-ahead event takes no instruction yet.
    with pytest.raises(FailedPrecondition) as early:
        await instruct(db, 1_000, event_id="dr-1", start=WINDOW_START, at=DEADLINE)
    assert early.value.reason == instructions.INSTRUCTION_NOT_ALLOWED
    assert [i.event_id for i in await all_instructions(db)] == ["rt-1", "rt-1"]
