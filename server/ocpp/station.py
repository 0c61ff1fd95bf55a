"""One connected OCPP station as a platform-managed device: the device path's use cases, per message.

Whatever the protocol version, a station message becomes exactly what the
matching ``vgi.device.v1`` message does (``server/servicers/device_stream.py``):
heartbeats, status, meter values and session start/stop through
``application.telemetry`` (a transaction's writes: ``application.stations``),
setpoint verdicts through ``application.telemetry.ack_setpoints``, setpoints
from the same per-charger outbox stream and Dispatcher. Each
message is committed before the station gets its answer, so an answered
MeterValues is never lost. The station acts only for its own charger and
aggregator (both fixed when the connection was admitted).

Domain errors become OCPP CALLERRORs here, in one place.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ocpp import exceptions as ocpp_errors
from vgi.common.v1 import market_pb2

from application import stations, telemetry
from application.uow import UnitOfWork
from domain.errors import (
    DomainError,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from domain.telemetry import Reading
from infra.observability.metrics import METRICS
from server import clock
from server.delivery import deliver
from server.ocpp import mapping
from server.servicers import Deps
from store import ocpp, registry
from store.ocpp import Station, Transaction
from store.outbox import Channel, OutboxItem
from wire import outbox as wire_outbox
from wire.timestamps import to_datetime

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A protocol version's way to put a setpoint to the station: (accepted, reason).
SendSetpoint = Callable[[market_pb2.Setpoint, Transaction | None], Awaitable[tuple[bool, str]]]

NO_TRANSACTION = "NO_TRANSACTION"


def ocpp_error(error: DomainError) -> ocpp_errors.OCPPError:
    """The CALLERROR for a domain error: its message as description, its reason in the details.

    Invalid values → PropertyConstraintViolation, refusals of identity →
    SecurityError, the store unavailable → InternalError (the station keeps
    the message and retries), any other refusal (not found, precondition) →
    GenericError.
    """
    details: dict[str, Any] = {"reason": error.reason} if error.reason else {}
    if isinstance(error, InvalidArgument):
        details["fields"] = [v.field for v in error.violations]
        return ocpp_errors.PropertyConstraintViolationError(description=error.message, details=details)
    if isinstance(error, PermissionDenied | Unauthenticated):
        return ocpp_errors.SecurityError(description=error.message, details=details)
    if isinstance(error, Unavailable):
        return ocpp_errors.InternalError(description=error.message, details=details)
    return ocpp_errors.GenericError(description=error.message, details=details)


def session_id_for(charger_id: str, transaction_id: str) -> str:
    """The EV session id of a station's transaction: readable when it fits the id pattern, else a UUID."""
    readable = f"{charger_id}.{transaction_id}"
    if len(readable) <= 64 and all(c.isalnum() or c in "._-" for c in transaction_id):
        return readable
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ocpp:{charger_id}/{transaction_id}"))


