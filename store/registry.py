"""Resource registry (SPEC F1): grid nodes, stations, chargers, EV sessions — their rows.

Single-purpose writes and queries; the use cases that check a batch, write
it, keep the memberships and answer it (and the deletes) are
``application.registry``. Batch writes are single ``INSERT … ON CONFLICT DO
UPDATE`` statements executed with many parameter sets (executemany), inside
the caller's transaction: SQLAlchemy Core, or for the charger batches (up to
10,000 rows) fixed statements on the driver with row tuples (``store.bulk.insert_rows``: multi-row
VALUES on SQLite, one INSERT … SELECT FROM unnest of arrays on PostgreSQL). Tenancy is in every query: an aggregator's rows are
addressed by (aggregator_id, id), and another tenant's row is NOT_FOUND.
Lists use keyset page tokens (store.pagination) ordered by id.

Also the lookups other features build on: chargers and active sessions per
aggregator or grid node, the grid node tree, a node's limit, the aggregators
serving a node, and the owner of a charger.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, NamedTuple, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.capacity_totals import NodeLimits
from domain.errors import NotFound
from store import capacity_rows, pagination, planner_stats
from store.bulk import (
    chunks,
    dialect_insert,
    insert_rows,
    rows_any,
    rows_in,
    time_param,
    time_result,
    upsert,
)
from store.registry_tables import ChargerRow, EvSessionRow, GridNodeRow, StationRow
from store.tables import table_of

grid_nodes = table_of(GridNodeRow)
stations = table_of(StationRow)
chargers = table_of(ChargerRow)
sessions = table_of(EvSessionRow)

T = TypeVar("T")

ACTIVE = "ACTIVE"
ENDED = "ENDED"
UNSPECIFIED = "UNSPECIFIED"

# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class GridNode:
    node_id: str
    kind: str
    parent_id: str | None
    display_name: str
    capacity_limit_w: int
    base_load_w: int
    update_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Station:
    station_id: str
    display_name: str
    grid_node_id: str
    import_limit_w: int
    export_limit_w: int
    aggregator_id: str = ""
    update_time: datetime | None = None


class Charger(NamedTuple):
    """A charger as registered; the state fields are output-only (set by telemetry).

    A NamedTuple rather than a frozen dataclass, equally immutable: a batch builds 10,000 of these from
    the request and 10,000 for its answer, and a frozen dataclass's ``__init__`` (an
    ``object.__setattr__`` per field) cost about six times as much per record.
    """

    charger_id: str
    station_id: str
    kind: str
    rated_charge_w: int
    rated_discharge_w: int
    bidirectional: bool
    platform_managed: bool
    aggregator_id: str = ""
    status: str = UNSPECIFIED
    online: bool = False
    last_heartbeat_time: datetime | None = None
    update_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """An EV session; SOC values in parts per billion (domain.telemetry.to_ppb)."""

    session_id: str
    charger_id: str
    plug_in_time: datetime
    expected_departure_time: datetime
    battery_wh: int
    soc_ppb: int
    target_soc_ppb: int
    v2g_floor_soc_ppb: int
    max_charge_w: int
    max_discharge_w: int
    bidirectional: bool
    end_time: datetime | None = None
    aggregator_id: str = ""
    state: str = ACTIVE


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str


# ---------------------------------------------------------------- helpers


def _by_id(
    conn: Connection,
    columns: Sequence[Any],
    key: Any,
    ids: Sequence[str],
    record: Callable[[Any], T],
    *where: Any,
) -> list[T]:
    """The rows of ``ids`` (one SELECT per chunk of ids, not one per id), as records in the order of ``ids``;
    an id without a row is left out."""
    found: dict[str, T] = {}
    for chunk in chunks(ids):
        for row in conn.execute(sa.select(*columns).where(key.in_(chunk), *where)):
            found[getattr(row, key.name)] = record(row)
    return [found[i] for i in ids if i in found]


def _page(
    conn: Connection,
    query: sa.Select[Any],
    key: sa.ColumnElement[Any],
    collection: str,
    page_size: int,
    page_token: str,
    record: Callable[[Any], T],
) -> Page[T]:
    rows, token = pagination.keyset(
        conn, query, [pagination.Key(key)], collection=collection, page_size=page_size, page_token=page_token
    )
    return Page([record(row) for row in rows], token)


# ---------------------------------------------------------------- grid nodes


def write_grid_nodes(conn: Connection, nodes: Sequence[GridNode], now: datetime) -> None:
    """Create or replace nodes by id, in one executemany (checked by ``application.registry``).

    A replaced node keeps its create_time; a soft-deleted node is revived.
    """
    rows = [
        {
            "node_id": n.node_id,
            "kind": n.kind,
            "parent_id": n.parent_id,
            "display_name": n.display_name,
            "capacity_limit_w": n.capacity_limit_w,
            "base_load_w": n.base_load_w,
            "create_time": now,
            "update_time": now,
            "delete_time": None,
        }
        for n in nodes
    ]
    upsert(
        conn,
        grid_nodes,
        rows,
        ["node_id"],
        [
            "kind",
            "parent_id",
            "display_name",
            "capacity_limit_w",
            "base_load_w",
            "update_time",
            "delete_time",
        ],
    )
    # A topology loaded through the API is queried at once (capacity of its root): plan it as it is.
    planner_stats.analyze_if_stale(conn, grid_nodes.name, len(rows))


def live_grid_node_ids(conn: Connection, node_ids: Sequence[str]) -> set[str]:
    """Those of ``node_ids`` that are live grid nodes."""
    return _live_ids(conn, grid_nodes, grid_nodes.c.node_id, node_ids)


def _live_ids(conn: Connection, table: sa.Table, column: Any, ids: Sequence[str], *where: Any) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(ids):
        found.update(
            conn.execute(sa.select(column).where(column.in_(chunk), table.c.delete_time.is_(None), *where))
            .scalars()
            .all()
        )
    return found


def _node(row: Any) -> GridNode:
    return GridNode(
        node_id=row.node_id,
        kind=row.kind,
        parent_id=row.parent_id,
        display_name=row.display_name,
        capacity_limit_w=row.capacity_limit_w,
        base_load_w=row.base_load_w,
        update_time=row.update_time,
    )


def grid_nodes_by_id(conn: Connection, node_ids: Sequence[str]) -> list[GridNode]:
    """The live nodes of ``node_ids`` as stored, in that order (what UpsertGridNodes answers)."""
    return _by_id(
        conn, [grid_nodes], grid_nodes.c.node_id, node_ids, _node, grid_nodes.c.delete_time.is_(None)
    )


def get_grid_node(conn: Connection, node_id: str) -> GridNode:
    row = conn.execute(
        sa.select(grid_nodes).where(grid_nodes.c.node_id == node_id, grid_nodes.c.delete_time.is_(None))
    ).first()
    if row is None:
        raise NotFound(
            f"grid node {node_id} not found", reason="GRID_NODE_NOT_FOUND", metadata={"grid_node": node_id}
        )
    return _node(row)


def list_grid_nodes(
    conn: Connection, *, page_size: int, page_token: str, parent_id: str = "", kind: str = ""
) -> Page[GridNode]:
    query = sa.select(grid_nodes).where(grid_nodes.c.delete_time.is_(None))
    if parent_id:
        query = query.where(grid_nodes.c.parent_id == parent_id)
    if kind:
        query = query.where(grid_nodes.c.kind == kind)
    collection = f"gridNodes?parent={parent_id}&kind={kind}"
    return _page(conn, query, grid_nodes.c.node_id, collection, page_size, page_token, _node)


def grid_node_in_use(conn: Connection, node_id: str) -> bool:
    """Whether the node has live child nodes or live stations."""
    return (
        conn.execute(
            sa.select(sa.literal(1)).where(
                sa.or_(
                    sa.exists().where(grid_nodes.c.parent_id == node_id, grid_nodes.c.delete_time.is_(None)),
                    sa.exists().where(stations.c.grid_node_id == node_id, stations.c.delete_time.is_(None)),
                )
            )
        ).first()
        is not None
    )


def mark_grid_node_deleted(conn: Connection, node_id: str, now: datetime) -> None:
    """Soft-delete the node (``application.registry.delete_grid_node`` checks it is not in use)."""
    conn.execute(
        sa.update(grid_nodes).where(grid_nodes.c.node_id == node_id).values(delete_time=now, update_time=now)
    )


def live_grid_node_parents_above(conn: Connection, node_ids: Sequence[str]) -> dict[str, str | None]:
    """Each of the live ``node_ids`` and each of their live ancestors, with its stored parent."""
    parents: dict[str, str | None] = {}
    for chunk in chunks(node_ids):
        up = (
            sa.select(grid_nodes.c.node_id, grid_nodes.c.parent_id)
            .where(grid_nodes.c.node_id.in_(chunk), grid_nodes.c.delete_time.is_(None))
            .cte("ancestry", recursive=True)
        )
        above = grid_nodes.alias("ancestry_parent")
        up = up.union(
            sa.select(above.c.node_id, above.c.parent_id).where(
                above.c.node_id == up.c.parent_id, above.c.delete_time.is_(None)
            )
        )
        parents.update(
            (row.node_id, row.parent_id) for row in conn.execute(sa.select(up.c.node_id, up.c.parent_id))
        )
    return parents


def subtree_cte(node_id: str) -> Any:
    """A recursive CTE of the live node and all its live descendants (column ``node_id``)."""
    tree = (
        sa.select(grid_nodes.c.node_id)
        .where(grid_nodes.c.node_id == node_id, grid_nodes.c.delete_time.is_(None))
        .cte("subtree", recursive=True)
    )
    child = grid_nodes.alias("subtree_child")
    return tree.union(
        sa.select(child.c.node_id).where(child.c.parent_id == tree.c.node_id, child.c.delete_time.is_(None))
    )


def subtree(conn: Connection, node_id: str) -> list[str]:
    """The live node and all its live descendants (one round trip); empty when the node does not exist."""
    tree = subtree_cte(node_id)
    return list(conn.execute(sa.select(tree.c.node_id)).scalars())


def children_map(conn: Connection, node_id: str) -> tuple[dict[str, list[str]], dict[str, NodeLimits]]:
    """The subtree under ``node_id`` as parent → children, with every node's limits (limit 0 = none)."""
    ids = subtree(conn, node_id)
    if not ids:
        raise NotFound(
            f"grid node {node_id} not found", reason="GRID_NODE_NOT_FOUND", metadata={"grid_node": node_id}
        )
    tree: dict[str, list[str]] = {}
    limits: dict[str, NodeLimits] = {}
    for chunk in chunks(ids):
        for row in conn.execute(
            sa.select(
                grid_nodes.c.node_id,
                grid_nodes.c.parent_id,
                grid_nodes.c.capacity_limit_w,
                grid_nodes.c.base_load_w,
            ).where(grid_nodes.c.node_id.in_(chunk))
        ):
            limits[row.node_id] = NodeLimits(row.capacity_limit_w or None, row.base_load_w)
            if row.node_id != node_id and row.parent_id is not None:
                tree.setdefault(row.parent_id, []).append(row.node_id)
    return tree, limits


