"""Which charger a device principal may write for: its own, and only while its aggregator owns it.

A device certificate names a charger and the aggregator it belongs to. Both
come from whoever issued the certificate, so before any device write the
registry is asked who owns the charger now: no live charger is NOT_FOUND
(CHARGER_NOT_FOUND), one owned by another aggregator PERMISSION_DENIED
(CHARGER_NOT_OWNED). The store's ingest functions stay as they are; this is
the check in front of them (``application.telemetry``, the device stream, credentials).
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from domain.errors import NotFound, PermissionDenied
from domain.principal import Principal
from store import registry

CHARGER_NOT_OWNED = "CHARGER_NOT_OWNED"


def check_owned(conn: Connection, principal: Principal) -> str:
    """The principal's charger id, once the registry confirms its aggregator owns it."""
    charger_id = principal.charger_id
    if charger_id is None:
        raise PermissionDenied("only devices write for a charger", reason="NOT_A_DEVICE")
    owner = registry.charger_owner(conn, charger_id)
    if owner is None:
        raise NotFound(
            f"charger {charger_id} is not registered",
            reason="CHARGER_NOT_FOUND",
            metadata={"charger_id": charger_id},
        )
    if owner != principal.aggregator_id:
        raise PermissionDenied(
            f"charger {charger_id} does not belong to the certificate's aggregator",
            reason=CHARGER_NOT_OWNED,
            metadata={"charger_id": charger_id},
        )
    return charger_id
