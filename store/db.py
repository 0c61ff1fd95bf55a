"""The Database: a synchronous SQLAlchemy engine driven from asyncio through a bounded thread pool.

SQLite (the default, one file in WAL mode) and PostgreSQL (by URL, psycopg 3)
are both supported. Every ``await db.write(fn)`` / ``await db.read(fn)`` runs
``fn(conn)`` inside ONE transaction on a worker thread, so the event loop never
blocks on the database and a call's effects commit (or roll back) together.
On SQLite, writes queued behind a busy writer share one transaction, each in
its own savepoint (group commit, see ``Database._drain``); if that COMMIT
fails, each ``fn`` runs again alone, so it must not keep effects of its own
outside the transaction.

The worker runs ``fn`` in a copy of the caller's contextvars, so inside a
sampled call the transaction is a ``vgi.store.write``/``vgi.store.read`` span,
child of the call's span, and log lines written there carry the call's trace
id and principal. Copying costs ~40 ns against tens of µs for the thread hop;
outside a sampled call the span is a shared no-op.

Notices (``domain.notices``) recorded with ``notify(conn, notice, carrier)``
during a write are handed, in recorded order, to the Database's ``publisher``
after ``fn`` returns and before the COMMIT (within the write's savepoint when
grouped): the composition root installs the one encoder (``wire.notices``)
that turns them into outbox rows, so what announces a change commits exactly
when the change does. A write that records notices on a Database without a
publisher fails rather than drop them.
"""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from domain.notices import Notice
from infra.observability.tracing import store_span
from store import bulk, faults
from store.checkpoints import WalCheckpointer

T = TypeVar("T")

# Execution option that marks a connection as a writer; the SQLite "begin"
# hook reads it to take the write lock up front (see _install_sqlite_hooks).
_WRITE_OPTION = "vgi_write"
# Key in Connection.info of the callbacks to run once the transaction commits.
_AFTER_COMMIT = "vgi_after_commit"
# Key in Connection.info of the notices a write recorded: (notice, trace carrier) in order.
_NOTICES = "vgi_notices"
# Most writes one group commit takes: bounds how long the first of them waits.
_MAX_GROUP = 256
_SAVEPOINT = "SAVEPOINT vgi_group_write"
_ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO SAVEPOINT vgi_group_write"
_RELEASE_SAVEPOINT = "RELEASE SAVEPOINT vgi_group_write"

#: A write's result, or the exception it raised.
_Outcome = tuple[Any, BaseException | None]


@dataclass(frozen=True, slots=True)
class _QueuedWrite:
    fn: Callable[[Connection], Any]
    context: contextvars.Context
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def _settle(settled: list[tuple[asyncio.Future[Any], _Outcome]]) -> None:
    """On the event loop: answer the callers of a committed (or failed) group."""
    for future, (result, exc) in settled:
        if future.done():
            continue
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback()`` on the worker thread once the ``Database`` transaction of ``conn`` has committed.

    Dropped if the transaction rolls back. For work that must see the commit
    (e.g. waking whoever delivers what the transaction enqueued): unlike the
    engine's "commit" event, this runs after the COMMIT has succeeded.
    """
    conn.info.setdefault(_AFTER_COMMIT, []).append(callback)


#: A notice recorded in a transaction, with the trace carrier of the call that caused it.
Recorded = tuple[Notice, str | None]
#: Writes the recorded notices of a transaction (to the outbox), on its connection, before it commits.
Publisher = Callable[[Connection, Sequence[Recorded]], None]


def notify(conn: Connection, notice: Notice, carrier: str | None = None) -> None:
    """Record ``notice`` for the parties' streams; it is published in this write's transaction.

    ``carrier`` links each delivery's span to the call that caused it.
    """
    conn.info.setdefault(_NOTICES, []).append((notice, carrier))


def notify_all(conn: Connection, notices: Iterable[Notice], carrier: str | None = None) -> None:
    """``notify`` each of ``notices``, in order (a dispatch's 10,000 setpoints in one call)."""
    conn.info.setdefault(_NOTICES, []).extend((notice, carrier) for notice in notices)


def _reraise_classified(exc: Exception) -> NoReturn:
    error = faults.classify(exc)
    if error is None:
        raise exc
    raise error from exc


def is_sqlite(url: str | sa.URL) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str | sa.URL) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    database = sa.make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database)


