"""Membership over time (SPEC F2: history never rewritten): stations at grid nodes, chargers at stations.

Each station has a chain of intervals [valid_from, valid_to) naming its grid
node (NULL = unbounded). The first interval of a station is open towards the
past, because history is routinely backfilled after a station is registered;
moving a station closes its open interval at the move and opens one at the
new node; deleting it closes the interval. A reading counts for the node its
station belonged to when it was taken (``at_node``), so deleting or moving a
station afterwards leaves the node's past as it was.

Chargers have the same chain at their stations (``charger_memberships``):
a charger moved to another station (BatchUpsertChargers with another
station_id) keeps its earlier readings at the station — and so the node — it
was at when they were taken (``placement`` / ``placed_at`` / ``placed_station``).
A deleted charger keeps its interval open: it sends nothing more, and its
history stays. A charger with no interval at all has been at its row's
station (``chargers.station_id``) since always: on SQLite a charger is
registered without one, and its first move writes two, [−∞, move) at the
station it leaves and [move, ∞) at the new one (``record_chargers``), so a
batch of new chargers writes no membership rows. On PostgreSQL every
charger gets its first interval with its row, as before.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store.bulk import insert_rows, rows_any
from store.registry_tables import ChargerMembershipRow, StationMembershipRow
from store.tables import UTCDateTime, table_of

memberships = table_of(StationMembershipRow)
charger_memberships = table_of(ChargerMembershipRow)


def record(conn: Connection, aggregator_id: str, placed: Sequence[tuple[str, str]], now: datetime) -> None:
    """Stations (station_id, grid_node_id) of ``aggregator_id`` are at those nodes from ``now`` on.

    A station already open at the same node is left alone; at another node
    its interval closes at ``now``; a station never seen before belongs to
    its node since always.
    """
    _record(conn, memberships, {"aggregator_id": aggregator_id}, "station_id", "grid_node_id", placed, now)


def record_chargers(
    conn: Connection,
    placed: Sequence[tuple[str, str]],
    now: datetime,
    registered: Mapping[str, str] | None = None,
) -> None:
    """Chargers (charger_id, station_id) are at those stations (of their aggregator) from ``now`` on,
    by the same rules as ``record``.

    ``registered``, when given, maps those of the ids that had a charger row before this write to its
    station then. SQLite only, where the write transaction holds the database from its first statement:
    the others are new, and a new charger gets no interval (it is at its row's station since always);
    a registered one with no interval that moves gets [−∞, now) at the station it had and [now, ∞) at
    the new one. On PostgreSQL another transaction may register one of the others (at another station)
    between the caller's read and its write, so every id is looked up there and a charger without an
    interval gets [−∞, ∞) at its station, as before the implicit interval existed.
    """
    if conn.dialect.name == "postgresql" or registered is None:
        _record(conn, charger_memberships, {}, "charger_id", "station_id", placed, now)
        return
    known = [(item, where) for item, where in placed if item in registered]
    _record(conn, charger_memberships, {}, "charger_id", "station_id", known, now, registered, registered)


def _record(
    conn: Connection,
    table: Any,
    fixed: dict[str, str],
    key: str,
    value: str,
    placed: Sequence[tuple[str, str]],
    now: datetime,
    known: Collection[str] | None = None,
    implicit: Mapping[str, str] | None = None,
) -> None:
    """Open an interval [now, ∞) of each (``key``, ``value``) in ``placed`` whose open interval has
    another value (closing that one at ``now``), or [−∞, ∞) when it has none; ``fixed`` are the
    columns the key lives under; ``known``, when given, the only keys that can have intervals yet.
    ``implicit``, when given, is the value a key without intervals has had since always: such a key
    at another value gets [−∞, now) at that one and [now, ∞) at its new one, at the same value none."""
    # On the driver: a batch of new chargers reads and opens 10,000 intervals, and SQLAlchemy's
    # expanding IN and per-row parameter processing cost more than the queries.
    ids = sorted({item for item, _ in placed if known is None or item in known})
    scope = "".join(f"{name} = ? AND " for name in fixed)
    select = f"SELECT {key}, seq, {value}, valid_to FROM {table.name} WHERE {scope}{key} IN"
    open_at: dict[str, tuple[int, str]] = {}
    last_seq: dict[str, int] = {}
    # PostgreSQL: the ids as one array parameter, and the new intervals as one array per column
    # (store.bulk): statements with thousands of placeholders are parsed by psycopg on every execution.
    for item, seq, where, valid_to in rows_any(conn, select, tuple(fixed.values()), ids):
        last_seq[item] = max(last_seq.get(item, -1), seq)
        if valid_to is None:
            open_at[item] = (seq, where)
    at = UTCDateTime().dialect_impl(conn.dialect).bind_processor(conn.dialect)
    stamp = at(now) if at is not None else now
    to_close: list[dict[str, Any]] = []
    to_open: list[tuple[Any, ...]] = []
    for item, where in dict(placed).items():
        current = open_at.get(item)
        if current is not None and current[1] == where:
            continue
        if implicit is not None and item not in last_seq:
            if implicit[item] != where:
                to_open.append((*fixed.values(), item, 0, implicit[item], None, stamp))
                to_open.append((*fixed.values(), item, 1, where, stamp, None))
            continue
        if current is not None:
            to_close.append(
                {**{f"f_{name}": v for name, v in fixed.items()}, "k": item, "q": current[0], "t": now}
            )
        seq = last_seq.get(item, -1) + 1
        to_open.append((*fixed.values(), item, seq, where, None if seq == 0 else stamp, None))
    if to_close:
        conn.execute(
            sa.update(table)
            .where(
                *[table.c[name] == sa.bindparam(f"f_{name}") for name in fixed],
                table.c[key] == sa.bindparam("k"),
                table.c.seq == sa.bindparam("q"),
            )
            .values(valid_to=sa.bindparam("t")),
            to_close,
        )
    if to_open:
        names = [*fixed, key, "seq", value, "valid_from", "valid_to"]
        types = [*(["varchar"] * len(fixed)), "varchar", "integer", "varchar", "timestamptz", "timestamptz"]
        insert_rows(conn, f"INSERT INTO {table.name} ({', '.join(names)})", types, to_open)


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


def placement() -> Any:
    """A fresh alias of ``charger_memberships`` (the charger's station over time), for ``placed_at``."""
    return charger_memberships.alias("placement")


def placed_at(m: Any, charger_id: Any, at: Any) -> Any:
    """SQL condition of the LEFT OUTER join of ``m`` (a ``placement``): charger ``charger_id``'s interval
    holding time ``at``, if it has intervals — its station then is ``placed_station`` (column
    expressions of the enclosing query)."""
    return sa.and_(
        m.c.charger_id == charger_id,
        sa.or_(m.c.valid_from.is_(None), m.c.valid_from <= at),
        sa.or_(m.c.valid_to.is_(None), at < m.c.valid_to),
    )


def placed_station(m: Any, station_id: Any) -> Any:
    """SQL expression: the station of the charger at the time ``placed_at`` joined ``m`` for — its
    interval's, or ``station_id`` (the charger row's ``station_id``) when it has no interval."""
    return sa.func.coalesce(m.c.station_id, station_id)