def node_limits(conn: Connection, node_id: str) -> NodeLimits:
    """A node's own loading limit (None when 0 = unlimited) and base load — e.g. a transformer area's limit."""
    node = get_grid_node(conn, node_id)
    return NodeLimits(node.capacity_limit_w or None, node.base_load_w)


def aggregators_at_node(conn: Connection, node_id: str) -> list[str]:
    """Aggregators with a live station at the node or below it, sorted."""
    ids = subtree(conn, node_id)
    found: set[str] = set()
    for chunk in chunks(ids):
        found.update(
            conn.execute(
                sa.select(stations.c.aggregator_id)
                .where(stations.c.grid_node_id.in_(chunk), stations.c.delete_time.is_(None))
                .distinct()
            ).scalars()
        )
    return sorted(found)


# ---------------------------------------------------------------- stations


def write_stations(conn: Connection, aggregator_id: str, items: Sequence[Station], now: datetime) -> None:
    """Create or replace the aggregator's stations by id, in one executemany (checked by ``application.registry``;
    their memberships are ``store.membership``'s)."""
    rows = [
        {
            "aggregator_id": aggregator_id,
            "station_id": s.station_id,
            "display_name": s.display_name,
            "grid_node_id": s.grid_node_id,
            "import_limit_w": s.import_limit_w,
            "export_limit_w": s.export_limit_w,
            "create_time": now,
            "update_time": now,
            "delete_time": None,
        }
        for s in items
    ]
    upsert(
        conn,
        stations,
        rows,
        ["aggregator_id", "station_id"],
        ["display_name", "grid_node_id", "import_limit_w", "export_limit_w", "update_time", "delete_time"],
    )
    capacity_rows.refresh_stations(conn, aggregator_id, [s.station_id for s in items])


