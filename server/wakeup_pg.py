"""Cross-process delivery wake-ups over PostgreSQL LISTEN/NOTIFY.

Several server processes share one PostgreSQL; a stream is held by one of
them, and the item it waits for may be committed by another. The store stays
the only source of truth — this module only says "look now" — so a lost
wake-up delays an item until the Dispatcher's poll, it never loses one.

How a wake-up travels:

1. A transaction enqueues into the outbox and commits (``store.outbox``
   tells its engine's commit listeners, on the worker thread, which
   subscribers got items). Nothing is published for a rolled-back
   transaction, so a wake-up always follows a commit.
2. The listener hands the subscriber ids to the event loop, which wakes this
   process's own streams at once and queues the ids for publishing.
3. One publisher task sends everything queued since its last send as
   ``pg_notify('vgi_outbox', payload)`` in ONE statement on its own
   autocommit connection: a burst of commits costs one round trip. Payloads
   stay under PostgreSQL's 8,000-byte limit by splitting the id list.
4. Every process holds one more autocommit connection doing
   ``LISTEN vgi_outbox``; a payload from another process wakes the named
   subscribers of that process's Dispatcher (its own are skipped: they were
   woken in step 2).

The channel belongs to the schema the platform's tables live in
(``vgi_outbox`` for ``public``, ``vgi_outbox.<schema>`` otherwise): two
platforms sharing one PostgreSQL database in different schemas never wake
each other's streams.

Both connections reconnect with backoff when PostgreSQL goes away; while a
process is not listening it hears nothing, and its streams catch up at the
next poll (``delivery_poll_seconds``).

Why PostgreSQL and not NATS: the platform already depends on PostgreSQL for
every multi-process deployment, the wake-up needs no delivery guarantee of
its own, and NOTIFY adds no service to run, secure and monitor. A broker
would buy fan-out beyond one database's connection count, which a platform
whose processes all hold database pools does not need.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Collection, Iterator

import psycopg
import sqlalchemy as sa
from psycopg import sql
from psycopg.conninfo import make_conninfo

from server.delivery import WakeCallback, Wakeup
from store import outbox
from store.db import Database, is_sqlite
from store.outbox import Channel

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "vgi_outbox"


def channel_for(schema: str) -> str:
    """The NOTIFY channel of the platform whose tables live in ``schema``."""
    return NOTIFY_CHANNEL if schema == "public" else f"{NOTIFY_CHANNEL}.{schema}"[:63]


# PostgreSQL refuses payloads of 8,000 bytes or more; leave room for the envelope.
_PAYLOAD_BUDGET = 7_000
# Keepalives make a silently dropped connection fail within about 15 s
# instead of leaving the listener deaf until the poll is all there is.
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 5}

WAKEUP_MODES = ("auto", "postgres", "local")


def wakeup_for(mode: str, db: Database) -> Wakeup | None:
    """The wake-up a ``wakeup`` setting asks for; None means the Dispatcher's in-process default.

    ``auto`` listens whenever the store is PostgreSQL: a process cannot tell
    whether others share its database, and a missed cross-process wake-up
    would cost a whole poll interval of latency.
    """
    if mode not in WAKEUP_MODES:
        raise ValueError(f"wakeup must be one of {', '.join(WAKEUP_MODES)}, not {mode!r}")
    if mode == "local" or (mode == "auto" and is_sqlite(db.url)):
        return None
    if is_sqlite(db.url):
        raise ValueError("wakeup = postgres needs a PostgreSQL database_url")
    return PgNotifyWakeup(db)


def conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def encode(origin: str, pending: dict[Channel, set[str]]) -> Iterator[str]:
    """NOTIFY payloads naming ``pending``'s subscribers, each under the size limit."""
    for channel, subscriber_ids in pending.items():
        chunk: list[str] = []
        size = 0
        for subscriber_id in sorted(subscriber_ids):
            cost = len(json.dumps(subscriber_id).encode()) + 1
            if chunk and size + cost > _PAYLOAD_BUDGET:
                yield json.dumps({"o": origin, "c": channel.value, "s": chunk})
                chunk, size = [], 0
            chunk.append(subscriber_id)
            size += cost
        if chunk:
            yield json.dumps({"o": origin, "c": channel.value, "s": chunk})


