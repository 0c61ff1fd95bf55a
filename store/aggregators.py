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
from store.tables import AggregatorRow, table_of

_table = table_of(AggregatorRow)
_live = _table.c.delete_time.is_(None)
_COLLECTION = "aggregators"
# CreateAggregator's statements, built once with bind parameters: building a
# Core statement per call costs more than executing it.
_CLASH = sa.select(_table.c.aggregator_id, _table.c.display_name).where(
    sa.or_(
        _table.c.aggregator_id == sa.bindparam("aggregator_id"),
        sa.and_(_live, _table.c.display_name == sa.bindparam("display_name")),
    )
)
_INSERT = sa.insert(_table)


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
    clash = conn.execute(_CLASH, {"aggregator_id": aggregator_id, "display_name": display_name}).first()
    if clash is not None:
        if clash.aggregator_id == aggregator_id:
            raise AlreadyExists(
                f"aggregator {aggregator_id} already exists",
                reason="AGGREGATOR_EXISTS",
                metadata={"aggregator_id": aggregator_id},
            )
        raise AlreadyExists(
            "display_name is already used by another aggregator",
            reason="DISPLAY_NAME_TAKEN",
            metadata={"aggregator_id": clash.aggregator_id},
        )
    record = Aggregator(
        aggregator_id=aggregator_id,
        display_name=display_name,
        unified_social_credit_code=unified_social_credit_code,
        contact_email=contact_email,
        state=AggregatorState.ACTIVE,
        create_time=now,
        update_time=now,
    )
    try:
        conn.execute(
            _INSERT,
            {
                "aggregator_id": record.aggregator_id,
                "display_name": record.display_name,
                "unified_social_credit_code": record.unified_social_credit_code,
                "contact_email": record.contact_email,
                "state": record.state.value,
                "create_time": now,
                "update_time": now,
            },
        )
    except sa.exc.IntegrityError:
        # A concurrent create (another request_id) won between our check and insert.
        raise AlreadyExists(
            f"aggregator {aggregator_id} or its display_name already exists",
            metadata={"aggregator_id": aggregator_id},
        ) from None
    return record


def get(conn: Connection, aggregator_id: str) -> Aggregator:
    row = conn.execute(sa.select(_table).where(_table.c.aggregator_id == aggregator_id, _live)).first()
    if row is None:
        raise NotFound(
            f"aggregator {aggregator_id} not found",
            reason="AGGREGATOR_NOT_FOUND",
            metadata={"aggregator_id": aggregator_id},
        )
    return _record(row)


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
                metadata={"aggregator_id": clash.aggregator_id},
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
