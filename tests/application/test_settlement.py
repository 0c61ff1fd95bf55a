"""application.settlement on a real store (SQLite and PostgreSQL), without a gRPC server.

One REAL_TIME direct-control event for agg-a over two slots, an instruction
of 10 kW in each, a PRE_EVENT baseline of 50 kW (the slot before the window)
and 40 kW metered in each slot: the response is 10 kW, rate 1, so each slot
pays 10 kW × 0.25 h × 0.50 CNY/kWh = 1.25 CNY. The use cases run in
``Database.write`` exactly as the servicers run them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

import pytest
from sqlalchemy.engine import Connection
from vgi.common.v1 import market_pb2

from application import dispatch, settlement
from application.settlement import Party
from application.uow import UnitOfWork
from domain.baseline import BaselineMethod
from domain.errors import FailedPrecondition
from domain.evaluation import Direction
from domain.events import Actor, ClearingMode, EventState, EventType, Publication, TargetCurve
from domain.settlement import PriceMode, StatementState
from domain.telemetry import Aggregate
from store import aggregators, migrate, outbox, programs, telemetry
from store import events as event_store
from store import settlement as settlement_store
from store.db import Database
from store.instructions import Target
from store.outbox import Channel
from wire import notices as wire_notices
from wire import outbox as wire_outbox

T = TypeVar("T")

START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)
AFTER = END + timedelta(minutes=5)
EVENT = "rt-1"
STATEMENT = "agg-a"
NAME = f"events/{EVENT}/statements/{STATEMENT}"


def _program() -> programs.Program:
    return programs.Program(
        program_id="p-1",
        baseline_method=BaselineMethod.PRE_EVENT,
        fallback_baseline_method=None,
        clearing_mode=ClearingMode.PLATFORM,
        price_mode=PriceMode.UNIFORM,
        penalty_threshold_rate=Decimal("0.5"),
        cap_rate=Decimal("1.2"),
        penalty_factor=Decimal("1"),
        qualified_min_rate=Decimal("0.8"),
        qualified_max_rate=Decimal("1.2"),
        fee_ratio=Decimal("0.05"),
        holidays=(),
        make_up_working_days=(),
        deviation_threshold=Decimal("0.2"),
        deviation_minutes=3,
        redispatch_enabled=True,
        update_time=START - timedelta(days=1),
    )


def _seed(conn: Connection) -> None:
    """The program, agg-a, the published event, agg-a's instruction and its metered 15-minute values."""
    published = START - timedelta(hours=1)
    programs.upsert(conn, _program())
    aggregators.create(
        conn,
        aggregator_id="agg-a",
        display_name="A",
        unified_social_credit_code="91110000100000000A",
        contact_email="a@example.com",
        now=published,
    )
    event_store.publish(
        conn,
        event_id=EVENT,
        publication=Publication(
            event_type=EventType.REAL_TIME,
            window_start=START,
            window_end=END,
            bid_deadline=None,
            targets=[TargetCurve("n-1", START, 15, [10_000, 10_000])],
            price_cap=None,
            announced_price=Decimal("0.50"),
        ),
        direction=Direction.LOAD_DECREASE,
        clearing_mode=ClearingMode.PLATFORM,
        price_mode=PriceMode.DIRECT_CONTROL,
        baseline_method=BaselineMethod.PRE_EVENT,
        program_id="p-1",
        invitees={"agg-a": ["n-1"]},
        publisher="grid",
        now=published,
        carrier=None,
    )
    dispatch.issue(
        UnitOfWork(conn, published),
        event_id=EVENT,
        aggregator_id="agg-a",
        grid_node="n-1",
        direction=Direction.LOAD_DECREASE,
        target=Target(START, 15, (10_000, 10_000), START, END),
        heartbeat_timeout=timedelta(minutes=5),
    )
    slots = [START - timedelta(minutes=15), START, START + timedelta(minutes=15)]
    telemetry.ingest_batch(
        conn,
        charger_id=None,
        aggregator_id="agg-a",
        batch_id="b-1",
        readings=[],
        aggregates=[
            Aggregate("agg-a", "", at, w) for at, w in zip(slots, [50_000, 40_000, 40_000], strict=True)
        ],
        now=AFTER,
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    database = Database(database_url, threads=2, publisher=wire_notices.publish)
    try:
        await database.write(_seed)
        yield database
    finally:
        await database.close()


def _run(fn: Callable[[UnitOfWork], T], at: datetime = AFTER) -> Callable[[Connection], T]:
    return lambda conn: fn(UnitOfWork(conn, at, carrier="trace-1"))


async def _told(db: Database) -> list[str]:
    """What agg-a's notification stream holds: each item's payload kind, and the statement or state told."""
    items = await db.read(lambda conn: outbox.read_unacked(conn, Channel.NOTIFICATIONS, "agg-a", 0, 1000))
    told = []
    for item in items:
        message = wire_outbox.notification_from(item)
        kind = message.WhichOneof("payload")
        if kind == "statement_ready":
            told.append(f"statement_ready {message.statement_ready.statement}")
        elif kind == "event_state_changed":
            told.append(market_pb2.EventState.Name(message.event_state_changed.event.state))
        else:
            told.append(str(kind))
    return told


async def _state(db: Database) -> EventState:
    return (await db.read(lambda conn: event_store.get(conn, EVENT))).state


async def _evaluate(db: Database) -> settlement_store.Evaluated:
    return await db.write(_run(lambda uow: settlement.evaluate_event(uow, EVENT, Actor.GRID)))


async def test_evaluating_a_completed_event_records_and_announces_the_statement(db: Database) -> None:
    before = await _told(db)
    done = await _evaluate(db)

    [evaluation] = done.evaluations
    assert evaluation.baseline_method is BaselineMethod.PRE_EVENT
    assert [(s.baseline_w, s.actual_w, s.rate) for s in evaluation.evaluation.slots] == [
        (Fraction(50_000), Fraction(40_000), Fraction(1))
    ] * 2
    [statement] = done.statements
    assert statement.name == NAME
    assert statement.statement.state is StatementState.DRAFT
    assert [line.compensation for line in statement.statement.lines] == [Decimal("1.25")] * 2

    stored = await db.read(lambda conn: settlement_store.get_statement(conn, EVENT, STATEMENT))
    assert stored.statement == statement.statement
    assert await _state(db) is EventState.EVALUATED
    # The clock's EXECUTING and COMPLETED, the grid's EVALUATED, then the statement, in that order.
    assert (await _told(db))[len(before) :] == [
        "EVENT_STATE_EXECUTING",
        "EVENT_STATE_COMPLETED",
        "EVENT_STATE_EVALUATED",
        f"statement_ready {NAME}",
    ]


async def test_a_second_evaluation_is_refused_and_changes_nothing(db: Database) -> None:
    await _evaluate(db)
    told = await _told(db)
    with pytest.raises(FailedPrecondition) as refused:
        await _evaluate(db)
    assert refused.value.reason == "INVALID_EVENT_TRANSITION"
    assert await _told(db) == told
    page = await db.read(
        lambda conn: settlement_store.list_event_statements(conn, EVENT, page_size=10, page_token="")
    )
    assert [s.statement_id for s in page.statements] == [STATEMENT]


async def test_both_confirmations_confirm_the_statement_and_settle_the_event(db: Database) -> None:
    await _evaluate(db)
    first = await db.write(
        _run(
            lambda uow: settlement.confirm_statement(
                uow, EVENT, STATEMENT, Party.AGGREGATOR, aggregator_id="agg-a"
            )
        )
    )
    assert first.statement.state is StatementState.DRAFT
    assert first.aggregator_confirm_time == AFTER
    assert first.grid_confirm_time is None
    assert await _state(db) is EventState.EVALUATED

    later = AFTER + timedelta(minutes=1)
    told = await _told(db)
    second = await db.write(
        _run(lambda uow: settlement.confirm_statement(uow, EVENT, STATEMENT, Party.GRID), later)
    )
    assert second.statement.state is StatementState.CONFIRMED
    assert second.confirm_time == later
    assert await _state(db) is EventState.SETTLED
    assert (await _told(db))[len(told) :] == ["EVENT_STATE_SETTLED"]


async def test_a_disputed_statement_is_resolved_by_the_grid_only(db: Database) -> None:
    await _evaluate(db)
    disputed = await db.write(
        _run(lambda uow: settlement.dispute_statement(uow, EVENT, STATEMENT, "agg-a", "meter fault"))
    )
    assert disputed.statement.state is StatementState.DISPUTED
    assert disputed.statement.dispute_reason == "meter fault"
    with pytest.raises(FailedPrecondition) as refused:
        await db.write(
            _run(lambda uow: settlement.confirm_statement(uow, EVENT, STATEMENT, Party.AGGREGATOR))
        )
    assert refused.value.reason == "STATEMENT_DISPUTED"
    resolved = await db.write(
        _run(lambda uow: settlement.confirm_statement(uow, EVENT, STATEMENT, Party.GRID))
    )
    assert resolved.statement.state is StatementState.CONFIRMED
    assert await _state(db) is EventState.SETTLED


async def test_an_adjustment_is_announced_and_one_at_a_time(db: Database) -> None:
    await _evaluate(db)
    for party in (Party.AGGREGATOR, Party.GRID):
        await db.write(_run(lambda uow, p=party: settlement.confirm_statement(uow, EVENT, STATEMENT, p)))
    told = await _told(db)

    adjustment = await db.write(_run(lambda uow: settlement.create_adjustment(uow, EVENT, STATEMENT)))
    assert adjustment.statement_id == "agg-a.adj-1"
    assert adjustment.statement.adjusts == STATEMENT
    assert adjustment.statement.state is StatementState.DRAFT
    # Nothing changed since the evaluation: the adjustment moves no money.
    assert adjustment.statement.total == 0
    assert (await _told(db))[len(told) :] == [f"statement_ready events/{EVENT}/statements/agg-a.adj-1"]

    with pytest.raises(FailedPrecondition) as pending:
        await db.write(_run(lambda uow: settlement.create_adjustment(uow, EVENT, STATEMENT)))
    assert pending.value.reason == "ADJUSTMENT_PENDING"
    with pytest.raises(FailedPrecondition) as nested:
        await db.write(_run(lambda uow: settlement.create_adjustment(uow, EVENT, "agg-a.adj-1")))
    assert nested.value.reason == "NOT_A_REGULAR_STATEMENT"