def live_station_ids(conn: Connection, aggregator_id: str, station_ids: Sequence[str]) -> set[str]:
    """Those of ``station_ids`` that are the aggregator's live stations."""
    return _live_ids(
        conn, stations, stations.c.station_id, station_ids, stations.c.aggregator_id == aggregator_id
    )


def _station(row: Any) -> Station:
    return Station(
        aggregator_id=row.aggregator_id,
        station_id=row.station_id,
        display_name=row.display_name,
        grid_node_id=row.grid_node_id,
        import_limit_w=row.import_limit_w,
        export_limit_w=row.export_limit_w,
        update_time=row.update_time,
    )


def stations_by_id(conn: Connection, aggregator_id: str, station_ids: Sequence[str]) -> list[Station]:
    """The aggregator's live stations of ``station_ids`` as stored, in that order."""
    return _by_id(
        conn,
        [stations],
        stations.c.station_id,
        station_ids,
        _station,
        stations.c.aggregator_id == aggregator_id,
        stations.c.delete_time.is_(None),
    )


def list_stations(
    conn: Connection, aggregator_id: str, *, page_size: int, page_token: str, grid_node_id: str = ""
) -> Page[Station]:
    query = sa.select(stations).where(
        stations.c.aggregator_id == aggregator_id, stations.c.delete_time.is_(None)
    )
    if grid_node_id:
        query = query.where(stations.c.grid_node_id == grid_node_id)
    return _page(
        conn,
        query,
        stations.c.station_id,
        f"stations?node={grid_node_id}",
        page_size,
        page_token,
        _station,
    )


