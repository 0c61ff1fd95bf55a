"""Telemetry use cases (SPEC F2): a device's offline batch of meter values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from application.devices import check_owned
from application.uow import UnitOfWork
from domain.errors import PermissionDenied
from domain.telemetry import Reading
from store import telemetry
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
