"""Finding 10: a flood from one principal is answered — OK or RESOURCE_EXHAUSTED with RetryInfo —
never CANCELLED by the server; another principal is answered meanwhile."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vgi.operator.v1 import operator_service_pb2 as pb
from vgi.operator.v1 import operator_service_pb2_grpc as pb_grpc

from clients.registry import GridRegistryClient

pytestmark = pytest.mark.timeout(300)

FLOOD = 4000
#: Generous: 4,000 calls on a loaded 2-core machine.
CALL_TIMEOUT_S = 120.0


async def test_a_flood_from_one_principal_is_answered_never_cancelled(platform: Any) -> None:
    stub = pb_grpc.OperatorServiceStub(platform.channel)
    codes: Counter[str] = Counter()
    without_retry_info = 0

    async def one() -> None:
        nonlocal without_retry_info
        try:
            await stub.ListAggregators(pb.ListAggregatorsRequest(), timeout=CALL_TIMEOUT_S)
            codes["OK"] += 1
        except grpc.aio.AioRpcError as exc:
            codes[exc.code().name] += 1
            status = rpc_status.from_call(exc)
            if status is None or not any(
                d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details
            ):
                without_retry_info += 1

    async def bystander() -> int:
        # Another principal (the grid), in the middle of the flood.
        await asyncio.sleep(0)
        return len(
            (await GridRegistryClient(platform.grid, deadline=CALL_TIMEOUT_S).list_grid_nodes()).grid_nodes
        )

    flood = [asyncio.ensure_future(one()) for _ in range(FLOOD)]
    other = await bystander()
    await asyncio.gather(*flood)
    assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED"}, codes
    assert codes["OK"] > 0 and sum(codes.values()) == FLOOD
    assert without_retry_info == 0, f"{without_retry_info} refusals without RetryInfo"
    assert other == 0  # answered: the grid's (empty) node list