def get_station(conn: Connection, aggregator_id: str, station_id: str) -> Station:
    row = conn.execute(
        sa.select(stations).where(
            stations.c.aggregator_id == aggregator_id,
            stations.c.station_id == station_id,
            stations.c.delete_time.is_(None),
        )
    ).first()
    if row is None:
        raise NotFound(
            f"station {station_id} not found", reason="STATION_NOT_FOUND", metadata={"station_id": station_id}
        )
    return _station(row)


def mark_station_deleted(conn: Connection, aggregator_id: str, station_id: str, now: datetime) -> None:
    """Soft-delete the station row."""
    conn.execute(
        sa.update(stations)
        .where(stations.c.aggregator_id == aggregator_id, stations.c.station_id == station_id)
        .values(delete_time=now, update_time=now)
    )
    capacity_rows.refresh_stations(conn, aggregator_id, [station_id])


def mark_station_chargers_deleted(
    conn: Connection, aggregator_id: str, station_id: str, now: datetime
) -> None:
    """Soft-delete the live chargers at the aggregator's station."""
    conn.execute(
        sa.update(chargers)
        .where(
            chargers.c.aggregator_id == aggregator_id,
            chargers.c.station_id == station_id,
            chargers.c.delete_time.is_(None),
        )
        .values(delete_time=now, update_time=now)
    )
    capacity_rows.refresh_stations(conn, aggregator_id, [station_id])


# ---------------------------------------------------------------- chargers


# The WHERE keeps a racing tenant's insert from being overwritten.
# The registered fields first, in Charger's order: a row is the record's first seven fields plus a tail.
_UPSERT_CHARGERS_HEAD = (
    "INSERT INTO chargers (charger_id, station_id, kind, rated_charge_w, rated_discharge_w, bidirectional,"
    " platform_managed, aggregator_id, status, create_time, update_time)"
)
_REGISTERED = 7  # Charger's fields up to platform_managed
# PostgreSQL: one statement over one array per column (``store.bulk.insert_rows``), not 2,000-row VALUES
# of 22,000 placeholders that psycopg parsed from the statement text on every execution.
_UPSERT_CHARGERS_TYPES = (
    "varchar", "varchar", "varchar", "bigint", "bigint", "boolean", "boolean", "varchar", "varchar",
    "timestamptz", "timestamptz",
)  # fmt: skip
_UPSERT_CHARGERS_TAIL = (
    " ON CONFLICT (charger_id) DO UPDATE SET station_id = excluded.station_id, kind = excluded.kind,"
    " rated_charge_w = excluded.rated_charge_w, rated_discharge_w = excluded.rated_discharge_w,"
    " bidirectional = excluded.bidirectional, platform_managed = excluded.platform_managed,"
    " update_time = excluded.update_time, delete_time = NULL WHERE chargers.aggregator_id = ?"
)


