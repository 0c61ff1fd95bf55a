"""Input limits over a real server: message size, batch size, streams per principal, idle client streams.

The stream tests serve only the operator surface and put a stand-in for
``vgi.device.v1.DeviceService/Connect`` next to it (an echo that holds the
stream open), so the real policy of that RPC (device role, STREAM class)
drives the whole chain whatever the device servicer does today.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from vgi.common.v1 import options_pb2
from vgi.device.v1 import device_service_pb2 as device_pb
from vgi.operator.v1 import operator_service_pb2 as operator_pb

from interceptors.methods import method_info

from .rpcs import Rpc, call, contract_rpcs

pytestmark = pytest.mark.timeout(60)

RPCS = {rpc.path: rpc for rpc in contract_rpcs()}
CONNECT = RPCS["/vgi.device.v1.DeviceService/Connect"]
CHARGER_1 = ("vgi://device/charger-1", "agg-1")
CHARGER_2 = ("vgi://device/charger-2", "agg-1")
HEARTBEAT = device_pb.ConnectRequest(heartbeat=device_pb.Heartbeat())


async def _echo(requests: AsyncIterator[device_pb.ConnectRequest], context: Any) -> AsyncIterator[Any]:
    async for _ in requests:
        yield device_pb.ConnectResponse()


STAND_IN = grpc.method_handlers_generic_handler(
    "vgi.device.v1.DeviceService",
    {
        "Connect": grpc.stream_stream_rpc_method_handler(
            _echo,
            request_deserializer=device_pb.ConnectRequest.FromString,
            response_serializer=device_pb.ConnectResponse.SerializeToString,
        )
    },
)


def _open(running: Any, who: tuple[str, str]) -> Any:
    channel = running.channel_for(who[0], aggregator_id=who[1])
    return channel.stream_stream(
        CONNECT.path,
        request_serializer=device_pb.ConnectRequest.SerializeToString,
        response_deserializer=device_pb.ConnectResponse.FromString,
    )(timeout=20)


async def _status(stream: Any) -> tuple[grpc.StatusCode, str, Any]:
    code = await stream.code()
    outcome_status = None
    for key, value in await stream.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            outcome_status = status_pb2.Status.FromString(value)
    info = error_details_pb2.ErrorInfo()
    quota = error_details_pb2.QuotaFailure()
    for detail in outcome_status.details if outcome_status else ():
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
        if detail.Is(quota.DESCRIPTOR):
            detail.Unpack(quota)
    return code, info.reason, quota


async def test_streams_per_principal_are_capped(tmp_path: Path, platform_factory: Any) -> None:
    async with platform_factory(
        f"sqlite:///{tmp_path / 'vgi.db'}",
        services=("operator",),
        extra_handlers=[STAND_IN],
        max_streams_per_principal=2,
    ) as running:
        held = [_open(running, CHARGER_1) for _ in range(2)]
        for stream in held:  # both admitted: they answer a message
            await stream.write(HEARTBEAT)
            assert isinstance(await stream.read(), device_pb.ConnectResponse)

        code, reason, quota = await _status(_open(running, CHARGER_1))
        assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_STREAMS")
        assert [(v.subject, v.description) for v in quota.violations] == [
            ("vgi://device/charger-1", "at most 2 open streams")
        ]

        other = _open(running, CHARGER_2)  # another principal has its own allowance
        await other.write(HEARTBEAT)
        assert isinstance(await other.read(), device_pb.ConnectResponse)

        await held[0].done_writing()
        assert await held[0].code() == grpc.StatusCode.OK
        again = _open(running, CHARGER_1)  # a closed stream frees its slot
        await again.write(HEARTBEAT)
        assert isinstance(await again.read(), device_pb.ConnectResponse)
        for stream in (held[1], other, again):
            stream.cancel()


IDLE_S = 2.0


async def test_a_silent_client_stream_is_ended(tmp_path: Path, platform_factory: Any) -> None:
    async with platform_factory(
        f"sqlite:///{tmp_path / 'vgi.db'}",
        services=("operator",),
        extra_handlers=[STAND_IN],
        stream_idle_timeout_seconds=IDLE_S,
    ) as running:
        # Messages spaced well under the timeout keep a stream open for longer than the timeout: the
        # gaps leave 1.75 s for each heartbeat's round trip, so a loaded machine cannot close it.
        talking = _open(running, CHARGER_1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started < IDLE_S * 1.25:
            await asyncio.sleep(IDLE_S / 8)
            await talking.write(HEARTBEAT)
            assert isinstance(await talking.read(), device_pb.ConnectResponse)
        silent = _open(running, CHARGER_2)
        started = loop.time()
        code, reason, _ = await _status(silent)
        assert (code, reason) == (grpc.StatusCode.DEADLINE_EXCEEDED, "STREAM_IDLE_TIMEOUT")
        assert loop.time() - started >= IDLE_S
        assert f"sent nothing for {IDLE_S:g}s" in await silent.details()
        talking.cancel()


def _bulk() -> list[tuple[Rpc, str]]:
    """Every unary BULK RPC with its repeated field (found from the descriptors)."""

    found: list[tuple[Rpc, str]] = []
    for rpc in RPCS.values():
        if method_info(rpc.path).method_class == options_pb2.METHOD_CLASS_BULK and not rpc.client_streaming:
            fields = [f for f in rpc.request_type.DESCRIPTOR.fields if f.is_repeated]
            found.extend((rpc, field.name) for field in fields)
    return found


async def test_batches_over_the_limit_are_invalid(tmp_path: Path, platform_factory: Any) -> None:
    cases = _bulk()
    assert cases, "no BULK RPC with a repeated field in the contracts"
    async with platform_factory(f"sqlite:///{tmp_path / 'vgi.db'}", max_batch_items=3) as running:
        wrong = []
        for rpc, field in cases:
            request = rpc.request_type()
            for _ in range(4):
                getattr(request, field).add()
            outcome = await call(running.channel_for_role(min(rpc.roles)), rpc, request)
            bad = outcome.detail(error_details_pb2.BadRequest)
            got = (outcome.code, outcome.reason, [v.field for v in bad.field_violations] if bad else None)
            if got != (grpc.StatusCode.INVALID_ARGUMENT, "BATCH_TOO_LARGE", [field]):
                wrong.append(f"{rpc}: {outcome}")
        assert wrong == [], "\n".join(wrong)


async def test_messages_over_the_size_limit_are_refused(tmp_path: Path, platform_factory: Any) -> None:
    async with platform_factory(
        f"sqlite:///{tmp_path / 'vgi.db'}", max_receive_message_bytes=1024
    ) as running:
        rpc = RPCS["/vgi.operator.v1.OperatorService/ListAggregators"]
        small = await call(running.channel, rpc, operator_pb.ListAggregatorsRequest(page_size=1))
        assert small.code == grpc.StatusCode.OK
        big = await call(running.channel, rpc, operator_pb.ListAggregatorsRequest(page_token="x" * 2048))
        assert big.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "message larger than max" in big.message.lower()
