"""The simulation's parties, each with its own certificate and token, speaking only through the SDK.

* ``bootstrap_operator``: the operator's credentials from a dev PKI directory
  (its client certificate from ``vgi pki init`` and a token signed with the
  directory's JWT key, as ``vgi token issue`` does);
* ``Operator``: onboards aggregators, issues everybody else's certificate
  and token with IssueCredentials, and moves the platform's simulated clock
  with AdvanceClock;
* ``Inbox``: an aggregator's notification stream, deduplicated and acked,
  with the instructions in force;
* ``Device``: a platform-managed charger on DeviceService.Connect that applies
  and acknowledges setpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from google.type import money_pb2
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import market_pb2, notifications_pb2, types_pb2
from vgi.device.v1 import device_service_pb2 as device_pb
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from clients.auth import bearer_interceptors
from clients.errors import (
    AlreadyExistsError,
    DeadlineExceededError,
    FailedPreconditionError,
    ResourceExhaustedError,
    from_grpc_error,
)
from clients.sdk import channel_options
from clients.streams import DeviceSession, NotificationSubscriber

T = TypeVar("T")

SERVICES = [
    operator_pb.DESCRIPTOR.services_by_name["OperatorService"],
    dispatch_pb.DESCRIPTOR.services_by_name["DispatchService"],
    agg_pb.DESCRIPTOR.services_by_name["AggregatorService"],
    device_pb.DESCRIPTOR.services_by_name["DeviceService"],
]
OPERATOR_ID = "op-1"
WAIT_SECONDS = 30.0
"""How long a party waits for something the platform must send (a notification, a setpoint)."""
ADVANCE_SECONDS = 300.0
"""How long AdvanceClock may take: the platform steps its scheduler and monitor through every due minute."""


def timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def instant(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def money(amount: Decimal | str) -> money_pb2.Money:
    value = Decimal(amount)
    units = int(value)
    return money_pb2.Money(currency_code="CNY", units=units, nanos=int((value - units) * 10**9))


def decimal(value: money_pb2.Money) -> Decimal:
    return Decimal(value.units) + Decimal(value.nanos) / 10**9


@dataclass(frozen=True)
class Credentials:
    """A principal's client certificate, its key and a bearer token for it."""

    principal: str
    certificate_pem: bytes
    private_key_pem: bytes
    token: str


def connect(target: str, ca_pem: bytes, credentials: Credentials) -> grpc.aio.Channel:
    """An mTLS channel presenting the principal's certificate and sending its token on every call."""
    tls = grpc.ssl_channel_credentials(
        root_certificates=ca_pem,
        private_key=credentials.private_key_pem,
        certificate_chain=credentials.certificate_pem,
    )
    return grpc.aio.secure_channel(
        target,
        tls,
        options=channel_options(services=SERVICES),
        interceptors=bearer_interceptors(credentials.token),
    )


def bootstrap_operator(pki_dir: Path, issuer: str) -> Credentials:
    """The operator's certificate from the dev PKI and a token signed with its JWT key."""
    # The dev PKI's own helpers, as `vgi token issue` uses them: only the
    # operator is bootstrapped this way, everybody else gets IssueCredentials.
    from infra.security.pki import load_jwt_signing_key
    from infra.security.tokens import AUDIENCES, issue_token

    principal = f"vgi://operator/{OPERATOR_ID}"
    key, kid = load_jwt_signing_key(pki_dir)
    return Credentials(
        principal,
        (pki_dir / "clients" / f"operator-{OPERATOR_ID}.pem").read_bytes(),
        (pki_dir / "clients" / f"operator-{OPERATOR_ID}.key").read_bytes(),
        issue_token(key, kid, principal, list(AUDIENCES), issuer, 6 * 3600),
    )


