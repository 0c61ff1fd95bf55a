"""A platform-managed charger of the simulation that speaks OCPP 2.0.1 to the gateway instead of DeviceService.

It offers what the simulation asks of a ``parties.Device`` — ``session``
(heartbeat, session start/stop, meter values, close), ``run``,
``wait_for_instruction``, ``held_w``, ``received``, ``acked_sequence`` —
on the charge-point side of the ``ocpp`` library: security profile 3 with
the device certificate the operator issued, a transaction per EV session,
NotifyEVChargingNeeds with the EV's battery, SOC, energy need and
departure, meter values with power, the energy register and SoC. Each
SetChargingProfile is accepted and held as a setpoint of the profile's
limit until its ``validTo`` (the instruction it implements is named in the
profile's customData); ClearChargingProfile ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from vgi.common.v1 import market_pb2, resources_pb2, telemetry_pb2, types_pb2
from vgi.device.v1 import device_service_pb2 as device_pb
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from clients.simulate.parties import WAIT_SECONDS, Credentials, instant
from infra.observability.ocpp_frames import FrameLogger

log = logging.getLogger(__name__)
#: The stations' frames, at DEBUG: hundreds per station and day.
_FRAMES = FrameLogger("clients.simulate.frames")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


class _ChargePoint(ChargePoint):  # type: ignore[misc]
    def __init__(self, station: OcppStation, connection: ClientConnection) -> None:
        super().__init__(station.charger_id, connection, logger=_FRAMES)
        self.station = station

    @on("SetChargingProfile")
    async def on_set(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        [schedule] = charging_profile["charging_schedule"]
        periods = schedule["charging_schedule_period"]
        limits = [int(period["limit"]) for period in periods]
        until = datetime.fromisoformat(charging_profile["valid_to"].replace("Z", "+00:00"))
        instruction = (charging_profile.get("custom_data") or {}).get("instruction", "")
        setpoint = market_pb2.Setpoint(power_w=limits[0], valid_until=_stamp(until), instruction=instruction)
        if len(periods) > 1:
            start = datetime.fromisoformat(schedule["start_schedule"].replace("Z", "+00:00"))
            step = (periods[1]["start_period"] - periods[0]["start_period"]) // 60
            setpoint.schedule.CopyFrom(
                types_pb2.PowerCurve(start_time=_stamp(start), step_minutes=step, values_w=limits)
            )
        await self.station.hold(setpoint)
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    async def on_clear(self, **_: Any) -> Any:
        await self.station.hold(market_pb2.Setpoint(power_w=0, valid_until=_stamp(_EPOCH)))
        return call_result.ClearChargingProfile(status="Accepted")


class _Session:
    """The DeviceSession calls the simulation makes, as OCPP 2.0.1 messages (each awaits its CALLRESULT)."""

    def __init__(self, station: OcppStation) -> None:
        self.station = station
        self._seq: dict[str, int] = {}

    async def __aenter__(self) -> _Session:
        await self.station.open()
        return self

    async def close(self) -> None:
        await self.station.close()

    async def heartbeat(self) -> None:
        await self.station.call(call.Heartbeat())

    async def session_started(self, session: resources_pb2.EvSession) -> None:
        plug_in = instant(session.plug_in_time)
        self._seq[session.session_id] = 0
        await self.station.call(
            call.TransactionEvent(
                event_type="Started",
                timestamp=_time(plug_in),
                trigger_reason="EVDetected",
                seq_no=0,
                transaction_info={"transactionId": session.session_id, "chargingState": "EVConnected"},
                evse={"id": 1, "connectorId": 1},
            )
        )
        need_wh = max(0, round((session.target_soc - session.soc) * session.battery_wh))
        await self.station.call(
            call.NotifyEVChargingNeeds(
                evse_id=1,
                charging_needs={
                    "requestedEnergyTransfer": "DC",
                    "departureTime": _time(instant(session.expected_departure_time)),
                    "dcChargingParameters": {
                        "evMaxCurrent": 32,
                        "evMaxVoltage": 400,
                        "energyAmount": need_wh,
                        "evMaxPower": session.max_charge_w,
                        "stateOfCharge": round(session.soc * 100),
                        "evEnergyCapacity": session.battery_wh,
                    },
                },
            )
        )

    async def session_stopped(self, session_id: str, at: datetime) -> None:
        self._seq[session_id] = self._seq.get(session_id, 0) + 1
        await self.station.call(
            call.TransactionEvent(
                event_type="Ended",
                timestamp=_time(at),
                trigger_reason="EVDeparted",
                seq_no=self._seq[session_id],
                transaction_info={"transactionId": session_id},
            )
        )

    async def send_meter_values(self, values: Iterable[telemetry_pb2.MeterValue]) -> device_pb.MeterValuesAck:
        meter_values = [
            {
                "timestamp": _time(instant(v.sample_time)),
                "sampledValue": [
                    {"value": v.power_w, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
                    {
                        "value": v.energy_register_wh,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    },
                    {
                        "value": round(v.soc * 100, 2),
                        "measurand": "SoC",
                        "unitOfMeasure": {"unit": "Percent"},
                    },
                ],
            }
            for v in values
        ]
        await self.station.call(call.MeterValues(evse_id=1, meter_value=meter_values))
        return device_pb.MeterValuesAck(stored_points=len(meter_values))


class OcppStation:
    """A simulated charger connected to the OCPP gateway at ``target`` (host:port) with its device certificate."""

    def __init__(self, target: str, ca_pem: bytes, credentials: Credentials, charger_id: str) -> None:
        self.target = target
        self.charger_id = charger_id
        self.received: list[device_pb.SequencedSetpoint] = []
        self.acked_sequence = 0
        self.session = _Session(self)
        self._changed = asyncio.Condition()
        self._tls = ssl.create_default_context(cadata=ca_pem.decode())
        with tempfile.TemporaryDirectory() as folder:
            # ssl loads a client certificate from files only; they are not needed once loaded.
            cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert.write_bytes(credentials.certificate_pem)
            key.write_bytes(credentials.private_key_pem)
            self._tls.load_cert_chain(cert, key)
        self._charge_point: _ChargePoint | None = None
        self._connection: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._connection = await connect(
            f"wss://{self.target}/ocpp/{self.charger_id}",
            subprotocols=[Subprotocol("ocpp2.0.1")],
            ssl=self._tls,
            open_timeout=WAIT_SECONDS,
        )
        self._charge_point = _ChargePoint(self, self._connection)
        self._reader = asyncio.create_task(self._charge_point.start(), name=f"ocpp-{self.charger_id}")
        boot = await self.call(
            call.BootNotification(
                charging_station={"model": "vgi-sim", "vendorName": "vgi"}, reason="PowerUp"
            )
        )
        if boot.status != "Accepted":
            raise RuntimeError(f"the gateway did not accept {self.charger_id}: {boot.status}")
        log.info("OCPP station %s: booted through the gateway %s (OCPP 2.0.1)", self.charger_id, self.target)

    async def call(self, request: Any) -> Any:
        assert self._charge_point is not None, "open() first"
        return await self._charge_point.call(request, suppress=False)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        if self._connection is not None:
            await self._connection.close()

    async def run(self) -> None:
        """Profiles are answered by the connection's reader; this waits for it (as Device.run does for its stream)."""
        assert self._reader is not None
        await self._reader

    async def hold(self, setpoint: market_pb2.Setpoint) -> None:
        async with self._changed:
            sequence = len(self.received) + 1
            self.received.append(device_pb.SequencedSetpoint(sequence=sequence, setpoint=setpoint))
            self.acked_sequence = sequence
            self._changed.notify_all()

    async def wait_for_instruction(self, instruction_name: str) -> None:
        async with asyncio.timeout(WAIT_SECONDS), self._changed:
            while not any(s.setpoint.instruction == instruction_name for s in self.received):
                await self._changed.wait()

    def held_w(self, at: datetime) -> int | None:
        """The limit of the profile in force at ``at``, or None when the station runs unmanaged."""
        if not self.received:
            return None
        setpoint = self.received[-1].setpoint
        if at >= instant(setpoint.valid_until):
            return None
        if setpoint.HasField("schedule"):
            curve = setpoint.schedule
            step = (at - instant(curve.start_time)) // timedelta(minutes=curve.step_minutes)
            if 0 <= step < len(curve.values_w):
                return int(curve.values_w[step])
        return int(setpoint.power_w)
