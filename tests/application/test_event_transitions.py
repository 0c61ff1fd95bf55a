"""application.events on a real store (SQLite and PostgreSQL), without gRPC: a transition is told to the invitees.

An event at fd-1 invites agg-a, agg-b and agg-c (``market_world``); agg-d, at ta-2, is not invited.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from market_world import DEADLINE, GRID, NOW, database, day_ahead, seed
from sqlalchemy.engine import Connection
from vgi.common.v1 import market_pb2

from application import events, market
from application.uow import UnitOfWork
from domain.evaluation import Direction
from domain.events import Actor, Event, EventState
from store import events as event_store
from store import outbox
from store.db import Database
from wire import outbox as wire_outbox

INVITED = ("agg-a", "agg-b", "agg-c")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with database(database_url) as opened:

        def world(conn: Connection) -> None:
            seed(conn)
            market.publish_event(
                UnitOfWork(conn, NOW, GRID, "publish-trace"),
                event_id="dr-1",
                publication=day_ahead(("fd-1", [100_000])),
                direction=Direction.LOAD_DECREASE,
            )

        await opened.write(world)
        yield opened


async def told(db: Database, aggregator_id: str) -> list[tuple[str, str | None]]:
    """The aggregator's stream: each item's state told (or its kind) and the trace carrier it was written with."""

    def read(conn: Connection) -> list[tuple[str, str | None]]:
        items = outbox.read_unacked(conn, outbox.Channel.NOTIFICATIONS, aggregator_id, 0, 1000)
        found = []
        for item in items:
            message = wire_outbox.notification_from(item)
            kind = str(message.WhichOneof("payload"))
            if kind == "event_state_changed":
                kind = market_pb2.EventState.Name(message.event_state_changed.event.state)
            found.append((kind, item.carrier))
        return found

    return await db.read(read)


async def test_a_transition_is_told_to_every_invitee_with_the_calls_trace(db: Database) -> None:
    def cancel(conn: Connection) -> Event | None:
        event = event_store.get(conn, "dr-1")
        return events.transition(
            UnitOfWork(conn, NOW, GRID, "cancel-trace"),
            event,
            EventState.CANCELLED,
            Actor.GRID,
            reason="test",
        )

    moved = await db.write(cancel)

    assert moved is not None
    assert moved.state is EventState.CANCELLED
    assert moved.transitions[-1].reason == "test"
    for aggregator_id in INVITED:
        assert await told(db, aggregator_id) == [
            ("invitation", "publish-trace"),
            ("EVENT_STATE_CANCELLED", "cancel-trace"),
        ]
    assert await told(db, "agg-d") == []


async def test_the_clocks_transitions_carry_no_trace_and_a_lost_race_tells_nothing(db: Database) -> None:
    stale = await db.read(lambda conn: event_store.get(conn, "dr-1"))

    closed = await db.write(
        lambda conn: events.advance(UnitOfWork(conn, DEADLINE, None, "call-trace"), stale)
    )

    assert closed.state is EventState.BIDDING_CLOSED
    assert await told(db, "agg-a") == [("invitation", "publish-trace"), ("EVENT_STATE_BIDDING_CLOSED", None)]
    # Another writer moved the event first: the conditional UPDATE finds nothing, nothing is told.
    lost = await db.write(
        lambda conn: events.transition(
            UnitOfWork(conn, DEADLINE, None, "call-trace"), stale, EventState.BIDDING_CLOSED, Actor.PLATFORM
        )
    )
    assert lost is None
    assert [kind for kind, _ in await told(db, "agg-a")] == ["invitation", "EVENT_STATE_BIDDING_CLOSED"]
