"""The execution monitor (SPEC F7): each minute, target vs actual vs baseline of every executing event.

Each ``tick(now)`` handles the minute that ended last (``[floor(now) − 1 min,
floor(now))``) for every event executing then: one transaction per event
(``application.monitoring.run_minute``) that claims the (event, minute) row, records
the figures, raises alarms and re-dispatches shortfalls. The claim makes
ticks idempotent and lets any number of server processes run the monitor:
one of them does each minute, the others find it claimed. A minute in which
no monitor ran (every process down) is not made up later: progress is live
supervision, and the correction it would have made is stale by then.

Progress streams in this process are woken as soon as a minute commits
(``progress_signal``); streams in other processes find it at their next poll.

The clock is injected: the platform runs ``run()`` on its business clock
(``server.clock``; on a simulated clock AdvanceClock calls ``tick`` instead);
tests call ``tick(at)`` with the instants they want.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from application.monitoring import run_minute
from application.uow import UnitOfWork
from domain.monitoring import MINUTE, minute_floor
from server import clock as platform_clock
from server.scheduler import HEARTBEAT_TIMEOUT
from store import monitoring
from store.db import Database
from store.faults import OutageLog
from store.monitoring import ProgressMinute

log = logging.getLogger(__name__)

_signals: weakref.WeakKeyDictionary[Database, set[asyncio.Event]] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def progress_signal(db: Database) -> Iterator[asyncio.Event]:
    """An event set whenever a monitored minute commits through ``db`` in this process (clear it to re-arm)."""
    signal = asyncio.Event()
    waiting = _signals.setdefault(db, set())
    waiting.add(signal)
    try:
        yield signal
    finally:
        waiting.discard(signal)


def _announce(db: Database) -> None:
    for signal in _signals.get(db, ()):
        signal.set()


class Monitor:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = platform_clock.now,
        interval_seconds: float = 1.0,
        heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT,
    ) -> None:
        self._db = db
        self._clock = clock
        self._interval = interval_seconds
        self._heartbeat_timeout = heartbeat_timeout

    async def tick(self, now: datetime | None = None) -> dict[str, ProgressMinute]:
        """Monitor the minute that ended last before ``now`` (default: the clock); returns the minutes done here."""
        at = self._clock() if now is None else now
        minute = minute_floor(at) - MINUTE
        done: dict[str, ProgressMinute] = {}
        for event_id in await self._db.read(lambda conn: monitoring.due_event_ids(conn, minute)):
            result = await self._db.write(functools.partial(self._run_minute, event_id, minute, at))
            if result is not None:
                done[event_id] = result
        if done:
            _announce(self._db)
        return done

    def _run_minute(
        self, event_id: str, minute: datetime, at: datetime, conn: Connection
    ) -> ProgressMinute | None:
        return run_minute(UnitOfWork(conn, at), event_id, minute, self._heartbeat_timeout)

    async def run(self) -> None:
        """Tick every ``interval_seconds`` until cancelled; a failed tick is logged and retried next time."""
        outage = OutageLog(log, "execution monitor")
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not outage.failed(exc):
                    log.exception("execution monitor tick failed")
            else:
                outage.succeeded()
            await asyncio.sleep(self._interval)
