"""Delivery of committed outbox items to open streams: one Dispatcher per process.

Every stream (an aggregator's notification stream, a device's setpoint
stream) is a ``Subscription``: a cursor position and a bounded queue. The
Dispatcher owns them all and is the only reader of the outbox for them, so
the store sees one query per round for every connected subscriber together
(a VALUES list joined to the items' primary key, chunked), never a query per
stream per item.

Items this process commits are handed over by the commit listener
(``store.outbox.Committed``, through the wake-up): a live stream exactly one
item behind takes each without a store read — a fan-out's 10,000 setpoints
are not read back — and every other stream of those subscribers is checked
by a round. The store stays the truth: reconnects, other processes' commits
and backlogs are always read from it. A round is triggered by:

* a ``Wakeup`` — "these subscribers of this channel have new items". The
  in-process implementation hears commits made through this process's
  Database (``store.outbox.add_commit_listener``); one that listens to
  PostgreSQL NOTIFY or NATS plugs in the same way to hear other processes;
* the periodic poll — every subscription is checked every
  ``poll_interval_s``, so a lost or absent wake-up delays an item, never
  loses it (this is how a commit made by another process arrives today).
  The check reads each live stream's counter (``outbox.last_sequences``, one
  key probe each) and reads windows only for streams whose counter moved, so
  10,000 idle streams cost one cheap read a second, not 10,000 window reads;
* a subscription that needs more: a new one, or one draining a backlog.

Flow control. A subscription starts CATCHING UP: it is fed from the store
at most as many items as its queue has room for, and refilled as it drains,
however long its backlog — the store is the buffer. Once a read finds no
more than fits, it is LIVE: new items are expected to fit, and when they do
not (the consumer stopped reading while items kept coming) it is failed
with RESOURCE_EXHAUSTED, reason SLOW_CONSUMER, its queue dropped. Memory per
stream is therefore bounded by the queue size whatever the consumer does;
the client reconnects and resumes from its cursor.

Acknowledgements do not pass through here: a stream's position only
decides what is queued next; what is redelivered after a reconnect is
decided by the acknowledged cursor in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import NoReturn, Protocol

from opentelemetry.trace import SpanKind
from sqlalchemy.engine import Connection

from domain.errors import DomainError, InvalidArgument, ResourceExhausted, Unavailable
from infra.observability.metrics import METRICS
from infra.observability.tracing import start_linked_span
from store import outbox
from store.db import Database
from store.faults import OutageLog
from store.outbox import Channel, OutboxItem, Window

log = logging.getLogger(__name__)

SLOW_CONSUMER = "SLOW_CONSUMER"
SHUTTING_DOWN = "SHUTTING_DOWN"
#: RetryInfo of SHUTTING_DOWN: reconnect (to another process, or this one restarted) after this.
RECONNECT_AFTER_S = 1.0
BAD_CURSOR = "BAD_CURSOR"
#: A window that holds nothing: reading it tells whether the store answers at all.
PROBE_WINDOW = Window("", 0, 0)

DEFAULT_QUEUE_SIZE = 1000
DEFAULT_POLL_INTERVAL_S = 1.0

WakeCallback = Callable[[Channel, Collection[str]], None]


class Wakeup(Protocol):
    """Tells the dispatcher, on its event loop, which subscribers of a channel may have new items.

    A hint only: the dispatcher re-reads the store, so a duplicate or a
    spurious wake-up costs one read and a missed one waits for the poll.
    """

    async def start(self, wake: WakeCallback) -> None: ...

    async def stop(self) -> None: ...


class InProcessWakeup:
    """Wake-ups for items committed through one Database (so, by this process)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._listener: outbox.CommitListener | None = None

    async def start(self, wake: WakeCallback) -> None:
        loop = asyncio.get_running_loop()

        def listener(channel: Channel, subscriber_ids: frozenset[str]) -> None:
            # Runs on a store worker thread right after a commit; it must never
            # raise there, or a committed write would look failed to its caller.
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(wake, channel, subscriber_ids)

        self._listener = listener
        outbox.add_commit_listener(self._db.engine, listener)

    async def stop(self) -> None:
        if self._listener is not None:
            outbox.remove_commit_listener(self._db.engine, self._listener)
            self._listener = None


