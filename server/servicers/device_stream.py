"""DeviceService.Connect: the device session (SPEC section 4, device surface; F2 telemetry in, F6 setpoints out).

The device opens with a Hello naming its own charger and is welcomed; from
then on two things run side by side until either ends the call:

* setpoints out — the charger's stream from the outbox, after the Hello's
  cursor and what the device has acknowledged, in sequence order;
* device messages in, each committed before the next is read: heartbeats,
  status, meter values (answered with a MeterValuesAck once committed),
  session start/stop, and SetpointAcks (recorded on the setpoints).

A device closing its side ends the call normally; an invalid message ends it
with the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import grpc
from sqlalchemy.engine import Connection
from vgi.device.v1 import device_service_pb2 as pb

from application import devices, telemetry
from application.uow import UnitOfWork
from domain.errors import FieldViolation, InvalidArgument, PermissionDenied
from domain.principal import Principal
from infra.observability.metrics import METRICS
from server import clock
from server.delivery import deliver
from server.servicers import Deps, caller
from store.outbox import Channel, OutboxItem
from wire import outbox as wire_outbox
from wire import resources as convert
from wire.timestamps import timestamp

HELLO_REQUIRED = "HELLO_REQUIRED"
CHARGER_MISMATCH = "CHARGER_MISMATCH"
# Heartbeats this many times per timeout, so one lost heartbeat does not take a charger offline.
_HEARTBEATS_PER_TIMEOUT = 3


class DeviceStream:
    """The Connect group of vgi.device.v1.DeviceService."""

    deps: Deps

    async def Connect(
        self, request_iterator: AsyncIterator[pb.ConnectRequest], context: grpc.aio.ServicerContext
    ) -> None:
        principal = caller()
        requests = aiter(request_iterator)
        hello = await _hello(requests)
        _own_charger(principal, hello)
        charger_id = await self.deps.db.read(lambda conn: devices.check_owned(conn, principal))
        writing = asyncio.Lock()

        async def send(response: pb.ConnectResponse) -> None:
            # grpc.aio allows one write at a time per call; setpoints and acks come from two tasks.
            async with writing:
                await context.write(response)

        async def send_setpoint(item: OutboxItem) -> None:
            setpoint = pb.SequencedSetpoint(sequence=item.sequence, setpoint=wire_outbox.setpoint_from(item))
            await send(pb.ConnectResponse(setpoint=setpoint))

        # The welcome once the hello's cursor is known to be of this stream (the refusal comes instead);
        # setpoints wait in the subscription until `deliver` writes them, after it.
        async with self.deps.dispatcher.subscription(
            Channel.SETPOINTS, charger_id, hello.after_sequence, cursor_field="hello.after_sequence"
        ) as subscription:
            await send(pb.ConnectResponse(welcome=self._welcome()))
            await _until_either_ends(
                deliver(subscription, send_setpoint, "setpoint"),
                self._receive(requests, principal, charger_id, send),
            )

    def _welcome(self) -> pb.Welcome:
        now = timestamp(clock.now())
        interval = self.deps.settings.heartbeat_timeout_seconds / _HEARTBEATS_PER_TIMEOUT
        return pb.Welcome(server_time=now, heartbeat_interval_seconds=max(1, int(interval)))

    async def _receive(
        self,
        requests: AsyncIterator[pb.ConnectRequest],
        principal: Principal,
        charger_id: str,
        send: Callable[[pb.ConnectResponse], Awaitable[None]],
    ) -> None:
        device = _Device(charger_id, convert.tenant_of(principal), self.deps.settings.max_skew(), principal)
        async for request in requests:
            result = await self.deps.db.write(device.effect(request, clock.now()))
            if request.HasField("meter_values"):
                if not result.replayed:
                    METRICS.telemetry_points("device", result.stored_points)
                ack = pb.MeterValuesAck(
                    batch_id=request.meter_values.batch_id,
                    stored_points=result.stored_points,
                    duplicate_points=result.duplicate_points,
                    corrected_points=result.corrected_points,
                )
                await send(pb.ConnectResponse(meter_values_ack=ack))


@dataclass(frozen=True)
class _Device:
    """What a device message does (an ``application.telemetry`` use case), in one transaction."""

    charger_id: str
    aggregator_id: str
    max_skew: timedelta
    principal: Principal

    def effect(self, request: pb.ConnectRequest, now: datetime) -> Callable[[Connection], Any]:
        use_case = self._use_case(request)
        principal = self.principal
        return lambda conn: use_case(UnitOfWork(conn, now, principal))

    def _use_case(self, request: pb.ConnectRequest) -> Callable[[UnitOfWork], Any]:
        charger_id, aggregator_id = self.charger_id, self.aggregator_id
        kind = request.WhichOneof("message")
        if kind == "heartbeat":
            return lambda uow: telemetry.record_heartbeat(uow, charger_id)
        if kind == "status":
            status = convert.charger_status(request.status.status)
            at = convert.to_datetime(request.status.status_time)
            return lambda uow: telemetry.record_status(uow, charger_id, status, at)
        if kind == "meter_values":
            readings = convert.readings(request.meter_values.values)
            batch_id = request.meter_values.batch_id
            digest = convert.batch_digest(request.meter_values)
            return lambda uow: telemetry.ingest_device_meter_values(
                uow, charger_id, readings, batch_id, max_skew=self.max_skew, content_digest=digest
            )
        if kind == "session_started":
            session = convert.session_from(request.session_started.session)
            return lambda uow: telemetry.start_session(
                uow, aggregator_id, charger_id, session, max_skew=self.max_skew
            )
        if kind == "session_stopped":
            session_id = request.session_stopped.session_id
            stop = convert.to_datetime(request.session_stopped.stop_time)
            return lambda uow: telemetry.stop_session(
                uow, aggregator_id, session_id, stop, charger_id=charger_id
            )
        if kind == "setpoint_ack":
            ack = request.setpoint_ack
            return lambda uow: telemetry.ack_setpoints(
                uow, charger_id, ack.up_to_sequence, ack.accepted, ack.reason
            )
        raise InvalidArgument(
            "hello is sent once, first",
            reason=HELLO_REQUIRED,
            violations=[FieldViolation("hello", "only the first message may be a hello")],
        )


async def _hello(requests: AsyncIterator[pb.ConnectRequest]) -> pb.Hello:
    first = await anext(requests, None)
    if first is None or first.WhichOneof("message") != "hello":
        raise InvalidArgument(
            "the first message of a device session must be a hello",
            reason=HELLO_REQUIRED,
            violations=[FieldViolation("hello", "required as the first message")],
        )
    return first.hello


def _own_charger(principal: Principal, hello: pb.Hello) -> None:
    if principal.charger_id is None:
        raise PermissionDenied("only devices open a device session", reason="NOT_A_DEVICE")
    if hello.charger_id != principal.charger_id:
        raise PermissionDenied(
            "a device may open a session for its own charger only",
            reason=CHARGER_MISMATCH,
            metadata={"charger_id": hello.charger_id},
        )


async def _until_either_ends(*work: Coroutine[Any, Any, Any]) -> None:
    """Run ``work`` concurrently until one finishes or fails; cancel the rest; re-raise a failure."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
