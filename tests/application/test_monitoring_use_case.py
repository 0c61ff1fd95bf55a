"""application.monitoring.run_minute on a real store (SQLite and PostgreSQL), without a gRPC server.

(Not ``test_monitoring.py``: tests/domain has one, and neither directory is a package.)

agg-a holds a 10 kW instruction at n-1 for a REAL_TIME event; its baseline is
PRE_EVENT, 50 kW (the slot before the window), and it reports 48 kW for the
window's first slot: a response of 2 kW, a deviation of 0.8 against the
program's 0.2 allowed for 2 consecutive minutes (re-dispatch off, so the
shortfall is alarmed and not moved).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy.engine import Connection

from application import dispatch, events
from application.monitoring import run_minute
from application.uow import UnitOfWork
from domain.baseline import BaselineMethod
from domain.evaluation import Direction
from domain.events import ClearingMode, EventState, EventType, Publication, TargetCurve
from domain.monitoring import DEVIATION
from domain.settlement import PriceMode
from domain.telemetry import Aggregate
from store import aggregators, migrate, monitoring, outbox, programs, telemetry
from store import events as event_store
from store.db import Database
from store.instructions import Target
from store.monitoring import ProgressMinute
from store.outbox import Channel
from wire import notices as wire_notices
from wire import outbox as wire_outbox

START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)
MINUTE = timedelta(minutes=1)
EVENT = "rt-m"
TIMEOUT = timedelta(minutes=5)


def _seed(conn: Connection) -> None:
    """The program, agg-a, the event (executing from START), agg-a's instruction and its 15-minute values."""
    published = START - timedelta(hours=1)
    programs.upsert(
        conn,
        programs.Program(
            program_id="p-m",
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
            deviation_minutes=2,
            redispatch_enabled=False,
            update_time=published,
        ),
    )
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
        program_id="p-m",
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
        heartbeat_timeout=TIMEOUT,
    )
    telemetry.ingest_batch(
        conn,
        charger_id=None,
        aggregator_id="agg-a",
        batch_id="b-m",
        readings=[],
        aggregates=[
            Aggregate("agg-a", "", START - timedelta(minutes=15), 50_000),
            Aggregate("agg-a", "", START, 48_000),
        ],
        now=START + MINUTE,
    )
    executing = events.advance(UnitOfWork(conn, START + MINUTE), event_store.get(conn, EVENT))
    assert executing.state is EventState.EXECUTING


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    database = Database(database_url, threads=2, publisher=wire_notices.publish)
    try:
        await database.write(_seed)
        yield database
    finally:
        await database.close()


async def _minute(db: Database, minute: datetime) -> ProgressMinute | None:
    return await db.write(lambda conn: run_minute(UnitOfWork(conn, minute + MINUTE), EVENT, minute, TIMEOUT))


async def _alarms_told(db: Database) -> list[tuple[str, str]]:
    items = await db.read(lambda conn: outbox.read_unacked(conn, Channel.NOTIFICATIONS, "agg-a", 0, 1000))
    messages = [wire_outbox.notification_from(item) for item in items]
    return [(m.alarm.event, m.alarm.message) for m in messages if m.WhichOneof("payload") == "alarm"]


async def test_a_minute_is_measured_once(db: Database) -> None:
    done = await _minute(db, START)
    assert done is not None
    [figures] = done.aggregators
    assert figures.scope == "agg-a"
    assert (figures.figures.target_w, figures.figures.baseline_w, figures.figures.actual_w) == (
        10_000,
        50_000,
        48_000,
    )
    assert figures.figures.response_w == 2_000
    assert figures.figures.deviation == Fraction(4, 5)
    assert (done.target_w, done.baseline_w, done.actual_w) == (10_000, 50_000, 48_000)
    assert done.alarms == []

    assert await _minute(db, START) is None
    [stored] = await db.read(lambda conn: monitoring.read_minutes(conn, EVENT, None, 10))
    assert stored == done


async def test_a_lasting_deviation_is_alarmed_and_told(db: Database) -> None:
    assert (await _minute(db, START)).alarms == []  # type: ignore[union-attr]
    assert await _alarms_told(db) == []

    second = await _minute(db, START + MINUTE)
    assert second is not None
    [alarm] = second.alarms
    assert (alarm.kind, alarm.aggregator_id, alarm.event_id) == (DEVIATION, "agg-a", EVENT)
    assert alarm.raise_time == START + 2 * MINUTE
    assert "for 2 consecutive minutes" in alarm.message
    assert await _alarms_told(db) == [(f"events/{EVENT}", alarm.message)]

    # The lag restarts after an alarm: the next minute alone raises nothing.
    third = await _minute(db, START + 2 * MINUTE)
    assert third is not None
    assert third.alarms == []
    assert len(await _alarms_told(db)) == 1
    # An event outside its window is not monitored.
    assert await _minute(db, END) is None