def create_engine(url: str | sa.URL, *, pool_size: int = 8, busy_timeout_ms: int = 5000) -> Engine:
    """An engine configured the way the platform needs it (also used by migrations)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            parsed,
            # Connections move between the pool's worker threads; each is used
            # by one thread at a time, which is what SQLite requires.
            connect_args={"check_same_thread": False},
            pool_size=pool_size,
            max_overflow=2,
        )
        _install_sqlite_hooks(engine, busy_timeout_ms)
        return engine
    engine = sa.create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=2,
        # After an outage the pool holds dead connections; test each on checkout
        # so the first call after recovery does not fail.
        pool_pre_ping=True,
        connect_args={"connect_timeout": max(1, busy_timeout_ms // 1000)},
    )
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", bulk.stage_on_connect)
    return engine


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    """The SQLAlchemy-documented recipe for real transactions on pysqlite.

    pysqlite starts transactions lazily and only before DML, which breaks
    SAVEPOINT and transactional DDL and makes every writer start as a reader
    that later upgrades its lock (the classic "database is locked" deadlock).
    We switch the driver to autocommit and emit BEGIN ourselves: BEGIN IMMEDIATE
    for writers, so concurrent writers queue on busy_timeout instead of failing.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL loses no committed transaction when the process is
        # killed (SPEC 7: kill -9); only an OS crash can drop the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Savepoints (each write of a group commit, a batch's optimistic insert) keep the pages they change
        # in a statement journal, which spills to a temporary file past 64 KiB: a batch of 1,000 readings
        # paid ~20-40 % more for its insert in a savepoint. In memory it costs about nothing.
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # On the driver's cursor (bulk.on_cursor): through exec_driver_sql the BEGIN of every group commit
        # cost several times the statement.
        bulk.on_cursor(
            conn, "BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION) else "BEGIN"
        )