def write_chargers(
    conn: Connection,
    aggregator_id: str,
    items: Sequence[Charger],
    now: datetime,
    registered: Collection[str] | None = None,
) -> int:
    """Create or replace chargers by id, on the driver (checked by ``application.registry``; their memberships
    are ``store.membership``'s). Reported state (status, heartbeat, last meter value) survives a replace;
    a row another tenant holds is left alone (the statement's WHERE). The rows written: fewer than
    ``items`` when another tenant holds one of them.

    ``registered``, when given, are those of the ids that had a charger row before this write: only they
    can have sessions (a session is written for a live charger, and charger rows are never removed), so
    only their ``capacity_sessions`` rows are recomputed — a batch of new chargers recomputes nothing.
    SQLite only, where the write transaction holds the database from its first statement; on PostgreSQL
    another transaction may register one of the others and give it a session between the caller's read
    and this write, so every id is recomputed there (as ``store.membership.record_chargers`` looks every
    id up)."""
    at = time_param(conn)(now)
    tail = (aggregator_id, UNSPECIFIED, at, at)
    written = insert_rows(
        conn,
        _UPSERT_CHARGERS_HEAD,
        _UPSERT_CHARGERS_TYPES,
        [c[:_REGISTERED] + tail for c in items],
        _UPSERT_CHARGERS_TAIL,
        (aggregator_id,),
    )
    if registered is None or conn.dialect.name == "postgresql":
        capacity_rows.refresh_chargers(conn, [c.charger_id for c in items])
    else:
        capacity_rows.refresh_chargers(conn, [c.charger_id for c in items if c.charger_id in registered])
    # A fleet registered through the API takes telemetry at once: without statistics PostgreSQL plans each
    # batch's latest-reading update (store.telemetry) as if the aggregator had one charger, a hash of all
    # its chargers' whole rows per batch (~6 ms a batch of 1,000 over 10,000 chargers, ~4.5 ms analyzed).
    planner_stats.analyze_if_stale(conn, chargers.name, written)
    return written


class ChargerState(NamedTuple):
    """What a charger upsert keeps of an existing row: its owner and the state its device reported; and
    its station before the write (``store.membership.record_chargers``)."""

    aggregator_id: str
    status: str
    last_heartbeat_time: datetime | None
    station_id: str


_CHARGER_STATES = (
    "SELECT charger_id, aggregator_id, status, last_heartbeat_time, station_id FROM chargers"
    " WHERE charger_id IN"
)


def charger_states(conn: Connection, charger_ids: Sequence[str]) -> dict[str, ChargerState]:
    """The existing rows of ``charger_ids`` (any tenant's, live or deleted: ids are platform-wide) by id.

    On PostgreSQL the rows are locked (FOR UPDATE) until the caller's transaction ends, so the state read
    here is the state the upsert leaves: a device's report in between waits for the commit.
    """
    when = time_result(conn)
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    return {
        row[0]: ChargerState(row[1], row[2], when(row[3]), row[4])
        for row in rows_any(conn, _CHARGER_STATES, (), charger_ids, lock)
    }


def chargers_as_written(
    conn: Connection,
    aggregator_id: str,
    items: Sequence[Charger],
    states: dict[str, ChargerState],
    now: datetime,
    timeout: timedelta,
) -> list[Charger]:
    """The chargers ``write_chargers(conn, aggregator_id, items, now)`` stored, as ``chargers_by_id`` would read
    them back (online as of ``now``), from the request and the rows' ``states`` before the write (locked
    ones on PostgreSQL) rather than a second read of the rows: the write sets every registered field and
    update_time, and keeps status and heartbeat. ``now`` goes through the driver and back as stored."""
    when = time_result(conn)
    written = when(time_param(conn)(now))
    new = (aggregator_id, UNSPECIFIED, False, None, written)
    make, record = tuple.__new__, Charger  # the fields are complete: no NamedTuple argument handling
    if not states:
        # A batch of new chargers (the common case): one slice and one tuple each.
        return [make(record, c[:_REGISTERED] + new) for c in items]
    answer = []
    for c in items:
        state = states.get(c.charger_id)
        if state is None:
            answer.append(make(record, c[:_REGISTERED] + new))
        else:
            heartbeat = state.last_heartbeat_time
            online = heartbeat is not None and now - heartbeat <= timeout
            answer.append(
                make(record, (*c[:_REGISTERED], aggregator_id, state.status, online, heartbeat, written))
            )
    return answer


def live_charger_ids(conn: Connection, aggregator_id: str, charger_ids: Sequence[str]) -> set[str]:
    """Those of ``charger_ids`` that are the aggregator's live chargers."""
    return _live_ids(
        conn, chargers, chargers.c.charger_id, charger_ids, chargers.c.aggregator_id == aggregator_id
    )