def decode(payload: str) -> tuple[str, Channel, list[str]]:
    """(origin, channel, subscriber ids) of a payload made by ``encode``; ValueError if it is not one."""
    try:
        message = json.loads(payload)
        origin, channel, ids = message["o"], Channel(message["c"]), message["s"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a wake-up payload: {payload[:80]!r}") from exc
    if not isinstance(origin, str) or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError(f"not a wake-up payload: {payload[:80]!r}")
    return origin, channel, ids


class PgNotifyWakeup:
    """Wakes this process for its own commits at once and for other processes' commits via NOTIFY."""

    def __init__(
        self,
        db: Database,
        *,
        initial_backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
        start_timeout_s: float = 5.0,
    ) -> None:
        self._db = db
        self._conninfo = make_conninfo(conninfo(db.url), **_KEEPALIVES)
        self.origin = uuid.uuid4().hex
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self._start_timeout_s = start_timeout_s
        self._pending: dict[Channel, set[str]] = {}
        self._listener: outbox.CommitListener | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: WakeCallback | None = None
        self._flush = asyncio.Event()
        self.listening = asyncio.Event()
        self.channel = NOTIFY_CHANNEL  # replaced by the schema's channel on the first connection

    async def start(self, wake: WakeCallback) -> None:
        """Start publishing and listening; waits (boundedly) until LISTEN is in place."""
        loop = asyncio.get_running_loop()
        self._wake = wake

        def listener(channel: Channel, subscriber_ids: frozenset[str]) -> None:
            # On a store worker thread right after a commit: never raise here.
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._committed, channel, subscriber_ids)

        self._listener = listener
        outbox.add_commit_listener(self._db.engine, listener)
        self._tasks = [
            asyncio.create_task(self._listen(), name="vgi-wakeup-listen"),
            asyncio.create_task(self._publish(), name="vgi-wakeup-publish"),
        ]
        try:
            async with asyncio.timeout(self._start_timeout_s):
                await self.listening.wait()
        except TimeoutError:
            # Serve anyway: the listener keeps retrying and the poll delivers meanwhile.
            log.warning("not yet listening for wake-ups from other processes; retrying in the background")

    async def stop(self) -> None:
        if self._listener is not None:
            outbox.remove_commit_listener(self._db.engine, self._listener)
            self._listener = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _committed(self, channel: Channel, subscriber_ids: Collection[str]) -> None:
        assert self._wake is not None
        self._wake(channel, subscriber_ids)
        self._pending.setdefault(channel, set()).update(subscriber_ids)
        self._flush.set()

    def _heard(self, payload: str) -> None:
        assert self._wake is not None
        try:
            origin, channel, subscriber_ids = decode(payload)
        except ValueError as exc:
            log.warning("ignoring a %s notification: %s", self.channel, exc)
            return
        if origin != self.origin:
            self._wake(channel, subscriber_ids)

    async def _connect(self, role: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
        # Named, so pg_stat_activity tells which process and which side a connection is.
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, application_name=f"vgi-{role}-{self.origin[:12]}"
        )

    async def _learn_channel(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        # The schema comes from the URL's search_path, which both connections share.
        cursor = await conn.execute("SELECT current_schema()")
        row = await cursor.fetchone()
        self.channel = channel_for(str(row[0]) if row is not None and row[0] else "public")

    async def _listen(self) -> None:
        backoff = self._initial_backoff_s
        while True:
            try:
                async with await self._connect("listen") as conn:
                    await self._learn_channel(conn)
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.listening.set()
                    backoff = self._initial_backoff_s
                    async for notify in conn.notifies():
                        self._heard(notify.payload)
            except psycopg.Error as exc:
                log.warning("wake-up listener lost PostgreSQL (%s); reconnecting in %.1fs", exc, backoff)
            self.listening.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)

    async def _publish(self) -> None:
        conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        backoff = self._initial_backoff_s
        try:
            while True:
                await self._flush.wait()
                self._flush.clear()
                pending, self._pending = self._pending, {}
                payloads = list(encode(self.origin, pending))
                try:
                    if conn is None or conn.closed:
                        conn = await self._connect("notify")
                        await self._learn_channel(conn)
                    await conn.execute(
                        "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
                        (self.channel, payloads),
                    )
                    backoff = self._initial_backoff_s
                except psycopg.Error as exc:
                    # These wake-ups are lost; the other processes' polls deliver their items.
                    log.warning("could not publish wake-ups (%s); retrying in %.1fs", exc, backoff)
                    if conn is not None:
                        await conn.close()
                    conn = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
        finally:
            if conn is not None:
                await conn.close()