class Subscription:
    """One open stream: where it is (``position``: the last sequence queued) and its bounded queue."""

    def __init__(
        self, dispatcher: Dispatcher, channel: Channel, subscriber_id: str, position: int, capacity: int
    ) -> None:
        self.channel = channel
        self.subscriber_id = subscriber_id
        self.position = position
        self.catching_up = True
        self.capacity = capacity
        self.closed = False
        self._dispatcher = dispatcher
        self._items: deque[OutboxItem] = deque()
        self._ready = asyncio.Event()
        self._failure: DomainError | None = None

    @property
    def failed(self) -> bool:
        return self._failure is not None

    def free(self) -> int:
        return self.capacity - len(self._items)

    async def get(self) -> OutboxItem:
        """The next item, in sequence order; raises the failure (SLOW_CONSUMER, SHUTTING_DOWN) once failed."""
        while True:
            if self._failure is not None:
                raise self._failure
            if self._items:
                break
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if self.catching_up and len(self._items) <= self.capacity // 2:
            self._dispatcher.request(self)
        return item

    def written(self) -> None:
        """One item taken by ``get`` has been written (or its write failed): no longer under way."""
        self._dispatcher._unwritten -= 1

    def _offer(self, items: list[OutboxItem]) -> None:
        self._dispatcher._unwritten += len(items)
        self._items.extend(items)
        self.position = items[-1].sequence
        self._ready.set()

    def _fail(self, error: DomainError) -> None:
        self._failure = error
        self._drop()

    def _drop(self) -> None:
        """Forget the queued items (the stream failed or ended): they are no longer being written."""
        self._dispatcher._unwritten -= len(self._items)
        self._items.clear()
        self._ready.set()


