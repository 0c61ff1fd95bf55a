"""PostgreSQL: ``meter_values`` is range-partitioned by ``sample_time``, one partition per UTC day
(migration 0018_meter_partitions), so a province's stream of readings (≈ 1.4 billion a day) is kept
in day-sized tables and retention drops whole days instead of deleting rows. SQLite keeps one table.

* ``meter_values_pYYYYMMDD`` holds [day 00:00 UTC, next day 00:00 UTC);
* ``meter_values_default`` holds any reading for a day without a partition (a very late arrival, a
  simulated clock far from the real one), so an insert never fails for want of one;
* ``ensure_meter_partitions`` creates the partitions from ``PARTITION_DAYS_BEHIND`` days back to
  ``PARTITION_DAYS_AHEAD`` days ahead that are missing (the platform runs it at start and with every
  retention pass); readings of such a day already in the default partition move into the new one;
* ``drop_meter_partitions`` drops the partitions wholly older than a time (``store.retention``).

Partitions are found by name (``pg_inherits``), so every function works in whichever schema the
connection's ``search_path`` names.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.engine import Connection

PARTITION_DAYS_AHEAD = 7
PARTITION_DAYS_BEHIND = 2
DEFAULT_PARTITION = "meter_values_default"
_NAME = re.compile(r"^meter_values_p(\d{8})$")


def partitioned(conn: Connection) -> bool:
    """Whether this store partitions ``meter_values`` (PostgreSQL)."""
    return conn.dialect.name == "postgresql"


def partition_name(day: date) -> str:
    return f"meter_values_p{day:%Y%m%d}"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def partition_days(conn: Connection) -> list[date]:
    """The days that have a partition, oldest first (none on SQLite)."""
    if not partitioned(conn):
        return []
    names = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'meter_values'::regclass"
    ).scalars()
    days = []
    for name in names:
        found = _NAME.match(name)
        if found:
            days.append(datetime.strptime(found.group(1), "%Y%m%d").date())
    return sorted(days)


def ensure_meter_partitions(
    conn: Connection,
    today: date,
    *,
    behind: int = PARTITION_DAYS_BEHIND,
    ahead: int = PARTITION_DAYS_AHEAD,
    after: datetime | None = None,
) -> list[str]:
    """Create the missing day partitions from ``today - behind`` to ``today + ahead`` (only days ending after
    ``after``, when given: retention would drop the others again); their names."""
    if not partitioned(conn):
        return []
    _serialize(conn)
    have = set(partition_days(conn))
    created = []
    for offset in range(-behind, ahead + 1):
        day = today + timedelta(days=offset)
        if day not in have and (after is None or day_start(day + timedelta(days=1)) > after):
            create_partition(conn, day)
            created.append(partition_name(day))
    return created


def _serialize(conn: Connection) -> None:
    """Processes maintaining the partitions take turns (until their transactions end)."""
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('vgi.meter_values.partitions'))")


def create_partition(conn: Connection, day: date) -> None:
    """The partition of ``day``, with the readings of that day the default partition held moved into it."""
    name, low, high = partition_name(day), day_start(day), day_start(day + timedelta(days=1))
    conn.exec_driver_sql(
        f'CREATE TABLE "{name}" (LIKE meter_values INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
    )
    conn.exec_driver_sql(
        f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE sample_time >= %(low)s AND sample_time < %(high)s'
        f' RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
        {"low": low, "high": high},
    )
    conn.exec_driver_sql(
        f"ALTER TABLE meter_values ATTACH PARTITION \"{name}\" FOR VALUES FROM ('{low.isoformat()}')"
        f" TO ('{high.isoformat()}')"
    )


def drop_meter_partitions(conn: Connection, before: datetime) -> list[str]:
    """Drop every day partition that ends at or before ``before``; their names (none on SQLite)."""
    if not partitioned(conn):
        return []
    _serialize(conn)
    dropped = []
    for day in partition_days(conn):
        if day_start(day + timedelta(days=1)) <= before:
            name = partition_name(day)
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
            dropped.append(name)
    return dropped
