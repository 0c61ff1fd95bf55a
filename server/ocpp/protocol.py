"""What both protocol versions' station handlers share: malformed frames, times and charging profiles.

A frame that is not an OCPP message at all (not JSON, not an array, no
message type) is answered with a CALLERROR under message id "-1", as OCPP
2.0.1 part 4 prescribes when the id cannot be read, and the connection
stays open; the library would only log it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import unpack
from vgi.common.v1 import market_pb2

from domain.errors import DomainError
from server import clock
from server.ocpp import mapping
from server.ocpp.station import ocpp_error
from wire.timestamps import to_datetime

#: Every profile the gateway sets has this id and stack level, so a new one replaces the one in force.
PROFILE_ID = 1
#: The vendorId of the customData naming the instruction in a 2.0.1 profile.
VENDOR_ID = "org.vgi-platform"
#: One EVSE / connector per station: the gateway addresses EVSE 1, connector 1.
EVSE_ID = 1


async def answer_malformed(raw: str | bytes, send: Any) -> bool:
    """Answer a frame that cannot be unpacked; True when it was such a frame."""
    try:
        unpack(raw)
    except OCPPError as error:
        await send(json.dumps([4, "-1", error.code, error.description, {}]))
        return True
    return False


async def put(handler: Any, request: Any) -> tuple[bool, str]:
    """Send a CALL to the station; (accepted, the status or CALLERROR code it answered).

    The gateway's own requests are not schema-checked on the way out (they
    are built here, and the ocpp-rpc tests validate them against the official
    schemas); checking each of 1,000 stations' profiles costs more than
    sending it. A reply without a status counts as not accepted.
    """
    try:
        result = await handler.call(request, suppress=False, skip_schema_validation=True)
    except OCPPError as error:
        return False, f"CALLERROR {error.code}"
    except TypeError:
        return False, "INVALID_RESPONSE"
    status = str(getattr(result, "status", ""))
    return status == "Accepted", status or "INVALID_RESPONSE"


def parse_time(value: str | None, field: str) -> datetime:
    """A station timestamp, or the platform's time when the station sent none."""
    if value is None:
        return clock.now()
    try:
        return mapping.parse_time(value, field)
    except DomainError as error:
        raise ocpp_error(error) from None


def is_release(setpoint: market_pb2.Setpoint) -> bool:
    """A setpoint valid only until now (an instruction cancelled): the station goes back to unmanaged."""
    now = clock.now()
    return to_datetime(setpoint.valid_until) <= now


def schedule(setpoint: market_pb2.Setpoint) -> dict[str, Any]:
    """The chargingSchedule (W) of a setpoint: its schedule's steps, else power_w from now."""
    if setpoint.HasField("schedule"):
        curve = setpoint.schedule
        start = to_datetime(curve.start_time)
        periods = [
            {"startPeriod": i * curve.step_minutes * 60, "limit": value}
            for i, value in enumerate(curve.values_w)
        ]
    else:
        start = clock.now()
        periods = [{"startPeriod": 0, "limit": setpoint.power_w}]
    return {
        "startSchedule": mapping.format_time(start),
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": periods,
    }


def profile(setpoint: market_pb2.Setpoint, transaction_id: str | int) -> dict[str, Any]:
    """A TxProfile on the running transaction, valid from now until the setpoint's end."""
    return {
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "transactionId": transaction_id,
        "validFrom": mapping.format_time(clock.now()),
        "validTo": mapping.format_time(to_datetime(setpoint.valid_until)),
    }
