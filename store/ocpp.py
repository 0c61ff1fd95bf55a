"""What the OCPP gateway keeps beyond the device path (SPEC F13), each function in the caller's transaction.

Sessions, telemetry and setpoint acknowledgements are NOT here: the gateway
records them with the device surface's own functions (``store.telemetry``,
``store.outbox``). This module holds only the OCPP-specific rows: a
station's credentials, the transactions mapped to sessions, and the read of
the profile in force that a reconnecting station is given again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.errors import NotFound
from store import bulk, registry
from store.ocpp_tables import OcppStationRow, OcppTransactionRow
from store.outbox_tables import OutboxCursorRow, OutboxSetpointRow
from store.tables import table_of

stations = table_of(OcppStationRow)
transactions = table_of(OcppTransactionRow)
_setpoints = table_of(OutboxSetpointRow)
_cursors = table_of(OutboxCursorRow)


@dataclass(frozen=True, slots=True)
class Station:
    """A live charger as the gateway needs it: who owns it, whether it is managed, its limits and password hash."""

    charger_id: str
    aggregator_id: str
    platform_managed: bool
    rated_charge_w: int
    rated_discharge_w: int
    bidirectional: bool
    password_hash: str | None


@dataclass(frozen=True, slots=True)
class Transaction:
    """An OCPP transaction and the EV session it was recorded as."""

    transaction_id: str
    aggregator_id: str
    session_id: str
    start_time: datetime
    stop_time: datetime | None


def station(conn: Connection, charger_id: str) -> Station | None:
    """The live charger ``charger_id`` with its OCPP credentials, or None when it is not registered."""
    c = registry.chargers.c
    row = conn.execute(
        sa.select(
            c.charger_id,
            c.aggregator_id,
            c.platform_managed,
            c.rated_charge_w,
            c.rated_discharge_w,
            c.bidirectional,
            stations.c.password_hash,
        )
        .select_from(registry.chargers.outerjoin(stations, stations.c.charger_id == c.charger_id))
        .where(c.charger_id == charger_id, c.delete_time.is_(None))
    ).first()
    if row is None:
        return None
    return Station(
        row.charger_id,
        row.aggregator_id,
        bool(row.platform_managed),
        int(row.rated_charge_w),
        int(row.rated_discharge_w),
        bool(row.bidirectional),
        row.password_hash,
    )


def set_password_hash(conn: Connection, charger_id: str, password_hash: str, now: datetime) -> None:
    """Store the hash of a station's Basic password (security profile 2), replacing any earlier one."""
    if registry.charger_owner(conn, charger_id) is None:
        raise NotFound(
            f"charger {charger_id} is not registered",
            reason="CHARGER_NOT_FOUND",
            metadata={"charger_id": charger_id},
        )
    bulk.upsert(
        conn,
        stations,
        [
            {
                "charger_id": charger_id,
                "password_hash": password_hash,
                "last_transaction_id": 0,
                "update_time": now,
            }
        ],
        ["charger_id"],
        ["password_hash", "update_time"],
    )


def next_transaction_id(conn: Connection, charger_id: str, now: datetime) -> int:
    """The next OCPP 1.6 transaction id of a station (1, 2, …), taken in this transaction."""
    insert = bulk.dialect_insert(conn, stations)
    row = conn.execute(
        insert.values(charger_id=charger_id, password_hash=None, last_transaction_id=1, update_time=now)
        .on_conflict_do_update(
            index_elements=[stations.c.charger_id],
            set_={"last_transaction_id": stations.c.last_transaction_id + 1, "update_time": now},
        )
        .returning(stations.c.last_transaction_id)
    ).scalar_one()
    return int(row)


def record_transaction(conn: Connection, charger_id: str, transaction: Transaction) -> Transaction:
    """Remember a transaction's session; a re-sent start keeps the first record, which is returned."""
    conn.execute(
        bulk.dialect_insert(conn, transactions)
        .values(
            charger_id=charger_id,
            transaction_id=transaction.transaction_id,
            aggregator_id=transaction.aggregator_id,
            session_id=transaction.session_id,
            start_time=transaction.start_time,
            stop_time=None,
        )
        .on_conflict_do_nothing()
    )
    found = find_transaction(conn, charger_id, transaction.transaction_id)
    assert found is not None
    return found


def find_transaction(conn: Connection, charger_id: str, transaction_id: str) -> Transaction | None:
    t = transactions.c
    row = conn.execute(
        sa.select(t.transaction_id, t.aggregator_id, t.session_id, t.start_time, t.stop_time).where(
            t.charger_id == charger_id, t.transaction_id == transaction_id
        )
    ).first()
    return None if row is None else Transaction(*row)


def running_transaction(conn: Connection, charger_id: str) -> Transaction | None:
    """The station's latest transaction that has not stopped, if any."""
    t = transactions.c
    row = conn.execute(
        sa.select(t.transaction_id, t.aggregator_id, t.session_id, t.start_time, t.stop_time)
        .where(t.charger_id == charger_id, t.stop_time.is_(None))
        .order_by(t.start_time.desc())
        .limit(1)
    ).first()
    return None if row is None else Transaction(*row)


def stop_transaction(conn: Connection, charger_id: str, transaction_id: str, at: datetime) -> None:
    t = transactions.c
    conn.execute(
        sa.update(transactions)
        .where(t.charger_id == charger_id, t.transaction_id == transaction_id, t.stop_time.is_(None))
        .values(stop_time=at)
    )


def last_accepted_setpoint(conn: Connection, charger_id: str) -> bytes | None:
    """The encoded last acknowledged setpoint of a charger, when the station accepted it.

    Setpoints not yet acknowledged are not returned: the setpoint stream
    redelivers them after a reconnect anyway.
    """
    acked = (
        sa.select(_cursors.c.acked_sequence)
        .where(_cursors.c.channel == "setpoints", _cursors.c.subscriber_id == charger_id)
        .scalar_subquery()
    )
    row = conn.execute(
        sa.select(_setpoints.c.payload, _setpoints.c.accepted)
        .where(_setpoints.c.charger_id == charger_id, _setpoints.c.sequence <= acked)
        .order_by(_setpoints.c.sequence.desc())
        .limit(1)
    ).first()
    if row is None or not row.accepted:
        return None
    return bytes(row.payload)
