"""OCPP station use cases: what a connected station's messages write besides the device path's
(``application.telemetry``) — its status with the heartbeat it implies, and its transactions, each kept
with the EV session it stands for.

The gateway admitted the station for its own charger and aggregator, so these take both as given. How a
session is built from the station's messages (needs, ids) is the gateway's (``server/ocpp``): it passes
``session_for``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from application import telemetry
from application.uow import UnitOfWork
from domain.errors import NotFound
from domain.telemetry import Reading
from store import ocpp
from store.ocpp import Transaction
from store.registry import Session
from store.telemetry import DEFAULT_MAX_SKEW


def record_status(uow: UnitOfWork, charger_id: str, status: str, at: datetime) -> None:
    """A status report: the station was heard from at ``uow.now`` and its status is ``status`` as of ``at``."""
    telemetry.record_heartbeat(uow, charger_id)
    telemetry.record_status(uow, charger_id, status, at)


def start_transaction(
    uow: UnitOfWork,
    charger_id: str,
    aggregator_id: str,
    transaction_id: str | None,
    plug_in: datetime,
    readings: Sequence[Reading],
    session_for: Callable[[str], Session],
    *,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> Transaction:
    """A transaction began: its session (``session_for(transaction id)``), its meter values and the
    transaction record. ``transaction_id`` None: numbered here. A re-sent start returns the first record."""
    tx_id = transaction_id or str(ocpp.next_transaction_id(uow.conn, charger_id, uow.now))
    existing = ocpp.find_transaction(uow.conn, charger_id, tx_id)
    if existing is not None:
        return existing  # a re-sent start: the session stands as first recorded
    session = session_for(tx_id)
    telemetry.start_session(uow, aggregator_id, charger_id, session, max_skew=max_skew)
    if readings:
        telemetry.ingest_device_meter_values(uow, charger_id, readings, str(uuid.uuid4()), max_skew=max_skew)
    return ocpp.record_transaction(
        uow.conn, charger_id, Transaction(tx_id, aggregator_id, session.session_id, plug_in, None)
    )


def stop_transaction(
    uow: UnitOfWork,
    charger_id: str,
    transaction_id: str,
    at: datetime,
    readings: Sequence[Reading],
    *,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> None:
    """A transaction ended at ``at`` (not before it started): its last meter values, its session stopped,
    the record closed. An unknown transaction is NOT_FOUND ``TRANSACTION_NOT_FOUND``."""
    transaction = ocpp.find_transaction(uow.conn, charger_id, transaction_id)
    if transaction is None:
        raise NotFound(
            f"transaction {transaction_id} is not known for station {charger_id}",
            reason="TRANSACTION_NOT_FOUND",
            metadata={"transaction_id": transaction_id},
        )
    if readings:
        telemetry.ingest_device_meter_values(uow, charger_id, readings, str(uuid.uuid4()), max_skew=max_skew)
    stop = max(at, transaction.start_time)
    telemetry.stop_session(
        uow, transaction.aggregator_id, transaction.session_id, stop, charger_id=charger_id
    )
    ocpp.stop_transaction(uow.conn, charger_id, transaction_id, stop)


def update_needs(
    uow: UnitOfWork,
    charger_id: str,
    session_for: Callable[[Transaction], Session],
    *,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> bool:
    """The running transaction's session takes new needs (``session_for(transaction)``); False when no
    transaction runs."""
    transaction = ocpp.running_transaction(uow.conn, charger_id)
    if transaction is None:
        return False
    telemetry.start_session(
        uow, transaction.aggregator_id, charger_id, session_for(transaction), max_skew=max_skew
    )
    return True
