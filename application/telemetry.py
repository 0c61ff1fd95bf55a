"""Telemetry use cases (SPEC F2): a device's offline batch of meter values; what a connected device (the
device stream, the OCPP gateway) writes — heartbeats, status, meter values, session start/stop,
setpoint acknowledgements — and an aggregator's telemetry batch.

The device stream checked the charger's owner at its hello (``application.devices.check_owned``), so
its writes take the charger (and its aggregator) as given."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from application.devices import check_owned
from application.uow import UnitOfWork
from domain.errors import PermissionDenied
from domain.telemetry import Aggregate, Reading
from store import outbox, telemetry
from store.registry import Session
from store.telemetry import DEFAULT_MAX_SKEW, BatchResult


def upload_meter_values(
    uow: UnitOfWork,
    readings: Sequence[Reading],
    batch_id: str,
    *,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    content_digest: str | None = None,
) -> BatchResult:
    """The calling device's readings, stored once per batch id (``store.telemetry.ingest_meter_values``), once the
    registry confirms the device's aggregator owns its charger (``application.devices.check_owned``)."""
    if uow.principal is None:
        raise PermissionDenied("only devices upload meter values", reason="NOT_A_DEVICE")
    charger_id = check_owned(uow.conn, uow.principal)
    return telemetry.ingest_meter_values(
        uow.conn, charger_id, readings, batch_id, uow.now, max_skew=max_skew, content_digest=content_digest
    )


def record_heartbeat(uow: UnitOfWork, charger_id: str) -> None:
    """The charger was heard from at ``uow.now``."""
    telemetry.record_heartbeat(uow.conn, charger_id, uow.now)


def record_status(uow: UnitOfWork, charger_id: str, status: str, at: datetime) -> None:
    """The charger's status as of ``at`` (an older report than the stored one is ignored)."""
    telemetry.record_status(uow.conn, charger_id, status, at)


def ingest_device_meter_values(
    uow: UnitOfWork,
    charger_id: str,
    readings: Sequence[Reading],
    batch_id: str,
    *,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    content_digest: str | None = None,
) -> BatchResult:
    """A connected device's readings of its own charger, stored once per batch id."""
    return telemetry.ingest_meter_values(
        uow.conn, charger_id, readings, batch_id, uow.now, max_skew=max_skew, content_digest=content_digest
    )


def start_session(
    uow: UnitOfWork,
    aggregator_id: str,
    charger_id: str,
    session: Session,
    *,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> None:
    """An EV session began on the charger (``store.telemetry.start_session``)."""
    telemetry.start_session(uow.conn, aggregator_id, charger_id, session, uow.now, max_skew=max_skew)


def stop_session(
    uow: UnitOfWork, aggregator_id: str, session_id: str, stop: datetime, *, charger_id: str | None = None
) -> bool:
    """The session ended at ``stop`` (``store.telemetry.stop_session``)."""
    return telemetry.stop_session(uow.conn, aggregator_id, session_id, stop, charger_id=charger_id)


def ack_setpoints(uow: UnitOfWork, charger_id: str, up_to_sequence: int, accepted: bool, reason: str) -> int:
    """The device's verdict on its setpoints up to a sequence; returns the acknowledged cursor."""
    return outbox.ack_setpoints(uow.conn, charger_id, up_to_sequence, accepted, reason, uow.now)


def ingest_batch(
    uow: UnitOfWork,
    aggregator_id: str,
    batch_id: str,
    readings: Sequence[Reading],
    aggregates: Sequence[Aggregate],
    *,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    field: str = "values",
    aggregates_field: str = "aggregates",
    content_digest: str | None = None,
) -> BatchResult:
    """An aggregator's telemetry batch (readings of its chargers and aggregates), stored once per batch id."""
    return telemetry.ingest_batch(
        uow.conn,
        charger_id=None,
        aggregator_id=aggregator_id,
        batch_id=batch_id,
        readings=readings,
        aggregates=aggregates,
        now=uow.now,
        max_skew=max_skew,
        field=field,
        aggregates_field=aggregates_field,
        content_digest=content_digest,
    )
