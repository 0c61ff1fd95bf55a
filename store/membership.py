"""Station membership of grid nodes over time (SPEC F2: a node's history never rewritten).

Each station has a chain of intervals [valid_from, valid_to) naming its grid
node (NULL = unbounded). The first interval of a station is open towards the
past, because history is routinely backfilled after a station is registered;
moving a station closes its open interval at the move and opens one at the
new node; deleting it closes the interval. A reading counts for the node its
station belonged to when it was taken (``at_node``), so deleting or moving a
station afterwards leaves the node's past as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store.registry_tables import StationMembershipRow

memberships = StationMembershipRow.__table__  # type: ignore[attr-defined]

_CHUNK = 5000


def record(conn: Connection, aggregator_id: str, placed: Sequence[tuple[str, str]], now: datetime) -> None:
    """Stations (station_id, grid_node_id) of ``aggregator_id`` are at those nodes from ``now`` on.

    A station already open at the same node is left alone; at another node
    its interval closes at ``now``; a station never seen before belongs to
    its node since always.
    """
    ids = sorted({station_id for station_id, _ in placed})
    open_at: dict[str, tuple[int, str]] = {}
    last_seq: dict[str, int] = {}
    for start in range(0, len(ids), _CHUNK):
        for row in conn.execute(
            sa.select(
                memberships.c.station_id,
                memberships.c.seq,
                memberships.c.grid_node_id,
                memberships.c.valid_to,
            ).where(
                memberships.c.aggregator_id == aggregator_id,
                memberships.c.station_id.in_(ids[start : start + _CHUNK]),
            )
        ):
            last_seq[row.station_id] = max(last_seq.get(row.station_id, -1), row.seq)
            if row.valid_to is None:
                open_at[row.station_id] = (row.seq, row.grid_node_id)
    to_close: list[dict[str, Any]] = []
    to_open: list[dict[str, Any]] = []
    for station_id, node_id in dict(placed).items():
        current = open_at.get(station_id)
        if current is not None and current[1] == node_id:
            continue
        if current is not None:
            to_close.append({"a": aggregator_id, "s": station_id, "q": current[0], "t": now})
        seq = last_seq.get(station_id, -1) + 1
        to_open.append(
            {
                "aggregator_id": aggregator_id,
                "station_id": station_id,
                "seq": seq,
                "grid_node_id": node_id,
                "valid_from": None if seq == 0 else now,
                "valid_to": None,
            }
        )
    if to_close:
        conn.execute(_close_statement(), to_close)
    if to_open:
        conn.execute(sa.insert(memberships), to_open)


def close(conn: Connection, aggregator_id: str, station_id: str, now: datetime) -> None:
    """The station leaves its node at ``now`` (deleted)."""
    conn.execute(
        sa.update(memberships)
        .where(
            memberships.c.aggregator_id == aggregator_id,
            memberships.c.station_id == station_id,
            memberships.c.valid_to.is_(None),
        )
        .values(valid_to=now)
    )


def _close_statement() -> Any:
    return (
        sa.update(memberships)
        .where(
            memberships.c.aggregator_id == sa.bindparam("a"),
            memberships.c.station_id == sa.bindparam("s"),
            memberships.c.seq == sa.bindparam("q"),
        )
        .values(valid_to=sa.bindparam("t"))
    )


def at_node(node_ids: Any, aggregator_id: Any, station_id: Any, at: Any) -> Any:
    """SQL condition: station (``aggregator_id``, ``station_id``) was at one of ``node_ids`` (a select
    of node ids) at time ``at`` (all column expressions of the enclosing query)."""
    m = memberships.alias("membership")
    return sa.exists(
        sa.select(m.c.seq).where(
            m.c.aggregator_id == aggregator_id,
            m.c.station_id == station_id,
            m.c.grid_node_id.in_(node_ids),
            sa.or_(m.c.valid_from.is_(None), m.c.valid_from <= at),
            sa.or_(m.c.valid_to.is_(None), at < m.c.valid_to),
        )
    )
