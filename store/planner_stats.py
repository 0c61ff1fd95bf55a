"""Planner statistics kept current after bulk writes (PostgreSQL).

PostgreSQL plans from ``pg_class.reltuples`` and ``pg_statistic``, which only
ANALYZE (or autovacuum's ANALYZE) refreshes. A table loaded through the API
and queried at once — a 10,000-node grid topology, then a capacity query on
its root — is planned as if it held a handful of rows: the recursive subtree
became a nested loop over sequential scans, 11 s for 10,000 nodes against
10 ms once analyzed. Autovacuum would catch up within a minute where it is on,
and never where it is off.

``analyze_if_stale`` applies autovacuum's own analyze rule (changes since the
last ANALYZE above 50 + 10 % of the rows the planner believes in) at the end of
the write that crosses it, inside the caller's transaction: ANALYZE counts the
transaction's own rows, and its ShareUpdateExclusive lock blocks no reader or
writer, only another ANALYZE of the same table. SQLite plans these queries from
its indexes without statistics; nothing is done there.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

# autovacuum_analyze_threshold and autovacuum_analyze_scale_factor, at PostgreSQL's defaults.
_THRESHOLD = 50
_SCALE = 0.1


def analyze_if_stale(conn: Connection, table: str, changed_rows: int) -> bool:
    """ANALYZE ``table`` on PostgreSQL when its statistics lag this write; whether it did."""
    if conn.dialect.name != "postgresql":
        return False
    row = conn.exec_driver_sql(
        "SELECT c.reltuples, coalesce(s.n_mod_since_analyze, 0) FROM pg_class c"
        " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass(%s)",
        (table,),
    ).first()
    if row is None:
        return False
    believed, pending = max(float(row[0]), 0.0), int(row[1]) + changed_rows
    if pending <= _THRESHOLD + _SCALE * believed:
        return False
    conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.quote(table)}")
    return True
