"""The market scheduler: moves events through their time-driven transitions and starts managed devices.

Each ``tick(now)``: bidding closes at the deadline, an event executes from its
window start and completes at its end (``domain.events.due_transitions``), and
instructions whose validity has started send their platform-managed
setpoints. Every change is a conditional UPDATE (``WHERE state = old``, ``WHERE
setpoints_time IS NULL``) in its own transaction, so ticks are idempotent and
any number of server processes may run the scheduler at once: one of them
applies each change, the others see nothing left to do.

The clock is injected: the platform runs ``run()`` on its business clock
(``server.clock``; on a simulated clock AdvanceClock calls ``tick`` instead);
tests call ``tick(at)`` with the instants they want.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from application import dispatch, market
from application.dispatch import HEARTBEAT_TIMEOUT
from application.uow import UnitOfWork
from server import clock as platform_clock
from store import events as event_store
from store import instructions
from store.db import Database
from store.faults import OutageLog

__all__ = ["BATCH", "HEARTBEAT_TIMEOUT", "Scheduler", "TickResult"]

log = logging.getLogger(__name__)

BATCH = 100


@dataclass(frozen=True)
class TickResult:
    """What one tick changed: the events moved and the instructions whose setpoints went out."""

    events: int
    setpoints: int


class Scheduler:
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

    async def tick(self, now: datetime | None = None) -> TickResult:
        """Apply everything due at ``now`` (default: the clock)."""
        at = self._clock() if now is None else now
        moved = 0
        for event_id in await self._db.read(lambda conn: event_store.due_event_ids(conn, at, BATCH)):
            moved += await self._db.write(functools.partial(self._advance, event_id=event_id, at=at))
        started = 0
        for instruction in await self._db.read(lambda conn: instructions.pending_setpoints(conn, at, BATCH)):
            if await self._db.write(functools.partial(self._start, instruction=instruction, at=at)):
                started += 1
        return TickResult(moved, started)

    @staticmethod
    def _advance(conn: Connection, event_id: str, at: datetime) -> int:
        return market.advance_event(UnitOfWork(conn, at), event_id)

    def _start(self, conn: Connection, instruction: instructions.Instruction, at: datetime) -> bool:
        return dispatch.start_setpoints(UnitOfWork(conn, at), instruction, self._heartbeat_timeout)

    async def run(self) -> None:
        """Tick every ``interval_seconds`` until cancelled; a failed tick is logged and retried next time."""
        outage = OutageLog(log, "market scheduler")
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not outage.failed(exc):
                    log.exception("market scheduler tick failed")
            else:
                outage.succeeded()
            await asyncio.sleep(self._interval)
