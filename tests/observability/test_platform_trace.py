"""The longest multi-hop flow traced over the real platform: grid → aggregator → device.

The grid's SubmitDispatchInstruction (through a traced client channel, mTLS,
the whole interceptor chain, the real store on SQLite and PostgreSQL) splits
a node target onto agg-a, whose one platform-managed charger gets a
setpoint. One trace holds the grid's CLIENT span, the platform's SERVER span
(its remote child) and the store transactions under it; the instruction
notification written to agg-a's stream and the setpoint written to the
charger's Connect stream are each a separate trace whose span LINKS to the
grid call's server span — so a trace viewer shows the causing call and every
delivery it led to, however late they happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from conftest import GRID, PlatformFactory, RunningPlatform
from dr import world
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from vgi.common.v1 import notifications_pb2, types_pb2
from vgi.device.v1 import device_service_pb2 as device_pb
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb

from clients.auth import bearer_interceptors
from clients.market import GridMarketClient
from clients.sdk import channel_options
from clients.streams import DeviceSession, NotificationSubscriber
from infra.observability.grpc_client import client_interceptors
from infra.observability.tracing import use_tracer_provider

from .conftest import MakeTracing
from waiting import WAIT_S, until

pytestmark = pytest.mark.timeout(120)

SUBMIT = "vgi.dispatch.v1.DispatchService/SubmitDispatchInstruction"
AGGREGATOR = "vgi://aggregator/agg-a"
CHARGER = "ch-s-1"


async def _wait_for(exporter: InMemorySpanExporter, names: Sequence[str]) -> list[ReadableSpan]:
    """The finished spans once every name in ``names`` has ended (the stream writes end theirs last)."""

    def ended() -> bool:
        spans = exporter.get_finished_spans()
        return all(any(s.name == name for s in spans) for name in names)

    await until(ended, what=f"spans {list(names)} to end")
    return list(exporter.get_finished_spans())


@asynccontextmanager
async def _receivers(running: RunningPlatform) -> AsyncIterator[tuple[asyncio.Task[Any], asyncio.Task[Any]]]:
    """agg-a's notification stream and the charger's Connect stream, open; tasks awaiting the
    first instruction notification and the first setpoint."""
    subscriber = NotificationSubscriber(running.channel_for(AGGREGATOR))
    device = running.channel_for(f"vgi://device/{CHARGER}", aggregator_id="agg-a")

    async def first_instruction() -> notifications_pb2.Notification:
        async for notification in subscriber:
            if notification.HasField("instruction"):
                return notification
        raise AssertionError("the notification stream ended")

    async with DeviceSession(device, CHARGER) as session:

        async def first_setpoint() -> device_pb.SequencedSetpoint:
            async for setpoint in session.setpoints():
                return setpoint
            raise AssertionError("the device session ended")

        notified = asyncio.create_task(first_instruction())
        setpoint = asyncio.create_task(first_setpoint())
        try:
            yield notified, setpoint
        finally:
            subscriber.disconnect()
            notified.cancel()
            setpoint.cancel()
            await asyncio.gather(notified, setpoint, return_exceptions=True)


async def _submit(running: RunningPlatform, watts: int) -> dispatch_pb.SubmitDispatchInstructionResponse:
    """The grid's real-time instruction for node ta-1, over a channel traced like the SDK's."""
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    window = types_pb2.TimeWindow(
        start_time=world.ts(start), end_time=world.ts(start + timedelta(minutes=15))
    )
    async with grpc.aio.secure_channel(
        running.target,
        running.credentials.tls(GRID),
        options=channel_options(),
        interceptors=[*client_interceptors(), *bearer_interceptors(running.token_for(GRID))],
    ) as channel:
        return await GridMarketClient(channel).submit_dispatch_instruction(
            f"gridNodes/{world.NODE}",
            types_pb2.DIRECTION_LOAD_DECREASE,
            types_pb2.PowerCurve(start_time=world.ts(start), step_minutes=15, values_w=[watts]),
            window,
        )


def _only(spans: Sequence[ReadableSpan], name: str, kind: SpanKind) -> ReadableSpan:
    matching = [s for s in spans if s.name == name and s.kind is kind]
    assert len(matching) == 1, sorted((s.name, str(s.kind)) for s in spans)
    return matching[0]


async def test_grid_instruction_trace_links_the_aggregator_and_device_deliveries(
    database_url: str, platform_factory: PlatformFactory, memory_tracing: MakeTracing
) -> None:
    provider, exporter = memory_tracing(1.0)
    # Installed before the platform starts: its chain gets the tracing interceptor.
    use_tracer_provider(provider)
    async with platform_factory(database_url) as running:
        await world.build(running, managed_sessions={"agg-a": [("s-1", 10.0)]})
        async with _receivers(running) as (notified, setpoint):
            exporter.clear()
            response = await _submit(running, 5_000)
            async with asyncio.timeout(WAIT_S):
                notification, sequenced = await notified, await setpoint
            spans = await _wait_for(exporter, ["deliver notification", "deliver setpoint"])
        dialect = running.db.engine.dialect.name

    # What was delivered is what the call decided: agg-a takes the whole 5 kW,
    # its 7 kW charger is set to 2 kW.
    [instruction] = response.instructions
    assert (instruction.aggregator, list(instruction.target.values_w)) == ("aggregators/agg-a", [5_000])
    assert notification.instruction.instruction_id == instruction.instruction_id
    assert (sequenced.setpoint.instruction, sequenced.setpoint.power_w) == (instruction.name, 2_000)

    # The grid's call: CLIENT span → (traceparent over mTLS) → SERVER span, one trace.
    client = _only(spans, SUBMIT, SpanKind.CLIENT)
    server = _only(spans, SUBMIT, SpanKind.SERVER)
    call = server.context
    assert call.trace_id == client.context.trace_id
    assert server.parent is not None and server.parent.is_remote
    assert server.parent.span_id == client.context.span_id
    assert server.attributes is not None
    assert (server.attributes["rpc.service"], server.attributes["rpc.method"]) == (
        "vgi.dispatch.v1.DispatchService",
        "SubmitDispatchInstruction",
    )
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.status.status_code is StatusCode.UNSET

    # Store work: the call's transaction is a child span of the server span, inside its time.
    in_call = [s for s in spans if s.context.trace_id == call.trace_id]
    stores = [s for s in in_call if s.name.startswith("vgi.store.")]
    assert stores, sorted(s.name for s in in_call)
    for store in stores:
        assert store.parent is not None and store.parent.span_id == call.span_id
        assert store.attributes is not None and store.attributes["db.system"] == dialect
        # Which store function ran, so a call's transactions can be told apart.
        assert str(store.attributes["code.function"])
        assert store.start_time is not None and server.start_time is not None
        assert store.end_time is not None and server.end_time is not None
        assert server.start_time <= store.start_time <= store.end_time <= server.end_time
    assert [s.name for s in stores].count("vgi.store.write") >= 1
    # Nothing else ran in the call's trace: the deliveries are not its children.
    assert {s.name for s in in_call} == {SUBMIT, *(s.name for s in stores)}

    # Each delivery: a root span of its own trace, LINKED to the grid call's server span.
    notified_span = _only(spans, "deliver notification", SpanKind.PRODUCER)
    setpoint_span = _only(spans, "deliver setpoint", SpanKind.PRODUCER)
    for delivery, kind, sequence in (
        (notified_span, "notification", notification.sequence),
        (setpoint_span, "setpoint", sequenced.sequence),
    ):
        assert delivery.parent is None
        assert delivery.context.trace_id != call.trace_id
        assert [(link.context.trace_id, link.context.span_id) for link in delivery.links] == [
            (call.trace_id, call.span_id)
        ]
        assert delivery.attributes == {"vgi.delivery.kind": kind, "vgi.delivery.sequence": sequence}
    assert notified_span.context.trace_id != setpoint_span.context.trace_id


async def test_an_unsampled_grid_call_records_nothing_downstream(
    database_url: str, platform_factory: PlatformFactory, memory_tracing: MakeTracing
) -> None:
    provider, exporter = memory_tracing(0.0)
    use_tracer_provider(provider)
    async with platform_factory(database_url) as running:
        await world.build(running, managed_sessions={"agg-a": [("s-1", 10.0)]})
        async with _receivers(running) as (notified, setpoint):
            response = await _submit(running, 5_000)
            async with asyncio.timeout(WAIT_S):
                notification, sequenced = await notified, await setpoint

    # Delivered all the same, but parent-based sampling kept the whole flow out of the traces.
    [instruction] = response.instructions
    assert notification.instruction.instruction_id == instruction.instruction_id
    assert sequenced.setpoint.power_w == 2_000
    assert exporter.get_finished_spans() == ()
