"""Stream helpers over an injected ``grpc.aio.Channel``: a resumable notification subscriber and a device session.

``NotificationSubscriber`` (aggregator platforms)::

    subscriber = NotificationSubscriber(channel)
    async for notification in subscriber:
        handle(notification)            # deduplicate by notification_id: delivery is at least once
        await subscriber.ack(notification.sequence)

It keeps a cursor (the last sequence it yielded) and, when the stream breaks
for a reason worth retrying (UNAVAILABLE, e.g. a server shutting down;
RESOURCE_EXHAUSTED SLOW_CONSUMER; CANCELLED or INTERNAL from a broken
connection), reconnects after that cursor with backoff. Other failures
(PERMISSION_DENIED, UNAUTHENTICATED, …) raise the typed ``clients.errors``
exception. A NEW subscriber starts from the oldest unacknowledged item.

``DeviceSession`` (chargers, gateways)::

    async with DeviceSession(channel, "charger-1") as session:
        await session.heartbeat()
        ack = await session.send_meter_values(values)   # returns once the batch is committed
        async for setpoint in session.setpoints():
            apply(setpoint.setpoint)
            await session.ack_setpoints(setpoint.sequence)
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from vgi.aggregator.v1 import aggregator_service_pb2 as aggregator_pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as aggregator_grpc
from vgi.common.v1 import notifications_pb2, resources_pb2, telemetry_pb2
from vgi.device.v1 import device_service_pb2 as device_pb
from vgi.device.v1 import device_service_pb2_grpc as device_grpc

from clients.errors import VgiError, from_grpc_error

DEFAULT_DEADLINE_SECONDS = 10.0

# Stream endings after which resuming from the cursor is the right move.
_RESUMABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)
_SLOW_CONSUMER = "SLOW_CONSUMER"
_EOF: Any = getattr(grpc.aio, "EOF")  # noqa: B009  (missing from grpc's type stubs)


class NotificationSubscriber:
    """An aggregator's notification stream that survives disconnects, resuming after its cursor."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        after_sequence: int = 0,
        metadata: Sequence[tuple[str, str]] = (),
        deadline: float = DEFAULT_DEADLINE_SECONDS,
        initial_backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
        max_attempts: int | None = None,
    ) -> None:
        self._stub = aggregator_grpc.AggregatorServiceStub(channel)
        self._metadata = tuple(metadata) or None
        self._deadline = deadline
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_attempts = max_attempts
        self.cursor = after_sequence
        """The last sequence yielded; a reconnect asks for what comes after it."""
        self.reconnects = 0
        self.acked_sequence = 0
        self._call: grpc.aio.UnaryStreamCall[Any, Any] | None = None
        self._cut = False

    def __aiter__(self) -> AsyncIterator[notifications_pb2.Notification]:
        return self._notifications()

    async def _notifications(self) -> AsyncIterator[notifications_pb2.Notification]:
        backoff = self._initial_backoff_s
        failures = 0
        while True:
            call = self._call = self._stub.StreamNotifications(
                aggregator_pb.StreamNotificationsRequest(after_sequence=self.cursor), metadata=self._metadata
            )
            try:
                async for response in call:
                    backoff, failures = self._initial_backoff_s, 0
                    notification = response.notification
                    self.cursor = max(self.cursor, notification.sequence)
                    yield notification
                # The server ended the stream normally; ask again.
            except grpc.aio.AioRpcError as exc:
                error = from_grpc_error(exc)
                failures += 1
                if not _resumable(error) or (
                    self._max_attempts is not None and failures >= self._max_attempts
                ):
                    raise error from exc
            except asyncio.CancelledError:
                # grpc.aio reports a locally cancelled call this way; only our
                # own disconnect() is a reason to go on, a cancelled task is not.
                if not self._cut:
                    raise
                self._cut = False
            finally:
                call.cancel()
                self._call = None
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)

    async def ack(self, up_to_sequence: int | None = None, *, request_id: str | None = None) -> int:
        """Acknowledge every notification up to ``up_to_sequence`` (default: the cursor); returns the acked cursor."""
        request = aggregator_pb.AckNotificationsRequest(
            request_id=request_id or str(uuid.uuid4()),
            up_to_sequence=self.cursor if up_to_sequence is None else up_to_sequence,
        )
        try:
            response: aggregator_pb.AckNotificationsResponse = await self._stub.AckNotifications(
                request, timeout=self._deadline, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise from_grpc_error(exc) from exc
        self.acked_sequence = response.acked_sequence
        return response.acked_sequence

    def disconnect(self) -> None:
        """Cut the current stream (as a network failure would); the iteration reconnects after the cursor."""
        if self._call is not None:
            self._cut = True
            self._call.cancel()


def _resumable(error: VgiError) -> bool:
    if error.code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        # Other quota refusals (too many streams, rate limits) are not cured by retrying at once.
        return error.reason == _SLOW_CONSUMER
    return error.code in _RESUMABLE


class DeviceSession:
    """A device's Connect stream: hello and welcome, then telemetry out and setpoints in."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        charger_id: str,
        *,
        after_sequence: int = 0,
        firmware_version: str = "",
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._stub = device_grpc.DeviceServiceStub(channel)
        self._metadata = tuple(metadata) or None
        self._hello = device_pb.Hello(
            charger_id=charger_id, after_sequence=after_sequence, firmware_version=firmware_version
        )
        self.welcome = device_pb.Welcome()
        self._call: grpc.aio.StreamStreamCall[Any, Any] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._setpoints: asyncio.Queue[device_pb.SequencedSetpoint | None] = asyncio.Queue()
        self._meter_acks: dict[str, asyncio.Future[device_pb.MeterValuesAck]] = {}
        self._failure: VgiError | None = None

    async def __aenter__(self) -> Self:
        call = self._call = self._stub.Connect(metadata=self._metadata)
        try:
            await call.write(device_pb.ConnectRequest(hello=self._hello))
            first = await call.read()
        except grpc.aio.AioRpcError as exc:
            call.cancel()
            raise from_grpc_error(exc) from exc
        if first is _EOF or first.WhichOneof("message") != "welcome":
            call.cancel()
            raise ConnectionError("the platform did not answer the hello with a welcome")
        self.welcome = first.welcome
        self._reader = asyncio.create_task(self._read(call))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """End the session (cancels the call; nothing in flight is lost: unacked setpoints come back)."""
        if self._call is not None:
            self._call.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def setpoints(self) -> AsyncIterator[device_pb.SequencedSetpoint]:
        """Setpoints in sequence order as they arrive; raises the typed error the stream ended with."""
        while True:
            item = await self._setpoints.get()
            if item is None:
                if self._failure is not None:
                    raise self._failure
                return
            yield item

    async def heartbeat(self) -> None:
        now = Timestamp()
        now.FromDatetime(datetime.now(UTC))
        await self._send(device_pb.ConnectRequest(heartbeat=device_pb.Heartbeat(device_time=now)))

    async def status(self, status: resources_pb2.ChargerStatus, at: datetime) -> None:
        await self._send(
            device_pb.ConnectRequest(
                status=device_pb.StatusNotification(status=status, status_time=_timestamp(at))
            )
        )

    async def send_meter_values(
        self, values: Iterable[telemetry_pb2.MeterValue], *, batch_id: str | None = None
    ) -> device_pb.MeterValuesAck:
        """Send one batch and wait until the platform has committed it (re-sending a batch id stores nothing)."""
        batch = batch_id or str(uuid.uuid4())
        acked = self._meter_acks[batch] = asyncio.get_running_loop().create_future()
        try:
            await self._send(
                device_pb.ConnectRequest(meter_values=device_pb.MeterValues(batch_id=batch, values=values))
            )
            return await acked
        finally:
            self._meter_acks.pop(batch, None)

    async def session_started(self, session: resources_pb2.EvSession) -> None:
        await self._send(device_pb.ConnectRequest(session_started=device_pb.SessionStarted(session=session)))

    async def session_stopped(self, session_id: str, at: datetime) -> None:
        await self._send(
            device_pb.ConnectRequest(
                session_stopped=device_pb.SessionStopped(session_id=session_id, stop_time=_timestamp(at))
            )
        )

    async def ack_setpoints(self, up_to_sequence: int, *, accepted: bool = True, reason: str = "") -> None:
        await self._send(
            device_pb.ConnectRequest(
                setpoint_ack=device_pb.SetpointAck(
                    up_to_sequence=up_to_sequence, accepted=accepted, reason=reason
                )
            )
        )

    async def _send(self, request: device_pb.ConnectRequest) -> None:
        if self._failure is not None:
            raise self._failure
        assert self._call is not None, "use the session inside `async with`"
        # grpc.aio allows one write at a time per call.
        async with self._write_lock:
            try:
                await self._call.write(request)
            except grpc.aio.AioRpcError as exc:
                raise from_grpc_error(exc) from exc

    async def _read(self, call: grpc.aio.StreamStreamCall[Any, Any]) -> None:
        try:
            # read(), not iteration: the hello's answer was read that way, and grpc.aio
            # refuses to mix the two styles on one call.
            while True:
                response: Any = await call.read()
                if response is _EOF:
                    break
                kind = response.WhichOneof("message")
                if kind == "setpoint":
                    self._setpoints.put_nowait(response.setpoint)
                elif kind == "meter_values_ack":
                    waiter = self._meter_acks.get(response.meter_values_ack.batch_id)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(response.meter_values_ack)
        except grpc.aio.AioRpcError as exc:
            self._failure = from_grpc_error(exc)
        finally:
            for waiter in self._meter_acks.values():
                if not waiter.done():
                    waiter.set_exception(self._failure or ConnectionError("the device session ended"))
            self._setpoints.put_nowait(None)


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp
