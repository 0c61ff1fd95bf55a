"""Registry use cases (SPEC F1): the AIP-233 batch upserts and the deletes of grid nodes, stations, chargers
and EV sessions.

A batch is checked whole before anything is written (InvalidArgument naming
each offending field, ``DUPLICATE_ID``, ``GRID_NODE_NOT_FOUND``, ``GRID_NODE_CYCLE``,
``STATION_NOT_FOUND``, ``INVALID_SESSION``; ALREADY_EXISTS
``CHARGER_ID_TAKEN``), written in one executemany (``store.registry``),
the stations' and chargers' memberships over time kept (``store.membership``),
and answered with what is stored, in request order. Tenancy: an aggregator's
resources are addressed by (aggregator_id, id); another tenant's answer
NOT_FOUND, except a charger id, which is platform-wide.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from application.uow import UnitOfWork
from domain import topology
from domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PreconditionViolation,
)
from store import membership, registry
from store.metering import DEFAULT_HEARTBEAT_TIMEOUT
from store.registry import Charger, GridNode, Session, Station

DUPLICATE_ID = "DUPLICATE_ID"
GRID_NODE_NOT_FOUND = "GRID_NODE_NOT_FOUND"
GRID_NODE_CYCLE = "GRID_NODE_CYCLE"
GRID_NODE_IN_USE = "GRID_NODE_IN_USE"
STATION_NOT_FOUND = "STATION_NOT_FOUND"
INVALID_SESSION = "INVALID_SESSION"
CHARGER_ID_TAKEN = "CHARGER_ID_TAKEN"


# ---------------------------------------------------------------- grid nodes


def upsert_grid_nodes(uow: UnitOfWork, nodes: Sequence[GridNode]) -> list[GridNode]:
    """Create or replace nodes by id; parents may come in the same batch or exist already. The nodes as stored."""
    _refuse("duplicate node ids", DUPLICATE_ID, _duplicates([n.node_id for n in nodes], "nodes", "node_id"))
    in_batch = {n.node_id for n in nodes}
    parents = sorted({n.parent_id for n in nodes if n.parent_id and n.parent_id not in in_batch})
    known = registry.live_grid_node_ids(uow.conn, parents)
    violations = [
        FieldViolation(f"nodes[{i}].parent", f"grid node {n.parent_id} does not exist")
        for i, n in enumerate(nodes)
        if n.parent_id and n.parent_id not in in_batch and n.parent_id not in known
    ]
    _refuse("unknown parent nodes", GRID_NODE_NOT_FOUND, violations)
    # Parents after the batch: the batch's own, else as stored (the stored tree has no cycle, so one
    # can only run through a node of the batch).
    batch_parent = {n.node_id: n.parent_id for n in nodes}
    stored_parent = registry.live_grid_node_parents_above(uow.conn, parents)
    in_cycle = topology.cyclic(
        batch_parent, lambda node: batch_parent[node] if node in batch_parent else stored_parent.get(node)
    )
    _refuse(
        "grid nodes would be their own ancestors",
        GRID_NODE_CYCLE,
        [
            FieldViolation(
                f"nodes[{i}].parent",
                "a node cannot be its own parent"
                if n.parent_id == n.node_id
                else f"grid node {n.parent_id} is below {n.node_id}: the parents would form a cycle",
                GRID_NODE_CYCLE,
            )
            for i, n in enumerate(nodes)
            if n.node_id in in_cycle
        ],
    )
    registry.write_grid_nodes(uow.conn, nodes, uow.now)
    return registry.grid_nodes_by_id(uow.conn, [n.node_id for n in nodes])


def delete_grid_node(uow: UnitOfWork, node_id: str) -> GridNode:
    """Soft-delete a node; one with live child nodes or stations is refused (GRID_NODE_IN_USE) so no
    station is left hanging off a node that is gone: the grid re-parents or deletes them first."""
    node = registry.get_grid_node(uow.conn, node_id)
    if registry.grid_node_in_use(uow.conn, node_id):
        raise FailedPrecondition(
            f"grid node {node_id} still has child nodes or stations",
            reason=GRID_NODE_IN_USE,
            violations=[
                PreconditionViolation(
                    "IN_USE", f"gridNodes/{node_id}", "re-parent or delete its children and stations first"
                )
            ],
        )
    registry.mark_grid_node_deleted(uow.conn, node_id, uow.now)
    return node


# ---------------------------------------------------------------- stations


def upsert_stations(uow: UnitOfWork, aggregator_id: str, items: Sequence[Station]) -> list[Station]:
    """Create or replace the aggregator's stations by id at live grid nodes; a station moved to another node
    closes its membership there and opens one at the new node. The stations as stored."""
    ids = [s.station_id for s in items]
    _refuse("duplicate station ids", DUPLICATE_ID, _duplicates(ids, "stations", "station_id"))
    known = registry.live_grid_node_ids(uow.conn, sorted({s.grid_node_id for s in items}))
    violations = [
        FieldViolation(f"stations[{i}].grid_node", f"grid node {s.grid_node_id} does not exist")
        for i, s in enumerate(items)
        if s.grid_node_id not in known
    ]
    _refuse("unknown grid nodes", GRID_NODE_NOT_FOUND, violations)
    registry.write_stations(uow.conn, aggregator_id, items, uow.now)
    membership.record(uow.conn, aggregator_id, [(s.station_id, s.grid_node_id) for s in items], uow.now)
    return registry.stations_by_id(uow.conn, aggregator_id, ids)


def delete_station(uow: UnitOfWork, aggregator_id: str, station_id: str) -> Station:
    """Soft-delete a station and its live chargers; its membership at its node closes now."""
    station = registry.get_station(uow.conn, aggregator_id, station_id)
    registry.mark_station_deleted(uow.conn, aggregator_id, station_id, uow.now)
    registry.mark_station_chargers_deleted(uow.conn, aggregator_id, station_id, uow.now)
    membership.close(uow.conn, aggregator_id, station_id, uow.now)
    return station


# ---------------------------------------------------------------- chargers


def upsert_chargers(
    uow: UnitOfWork,
    aggregator_id: str,
    items: Sequence[Charger],
    timeout: timedelta = DEFAULT_HEARTBEAT_TIMEOUT,
) -> list[Charger]:
    """Create or replace chargers by id at the caller's live stations; charger ids are platform-wide (one
    another tenant registered is ALREADY_EXISTS CHARGER_ID_TAKEN). A charger moved to another station
    closes its membership there. The chargers as stored (online as of now by ``timeout``), built from the
    request and the rows' state read before the write (``store.registry.chargers_as_written``): no
    read-back unless the write left a row alone."""
    conn = uow.conn
    ids = [c.charger_id for c in items]
    _refuse("duplicate charger ids", DUPLICATE_ID, _duplicates(ids, "chargers", "charger_id"))
    # One read of the batch's existing rows: who holds each id, and the state the answer keeps.
    states = registry.charger_states(conn, ids)
    taken_ids = [i for i in ids if i in states and states[i].aggregator_id != aggregator_id]
    if taken_ids:
        raise _taken(taken_ids)
    known = registry.live_station_ids(conn, aggregator_id, sorted({c.station_id for c in items}))
    violations = [
        FieldViolation(f"chargers[{i}].station_id", f"station {c.station_id} does not exist")
        for i, c in enumerate(items)
        if c.station_id not in known
    ]
    _refuse("unknown stations", STATION_NOT_FOUND, violations)
    written = registry.write_chargers(conn, aggregator_id, items, uow.now, states.keys())
    membership.record_chargers(
        conn,
        [(c.charger_id, c.station_id) for c in items],
        uow.now,
        {charger_id: state.station_id for charger_id, state in states.items()},
    )
    if written != len(items):
        # Another tenant registered an id between the read and the write (concurrent PostgreSQL
        # transactions): the read-back names it and refuses the batch.
        return upserted_chargers(uow, aggregator_id, ids, timeout)
    return registry.chargers_as_written(conn, aggregator_id, items, states, uow.now, timeout)


def upserted_chargers(
    uow: UnitOfWork, aggregator_id: str, charger_ids: Sequence[str], timeout: timedelta
) -> list[Charger]:
    """What ``upsert_chargers`` just wrote, as stored, in request order (the batch's answer).

    An id that is not the aggregator's after the write was registered by another tenant between the
    check and the write (concurrent PostgreSQL transactions; the upsert's WHERE left that row alone):
    ALREADY_EXISTS CHARGER_ID_TAKEN, so the caller's transaction rolls back rather than claim it.
    """
    stored = registry.chargers_by_id(uow.conn, aggregator_id, charger_ids, uow.now, timeout)
    if len(stored) != len(charger_ids):
        found = {c.charger_id for c in stored}
        raise _taken([i for i in charger_ids if i not in found])
    return stored


def delete_charger(
    uow: UnitOfWork,
    aggregator_id: str,
    station_id: str,
    charger_id: str,
    timeout: timedelta = DEFAULT_HEARTBEAT_TIMEOUT,
) -> Charger:
    """Soft-delete the aggregator's charger at its station (its membership stays open: its history stays)."""
    charger = registry.get_charger(uow.conn, aggregator_id, station_id, charger_id, uow.now, timeout)
    registry.mark_charger_deleted(uow.conn, charger_id, uow.now)
    return charger


# ---------------------------------------------------------------- sessions


def upsert_sessions(uow: UnitOfWork, aggregator_id: str, items: Sequence[Session]) -> list[Session]:
    """Create or replace sessions by id on the caller's live chargers; a session with end_time is ENDED, and a
    charger's newer plug-in ends its earlier session (``store.registry.write_sessions``). As stored."""
    ids = [s.session_id for s in items]
    _refuse("duplicate session ids", DUPLICATE_ID, _duplicates(ids, "sessions", "session_id"))
    known = registry.live_charger_ids(uow.conn, aggregator_id, sorted({s.charger_id for s in items}))
    violations = [
        FieldViolation(f"sessions[{i}].charger_id", f"charger {s.charger_id} does not exist")
        for i, s in enumerate(items)
        if s.charger_id not in known
    ]
    _refuse("invalid sessions", INVALID_SESSION, violations)
    registry.write_sessions(uow.conn, aggregator_id, items, uow.now)
    return registry.sessions_by_id(uow.conn, aggregator_id, ids)


# ---------------------------------------------------------------- checks


def _duplicates(ids: Sequence[str], field: str, id_field: str) -> list[FieldViolation]:
    if len(set(ids)) == len(ids):
        return []  # the common case, decided in C; the loop below names each repeat
    seen: set[str] = set()
    violations = []
    for i, value in enumerate(ids):
        if value in seen:
            violations.append(
                FieldViolation(f"{field}[{i}].{id_field}", f"{value} appears twice in the batch")
            )
        seen.add(value)
    return violations


def _refuse(message: str, reason: str, violations: list[FieldViolation]) -> None:
    if violations:
        raise InvalidArgument(message, reason=reason, violations=violations)


def _taken(taken_ids: Sequence[str]) -> AlreadyExists:
    """AIP-193 ALREADY_EXISTS, naming the id but never who holds it (another tenant)."""
    return AlreadyExists(
        f"charger id {taken_ids[0]} is already registered"
        + (f" (and {len(taken_ids) - 1} more)" if len(taken_ids) > 1 else ""),
        reason=CHARGER_ID_TAKEN,
        metadata={"charger_id": taken_ids[0], "taken_count": str(len(taken_ids))},
    )
