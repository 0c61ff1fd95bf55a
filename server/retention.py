"""The retention task: purges aged idempotency keys and acknowledged outbox items (``store.retention``).

Every ``interval`` it deletes, kind by kind, batches of ``batch`` rows in
their own short transactions until a batch comes back short, so the store's
writer is never held for long and calls keep flowing between batches. Any
number of processes may run it: a row is deleted once, whichever gets there.
Ages are measured on the real clock (keys are stamped with it), also on a
simulated platform.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Connection

from store import retention
from store.db import Database
from store.faults import OutageLog

log = logging.getLogger(__name__)

BATCH = 500
_PURGES: dict[str, Callable[[Connection, datetime, int], int]] = {
    "idempotency_keys": retention.purge_idempotency_keys,
    "outbox_notifications": retention.purge_acknowledged_notifications,
    "outbox_setpoints": retention.purge_acknowledged_setpoints,
}


class Retention:
    def __init__(
        self,
        db: Database,
        *,
        age: timedelta,
        interval_seconds: float,
        batch: int = BATCH,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._age = age
        self._interval = interval_seconds
        self._batch = batch
        self._clock = clock

    async def purge(self, now: datetime | None = None) -> dict[str, int]:
        """Delete everything older than the retention age at ``now``; rows deleted per table."""
        before = (self._clock() if now is None else now) - self._age
        deleted: dict[str, int] = {}
        for table, purge in _PURGES.items():
            total = 0
            while True:
                count = await self._db.write(functools.partial(_call, purge, before, self._batch))
                total += count
                if count < self._batch:
                    break
            deleted[table] = total
        if any(deleted.values()):
            log.info("retention purged rows older than %s", before.isoformat(), extra={"deleted": deleted})
        return deleted

    async def run(self) -> None:
        """Purge every ``interval_seconds`` until cancelled; a failed purge is retried next time."""
        outage = OutageLog(log, "retention")
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not outage.failed(exc):
                    log.exception("retention purge failed")
            else:
                outage.succeeded()


def _call(
    purge: Callable[[Connection, datetime, int], int], before: datetime, limit: int, conn: Connection
) -> int:
    return purge(conn, before, limit)