class Operator:
    """The platform operator: onboarding and credentials."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = operator_grpc.OperatorServiceStub(channel)

    async def _call(self, method: Any, request: Any, *, deadline: float = WAIT_SECONDS) -> Any:
        try:
            return await method(request, timeout=deadline)
        except grpc.aio.AioRpcError as exc:
            raise from_grpc_error(exc) from exc

    async def create_aggregator(self, aggregator_id: str, display_name: str, email: str) -> None:
        """Onboard an aggregator (one onboarded by an earlier run on the same platform is kept)."""
        from vgi.common.v1 import aggregator_pb2

        with contextlib.suppress(AlreadyExistsError):
            await self._call(
                self._stub.CreateAggregator,
                operator_pb.CreateAggregatorRequest(
                    request_id=str(uuid.uuid4()),
                    aggregator_id=aggregator_id,
                    aggregator=aggregator_pb2.Aggregator(display_name=display_name, contact_email=email),
                ),
            )

    async def advance_clock(self, to: datetime) -> datetime:
        """Move the platform's simulated clock to ``to`` (its scheduler and monitor catch up); the platform time.

        A platform already past ``to`` (e.g. by an earlier run) says what time it is instead.
        """
        try:
            answer = await self._call(
                self._stub.AdvanceClock,
                operator_pb.AdvanceClockRequest(request_id=str(uuid.uuid4()), advance_to=timestamp(to)),
                deadline=ADVANCE_SECONDS,
            )
        except FailedPreconditionError as exc:
            if exc.reason != "CLOCK_NOT_MONOTONIC":
                raise
            return datetime.fromisoformat(exc.metadata["now"])
        return instant(answer.now)

    async def issue(self, principal: str, *, aggregator_id: str = "") -> Credentials:
        """A certificate (with its new key) and a role-scoped token for ``principal``."""
        certificate, token = await asyncio.gather(
            *(
                self._call(
                    self._stub.IssueCredentials,
                    operator_pb.IssueCredentialsRequest(
                        request_id=str(uuid.uuid4()),
                        principal=principal,
                        kind=kind,
                        aggregator_id=aggregator_id,
                    ),
                )
                for kind in (operator_pb.CREDENTIAL_KIND_CERTIFICATE, operator_pb.CREDENTIAL_KIND_TOKEN)
            )
        )
        return Credentials(
            principal, certificate.certificate_pem.encode(), certificate.private_key_pem.encode(), token.token
        )


class Inbox:
    """An aggregator's notifications: received once each (deduplicated by id), acknowledged, kept in order."""

    def __init__(self, subscriber: NotificationSubscriber) -> None:
        self._subscriber = subscriber
        self.items: list[notifications_pb2.Notification] = []
        self._seen: set[str] = set()
        self._changed = asyncio.Condition()
        self.instructions: dict[str, market_pb2.Instruction] = {}
        """Instructions in force by instruction id: the latest active version."""

    async def run(self) -> None:
        async for notification in self._subscriber:
            if notification.notification_id not in self._seen:
                self._seen.add(notification.notification_id)
                self._apply(notification)
                async with self._changed:
                    self.items.append(notification)
                    self._changed.notify_all()
            # Acks are cumulative: one that misses its deadline on a loaded machine is covered by the
            # next (and an unacknowledged notification is only delivered again), so it never ends the run.
            with contextlib.suppress(DeadlineExceededError):
                await self._subscriber.ack(notification.sequence)

    def _apply(self, notification: notifications_pb2.Notification) -> None:
        kind = notification.WhichOneof("payload")
        if kind == "instruction":
            instruction = notification.instruction
            held = self.instructions.get(instruction.instruction_id)
            if held is None or held.version <= instruction.version:
                self.instructions[instruction.instruction_id] = instruction
        elif kind == "instruction_cancelled":
            cancelled = notification.instruction_cancelled.instruction
            held = self.instructions.get(cancelled.instruction_id)
            if held is not None and held.version == cancelled.version:
                del self.instructions[cancelled.instruction_id]

    async def wait_for(
        self, predicate: Callable[[notifications_pb2.Notification], bool], what: str
    ) -> notifications_pb2.Notification:
        """The first notification the stream has brought that satisfies ``predicate`` (waiting for it)."""
        found: list[notifications_pb2.Notification] = []

        def arrived() -> bool:
            item = next((item for item in self.items if predicate(item)), None)
            if item is not None:
                found.append(item)
            return item is not None

        await self.wait_until(arrived, what)
        return found[0]

    async def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait until ``condition()`` holds over what the stream has brought (checked at each arrival)."""
        try:
            async with asyncio.timeout(WAIT_SECONDS), self._changed:
                while not condition():
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"no notification brought {what} within {WAIT_SECONDS:g} s") from None

    def instructed_w(self, at: datetime) -> int:
        """The response (W) the instructions in force ask for at ``at``."""
        total = 0
        for instruction in self.instructions.values():
            if not instant(instruction.validity.start_time) <= at < instant(instruction.validity.end_time):
                continue
            curve = instruction.target
            step = (at - instant(curve.start_time)) // timedelta(minutes=curve.step_minutes)
            if 0 <= step < len(curve.values_w):
                total += curve.values_w[step]
        return total


class Device:
    """A platform-managed charger: its Connect stream, the setpoints it holds and its energy register."""

    def __init__(self, channel: grpc.aio.Channel, charger_id: str) -> None:
        self.charger_id = charger_id
        self.session = DeviceSession(channel, charger_id, firmware_version="vgi-sim/1")
        self.received: list[device_pb.SequencedSetpoint] = []
        self.acked_sequence = 0
        self._changed = asyncio.Condition()

    async def run(self) -> None:
        async for sequenced in self.session.setpoints():
            async with self._changed:
                self.received.append(sequenced)
                self._changed.notify_all()
            await self.session.ack_setpoints(sequenced.sequence)
            self.acked_sequence = sequenced.sequence

    async def wait_for_instruction(self, instruction_name: str) -> None:
        async with asyncio.timeout(WAIT_SECONDS), self._changed:
            while not any(s.setpoint.instruction == instruction_name for s in self.received):
                await self._changed.wait()

    def held_w(self, at: datetime) -> int | None:
        """The power the latest setpoint orders at ``at``, or None when the device runs unmanaged."""
        if not self.received:
            return None
        setpoint = max(self.received, key=lambda s: s.sequence).setpoint
        if at >= instant(setpoint.valid_until):
            return None
        if setpoint.HasField("schedule"):
            curve = setpoint.schedule
            step = (at - instant(curve.start_time)) // timedelta(minutes=curve.step_minutes)
            if 0 <= step < len(curve.values_w):
                return int(curve.values_w[step])
        return int(setpoint.power_w)


async def polite(call: Callable[[], Awaitable[T]], *, attempts: int = 50) -> T:
    """Run ``call``, waiting as told by RetryInfo while the platform's rate limit refuses it.

    ``call`` must repeat the same request_id, so a retry can never apply twice.
    """
    for _ in range(attempts - 1):
        try:
            return await call()
        except ResourceExhaustedError as exc:
            if exc.reason != "RATE_LIMITED":
                raise
            await asyncio.sleep(max(exc.retry_delay or 0.0, 0.01))
    return await call()


async def cancel_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def power_curve(start: datetime, values_w: Sequence[int]) -> types_pb2.PowerCurve:
    return types_pb2.PowerCurve(start_time=timestamp(start), step_minutes=15, values_w=list(values_w))
