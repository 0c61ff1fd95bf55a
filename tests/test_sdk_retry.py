"""The Python SDK's retry of idempotent calls: when the deadline runs out during a retry, the caller
gets the UNAVAILABLE that made it retry (reason, RetryInfo), not a bare DEADLINE_EXCEEDED.

Found as a load-dependent failure of the store-outage test: with a 1.5 s deadline and the server's 1 s
RetryInfo, a loaded machine's second attempt ran past the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from vgi.operator.v1 import operator_service_pb2 as operator_pb

from clients.errors import UnavailableError
from clients.sdk import OperatorClient, insecure_channel

pytestmark = pytest.mark.timeout(60)

GET = "/vgi.operator.v1.OperatorService/GetAggregator"


class _AwayThenHanging(grpc.GenericRpcHandler):
    """GetAggregator: the first call answers UNAVAILABLE with RetryInfo, later ones never answer."""

    def __init__(self) -> None:
        self.calls = 0
        self.hanging = asyncio.Event()

    def service(self, handler_call_details: Any) -> grpc.RpcMethodHandler | None:
        if handler_call_details.method != GET:
            return None
        return grpc.unary_unary_rpc_method_handler(
            self._get,
            request_deserializer=operator_pb.GetAggregatorRequest.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )

    async def _get(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.calls += 1
        if self.calls > 1:
            self.hanging.set()
            await asyncio.Event().wait()  # until the client's deadline cancels the call
        status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message="the store is unreachable")
        status.details.add().Pack(error_details_pb2.ErrorInfo(reason="STORE_UNAVAILABLE", domain="vgi"))
        status.details.add().Pack(
            error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=50_000_000))
        )
        await context.abort_with_status(rpc_status.to_status(status))


@pytest.fixture
async def away() -> AsyncIterator[tuple[_AwayThenHanging, str]]:
    handler = _AwayThenHanging()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([handler])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield handler, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_a_deadline_spent_in_a_retry_answers_the_unavailable(
    away: tuple[_AwayThenHanging, str],
) -> None:
    handler, target = away
    # Without the channel's own retry policy, so that the SDK's loop is what retries (with the policy,
    # grpc retries an UNAVAILABLE inside one attempt of the loop and the loop sees the last outcome).
    channel = insecure_channel(target, options=[])
    try:
        with pytest.raises(UnavailableError) as raised:
            await OperatorClient(channel, deadline=3.0).get_aggregator("aggregators/a")
    finally:
        await channel.close()
    assert handler.hanging.is_set(), "the call was retried"
    assert raised.value.reason == "STORE_UNAVAILABLE"
    assert raised.value.retry_delay == 0.05