def _online(last_heartbeat: datetime | None, now: datetime, timeout: timedelta) -> bool:
    return last_heartbeat is not None and now - last_heartbeat <= timeout


def _charger_record(now: datetime, timeout: timedelta) -> Callable[[Any], Charger]:
    def record(row: Any) -> Charger:
        return Charger(
            aggregator_id=row.aggregator_id,
            charger_id=row.charger_id,
            station_id=row.station_id,
            kind=row.kind,
            rated_charge_w=row.rated_charge_w,
            rated_discharge_w=row.rated_discharge_w,
            bidirectional=row.bidirectional,
            platform_managed=row.platform_managed,
            status=row.status,
            online=_online(row.last_heartbeat_time, now, timeout),
            last_heartbeat_time=row.last_heartbeat_time,
            update_time=row.update_time,
        )

    return record


_CHARGER_COLUMNS = [
    chargers.c.aggregator_id,
    chargers.c.charger_id,
    chargers.c.station_id,
    chargers.c.kind,
    chargers.c.rated_charge_w,
    chargers.c.rated_discharge_w,
    chargers.c.bidirectional,
    chargers.c.platform_managed,
    chargers.c.status,
    chargers.c.last_heartbeat_time,
    chargers.c.update_time,
]


_CHARGERS_BY_ID = (
    "SELECT charger_id, station_id, kind, rated_charge_w, rated_discharge_w, bidirectional, platform_managed,"
    " status, last_heartbeat_time, update_time FROM chargers"
    " WHERE aggregator_id = ? AND delete_time IS NULL AND charger_id IN"
)


def chargers_by_id(
    conn: Connection, aggregator_id: str, charger_ids: Sequence[str], now: datetime, timeout: timedelta
) -> list[Charger]:
    """The aggregator's live chargers of ``charger_ids`` as stored, in that order (online as of ``now``).

    On the driver, like the upsert: a batch reads back up to 20,000 rows.
    """
    when = time_result(conn)
    found: dict[str, Charger] = {}
    for row in rows_in(conn, _CHARGERS_BY_ID, (aggregator_id,), charger_ids):
        heartbeat = when(row[8])
        found[row[0]] = Charger(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            bool(row[5]),
            bool(row[6]),
            aggregator_id,
            row[7],
            _online(heartbeat, now, timeout),
            heartbeat,
            when(row[9]),
        )
    return [found[i] for i in charger_ids if i in found]


def get_charger(
    conn: Connection, aggregator_id: str, station_id: str, charger_id: str, now: datetime, timeout: timedelta
) -> Charger:
    row = conn.execute(
        sa.select(*_CHARGER_COLUMNS).where(
            chargers.c.charger_id == charger_id,
            chargers.c.aggregator_id == aggregator_id,
            chargers.c.station_id == station_id,
            chargers.c.delete_time.is_(None),
        )
    ).first()
    if row is None:
        raise NotFound(
            f"charger {charger_id} not found", reason="CHARGER_NOT_FOUND", metadata={"charger_id": charger_id}
        )
    return _charger_record(now, timeout)(row)


def list_chargers(
    conn: Connection,
    aggregator_id: str,
    *,
    page_size: int,
    page_token: str,
    now: datetime,
    timeout: timedelta,
    station_id: str = "",
    online_only: bool = False,
) -> Page[Charger]:
    query = sa.select(*_CHARGER_COLUMNS).where(
        chargers.c.aggregator_id == aggregator_id, chargers.c.delete_time.is_(None)
    )
    if station_id:
        query = query.where(chargers.c.station_id == station_id)
    if online_only:
        query = query.where(chargers.c.last_heartbeat_time >= now - timeout)
    return _page(
        conn,
        query,
        chargers.c.charger_id,
        f"chargers?station={station_id}&online={int(online_only)}",
        page_size,
        page_token,
        _charger_record(now, timeout),
    )


def mark_charger_deleted(conn: Connection, charger_id: str, now: datetime) -> None:
    """Soft-delete the charger row."""
    conn.execute(
        sa.update(chargers)
        .where(chargers.c.charger_id == charger_id)
        .values(delete_time=now, update_time=now)
    )
    capacity_rows.refresh_chargers(conn, [charger_id])


def charger_owner(conn: Connection, charger_id: str) -> str | None:
    """The aggregator owning a live charger (for device principals), or None."""
    return conn.execute(
        sa.select(chargers.c.aggregator_id).where(
            chargers.c.charger_id == charger_id, chargers.c.delete_time.is_(None)
        )
    ).scalar_one_or_none()


