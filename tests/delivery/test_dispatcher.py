"""server/delivery.py over a real store (both databases), without a server: wake-ups, poll, flow control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from domain.errors import ResourceExhausted
from server.delivery import SLOW_CONSUMER, Dispatcher, InProcessWakeup, Subscription, deliver
from store import migrate, outbox
from store.db import Database
from store.outbox import Channel, OutboxItem
from wire import notices as wire_notices
from wire import outbox as wire_outbox

from .helpers import note
from waiting import WAIT_S, until


def enqueue(aggregator_id: str, *texts: str) -> Callable[[sa.Connection], list[int]]:
    return lambda conn: wire_outbox.enqueue_notifications(conn, [(aggregator_id, note(t)) for t in texts])


def both(n: int) -> Callable[[sa.Connection], list[int]]:
    return lambda conn: wire_outbox.enqueue_notifications(
        conn, [("agg-slow", note(f"s{n}")), ("agg-fast", note(f"f{n}"))]
    )


async def take(subscription: Subscription, count: int) -> list[tuple[int, str]]:
    got: list[OutboxItem] = []
    async with asyncio.timeout(WAIT_S):
        while len(got) < count:
            got.append(await subscription.get())
    return [(i.sequence, wire_outbox.notification_from(i).statement_ready.statement) for i in got]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    database = Database(database_url, threads=4, publisher=wire_notices.publish)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def make_dispatcher() -> AsyncIterator[Callable[..., Dispatcher]]:
    started: list[Dispatcher] = []

    def make(db: Database, *, poll_interval_s: float, queue_size: int = 1000) -> Dispatcher:
        dispatcher = Dispatcher(db, poll_interval_s=poll_interval_s, queue_size=queue_size)
        started.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in started:
        await dispatcher.stop()


async def test_committed_items_reach_only_their_subscriber_in_order(
    db: Database, make_dispatcher: Callable[..., Dispatcher]
) -> None:
    # A poll this slow never fires during the test: only the commit wake-up delivers.
    dispatcher = make_dispatcher(db, poll_interval_s=600.0)
    await dispatcher.start()
    async with (
        dispatcher.subscription(Channel.NOTIFICATIONS, "agg-a", 0) as a,
        dispatcher.subscription(Channel.NOTIFICATIONS, "agg-b", 0) as b,
    ):
        await db.write(enqueue("agg-a", "a1", "a2"))
        await db.write(enqueue("agg-b", "b1"))
        await db.write(enqueue("agg-a", "a3"))
        assert await take(a, 3) == [(1, "a1"), (2, "a2"), (3, "a3")]
        assert await take(b, 1) == [(1, "b1")]
        assert a.free() == b.free() == dispatcher.queue_size


async def test_a_rolled_back_enqueue_wakes_nobody_and_delivers_nothing(
    db: Database, make_dispatcher: Callable[..., Dispatcher]
) -> None:
    dispatcher = make_dispatcher(db, poll_interval_s=0.05)
    await dispatcher.start()
    async with dispatcher.subscription(Channel.NOTIFICATIONS, "agg-a", 0) as a:

        def enqueue_then_fail(conn: sa.Connection) -> None:
            enqueue("agg-a", "never")(conn)
            raise RuntimeError("effect failed")

        with pytest.raises(RuntimeError):
            await db.write(enqueue_then_fail)
        # Nothing was delivered: what comes next is the next commit, as sequence 1.
        await db.write(enqueue("agg-a", "kept"))
        assert await take(a, 1) == [(1, "kept")]


async def test_a_new_subscription_starts_after_its_cursor_and_the_acked_one(
    db: Database, make_dispatcher: Callable[..., Dispatcher]
) -> None:
    await db.write(enqueue("agg-a", *(f"n{n}" for n in range(1, 7))))
    await db.write(lambda conn: outbox.ack_notifications(conn, "agg-a", 2, datetime.now(UTC)))
    dispatcher = make_dispatcher(db, poll_interval_s=600.0)
    await dispatcher.start()
    async with dispatcher.subscription(Channel.NOTIFICATIONS, "agg-a", 0) as from_acked:
        assert await take(from_acked, 4) == [(3, "n3"), (4, "n4"), (5, "n5"), (6, "n6")]
    async with dispatcher.subscription(Channel.NOTIFICATIONS, "agg-a", 4) as from_cursor:
        assert await take(from_cursor, 2) == [(5, "n5"), (6, "n6")]


async def test_commits_of_another_process_arrive_through_the_poll(
    database_url: str, db: Database, make_dispatcher: Callable[..., Dispatcher]
) -> None:
    """A second Database + Dispatcher on the same store stands for another server process."""
    other_db = Database(database_url, threads=2, publisher=wire_notices.publish)
    try:
        other = make_dispatcher(other_db, poll_interval_s=600.0)
        await other.start()
        holder = make_dispatcher(db, poll_interval_s=0.1)
        await holder.start()
        async with holder.subscription(Channel.NOTIFICATIONS, "agg-a", 0) as a:
            heard: list[tuple[Channel, frozenset[str]]] = []
            spy = InProcessWakeup(db)
            await spy.start(lambda channel, ids: heard.append((channel, frozenset(ids))))
            try:
                await other_db.write(enqueue("agg-a", "from elsewhere 1", "from elsewhere 2"))
                assert await take(a, 2) == [(1, "from elsewhere 1"), (2, "from elsewhere 2")]
                # The holder's own wake-ups heard nothing: the poll delivered it.
                assert heard == []
            finally:
                await spy.stop()
    finally:
        await other_db.close()


async def test_a_backlog_larger_than_the_queue_is_fed_as_it_drains(
    db: Database, make_dispatcher: Callable[..., Dispatcher]
) -> None:
    await db.write(enqueue("agg-a", *(f"n{n}" for n in range(1, 26))))
    dispatcher = make_dispatcher(db, poll_interval_s=600.0, queue_size=4)
    await dispatcher.start()
    async with dispatcher.subscription(Channel.NOTIFICATIONS, "agg-a", 0) as a:
        got = await take(a, 25)
        assert got == [(n, f"n{n}") for n in range(1, 26)]
        assert not a.catching_up
        await db.write(enqueue("agg-a", "live"))
        assert await take(a, 1) == [(26, "live")]


async def test_a_live_subscriber_that_stops_reading_is_failed_and_others_keep_receiving(
    db: Database, make_dispatcher: Callable[..., Dispatcher]
) -> None:
    dispatcher = make_dispatcher(db, poll_interval_s=600.0, queue_size=4)
    await dispatcher.start()
    async with (
        dispatcher.subscription(Channel.NOTIFICATIONS, "agg-slow", 0) as slow,
        dispatcher.subscription(Channel.NOTIFICATIONS, "agg-fast", 0) as fast,
    ):
        for n in range(1, 4):
            await db.write(both(n))
            assert await take(fast, 1) == [(n, f"f{n}")]
        await until(lambda: slow.free() == 1)
        # Two more than the one free place: the slow subscriber overflows.
        await db.write(enqueue("agg-slow", "s4", "s5"))
        await db.write(enqueue("agg-fast", "f4"))
        assert await take(fast, 1) == [(4, "f4")]
        await until(lambda: slow.failed)
        with pytest.raises(ResourceExhausted) as failure:
            await slow.get()
        assert failure.value.reason == SLOW_CONSUMER
        assert failure.value.metadata == {"queue_size": "4"}
        assert slow.free() == 4  # its queue was dropped


async def test_items_committed_here_are_handed_to_live_streams_exactly_once(
    db: Database, make_dispatcher: Callable[..., Dispatcher]
) -> None:
    """The commit listener hands the committed items over (no poll fires: 600 s); a round reading the
    same window at the same moment must not queue them a second time."""
    dispatcher = make_dispatcher(db, poll_interval_s=600.0)
    await dispatcher.start()
    async with dispatcher.subscription(Channel.NOTIFICATIONS, "agg-a", 0) as a:
        await until(lambda: not a.catching_up, what="the stream to be live")
        for n in range(1, 4):
            write = asyncio.ensure_future(db.write(enqueue("agg-a", f"h{n}")))
            dispatcher.request(a)  # a round reads the window while the commit is handed over
            await write
        assert await take(a, 3) == [(1, "h1"), (2, "h2"), (3, "h3")]
        # Had anything been queued twice, the next item taken would be that duplicate.
        await db.write(enqueue("agg-a", "marker"))
        assert await take(a, 1) == [(4, "marker")]
        assert a.free() == dispatcher.queue_size


async def test_a_stream_behind_the_handed_item_reads_the_store_in_order(
    db: Database, make_dispatcher: Callable[..., Dispatcher]
) -> None:
    """Two streams of one subscriber: the live one takes the hand-off; one reconnecting from an
    older cursor gets everything after it from the store, in order, then the new item once."""
    dispatcher = make_dispatcher(db, poll_interval_s=600.0)
    await dispatcher.start()
    async with dispatcher.subscription(Channel.NOTIFICATIONS, "agg-a", 0) as live:
        await until(lambda: not live.catching_up, what="the stream to be live")
        await db.write(enqueue("agg-a", "n1", "n2"))
        assert await take(live, 2) == [(1, "n1"), (2, "n2")]
        await db.write(lambda conn: outbox.ack_notifications(conn, "agg-a", 1, datetime.now(UTC)))
        async with dispatcher.subscription(Channel.NOTIFICATIONS, "agg-a", 0) as resumed:
            await db.write(enqueue("agg-a", "n3"))
            assert await take(live, 1) == [(3, "n3")]
            # After the acknowledged cursor (1), from the store, then the handed-off n3 not twice.
            assert await take(resumed, 2) == [(2, "n2"), (3, "n3")]
            await db.write(enqueue("agg-a", "n4"))
            assert await take(resumed, 1) == [(4, "n4")]
            assert await take(live, 1) == [(4, "n4")]
    async with dispatcher.subscription(Channel.NOTIFICATIONS, "agg-a", 3) as reconnected:
        assert await take(reconnected, 1) == [(4, "n4")]


async def test_delivering_counts_items_until_written_dropped_or_closed(
    db: Database, make_dispatcher: Callable[..., Dispatcher]
) -> None:
    """What ``server.heap`` defers full collections on: items queued to a stream or being written."""
    dispatcher = make_dispatcher(db, poll_interval_s=600.0, queue_size=4)
    await dispatcher.start()
    written: list[int] = []
    release = asyncio.Event()

    async def write(item: OutboxItem) -> None:
        await release.wait()
        written.append(item.sequence)

    async with dispatcher.subscription(Channel.NOTIFICATIONS, "agg-a", 0) as a:
        await until(lambda: not a.catching_up, what="the stream to be live")
        assert not dispatcher.delivering()
        await db.write(enqueue("agg-a", "n1", "n2"))
        await until(lambda: a.free() == 2, what="both items queued")
        assert dispatcher.delivering()
        writer = asyncio.ensure_future(deliver(a, write, "notification"))
        await until(lambda: a.free() == 3, what="the first item taken")
        assert dispatcher.delivering()  # the first being written, the second queued
        release.set()
        await until(lambda: written == [1, 2], what="both items written")
        assert not dispatcher.delivering()
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        release.clear()
        await db.write(enqueue("agg-a", "n3"))
        await until(lambda: a.free() == 3, what="the third item queued")
        assert dispatcher.delivering()
    # The stream ended with the item still queued: nothing is being delivered any more.
    assert not dispatcher.delivering()
    async with dispatcher.subscription(Channel.NOTIFICATIONS, "agg-slow", 0) as slow:
        await until(lambda: not slow.catching_up, what="the stream to be live")
        await db.write(enqueue("agg-slow", *(f"s{n}" for n in range(1, 7))))  # more than fits: failed
        await until(lambda: slow.failed, what="the slow consumer to fail")
        assert not dispatcher.delivering()
