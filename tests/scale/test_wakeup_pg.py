"""server.wakeup_pg in one process: two Databases stand for two server processes on one PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import psycopg
import pytest
from conftest import PG_CONNINFO
from delivery.helpers import enqueue

from server.wakeup_pg import PgNotifyWakeup, channel_for, decode, encode, wakeup_for
from store.db import Database
from store.outbox import Channel
from wire import notices as wire_notices

from .conftest import migrated_schema, store
from waiting import until, within

pytestmark = pytest.mark.timeout(60)


def test_payloads_stay_under_the_notify_limit_and_name_every_subscriber() -> None:
    ids = {f"charger-{n:06d}" for n in range(10_000)}
    payloads = list(encode("origin-1", {Channel.SETPOINTS: ids, Channel.NOTIFICATIONS: {"agg-1"}}))
    assert all(len(p.encode()) < 8000 for p in payloads)
    decoded = [decode(p) for p in payloads]
    assert {origin for origin, _, _ in decoded} == {"origin-1"}
    assert {i for _, channel, got in decoded if channel is Channel.SETPOINTS for i in got} == ids
    assert [got for _, channel, got in decoded if channel is Channel.NOTIFICATIONS] == [["agg-1"]]
    assert sum(len(got) for _, _, got in decoded) == 10_001
    for garbage in ("", "{}", '{"o": "x", "c": "nope", "s": []}', '{"o": "x", "c": "setpoints", "s": [1]}'):
        with pytest.raises(ValueError, match="not a wake-up payload"):
            decode(garbage)


def test_the_setting_picks_the_wakeup(tmp_path: object, database_url: str) -> None:
    sqlite = Database(f"sqlite:///{tmp_path}/vgi.db", threads=1, publisher=wire_notices.publish)
    postgres = Database(database_url, threads=1, publisher=wire_notices.publish)
    try:
        assert wakeup_for("auto", sqlite) is None
        assert wakeup_for("local", postgres) is None
        assert isinstance(wakeup_for("auto", postgres), PgNotifyWakeup)
        assert isinstance(wakeup_for("postgres", postgres), PgNotifyWakeup)
        with pytest.raises(ValueError, match="needs a PostgreSQL"):
            wakeup_for("postgres", sqlite)
    finally:
        sqlite.engine.dispose()
        postgres.engine.dispose()


class Heard:
    """A wake callback recording what it is told."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[tuple[Channel, frozenset[str]]] = asyncio.Queue()

    def __call__(self, channel: Channel, subscriber_ids: Collection[str]) -> None:
        self.calls.put_nowait((channel, frozenset(subscriber_ids)))

    async def next(self) -> tuple[Channel, frozenset[str]]:
        return await within(self.calls.get(), what="a wake-up")


async def test_a_commit_in_one_process_wakes_the_other_also_after_its_listener_is_cut(
    database_url: str,
) -> None:
    async with store(database_url) as producer_db, store(database_url) as consumer_db:
        producer, consumer = PgNotifyWakeup(producer_db), PgNotifyWakeup(consumer_db)
        told_producer, told_consumer = Heard(), Heard()
        await producer.start(told_producer)
        await consumer.start(told_consumer)
        try:
            await producer_db.write(enqueue([("agg-1", "one"), ("agg-2", "two")]))
            expected = (Channel.NOTIFICATIONS, frozenset({"agg-1", "agg-2"}))
            assert await told_consumer.next() == expected
            # The producer's own streams are woken at once, and only once (its NOTIFY comes back to it).
            assert await told_producer.next() == expected
            # Only once: what each hears next is the next commit, not the same one again.
            await producer_db.write(enqueue([("agg-9", "marker")]))
            marker = (Channel.NOTIFICATIONS, frozenset({"agg-9"}))
            assert (await told_producer.next(), await told_consumer.next()) == (marker, marker)

            # PostgreSQL drops the consumer's LISTEN connection: it reconnects and hears again.
            name = f"vgi-listen-{consumer.origin[:12]}"
            [before] = _listeners(name)
            with psycopg.connect(PG_CONNINFO, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (before,))
            await until(
                lambda: consumer.listening.is_set() and _listeners(name) not in ([], [before]),
                what="the listener to reconnect",
            )
            await producer_db.write(enqueue([("agg-3", "three")]))
            assert await told_consumer.next() == (Channel.NOTIFICATIONS, frozenset({"agg-3"}))
        finally:
            await producer.stop()
            await consumer.stop()


async def test_platforms_in_other_schemas_of_the_same_database_never_wake_each_other(
    database_url: str,
) -> None:
    # Two platforms (or two test runs) sharing one PostgreSQL database: each LISTENs on its schema's channel.
    with migrated_schema() as other_url:
        async with store(database_url) as mine_db, store(other_url) as other_db:
            mine, other = PgNotifyWakeup(mine_db), PgNotifyWakeup(other_db)
            told_mine, told_other = Heard(), Heard()
            await mine.start(told_mine)
            await other.start(told_other)
            try:
                assert mine.channel != other.channel
                assert channel_for("public") == "vgi_outbox"
                await other_db.write(enqueue([("agg-other", "theirs")]))
                assert await told_other.next() == (Channel.NOTIFICATIONS, frozenset({"agg-other"}))
                await mine_db.write(enqueue([("agg-mine", "ours")]))
                # What this platform hears first is its own commit, never the other schema's.
                assert await told_mine.next() == (Channel.NOTIFICATIONS, frozenset({"agg-mine"}))
                assert told_mine.calls.empty()
            finally:
                await mine.stop()
                await other.stop()


def _listeners(application_name: str) -> list[int]:
    """Backend pids of the connections named so that are LISTENing."""
    with psycopg.connect(PG_CONNINFO) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND query LIKE 'LISTEN%%'",
            (application_name,),
        ).fetchall()
    return [pid for (pid,) in rows]