def chargers_of(
    conn: Connection, *, aggregator_id: str | None = None, node_id: str | None = None
) -> list[str]:
    """Live charger ids of an aggregator and/or at a grid node (incl. descendants), sorted."""
    query = sa.select(chargers.c.charger_id).where(chargers.c.delete_time.is_(None))
    if aggregator_id is not None:
        query = query.where(chargers.c.aggregator_id == aggregator_id)
    if node_id is not None:
        query = query.where(
            sa.tuple_(chargers.c.aggregator_id, chargers.c.station_id).in_(stations_under(node_id))
        )
    return list(conn.execute(query.order_by(chargers.c.charger_id)).scalars())


def stations_under(node_id: str) -> sa.Select[Any]:
    """(aggregator_id, station_id) of the live stations at the node or below it."""
    tree = subtree_cte(node_id)
    return sa.select(stations.c.aggregator_id, stations.c.station_id).where(
        stations.c.grid_node_id.in_(sa.select(tree.c.node_id)), stations.c.delete_time.is_(None)
    )


# ---------------------------------------------------------------- sessions


def write_sessions(conn: Connection, aggregator_id: str, items: Sequence[Session], now: datetime) -> None:
    """Create or replace sessions by id (checked by ``application.registry`` or the device stream).

    Sessions are state by id, whatever order their messages arrive in (SPEC
    F2): ENDED is final (a re-sent start does not reopen it, a re-sent end
    keeps the earlier end); a charger's active session is the one with the
    latest plug-in, and each earlier one ends at the next plug-in at the
    latest, so a late start of an older session never ends a newer one.
    """
    if not items:
        return
    rows = [
        {
            "aggregator_id": aggregator_id,
            "session_id": s.session_id,
            "charger_id": s.charger_id,
            "plug_in_time": s.plug_in_time,
            "expected_departure_time": s.expected_departure_time,
            "battery_wh": s.battery_wh,
            "soc_ppb": s.soc_ppb,
            "target_soc_ppb": s.target_soc_ppb,
            "v2g_floor_soc_ppb": s.v2g_floor_soc_ppb,
            "max_charge_w": s.max_charge_w,
            "max_discharge_w": s.max_discharge_w,
            "bidirectional": s.bidirectional,
            "state": ACTIVE if s.end_time is None else ENDED,
            "end_time": None if s.end_time is None else max(s.end_time, s.plug_in_time),
            "create_time": now,
            "update_time": now,
        }
        for s in items
    ]
    stmt = dialect_insert(conn, sessions)
    fixed = ("aggregator_id", "session_id", "create_time", "state", "end_time")
    ended = sa.or_(sessions.c.state == ENDED, stmt.excluded.state == ENDED)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["aggregator_id", "session_id"],
            set_={
                **{name: stmt.excluded[name] for name in rows[0] if name not in fixed},
                "state": sa.case((ended, ENDED), else_=ACTIVE),
                # The earlier of two known ends: a stop re-sent later does not move it.
                "end_time": sa.case(
                    (sessions.c.end_time.is_(None), stmt.excluded.end_time),
                    (stmt.excluded.end_time.is_(None), sessions.c.end_time),
                    (stmt.excluded.end_time < sessions.c.end_time, stmt.excluded.end_time),
                    else_=sessions.c.end_time,
                ),
            },
        ),
        rows,
    )
    charger_ids = sorted({s.charger_id for s in items})
    _end_superseded(conn, charger_ids, now)
    # A session may have moved to another charger: its row goes by its key, then the chargers' sessions
    # (including those the new plug-ins ended) are recomputed.
    capacity_rows.drop_sessions(conn, aggregator_id, [s.session_id for s in items])
    capacity_rows.refresh_chargers(conn, charger_ids)


def _end_superseded(conn: Connection, charger_ids: Sequence[str], now: datetime) -> None:
    """Each session of these chargers ends at the next plug-in on its charger at the latest."""
    later = sessions.alias("later")
    next_plug_in = (
        sa.select(sa.func.min(later.c.plug_in_time))
        .where(
            later.c.charger_id == sessions.c.charger_id,
            sa.or_(
                later.c.plug_in_time > sessions.c.plug_in_time,
                sa.and_(
                    later.c.plug_in_time == sessions.c.plug_in_time,
                    later.c.session_id > sessions.c.session_id,
                ),
            ),
        )
        .scalar_subquery()
    )
    for chunk in chunks(charger_ids):
        conn.execute(
            sa.update(sessions)
            .where(
                sessions.c.charger_id.in_(chunk),
                next_plug_in.is_not(None),
                sa.or_(sessions.c.end_time.is_(None), sessions.c.end_time > next_plug_in),
            )
            .values(state=ENDED, end_time=next_plug_in, update_time=now)
        )


