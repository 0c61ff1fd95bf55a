"""A SUSPENDED aggregator receives no new dispatch (application.tenants, .dispatch, .market, .capacity) on a
real store (SQLite and PostgreSQL), without gRPC. It keeps its data; ACTIVE again restores everything.

The worlds are ``market_world``'s: ta-1 with agg-a (managed sessions s-long, s-short: 14 000 W of decrease)
and agg-b (s-b: 7 000 W), as in test_dispatch.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from market_world import (
    DEADLINE,
    NOW,
    TOMORROW,
    WINDOW_START,
    database,
    day_ahead,
    managed_world,
    notifications,
    run,
    setpoints,
)

from application import capacity as capacity_cases
from application import dispatch, market, tenants
from application.uow import UnitOfWork
from domain.clearing import ClearedQuantity
from domain.errors import FailedPrecondition, InvalidArgument
from domain.evaluation import Direction
from domain.events import ClearingMode
from domain.principal import Principal, Role
from store import aggregators, bids, capacity, instructions
from store.aggregators import AggregatorState
from store.bids import BidSlot
from store.db import Database
from store.instructions import Target


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with managed_world(database_url) as opened:
        yield opened


async def set_state(db: Database, aggregator_id: str, state: AggregatorState) -> None:
    await db.write(lambda conn: aggregators.update(conn, aggregator_id, changes={}, state=state, now=NOW))


def target(watts: int) -> Target:
    return Target(NOW, 15, (watts,), NOW, NOW + timedelta(minutes=15))


async def instruct(db: Database, watts: int, **place: str | None) -> list[instructions.Instruction]:
    where = {"grid_node": "ta-1", "aggregator_id": None, **place}
    dispatched = await run(
        db,
        lambda uow: dispatch.submit_dispatch_instruction(
            uow,
            event_id=None,
            grid_node=where["grid_node"],
            aggregator_id=where["aggregator_id"],
            direction=Direction.LOAD_DECREASE,
            target=target(watts),
        ),
    )
    return dispatched.instructions


def agg(aggregator_id: str) -> Principal:
    return Principal(Role.AGGREGATOR, aggregator_id, aggregator_id)


async def as_tenant(db: Database, aggregator_id: str, state: AggregatorState, use_case: object) -> object:
    """``use_case(uow)`` as the aggregator, admitted by the tenant gate with ``state``."""
    return await db.write(
        lambda conn: use_case(UnitOfWork(conn, NOW, agg(aggregator_id), None, state))  # type: ignore[operator]
    )


async def test_a_suspended_aggregator_gets_no_share_no_instruction_and_no_setpoint(db: Database) -> None:
    await set_state(db, "agg-b", AggregatorState.SUSPENDED)

    # The node's 9 000 W all go to agg-a (14 000 W available); agg-b's charger gets nothing.
    issued = await instruct(db, 9_000)
    assert {i.aggregator_id: i.target_w for i in issued} == {"agg-a": (9_000,)}
    assert await setpoints(db, "ch-s-b") == []
    assert await notifications(db, "agg-b") == []
    # Instructing it directly is refused, nothing issued.
    with pytest.raises(FailedPrecondition) as refused:
        await instruct(db, 1_000, grid_node=None, aggregator_id="agg-b")
    assert refused.value.reason == "AGGREGATOR_SUSPENDED"
    assert [v.subject for v in refused.value.violations] == ["aggregators/agg-b"]
    page = await db.read(lambda conn: instructions.list_page(conn, page_size=100, page_token=""))
    assert len(page.instructions) == 1

    # ACTIVE again: the next target is split 2 : 1 as before the suspension.
    await set_state(db, "agg-b", AggregatorState.ACTIVE)
    issued = await instruct(db, 9_000)
    assert {i.aggregator_id: i.target_w for i in issued} == {"agg-a": (6_000,), "agg-b": (3_000,)}
    assert [s.power_w for s in await setpoints(db, "ch-s-b")] == [4_000]


async def test_an_instruction_issued_before_the_suspension_sends_no_setpoint_after_it(db: Database) -> None:
    later = NOW + timedelta(minutes=30)

    def issue(uow: UnitOfWork) -> instructions.Instruction:
        return dispatch.submit_dispatch_instruction(
            uow,
            event_id=None,
            grid_node=None,
            aggregator_id="agg-b",
            direction=Direction.LOAD_DECREASE,
            target=Target(later, 15, (4_000,), later, later + timedelta(minutes=15)),
        ).instructions[0]

    await run(db, issue)
    await set_state(db, "agg-b", AggregatorState.SUSPENDED)
    [pending] = await db.read(lambda conn: instructions.pending_setpoints(conn, later, 10))
    await run(db, lambda uow: dispatch.start_setpoints(uow, pending), at=later)
    assert await setpoints(db, "ch-s-b") == []


async def test_a_suspended_aggregator_may_not_bid_or_declare_and_its_earlier_bid_is_not_cleared(
    db: Database,
) -> None:
    await run(
        db,
        lambda uow: market.publish_event(
            uow,
            event_id="dr-1",
            publication=day_ahead(("ta-1", [150_000])),
            direction=Direction.LOAD_DECREASE,
        ),
    )

    def bid(aggregator_id: str, watts: int, price: str) -> object:
        return lambda uow: market.submit_bid(
            uow, aggregator_id, "dr-1", [BidSlot(WINDOW_START, watts, Decimal(price))]
        )

    await as_tenant(db, "agg-a", AggregatorState.ACTIVE, bid("agg-a", 100_000, "0.50"))
    await as_tenant(db, "agg-b", AggregatorState.ACTIVE, bid("agg-b", 100_000, "0.40"))
    await set_state(db, "agg-b", AggregatorState.SUSPENDED)

    # New dispatch inputs of the suspended aggregator are refused, nothing changed.
    with pytest.raises(FailedPrecondition) as refused:
        await as_tenant(db, "agg-b", AggregatorState.SUSPENDED, bid("agg-b", 50_000, "0.10"))
    assert refused.value.reason == "AGGREGATOR_SUSPENDED"
    [kept] = [b for b in await db.read(lambda conn: bids.live(conn, "dr-1")) if b.aggregator_id == "agg-b"]
    assert [(s.capacity_w, s.price) for s in kept.slots] == [(100_000, Decimal("0.40"))]
    declaration = capacity.Declaration(TOMORROW, (1_000,) * 96, (0,) * 96, "", "")
    with pytest.raises(FailedPrecondition) as declared:
        await as_tenant(
            db,
            "agg-b",
            AggregatorState.SUSPENDED,
            lambda uow: capacity_cases.declare(uow, "agg-b", declaration),
        )
    assert declared.value.reason == "AGGREGATOR_SUSPENDED"
    stored = await db.read(lambda conn: capacity.declarations_for(conn, TOMORROW, ["agg-b"]))
    assert stored["agg-b"].decrease_w == (200_000,) * 96  # the world's, unchanged

    # Its earlier bid stays SUBMITTED but is not what a clearing may award (nor what the grid's aggregated
    # bid shows); reactivated before the clearing, it would count.
    async def clearable() -> list[str]:
        return await db.read(lambda conn: [b.aggregator_id for b in market.clearable_bids(conn, "dr-1")])

    assert kept.state == bids.SUBMITTED
    assert await clearable() == ["agg-a"]
    await set_state(db, "agg-b", AggregatorState.ACTIVE)
    assert sorted(await clearable()) == ["agg-a", "agg-b"]
    await set_state(db, "agg-b", AggregatorState.SUSPENDED)

    # Clearing leaves it out: agg-a takes what it offered; agg-b's bid is closed with the event's others.
    cleared = await run(db, lambda uow: market.clear_event(uow, "dr-1"), at=DEADLINE)
    assert [(q.aggregator_id, q.accepted_w) for q in cleared.clearing.quantities] == [("agg-a", 100_000)]
    assert [i.aggregator_id for i in cleared.instructions] == ["agg-a"]
    closed = await db.read(lambda conn: bids.get(conn, "dr-1", "agg-b"))
    assert closed.state == bids.CLEARED


async def test_a_grid_clearing_result_may_not_award_a_suspended_aggregator(db: Database) -> None:
    await run(
        db,
        lambda uow: market.publish_event(
            uow,
            event_id="dr-1",
            publication=day_ahead(("ta-1", [100_000])),
            direction=Direction.LOAD_DECREASE,
            clearing_mode=ClearingMode.GRID,
        ),
    )
    await as_tenant(
        db,
        "agg-b",
        AggregatorState.ACTIVE,
        lambda uow: market.submit_bid(uow, "agg-b", "dr-1", [BidSlot(WINDOW_START, 60_000, Decimal("0.5"))]),
    )
    await set_state(db, "agg-b", AggregatorState.SUSPENDED)
    award = ClearedQuantity("agg-b", "ta-1", WINDOW_START, 60_000, Decimal("0.50"))
    with pytest.raises(InvalidArgument) as refused:
        await run(db, lambda uow: market.submit_clearing_result(uow, "dr-1", [award]), at=DEADLINE)
    assert [v.field for v in refused.value.violations] == ["quantities[0].aggregator"]
    await set_state(db, "agg-b", AggregatorState.ACTIVE)
    cleared = await run(db, lambda uow: market.submit_clearing_result(uow, "dr-1", [award]), at=DEADLINE)
    assert [i.aggregator_id for i in cleared.instructions] == ["agg-b"]


async def test_tenant_states_keep_a_read_for_the_bound_and_forget_it_at_once(database_url: str) -> None:
    """``TenantStates`` on a real store with a hand-moved clock: one query per aggregator and bound, absence
    remembered too, a change seen at once after ``forget`` and otherwise only when the entry expires."""
    clock = [1_000.0]
    async with database(database_url) as db:
        states = tenants.TenantStates(db, max_age_s=2.0, clock=lambda: clock[0])
        assert states.cached("agg-n") == (False, None)
        assert await states.load("agg-n") is None  # not onboarded: remembered
        assert states.cached("agg-n") == (True, None)

        await db.write(
            lambda conn: aggregators.create(
                conn,
                aggregator_id="agg-n",
                display_name="N",
                unified_social_credit_code="",
                contact_email="",
                now=NOW,
            )
        )
        assert states.cached("agg-n") == (True, None)  # another process's write: unseen within the bound
        clock[0] += 2.0
        assert states.cached("agg-n") == (False, None)  # expired
        assert await states.load("agg-n") is AggregatorState.ACTIVE

        await set_state(db, "agg-n", AggregatorState.SUSPENDED)
        assert states.cached("agg-n") == (True, AggregatorState.ACTIVE)
        states.forget("agg-n")  # what the writing process does once its write committed
        assert states.cached("agg-n") == (False, None)
        assert await states.load("agg-n") is AggregatorState.SUSPENDED
