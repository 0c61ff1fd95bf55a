"""The interceptor framework on a real grpc.aio server: all four RPC kinds, guards, errors, validation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import protovalidate
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vgi.common.v1 import aggregator_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb

from domain.errors import NotFound, PermissionDenied
from domain.principal import Principal, Role
from interceptors.base import Context, Guard, Interceptor, UnaryBehavior
from interceptors.context import current_call, current_principal, invocation_metadata, set_principal
from interceptors.errors import ErrorMappingInterceptor
from interceptors.methods import MethodInfo, method_info
from interceptors.validation import ValidationInterceptor
from server.surfaces import discover_surfaces

pytestmark = pytest.mark.timeout(30)

GET = "/vgi.operator.v1.OperatorService/GetAggregator"
KINDS = "vgi.test.v1.Kinds"


class HeaderGuard(Guard):
    """Authenticates from an ``x-user`` header; refuses ``mallory``."""

    async def check(self, method: MethodInfo, context: Context) -> None:
        user = dict(context.invocation_metadata() or ()).get("x-user", "anonymous")
        if user == "mallory":
            raise PermissionDenied("mallory may not call anything", metadata={"method": method.full_name})
        set_principal(Principal(Role.OPERATOR, str(user)))


class CountingInterceptor(Interceptor):
    """Counts how often handlers are wrapped (should be once per method)."""

    def __init__(self) -> None:
        super().__init__()
        self.wraps: list[str] = []

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        self.wraps.append(method.full_name)

        async def counted(request: Any, context: Context) -> Any:
            return await behavior(request, context)

        return counted


async def get_aggregator(request: operator_pb.GetAggregatorRequest, context: Context) -> Any:
    principal = current_principal()
    call = current_call()
    assert principal is not None and call is not None
    if request.name == "aggregators/boom":
        raise RuntimeError("secret internals: password=hunter2")
    return operator_pb.GetAggregatorResponse(
        aggregator=aggregator_pb2.Aggregator(
            name=request.name, display_name=principal.id + "@" + call.method.name
        )
    )


async def count_to(request: bytes, context: Context) -> AsyncIterator[bytes]:
    for i in range(int(request)):
        yield str(i).encode()
    if int(request) == 2:
        raise NotFound("ran out", reason="RAN_OUT")


async def write_twice(request: bytes, context: Context) -> None:
    await context.write(request)
    await context.write(request)


async def total(requests: AsyncIterator[bytes], context: Context) -> bytes:
    return str(sum([int(r) async for r in requests])).encode()


async def echo(requests: AsyncIterator[bytes], context: Context) -> AsyncIterator[bytes]:
    async for request in requests:
        yield request


def _client_streaming_method_with_rules() -> Any:
    """Any client-streaming RPC in the contracts whose empty request breaks a rule and ends the call
    (not one answering per message: tests/partners/test_telemetry_results covers those)."""
    for surface in discover_surfaces():  # imports every generated service module
        service = descriptor_pool.Default().FindServiceByName(surface.service)
        for method in service.methods:
            request_type = message_factory.GetMessageClass(method.input_type)
            per_message = method_info(f"/{service.full_name}/{method.name}").per_message_results
            if (
                method.client_streaming
                and not per_message
                and protovalidate.collect_violations(request_type())
            ):
                return service, method, request_type
    return None


@pytest.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, CountingInterceptor, Any]]:
    counting = CountingInterceptor()
    server = grpc.aio.server(
        interceptors=[ErrorMappingInterceptor(), counting, HeaderGuard(), ValidationInterceptor()]
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "vgi.operator.v1.OperatorService",
                {
                    "GetAggregator": grpc.unary_unary_rpc_method_handler(
                        get_aggregator,
                        request_deserializer=operator_pb.GetAggregatorRequest.FromString,
                        response_serializer=operator_pb.GetAggregatorResponse.SerializeToString,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                KINDS,
                {
                    "CountTo": grpc.unary_stream_rpc_method_handler(count_to),
                    "WriteTwice": grpc.unary_stream_rpc_method_handler(write_twice),
                    "Total": grpc.stream_unary_rpc_method_handler(total),
                    "Echo": grpc.stream_stream_rpc_method_handler(echo),
                },
            ),
        ]
    )
    streaming = _client_streaming_method_with_rules()
    if streaming is not None:
        service, method, request_type = streaming
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    service.full_name,
                    {
                        method.name: grpc.stream_stream_rpc_method_handler(
                            echo, request_deserializer=request_type.FromString
                        )
                    },
                )
            ]
        )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel, counting, streaming
    finally:
        await channel.close()
        await server.stop(0)


async def test_a_calls_metadata_is_read_from_grpc_once_and_is_that_calls_own() -> None:
    """The tracing and token stages both read the metadata: grpc builds it once per call, not per reader."""
    seen: list[tuple[bool, Any]] = []

    async def handler(request: bytes, context: Context) -> bytes:
        first = invocation_metadata(context)
        seen.append((invocation_metadata(context) is first, dict(first).get("x-user")))
        return request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(KINDS, {"Same": grpc.unary_unary_rpc_method_handler(handler)})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary(f"/{KINDS}/Same")
            for user in ("alice", "bob"):
                assert await call(b"x", metadata=(("x-user", user),), timeout=5) == b"x"
    finally:
        await server.stop(0)
    assert seen == [(True, "alice"), (True, "bob")]


def _details(error: grpc.aio.AioRpcError) -> dict[str, Any]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    found: dict[str, Any] = {}
    for detail in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found[kind.__name__] = message
    return found


def _get(channel: grpc.aio.Channel) -> Any:
    return channel.unary_unary(
        GET,
        request_serializer=operator_pb.GetAggregatorRequest.SerializeToString,
        response_deserializer=operator_pb.GetAggregatorResponse.FromString,
    )


async def test_guard_principal_reaches_the_handler_and_wrapping_happens_once(served: Any) -> None:
    channel, counting, _ = served
    for _ in range(3):
        response = await _get(channel)(
            operator_pb.GetAggregatorRequest(name="aggregators/acme"),
            metadata=(("x-user", "alice"),),
            timeout=5,
        )
        assert response.aggregator.display_name == "alice@GetAggregator"
    assert counting.wraps == [GET]


async def test_guard_refusal_becomes_a_rich_status(served: Any) -> None:
    channel, _, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _get(channel)(
            operator_pb.GetAggregatorRequest(name="aggregators/acme"),
            metadata=(("x-user", "mallory"),),
            timeout=5,
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = _details(caught.value)["ErrorInfo"]
    assert (info.reason, info.domain, dict(info.metadata)) == ("PERMISSION_DENIED", "vgi", {"method": GET})


async def test_unexpected_exception_is_internal_without_internals(served: Any) -> None:
    channel, _, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _get(channel)(operator_pb.GetAggregatorRequest(name="aggregators/boom"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal error"
    assert "hunter2" not in str(caught.value)


async def test_validation_runs_before_the_handler(served: Any) -> None:
    channel, _, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _get(channel)(operator_pb.GetAggregatorRequest(name="acme"), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in _details(caught.value)["BadRequest"].field_violations] == ["name"]


async def test_server_stream_kinds_pass_through_and_map_errors_mid_stream(served: Any) -> None:
    channel, _, _ = served
    assert [m async for m in channel.unary_stream(f"/{KINDS}/CountTo")(b"3", timeout=5)] == [b"0", b"1", b"2"]
    assert [m async for m in channel.unary_stream(f"/{KINDS}/WriteTwice")(b"hi", timeout=5)] == [b"hi", b"hi"]

    received = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for message in channel.unary_stream(f"/{KINDS}/CountTo")(b"2", timeout=5):
            received.append(message)
    assert received == [b"0", b"1"]
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert _details(caught.value)["ErrorInfo"].reason == "RAN_OUT"


async def test_client_stream_kinds_pass_through(served: Any) -> None:
    channel, _, _ = served

    def numbers() -> Iterator[bytes]:
        yield from (b"1", b"2", b"39")

    assert await channel.stream_unary(f"/{KINDS}/Total")(numbers(), timeout=5) == b"42"
    assert [m async for m in channel.stream_stream(f"/{KINDS}/Echo")(numbers(), timeout=5)] == [
        b"1",
        b"2",
        b"39",
    ]


async def test_each_message_of_a_client_stream_is_validated(served: Any) -> None:
    channel, _, streaming = served
    if streaming is None:
        pytest.skip("no client-streaming RPC with rules in the contracts")
    service, method, request_type = streaming
    # An empty message: every violation is of a top-level field, named without subscripts.
    expected = [
        ".".join(element.field_name for element in violation.proto.field.elements)
        for violation in protovalidate.collect_violations(request_type())
    ]
    call = channel.stream_stream(
        f"/{service.full_name}/{method.name}",
        request_serializer=request_type.SerializeToString,
        response_deserializer=request_type.FromString,
    )(iter([request_type()]), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in call:
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = _details(caught.value)
    assert details["ErrorInfo"].reason == "VALIDATION_FAILED"
    assert [v.field for v in details["BadRequest"].field_violations] == expected


def test_range_and_nul_checks_name_the_first_twenty_bad_values_in_field_order() -> None:
    """The checks look at a clean request without naming paths; a request that is not clean gets
    the same answer as a walk naming every value: the first 20 bad values, in field order."""
    from google.protobuf.timestamp_pb2 import Timestamp
    from vgi.aggregator.v1 import aggregator_service_pb2 as aggregator_pb
    from vgi.common.v1 import resources_pb2, telemetry_pb2

    check = ValidationInterceptor()
    clean = aggregator_pb.BatchUpsertChargersRequest(
        chargers=[resources_pb2.Charger(charger_id=f"c{i}", station_id="s") for i in range(50)]
    )
    assert (check._times.violations(clean), check._text.violations(clean)) == ([], [])

    bad_times = [3, 7, *range(10, 40)]
    batch = aggregator_pb.UploadTelemetryRequest(
        batch=aggregator_pb.TelemetryBatch(
            meter_values=[
                telemetry_pb2.MeterValue(
                    charger_id="c\x00" if i in (5, 41) else "c",
                    sample_time=Timestamp(seconds=-1 if i in bad_times else 1_800_000_000),
                )
                for i in range(45)
            ]
        )
    )
    times = check._times.violations(batch)
    assert [v.field for v in times] == [f"batch.meter_values[{i}].sample_time" for i in bad_times[:20]]
    assert [v.field for v in check._text.violations(batch)] == [
        "batch.meter_values[5].charger_id",
        "batch.meter_values[41].charger_id",
    ]
    # Money is nowhere in these requests: no walk at all.
    assert check._money.violations(batch) == [] and not check._money.reaches(batch.DESCRIPTOR)
