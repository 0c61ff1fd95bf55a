"""The retention task: purges aged idempotency keys and acknowledged outbox items (``store.retention``),
and, when a meter-value age is set, aged readings; on PostgreSQL it also keeps the day partitions of
``meter_values`` created ahead (``store.partitions``).

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
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Connection

from store import partitions, retention
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
        meter_value_age: timedelta | None = None,
    ) -> None:
        self._db = db
        self._age = age
        self._meter_value_age = meter_value_age
        self._interval = interval_seconds
        self._batch = batch
        self._clock = clock

    async def ensure_partitions(self, now: datetime | None = None) -> list[str]:
        """PostgreSQL: create the missing day partitions of ``meter_values`` around ``now``; their names."""
        at = self._clock() if now is None else now
        cut = None if self._meter_value_age is None else at - self._meter_value_age
        created = await self._db.write(functools.partial(_ensure, at.astimezone(UTC).date(), cut))
        if created:
            log.info("meter_values partitions created", extra={"partitions": created})
        return created

    async def purge(self, now: datetime | None = None) -> dict[str, int]:
        """Delete everything older than the retention age at ``now``; rows deleted per table (and on
        PostgreSQL, with a meter-value age, ``meter_values_partitions``: the day partitions dropped)."""
        at = self._clock() if now is None else now
        await self.ensure_partitions(at)
        before = at - self._age
        purges = dict(_PURGES)
        deleted: dict[str, int] = {}
        cut: datetime | None = None
        if self._meter_value_age is not None:
            cut = at - self._meter_value_age
            dropped = await self._db.write(functools.partial(_drop_partitions, cut))
            if dropped:
                deleted["meter_values_partitions"] = len(dropped)
            purges["meter_values"] = functools.partial(_purge_meter_values, cut)
        for table, purge in purges.items():
            total = 0
            while True:
                count = await self._db.write(functools.partial(_call, purge, before, self._batch))
                total += count
                if count < self._batch:
                    break
            deleted[table] = total
        if any(deleted.values()):
            # Meter values have their own age (meter_value_retention_days); on PostgreSQL whole UTC days
            # before the cut's day go with their partitions.
            meter = "" if cut is None else f", meter values older than {cut.isoformat()}"
            log.info(
                "retention purged rows older than %s%s", before.isoformat(), meter, extra={"deleted": deleted}
            )
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


def _ensure(today: date, cut: datetime | None, conn: Connection) -> list[str]:
    return partitions.ensure_meter_partitions(
        conn, today, after=None if cut is None else retention.meter_value_cut(conn, cut)
    )


def _drop_partitions(cut: datetime, conn: Connection) -> list[str]:
    return retention.drop_meter_value_partitions(conn, cut)


def _purge_meter_values(cut: datetime, conn: Connection, _before: datetime, limit: int) -> int:
    return retention.purge_meter_values(conn, cut, limit)


def _call(
    purge: Callable[[Connection, datetime, int], int], before: datetime, limit: int, conn: Connection
) -> int:
    return purge(conn, before, limit)