class Dispatcher:
    """The process's delivery engine: subscriber registry, wake-ups, poller, bounded per-stream queues."""

    def __init__(
        self,
        db: Database,
        *,
        wakeup: Wakeup | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    ) -> None:
        if queue_size < 1 or poll_interval_s <= 0:
            raise ValueError("queue_size and poll_interval_s must be positive")
        self._db = db
        self._wakeup = wakeup if wakeup is not None else InProcessWakeup(db)
        self.queue_size = queue_size
        self.poll_interval_s = poll_interval_s
        self._subscribers: dict[tuple[Channel, str], set[Subscription]] = {}
        self._dirty: set[Subscription] = set()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[NoReturn] | None = None
        self._ending: Unavailable | None = None
        # Items queued to a stream and not yet written (or dropped): see ``delivering``.
        self._unwritten = 0

    async def start(self) -> None:
        await self._wakeup.start(self._on_wake)
        self._task = asyncio.create_task(self._run(), name="vgi-delivery")

    async def stop(self) -> None:
        await self._wakeup.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @contextlib.asynccontextmanager
    async def subscription(
        self,
        channel: Channel,
        subscriber_id: str,
        after_sequence: int,
        *,
        cursor_field: str = "after_sequence",
    ) -> AsyncIterator[Subscription]:
        """A subscription for the life of a stream: items after both ``after_sequence`` and the acked cursor;
        InvalidArgument CURSOR_BEYOND_STREAM (on ``cursor_field``) for a cursor past the last sequence sent."""
        if self._ending is not None:
            raise self._ending
        found = await self._db.read(lambda conn: outbox.cursor(conn, channel, subscriber_id))
        if after_sequence > found.last_sequence:
            raise outbox.cursor_beyond_stream(after_sequence, found.last_sequence, cursor_field)
        subscription = Subscription(
            self, channel, subscriber_id, max(after_sequence, found.acked_sequence), self.queue_size
        )
        self._subscribers.setdefault((channel, subscriber_id), set()).add(subscription)
        self.request(subscription)
        try:
            yield subscription
        finally:
            subscription.closed = True
            subscription._drop()
            self._dirty.discard(subscription)
            peers = self._subscribers.get((channel, subscriber_id))
            if peers is not None:
                peers.discard(subscription)
                if not peers:
                    del self._subscribers[(channel, subscriber_id)]

    def end_streams(self) -> None:
        """End every open stream with UNAVAILABLE (SHUTTING_DOWN) and refuse new ones.

        For graceful shutdown: a stream never ends by itself, so without this
        the server would wait out its whole grace period; clients resume from
        their cursor on another server.
        """
        self._ending = Unavailable(
            "the server is shutting down; reconnect", reason=SHUTTING_DOWN, retry_after_s=RECONNECT_AFTER_S
        )
        for peers in self._subscribers.values():
            for subscription in peers:
                subscription._fail(self._ending)

    def delivering(self) -> bool:
        """Whether some stream has items queued or being written: a fan-out is under way."""
        return self._unwritten > 0

    def open_streams(self) -> int:
        return sum(len(peers) for peers in self._subscribers.values())

    def request(self, subscription: Subscription) -> None:
        """Check this subscription in the next round."""
        self._dirty.add(subscription)
        self._kick.set()

    def _on_wake(self, channel: Channel, subscriber_ids: Collection[str]) -> None:
        if isinstance(subscriber_ids, outbox.Committed):
            self._hand_off(channel, subscriber_ids.items)
            return
        subscribers = self._subscribers
        marked = False
        for subscriber_id in subscriber_ids:
            peers = subscribers.get((channel, subscriber_id))
            if peers:
                self._dirty.update(peers)
                marked = True
        if marked:
            self._kick.set()

    def _hand_off(self, channel: Channel, items: Sequence[OutboxItem]) -> None:
        """Items this process just committed, as committed: a live stream whose position is the
        item's sequence − 1 and whose queue has room takes the item without a store read.

        Any other stream of those subscribers (catching up, behind by more than
        this commit, a full queue) is checked by the next round, which reads
        the store: flow control and ordering stay the round's. A round already
        reading a window drops what a hand-off queued meanwhile (``_feed``).
        """
        subscribers = self._subscribers
        marked = False
        for item in items:
            peers = subscribers.get((channel, item.subscriber_id))
            if not peers:
                continue
            for subscription in peers:
                if subscription.closed or subscription.failed or item.sequence <= subscription.position:
                    continue
                if (
                    not subscription.catching_up
                    and item.sequence == subscription.position + 1
                    and subscription.free() > 0
                ):
                    subscription._offer([item])
                else:
                    self._dirty.add(subscription)
                    marked = True
        if marked:
            self._kick.set()

    async def _run(self) -> NoReturn:
        loop = asyncio.get_running_loop()
        outage = OutageLog(log, "delivery")
        next_poll = loop.time() + self.poll_interval_s
        while True:
            wait = next_poll - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._kick.wait()
            polled: list[Subscription] = []
            if loop.time() >= next_poll:
                polled = [s for peers in self._subscribers.values() for s in peers if s not in self._dirty]
                next_poll = loop.time() + self.poll_interval_s
            self._kick.clear()
            dirty, self._dirty = self._dirty, set()
            if not dirty and not polled:
                continue
            try:
                if polled:
                    dirty.update(await self._moved(polled))
                if dirty:
                    await self._round(dirty)
            except Exception as exc:
                # The store is unreachable or failing: keep the work and retry
                # at the next poll rather than spin against it.
                if not outage.failed(exc):
                    log.exception("delivery round failed; retrying at the next poll")
                self._dirty.update(s for s in (*dirty, *polled) if not s.closed)
                self._kick.clear()
            else:
                outage.succeeded()

    async def _moved(self, polled: list[Subscription]) -> list[Subscription]:
        """The polled subscriptions that may have something to read: those catching up, and the live
        ones whose subscriber's last committed sequence is past their position.

        Sequences are dense and a subscriber's counter commits with its items,
        so a live stream whose position is the last sequence has nothing new:
        the poll reads one counter per stream instead of every stream's window.
        """
        by_channel: dict[Channel, list[Subscription]] = {}
        moved = []
        for subscription in polled:
            if subscription.closed or subscription.failed:
                continue
            if subscription.catching_up:
                moved.append(subscription)
            else:
                by_channel.setdefault(subscription.channel, []).append(subscription)
        for channel, live in by_channel.items():
            ids = sorted({s.subscriber_id for s in live})
            last = await self._db.read(functools.partial(_last_sequences, channel=channel, ids=ids))
            moved += [s for s in live if last.get(s.subscriber_id, 0) > s.position]
        return moved

    async def _round(self, dirty: set[Subscription]) -> None:
        by_channel: dict[Channel, list[tuple[Subscription, Window]]] = {}
        for subscription in dirty:
            if subscription.closed or subscription.failed:
                continue
            free = subscription.free()
            if free == 0 and subscription.catching_up:
                continue  # refilled when it drains
            # One more than fits, so a live stream that cannot take it all shows up.
            window = Window(
                subscription.subscriber_id, subscription.position, subscription.position + free + 1
            )
            by_channel.setdefault(subscription.channel, []).append((subscription, window))
        reads = [self._read(channel, wanted) for channel, wanted in by_channel.items()]
        for wanted, found in await asyncio.gather(*reads):
            for (subscription, window), items in zip(wanted, found, strict=True):
                self._feed(subscription, window, items)

    async def _read(
        self, channel: Channel, wanted: list[tuple[Subscription, Window]]
    ) -> tuple[list[tuple[Subscription, Window]], list[list[OutboxItem]]]:
        windows = [window for _, window in wanted]
        try:
            return wanted, await self._db.read(lambda conn: outbox.read_windows(conn, channel, windows))
        except Exception:
            if len(wanted) == 1:
                raise
            # Every window is read in one statement, so one window the store
            # cannot take would fail the round for every subscriber. A cheap
            # probe tells an unreachable store (raise: the whole round retries)
            # from a bad window: then each window is read alone and only the
            # subscriptions whose own read fails are ended.
            await self._db.read(lambda conn: outbox.read_windows(conn, channel, [PROBE_WINDOW]))
        kept: list[tuple[Subscription, Window]] = []
        found: list[list[OutboxItem]] = []
        for (subscription, window), result in zip(
            wanted,
            await asyncio.gather(*(self._read(channel, [pair]) for pair in wanted), return_exceptions=True),
            strict=True,
        ):
            if isinstance(result, BaseException):
                log.warning(
                    "ending the %s stream of %s: its window cannot be read", channel, window.subscriber_id
                )
                subscription._fail(
                    InvalidArgument(
                        "the stream's cursor cannot be read; reconnect with a valid cursor", reason=BAD_CURSOR
                    )
                )
                continue
            kept.append((subscription, window))
            found.extend(result[1])
        return kept, found

    def _feed(self, subscription: Subscription, window: Window, items: list[OutboxItem]) -> None:
        if subscription.closed or subscription.failed:
            return
        more_in_store = len(items) > window.up_to - window.after - 1
        if items and items[0].sequence <= subscription.position:
            # Handed off in-process while this window was being read: queued once already.
            items = [item for item in items if item.sequence > subscription.position]
            if not items and more_in_store:
                self.request(subscription)
                return
        if not items:
            subscription.catching_up = False
            return
        free = subscription.free()
        if len(items) <= free:
            subscription._offer(items)
            if more_in_store:
                self.request(subscription)
            else:
                subscription.catching_up = False
        elif subscription.catching_up:
            if free:
                subscription._offer(items[:free])
        else:
            subscription._fail(
                ResourceExhausted(
                    f"the stream fell more than {subscription.capacity} items behind; "
                    "reconnect to resume after your cursor",
                    reason=SLOW_CONSUMER,
                    metadata={"queue_size": str(subscription.capacity)},
                )
            )


def _last_sequences(conn: Connection, *, channel: Channel, ids: list[str]) -> dict[str, int]:
    return outbox.last_sequences(conn, channel, ids)


async def deliver(
    subscription: Subscription, write: Callable[[OutboxItem], Awaitable[None]], kind: str
) -> NoReturn:
    """Write each item of ``subscription`` as it comes, in order, until it fails or the call ends.

    Each write is a span linked to the call that enqueued the item, and is
    counted with its latency from the item's creation.
    """
    while True:
        item = await subscription.get()
        try:
            with start_linked_span(
                f"deliver {kind}",
                item.carrier,
                kind=SpanKind.PRODUCER,
                attributes={"vgi.delivery.kind": kind, "vgi.delivery.sequence": item.sequence},
            ):
                await write(item)
        finally:
            subscription.written()
        METRICS.delivered(kind, time.time() - item.create_time.timestamp())