class Database:
    """An engine plus a bounded pool of worker threads that run transactions.

    ``threads`` bounds how many transactions run at once; the connection pool is
    sized to match so a worker never waits for a connection.
    """

    def __init__(
        self,
        url: str,
        *,
        threads: int = 8,
        busy_timeout_ms: int = 5000,
        publisher: Publisher | None = None,
    ) -> None:
        self.url = url
        self.publisher = publisher
        sqlite = is_sqlite(url)
        self.engine = create_engine(url, pool_size=threads + sqlite, busy_timeout_ms=busy_timeout_ms)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vgi-db")
        # SQLite takes one writer at a time: writers on several threads would
        # only contend for the lock in BEGIN IMMEDIATE, the losers sleeping in
        # SQLite's busy handler (1, 2, 5 … 100 ms back-off), which set the
        # tail. One writer thread queues them in arrival order instead; readers
        # keep the pool (WAL lets them run beside the writer).
        self._writer = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="vgi-db-writer")
            if sqlite
            else self._executor
        )
        # Group commit (SQLite only): writes queued while the writer thread is
        # busy run together, see _drain. PostgreSQL commits concurrently.
        self._group_commit = sqlite
        self._queued: deque[_QueuedWrite] = deque()
        self._queue_lock = threading.Lock()
        self._draining = False
        # Health pings get their own thread so a saturated pool or a hung
        # connect cannot make a healthy store look down, or the reverse.
        self._ping_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vgi-db-ping")
        self._sqlite_file = sqlite_path(url) if is_sqlite(url) else None
        #: WAL checkpoints off the writer thread (a SQLite file only), see store.checkpoints.
        self.checkpointer = self._checkpointer(busy_timeout_ms)
        self._span_attributes = {"db.system": self.engine.dialect.name}

    @property
    def concurrent_writes(self) -> bool:
        """Whether write transactions run side by side (PostgreSQL) rather than one at a time (SQLite's
        single writer thread)."""
        return not self._group_commit

    def _checkpointer(self, busy_timeout_ms: int) -> WalCheckpointer | None:
        if self._sqlite_file is None:
            return None
        checkpointer = WalCheckpointer(self._sqlite_file, busy_timeout_ms=busy_timeout_ms)
        event.listen(self.engine, "connect", checkpointer.configure)
        return checkpointer

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in one read-write transaction; commit when it returns, roll back if it raises.

        An unreachable or full store raises the domain error ``store.faults`` names for it.
        """
        try:
            return await self._submit(fn, True)
        except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
            _reraise_classified(exc)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in one transaction that is not expected to write (faults as for ``write``)."""
        try:
            return await self._submit(fn, False)
        except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
            _reraise_classified(exc)

    def _submit(self, fn: Callable[[Connection], T], write: bool) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        if write and self._group_commit:
            return self._queue_write(loop, fn)
        run = contextvars.copy_context().run
        executor = self._writer if write else self._executor
        return loop.run_in_executor(executor, run, self._traced_transaction, fn, write)

    def _queue_write(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[[Connection], T]
    ) -> asyncio.Future[T]:
        future: asyncio.Future[T] = loop.create_future()
        with self._queue_lock:
            self._queued.append(_QueuedWrite(fn, contextvars.copy_context(), loop, future))
            start = not self._draining
            self._draining = True
        if start:
            self._writer.submit(self._drain)
        return future

    def _drain(self) -> None:
        """The SQLite writer thread: commit the queued writes in groups until none are left.

        Each transaction's BEGIN IMMEDIATE … COMMIT, connection checkout and
        thread wake-up cost more than a typical call's statements, so every
        write queued while the previous group ran shares one transaction, each
        in its own savepoint: a write that raises rolls back only its own
        effects. Every caller is answered only after the COMMIT succeeded.
        """
        while True:
            with self._queue_lock:
                if not self._queued:
                    self._draining = False
                    return
                count = min(len(self._queued), _MAX_GROUP)
                group = [self._queued.popleft() for _ in range(count)]
            # A caller cancelled before its write started does not want it run
            # (as with a job still queued in an executor).
            group = [write for write in group if not write.future.cancelled()]
            if len(group) == 1:
                self._commit_alone(group[0])
            elif group:
                self._commit_group(group)
            if self.checkpointer is not None:
                self.checkpointer.committed()

    def _commit_alone(self, write: _QueuedWrite) -> None:
        try:
            outcome: _Outcome = (write.context.run(self._traced_transaction, write.fn, True), None)
        except BaseException as exc:
            outcome = (None, exc)
        write.loop.call_soon_threadsafe(_settle, [(write.future, outcome)])

    def _commit_group(self, group: list[_QueuedWrite]) -> None:
        outcomes: list[_Outcome] = []
        callbacks: list[list[Callable[[], None]]] = []
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_WRITE_OPTION: True})
                try:
                    with conn.begin():
                        # The savepoint statements go straight to the driver:
                        # through SQLAlchemy each costs ~10× as much.
                        driver = conn.connection.driver_connection
                        for write in group:
                            conn.info[_AFTER_COMMIT] = []
                            conn.info[_NOTICES] = []
                            outcomes.append(write.context.run(self._savepoint, conn, driver, write.fn))
                            callbacks.append(conn.info[_AFTER_COMMIT])
                finally:
                    conn.info.pop(_AFTER_COMMIT, None)
                    conn.info.pop(_NOTICES, None)
        except Exception:
            # Nothing of the group committed (e.g. the COMMIT itself failed, as a
            # deferred constraint does): each write runs again alone, so only the
            # one at fault fails, as it would have without grouping.
            for write in group:
                self._commit_alone(write)
            return
        except BaseException as exc:
            outcomes = [(None, exc)] * len(group)
        else:
            for index, (outcome, after) in enumerate(zip(outcomes, callbacks, strict=True)):
                if outcome[1] is None:
                    try:
                        for callback in after:
                            callback()
                    except Exception as exc:
                        outcomes[index] = (None, exc)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], _Outcome]]] = {}
        for write, outcome in zip(group, outcomes, strict=True):
            by_loop.setdefault(write.loop, []).append((write.future, outcome))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle, settled)

    def _savepoint(self, conn: Connection, driver: Any, fn: Callable[[Connection], Any]) -> _Outcome:
        """``fn(conn)`` in a savepoint of the group's transaction, rolled back if it raises."""
        with store_span("vgi.store.write", self._span_attributes, fn):
            driver.execute(_SAVEPOINT)
            try:
                result = fn(conn)
                self._publish(conn)
            except Exception as exc:
                driver.execute(_ROLLBACK_TO_SAVEPOINT)
                driver.execute(_RELEASE_SAVEPOINT)
                return (None, exc)
            driver.execute(_RELEASE_SAVEPOINT)
            return (result, None)

    def _traced_transaction(self, fn: Callable[[Connection], T], write: bool) -> T:
        with store_span("vgi.store.write" if write else "vgi.store.read", self._span_attributes, fn):
            return self._transaction(fn, write)

    def _transaction(self, fn: Callable[[Connection], T], write: bool) -> T:
        with self.engine.connect() as conn:
            if write:
                conn.execution_options(**{_WRITE_OPTION: True})
            try:
                conn.info[_NOTICES] = []
                with conn.begin():
                    result = fn(conn)
                    self._publish(conn)
                callbacks = conn.info.get(_AFTER_COMMIT, ())
            finally:
                # Connection.info outlives this checkout (it belongs to the pooled DBAPI connection).
                conn.info.pop(_AFTER_COMMIT, None)
                conn.info.pop(_NOTICES, None)
        for callback in callbacks:
            callback()
        return result

    def _publish(self, conn: Connection) -> None:
        """Hand the notices the write recorded to the publisher, in its transaction."""
        recorded = conn.info.get(_NOTICES)
        if not recorded:
            return
        conn.info[_NOTICES] = []
        if self.publisher is None:
            raise RuntimeError("notices were recorded on a Database without a publisher")
        self.publisher(conn, recorded)

    async def ping(self) -> None:
        """Raise if the store does not answer; bound the wait with ``asyncio.timeout``."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._ping_executor, self._ping)

    def _ping(self) -> None:
        if self._sqlite_file is not None:
            # Pooled SQLite connections keep working on an open file descriptor
            # even after the file is gone, so opening the path afresh (without
            # creating it) is what tells whether the configured store is there.
            probe = sqlite3.connect(f"file:{self._sqlite_file}?mode=rw", uri=True, timeout=1.0)
            try:
                probe.execute("PRAGMA schema_version").fetchone()
            finally:
                probe.close()
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar_one()

    async def close(self) -> None:
        """Wait for running transactions, then release threads and connections."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._executor.shutdown, True)
        await loop.run_in_executor(None, self._writer.shutdown, True)
        if self.checkpointer is not None:
            await loop.run_in_executor(None, self.checkpointer.close)
        self._ping_executor.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()
