"""Aggregator repository: plain records in and out, SQLAlchemy Core underneath."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.errors import AlreadyExists, NotFound
from store import pagination
from store.bulk import execute, time_param
from store.tables import AggregatorRow, table_of

_table = table_of(AggregatorRow)
_live = _table.c.delete_time.is_(None)
_COLLECTION = "aggregators"
# CreateAggregator's statements, on the driver (store.bulk.execute): through SQLAlchemy Core each costs
# more in parameter and result processing than running it.
_CLASH = (
    "SELECT aggregator_id FROM aggregators"
    " WHERE aggregator_id = ? OR (delete_time IS NULL AND display_name = ?) LIMIT 1"
)
_INSERT = (
    "INSERT INTO aggregators (aggregator_id, display_name, unified_social_credit_code, contact_email, state,"
    " create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


_STATE = "SELECT state FROM aggregators WHERE aggregator_id = ? AND delete_time IS NULL"


class AggregatorState(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


@dataclass(frozen=True, slots=True)
class Aggregator:
    aggregator_id: str
    display_name: str
    unified_social_credit_code: str
    contact_email: str
    state: AggregatorState
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True, slots=True)
class AggregatorPage:
    aggregators: list[Aggregator]
    next_page_token: str


def create(
    conn: Connection,
    *,
    aggregator_id: str,
    display_name: str,
    unified_social_credit_code: str,
    contact_email: str,
    now: datetime,
) -> Aggregator:
    """Insert a new ACTIVE aggregator; ids are never reused, display names are unique among live ones."""
    _refuse_a_clash(conn, aggregator_id, display_name)
    record = Aggregator(
        aggregator_id=aggregator_id,
        display_name=display_name,
        unified_social_credit_code=unified_social_credit_code,
        contact_email=contact_email,
        state=AggregatorState.ACTIVE,
        create_time=now,
        update_time=now,
    )
    at = time_param(conn)(now)
    inserted = execute(
        conn,
        _INSERT,
        (
            record.aggregator_id,
            record.display_name,
            record.unified_social_credit_code,
            record.contact_email,
            record.state.value,
            at,
            at,
        ),
    ).rowcount
    if not inserted:
        # A concurrent create (another request_id) committed this id or display name between the
        # check and the insert (PostgreSQL; SQLite has one writer): the insert waited for it and did
        # nothing, so this transaction goes on and reads the clash again with the winner committed —
        # the same reason and metadata as when the check saw it.
        _refuse_a_clash(conn, aggregator_id, display_name)
        raise AlreadyExists(  # the winner is gone again (deleted meanwhile): which clash is unknown
            f"aggregator {aggregator_id} or its display_name already exists",
            metadata={"aggregator_id": aggregator_id},
        )
    return record


def _refuse_a_clash(conn: Connection, aggregator_id: str, display_name: str) -> None:
    """AlreadyExists if the id was ever used or a live aggregator has the display name."""
    clash = execute(conn, _CLASH, (aggregator_id, display_name)).first()
    if clash is None:
        return
    if clash[0] == aggregator_id:
        raise AlreadyExists(
            f"aggregator {aggregator_id} already exists",
            reason="AGGREGATOR_EXISTS",
            metadata={"aggregator_id": aggregator_id},
        )
    raise AlreadyExists(
        "display_name is already used by another aggregator",
        reason="DISPLAY_NAME_TAKEN",
        metadata={"aggregator_id": clash[0]},
    )


def get(conn: Connection, aggregator_id: str) -> Aggregator:
    row = conn.execute(sa.select(_table).where(_table.c.aggregator_id == aggregator_id, _live)).first()
    if row is None:
        raise NotFound(
            f"aggregator {aggregator_id} not found",
            reason="AGGREGATOR_NOT_FOUND",
            metadata={"aggregator_id": aggregator_id},
        )
    return _record(row)


def state_of(conn: Connection, aggregator_id: str) -> AggregatorState | None:
    """The state of a live aggregator, or None when none was onboarded under ``aggregator_id`` (the tenant
    gate's read: one indexed row, on the driver)."""
    row = execute(conn, _STATE, (aggregator_id,)).first()
    return None if row is None else AggregatorState(row[0])


def suspended_ids(conn: Connection) -> frozenset[str]:
    """The live aggregators that are SUSPENDED (dispatch leaves them out; usually none or a few)."""
    rows = conn.execute(
        sa.select(_table.c.aggregator_id).where(_live, _table.c.state == AggregatorState.SUSPENDED.value)
    )
    return frozenset(row[0] for row in rows)


#: The fields UpdateAggregator may change (AIP-134 update_mask paths).
MUTABLE_FIELDS = ("display_name", "unified_social_credit_code", "contact_email")


def update(
    conn: Connection,
    aggregator_id: str,
    *,
    changes: Mapping[str, str],
    state: AggregatorState | None,
    now: datetime,
) -> Aggregator:
    """Change the named mutable fields and, when given, the state; display names stay unique."""
    current = get(conn, aggregator_id)
    new_name = changes.get("display_name")
    if new_name is not None and new_name != current.display_name:
        clash = conn.execute(
            sa.select(_table.c.aggregator_id).where(
                _live, _table.c.display_name == new_name, _table.c.aggregator_id != aggregator_id
            )
        ).first()
        if clash is not None:
            raise AlreadyExists(
                "display_name is already used by another aggregator",
                reason="DISPLAY_NAME_TAKEN",
                metadata={"aggregator_id": clash[0]},
            )
    values: dict[str, object] = {name: value for name, value in changes.items() if name in MUTABLE_FIELDS}
    if state is not None:
        values["state"] = state.value
    values["update_time"] = now
    try:
        conn.execute(sa.update(_table).where(_table.c.aggregator_id == aggregator_id, _live).values(**values))
    except sa.exc.IntegrityError:
        # A concurrent update took the display name between our check and this write.
        raise AlreadyExists(
            "display_name is already used by another aggregator", reason="DISPLAY_NAME_TAKEN"
        ) from None
    return get(conn, aggregator_id)


def list_page(conn: Connection, *, page_size: int, page_token: str) -> AggregatorPage:
    """Live aggregators ordered by id; keyset pagination so pages stay stable under inserts."""
    rows, token = pagination.keyset(
        conn,
        sa.select(_table).where(_live),
        [pagination.Key(_table.c.aggregator_id)],
        collection=_COLLECTION,
        page_size=page_size,
        page_token=page_token,
    )
    return AggregatorPage(aggregators=[_record(row) for row in rows], next_page_token=token)


def _record(row: sa.Row[tuple[object, ...]]) -> Aggregator:
    return Aggregator(
        aggregator_id=row.aggregator_id,
        display_name=row.display_name,
        unified_social_credit_code=row.unified_social_credit_code,
        contact_email=row.contact_email,
        state=AggregatorState(row.state),
        create_time=row.create_time,
        update_time=row.update_time,
    )
