"""OCPP 1.6J station handler (subprotocol ``ocpp1.6``): the CALLs a station sends, and profiles put to it."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from vgi.common.v1 import market_pb2

from server.ocpp import protocol
from server.ocpp.frames import GATEWAY_FRAMES
from server.ocpp.mapping import format_time
from server.ocpp.station import StationLink
from store.ocpp import Transaction

SUBPROTOCOL = "ocpp1.6"
_ACCEPTED = {"status": AuthorizationStatus.accepted}


class V16Station(ChargePoint):  # type: ignore[misc]
    def __init__(self, link: StationLink, connection: Any, *, response_timeout: float) -> None:
        super().__init__(
            link.charger_id, connection, response_timeout=response_timeout, logger=GATEWAY_FRAMES
        )
        self.link = link

    async def route_message(self, raw_msg: str | bytes) -> None:
        if not await protocol.answer_malformed(raw_msg, self._send):
            await super().route_message(raw_msg)

    @on(Action.boot_notification)
    async def on_boot(self, charge_point_vendor: str, charge_point_model: str, **_: Any) -> Any:
        now = await self.link.heartbeat()
        return call_result.BootNotification(
            current_time=format_time(now),
            interval=self.link.heartbeat_interval_s,
            status=RegistrationStatus.accepted,
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=format_time(await self.link.heartbeat()))

    @on(Action.status_notification)
    async def on_status(
        self, connector_id: int, error_code: str, status: str, timestamp: str | None = None, **_: Any
    ) -> Any:
        await self.link.status(status, protocol.parse_time(timestamp, "timestamp"))
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> Any:
        # Drivers are authorised by the charging operator; the platform manages power, not access.
        return call_result.Authorize(id_tag_info=_ACCEPTED)

    @on(Action.start_transaction)
    async def on_start(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> Any:
        transaction = await self.link.start_transaction(None, protocol.parse_time(timestamp, "timestamp"), [])
        return call_result.StartTransaction(
            transaction_id=int(transaction.transaction_id), id_tag_info=_ACCEPTED
        )

    @on(Action.meter_values)
    async def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]], **_: Any) -> Any:
        await self.link.meter_values(self.link.readings(meter_value, field="meter_value", complete=True))
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    async def on_stop(
        self,
        meter_stop: int,
        timestamp: str,
        transaction_id: int,
        transaction_data: list[Any] | None = None,
        **_: Any,
    ) -> Any:
        readings = self.link.readings(transaction_data or [], field="transaction_data", complete=False)
        await self.link.stop_transaction(
            str(transaction_id), protocol.parse_time(timestamp, "timestamp"), readings
        )
        return call_result.StopTransaction(id_tag_info=_ACCEPTED)

    async def send_setpoint(
        self, setpoint: market_pb2.Setpoint, transaction: Transaction | None
    ) -> tuple[bool, str]:
        """SetChargingProfile (TxProfile, W) on the running transaction, or ClearChargingProfile for a release."""
        request: Any
        if protocol.is_release(setpoint) or transaction is None:
            request = call.ClearChargingProfile(
                connector_id=protocol.EVSE_ID, charging_profile_purpose="TxProfile"
            )
        else:
            profile = protocol.profile(setpoint, int(transaction.transaction_id))
            profile["chargingProfileId"] = protocol.PROFILE_ID
            profile["chargingSchedule"] = protocol.schedule(setpoint)
            request = call.SetChargingProfile(connector_id=protocol.EVSE_ID, cs_charging_profiles=profile)
        return await protocol.put(self, request)
