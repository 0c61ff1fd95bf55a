"""PostgreSQL: meter_values range-partitioned by sample_time, one partition per UTC day plus a default
partition (``store.partitions``), so retention drops whole days. SQLite is unchanged.

The primary key (charger_id, sample_time) already holds the partition key, so it stays the key.
Upgrade copies the rows into the partitioned table (a partition for every day that has readings, and
the days around today); downgrade copies them back into one table.

Revision ID: 0018_meter_partitions
Revises: 0017_charger_membership
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from alembic import op

revision: str = "0018_meter_partitions"
down_revision: str | None = "0017_charger_membership"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As store.partitions at the time of this revision (a migration does not follow later code).
_DAYS_BEHIND, _DAYS_AHEAD = 2, 7


def _start(day: date) -> str:
    return datetime.combine(day, time(), tzinfo=UTC).isoformat()


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE meter_values RENAME TO meter_values_unpartitioned")
    op.execute(
        "ALTER TABLE meter_values_unpartitioned RENAME CONSTRAINT meter_values_pkey TO meter_values_unpartitioned_pkey"
    )
    op.execute(
        "CREATE TABLE meter_values (LIKE meter_values_unpartitioned INCLUDING DEFAULTS,"
        " CONSTRAINT meter_values_pkey PRIMARY KEY (charger_id, sample_time)) PARTITION BY RANGE (sample_time)"
    )
    op.execute("CREATE TABLE meter_values_default PARTITION OF meter_values DEFAULT")
    days = {
        row[0]
        for row in bind.exec_driver_sql(
            "SELECT DISTINCT (sample_time AT TIME ZONE 'UTC')::date FROM meter_values_unpartitioned"
        )
    }
    today = datetime.now(UTC).date()
    days.update(today + timedelta(days=offset) for offset in range(-_DAYS_BEHIND, _DAYS_AHEAD + 1))
    for day in sorted(days):
        op.execute(
            f'CREATE TABLE "meter_values_p{day:%Y%m%d}" PARTITION OF meter_values'
            f" FOR VALUES FROM ('{_start(day)}') TO ('{_start(day + timedelta(days=1))}')"
        )
    op.execute("INSERT INTO meter_values SELECT * FROM meter_values_unpartitioned")
    op.execute("DROP TABLE meter_values_unpartitioned")
    # Every batch of readings rewrites its chargers' latest reading: room on each page lets the new row
    # version stay on it (a HOT update, no index entries). Pages written from now on; VACUUM FULL for the rest.
    op.execute("ALTER TABLE chargers SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE chargers RESET (fillfactor)")
    op.execute("CREATE TABLE meter_values_unpartitioned (LIKE meter_values INCLUDING DEFAULTS)")
    op.execute("INSERT INTO meter_values_unpartitioned SELECT * FROM meter_values")
    op.execute("DROP TABLE meter_values")  # with its partitions
    op.execute("ALTER TABLE meter_values_unpartitioned RENAME TO meter_values")
    op.execute(
        "ALTER TABLE meter_values ADD CONSTRAINT meter_values_pkey PRIMARY KEY (charger_id, sample_time)"
    )