@dataclass
class StationLink:
    """The platform side of one connection. The running transaction is kept in memory (read at connect,
    changed by this connection's starts and stops) so a setpoint costs no read before it goes out."""

    deps: Deps
    station: Station
    _running: Transaction | None = field(default=None, init=False)

    @property
    def charger_id(self) -> str:
        return self.station.charger_id

    @property
    def aggregator_id(self) -> str:
        return self.station.aggregator_id

    @property
    def heartbeat_interval_s(self) -> int:
        return max(1, int(self.deps.settings.heartbeat_timeout_seconds / 3))

    def _max_skew(self) -> timedelta:
        return timedelta(seconds=self.deps.settings.telemetry_max_skew_seconds)

    async def _write(self, use_case: Callable[[UnitOfWork], T], now: datetime) -> T:
        """Run ``use_case`` at ``now`` in one write transaction; a domain error becomes the CALLERROR."""
        try:
            return await self.deps.db.write(lambda conn: use_case(UnitOfWork(conn, now)))
        except DomainError as error:
            raise ocpp_error(error) from None

    # ------------------------------------------------------------ station → platform

    async def heartbeat(self) -> datetime:
        now = clock.now()
        await self._write(lambda uow: telemetry.record_heartbeat(uow, self.charger_id), now)
        return now

    async def status(self, ocpp_status: str, at: datetime) -> None:
        try:
            status = mapping.status_name(ocpp_status)
        except DomainError as error:
            raise ocpp_error(error) from None
        now = clock.now()
        await self._write(lambda uow: stations.record_status(uow, self.charger_id, status, at), now)

    def readings(
        self, meter_values: Iterable[Mapping[str, Any]], *, field: str, complete: bool
    ) -> list[Reading]:
        """Readings of meterValues; with ``complete`` a meterValue that is not one is refused, not dropped."""
        try:
            found, incomplete = mapping.readings(self.charger_id, meter_values, field=field)
        except DomainError as error:
            raise ocpp_error(error) from None
        if complete and incomplete:
            raise ocpp_errors.OccurrenceConstraintViolationError(
                description=(
                    f"{field}[{incomplete[0]}] needs a phase-total power "
                    f"({mapping.POWER_IMPORT}) and the energy register ({mapping.ENERGY_IMPORT})"
                ),
                details={"reason": "METER_VALUE_INCOMPLETE"},
            )
        return found

    async def meter_values(self, readings: list[Reading]) -> int:
        if not readings:
            return 0
        now = clock.now()
        batch_id = str(uuid.uuid4())
        result = await self._write(
            lambda uow: telemetry.ingest_device_meter_values(
                uow, self.charger_id, readings, batch_id, max_skew=self._max_skew()
            ),
            now,
        )
        # A fresh batch id each time: never a replay, so what it stored is counted.
        METRICS.telemetry_points("ocpp", result.stored_points)
        return result.stored_points

    async def start_transaction(
        self, transaction_id: str | None, plug_in: datetime, readings: list[Reading]
    ) -> Transaction:
        """A transaction began: the session (default needs), the transaction record and its meter values,
        in one commit. ``transaction_id`` None: a 1.6 start, the gateway numbers it."""
        now = clock.now()
        needs = mapping.default_needs(plug_in, self.station.rated_charge_w)

        def session_for(tx_id: str) -> registry.Session:
            return self._session(session_id_for(self.charger_id, tx_id), plug_in, needs)

        transaction = await self._write(
            lambda uow: stations.start_transaction(
                uow,
                self.charger_id,
                self.aggregator_id,
                transaction_id,
                plug_in,
                readings,
                session_for,
                max_skew=self._max_skew(),
            ),
            now,
        )
        if transaction.stop_time is None:
            self._running = transaction
        return transaction

    def _session(self, session_id: str, plug_in: datetime, needs: mapping.Needs) -> registry.Session:
        station = self.station
        return registry.Session(
            session_id=session_id,
            charger_id=self.charger_id,
            plug_in_time=plug_in,
            expected_departure_time=needs.expected_departure_time,
            battery_wh=needs.battery_wh,
            soc_ppb=needs.soc_ppb,
            target_soc_ppb=needs.target_soc_ppb,
            v2g_floor_soc_ppb=0,
            max_charge_w=needs.max_charge_w,
            max_discharge_w=station.rated_discharge_w if station.bidirectional else 0,
            bidirectional=station.bidirectional,
        )

    async def stop_transaction(self, transaction_id: str, at: datetime, readings: list[Reading]) -> None:
        now = clock.now()

        await self._write(
            lambda uow: stations.stop_transaction(
                uow, self.charger_id, transaction_id, at, readings, max_skew=self._max_skew()
            ),
            now,
        )
        if self._running is not None and self._running.transaction_id == transaction_id:
            self._running = None

    async def transaction(self, transaction_id: str) -> Transaction | None:
        return await self.deps.db.read(
            lambda conn: ocpp.find_transaction(conn, self.charger_id, transaction_id)
        )

    async def charging_needs(self, charging_needs: Mapping[str, Any]) -> bool:
        """The running session takes the EV's needs; False when no transaction runs."""
        now = clock.now()

        def session_for(transaction: Transaction) -> registry.Session:
            needs = mapping.needs_from(charging_needs, transaction.start_time, self.station.rated_charge_w)
            return self._session(transaction.session_id, transaction.start_time, needs)

        return await self._write(
            lambda uow: stations.update_needs(uow, self.charger_id, session_for, max_skew=self._max_skew()),
            now,
        )

    # ------------------------------------------------------------ platform → station

    async def run_setpoints(self, send: SendSetpoint) -> None:
        """Re-apply the profile in force, then put each setpoint of the charger's stream to the station
        and record its verdict as the device acknowledgement; runs until cancelled."""
        charger_id = self.charger_id
        payload = await self.deps.db.read(lambda conn: ocpp.last_accepted_setpoint(conn, charger_id))
        in_force = wire_outbox.setpoint_in_force(payload, clock.now())
        loaded = await self.deps.db.read(lambda conn: ocpp.running_transaction(conn, charger_id))
        if self._running is None:  # unless a start on this connection came first
            self._running = loaded
        if in_force is not None and self._running is not None:
            accepted, reason = await send(in_force, self._running)
            log.info("station %s: profile in force re-applied, accepted=%s %s", charger_id, accepted, reason)

        async def put(item: OutboxItem) -> None:
            setpoint = wire_outbox.setpoint_from(item)
            transaction = self._running
            releasing = to_datetime(setpoint.valid_until) <= clock.now()
            if transaction is None and not releasing:
                accepted, reason = False, NO_TRANSACTION
            else:
                accepted, reason = await send(setpoint, transaction)
            await self.deps.db.write(
                lambda conn: telemetry.ack_setpoints(
                    UnitOfWork(conn, clock.now()), charger_id, item.sequence, accepted, reason
                )
            )

        async with self.deps.dispatcher.subscription(Channel.SETPOINTS, charger_id, 0) as subscription:
            await deliver(subscription, put, "setpoint")
