"""Rate limiting over a real server: per principal and method class, RetryInfo, health exempt."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vgi.common.v1 import aggregator_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb

from .rpcs import call, contract_rpcs

pytestmark = pytest.mark.timeout(60)

LIST = next(rpc for rpc in contract_rpcs() if rpc.path == "/vgi.operator.v1.OperatorService/ListAggregators")


async def test_rate_limit_per_principal_and_class(tmp_path: Path, platform_factory: Any) -> None:
    async with platform_factory(
        f"sqlite:///{tmp_path / 'vgi.db'}", rate_limits=("read=0.2/3", "write=1/1")
    ) as running:
        operator = running.channel
        for _ in range(3):  # the burst
            assert (
                await call(operator, LIST, operator_pb.ListAggregatorsRequest())
            ).code == grpc.StatusCode.OK
        limited = await call(operator, LIST, operator_pb.ListAggregatorsRequest())
        assert (limited.code, limited.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        retry = limited.detail(error_details_pb2.RetryInfo)
        delay = retry.retry_delay.ToTimedelta().total_seconds()
        # One token every 5 s: a loaded machine's slow calls cannot refill the bucket mid-burst.
        assert 0 < delay <= 5.0
        quota = limited.detail(error_details_pb2.QuotaFailure)
        assert [(v.subject, v.description) for v in quota.violations] == [
            ("vgi://operator/op-1#READ", "0.2 calls/s, burst 3")
        ]

        # Another principal, and another class of the same principal, have their own buckets.
        assert (
            await call(running.grid, LIST, operator_pb.ListAggregatorsRequest())
        ).code == grpc.StatusCode.OK
        created = await running.operator.create_aggregator(
            "acme", aggregator_pb2.Aggregator(display_name="A")
        )
        assert created.name == "aggregators/acme"

        # Health checks are exempt however often they come.
        health = health_pb2_grpc.HealthStub(operator)
        for _ in range(10):
            answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING

        await asyncio.sleep(delay)
        assert (await call(operator, LIST, operator_pb.ListAggregatorsRequest())).code == grpc.StatusCode.OK


async def test_unconfigured_classes_share_the_read_bucket(tmp_path: Path, platform_factory: Any) -> None:
    async with platform_factory(f"sqlite:///{tmp_path / 'vgi.db'}", rate_limits=("read=0.01/2",)) as running:
        # One token every 100 s, so however slowly the three calls come, the third finds none.
        await running.operator.create_aggregator("one", aggregator_pb2.Aggregator(display_name="One"))
        await running.operator.list_aggregators()
        limited = await call(running.channel, LIST, operator_pb.ListAggregatorsRequest())
        assert (limited.code, limited.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        info = limited.detail(error_details_pb2.ErrorInfo)
        assert info.metadata["method_class"] == "READ"