def end_session(conn: Connection, aggregator_id: str, session_id: str, at: datetime, now: datetime) -> bool:
    """End a session at ``at`` (never before its plug-in); False when it had ended already.

    A stop of a session that was already ended (e.g. by a later plug-in
    delivered first) keeps the earlier of the two ends: ENDED stays final.
    """
    row = conn.execute(
        sa.select(sessions.c.state, sessions.c.plug_in_time, sessions.c.end_time).where(
            sessions.c.aggregator_id == aggregator_id, sessions.c.session_id == session_id
        )
    ).first()
    if row is None:
        return False
    end = max(at, row.plug_in_time)
    if row.end_time is None or end < row.end_time:
        conn.execute(
            sa.update(sessions)
            .where(sessions.c.aggregator_id == aggregator_id, sessions.c.session_id == session_id)
            .values(state=ENDED, end_time=end, update_time=now)
        )
        capacity_rows.drop_sessions(conn, aggregator_id, [session_id])
    return bool(row.state == ACTIVE)


def _session(row: Any) -> Session:
    return Session(
        aggregator_id=row.aggregator_id,
        session_id=row.session_id,
        charger_id=row.charger_id,
        plug_in_time=row.plug_in_time,
        expected_departure_time=row.expected_departure_time,
        battery_wh=row.battery_wh,
        soc_ppb=row.soc_ppb,
        target_soc_ppb=row.target_soc_ppb,
        v2g_floor_soc_ppb=row.v2g_floor_soc_ppb,
        max_charge_w=row.max_charge_w,
        max_discharge_w=row.max_discharge_w,
        bidirectional=row.bidirectional,
        state=row.state,
        end_time=row.end_time,
    )


_SESSIONS_BY_ID = (
    "SELECT session_id, charger_id, plug_in_time, expected_departure_time, battery_wh, soc_ppb, target_soc_ppb,"
    " v2g_floor_soc_ppb, max_charge_w, max_discharge_w, bidirectional, state, end_time FROM ev_sessions"
    " WHERE aggregator_id = ? AND session_id IN"
)


def sessions_by_id(conn: Connection, aggregator_id: str, session_ids: Sequence[str]) -> list[Session]:
    """The aggregator's sessions of ``session_ids`` as stored, in that order (on the driver, like chargers)."""
    when = time_result(conn)
    found: dict[str, Session] = {}
    for row in rows_in(conn, _SESSIONS_BY_ID, (aggregator_id,), session_ids):
        found[row[0]] = Session(
            row[0],
            row[1],
            cast(datetime, when(row[2])),
            cast(datetime, when(row[3])),
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            row[9],
            bool(row[10]),
            when(row[12]),
            aggregator_id,
            row[11],
        )
    return [found[i] for i in session_ids if i in found]


def list_sessions(
    conn: Connection, aggregator_id: str, *, page_size: int, page_token: str, active_only: bool = False
) -> Page[Session]:
    query = sa.select(sessions).where(sessions.c.aggregator_id == aggregator_id)
    if active_only:
        query = query.where(sessions.c.state == ACTIVE)
    return _page(
        conn,
        query,
        sessions.c.session_id,
        f"sessions?active={int(active_only)}",
        page_size,
        page_token,
        _session,
    )


def active_sessions(
    conn: Connection, *, aggregator_id: str | None = None, node_id: str | None = None
) -> list[Session]:
    """Active sessions on live chargers of an aggregator and/or at a grid node (incl. descendants)."""
    query = (
        sa.select(sessions)
        .join(chargers, chargers.c.charger_id == sessions.c.charger_id)
        .where(sessions.c.state == ACTIVE, chargers.c.delete_time.is_(None))
    )
    if aggregator_id is not None:
        query = query.where(sessions.c.aggregator_id == aggregator_id)
    if node_id is not None:
        query = query.where(
            sa.tuple_(chargers.c.aggregator_id, chargers.c.station_id).in_(stations_under(node_id))
        )
    return [
        _session(row) for row in conn.execute(query.order_by(sessions.c.aggregator_id, sessions.c.session_id))
    ]
