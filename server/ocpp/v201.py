"""OCPP 2.0.1 station handler (subprotocol ``ocpp2.0.1``): the CALLs a station sends, and profiles put to it."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action
from vgi.common.v1 import market_pb2

from server.ocpp import protocol
from server.ocpp.frames import GATEWAY_FRAMES
from server.ocpp.mapping import format_time
from server.ocpp.station import StationLink
from store.ocpp import Transaction

SUBPROTOCOL = "ocpp2.0.1"
_ACCEPTED = {"status": "Accepted"}


class V201Station(ChargePoint):  # type: ignore[misc]
    def __init__(self, link: StationLink, connection: Any, *, response_timeout: float) -> None:
        super().__init__(
            link.charger_id, connection, response_timeout=response_timeout, logger=GATEWAY_FRAMES
        )
        self.link = link

    async def route_message(self, raw_msg: str | bytes) -> None:
        if not await protocol.answer_malformed(raw_msg, self._send):
            await super().route_message(raw_msg)

    @on(Action.boot_notification)
    async def on_boot(self, charging_station: dict[str, Any], reason: str, **_: Any) -> Any:
        now = await self.link.heartbeat()
        return call_result.BootNotification(
            current_time=format_time(now), interval=self.link.heartbeat_interval_s, status="Accepted"
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> Any:
        return call_result.Heartbeat(current_time=format_time(await self.link.heartbeat()))

    @on(Action.status_notification)
    async def on_status(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> Any:
        await self.link.status(connector_status, protocol.parse_time(timestamp, "timestamp"))
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        # Drivers are authorised by the charging operator; the platform manages power, not access.
        return call_result.Authorize(id_token_info=_ACCEPTED)

    @on(Action.meter_values)
    async def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any) -> Any:
        await self.link.meter_values(self.link.readings(meter_value, field="meter_value", complete=True))
        return call_result.MeterValues()

    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        meter_value: list[dict[str, Any]] | None = None,
        id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        """Started → a session; Updated → its meter values (each must be a Reading); Ended → the session ends.

        Begin/end meter values often carry the energy register alone: those are
        not Readings and are left out rather than refused.
        """
        transaction_id = str(transaction_info["transaction_id"])
        at = protocol.parse_time(timestamp, "timestamp")
        link = self.link
        if event_type == "Ended":
            readings = link.readings(meter_value or [], field="meter_value", complete=False)
            await link.stop_transaction(transaction_id, at, readings)
        elif event_type == "Started" or await link.transaction(transaction_id) is None:
            readings = link.readings(meter_value or [], field="meter_value", complete=False)
            await link.start_transaction(transaction_id, at, readings)
        else:
            await link.meter_values(link.readings(meter_value or [], field="meter_value", complete=True))
        return call_result.TransactionEvent(id_token_info=_ACCEPTED if id_token else None)

    @on(Action.notify_ev_charging_needs)
    async def on_charging_needs(self, charging_needs: dict[str, Any], evse_id: int, **_: Any) -> Any:
        taken = await self.link.charging_needs(charging_needs)
        return call_result.NotifyEVChargingNeeds(status="Accepted" if taken else "Rejected")

    async def send_setpoint(
        self, setpoint: market_pb2.Setpoint, transaction: Transaction | None
    ) -> tuple[bool, str]:
        """SetChargingProfile (TxProfile, W) on the running transaction, or ClearChargingProfile for a release."""
        request: Any
        if protocol.is_release(setpoint) or transaction is None:
            request = call.ClearChargingProfile(
                charging_profile_criteria={"chargingProfilePurpose": "TxProfile"}
            )
        else:
            profile = protocol.profile(setpoint, transaction.transaction_id)
            profile["id"] = protocol.PROFILE_ID
            profile["chargingSchedule"] = [{"id": protocol.PROFILE_ID, **protocol.schedule(setpoint)}]
            if setpoint.instruction:
                # OCPP 2.0.1's extension point: which platform instruction the profile implements.
                profile["customData"] = {"vendorId": protocol.VENDOR_ID, "instruction": setpoint.instruction}
            request = call.SetChargingProfile(evse_id=protocol.EVSE_ID, charging_profile=profile)
        return await protocol.put(self, request)
