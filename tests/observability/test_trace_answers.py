"""Tracing details of issue 17 (finding 11): a price curve's notifications are delivery spans linked to
the grid's call; a NOT_FOUND answer leaves its store span unset (an answer, not a failure)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from conftest import PlatformFactory
from dr import world
from opentelemetry.trace import SpanKind, StatusCode
from vgi.common.v1 import prices_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as dispatch_grpc

from clients.errors import NotFoundError
from clients.market import GridMarketClient
from clients.streams import NotificationSubscriber
from infra.observability.tracing import use_tracer_provider

from .conftest import MakeTracing
from .test_platform_trace import AGGREGATOR, WAIT_S, _only, _wait_for

PUBLISH = "vgi.dispatch.v1.DispatchService/PublishPriceCurve"


async def test_price_curve_notification_is_a_linked_delivery(
    database_url: str, platform_factory: PlatformFactory, memory_tracing: MakeTracing
) -> None:
    provider, exporter = memory_tracing(1.0)
    use_tracer_provider(provider)
    async with platform_factory(database_url) as running:
        await world.build(running)
        subscriber = NotificationSubscriber(running.channel_for(AGGREGATOR))

        async def first_price() -> None:
            async for notification in subscriber:
                if notification.HasField("price_curve"):
                    return

        arrived = asyncio.create_task(first_price())
        exporter.clear()
        start = world.ts(datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
        await dispatch_grpc.DispatchServiceStub(running.grid).PublishPriceCurve(
            dispatch_pb.PublishPriceCurveRequest(
                request_id=str(uuid.uuid4()),
                price_curve=prices_pb2.PriceCurve(
                    price_curve_id="tou-t",
                    kind=prices_pb2.PRICE_CURVE_KIND_TIME_OF_USE,
                    grid_node=f"gridNodes/{world.NODE}",
                    start_time=start,
                    step_minutes=60,
                    prices=[world.cny("1.20")],
                ),
            ),
            timeout=30,
        )
        async with asyncio.timeout(WAIT_S):
            await arrived
        subscriber.disconnect()
        spans = await _wait_for(exporter, ["deliver notification"])
        with pytest.raises(NotFoundError):
            await GridMarketClient(running.grid).get_event("events/none")
        missing = await _wait_for(exporter, ["vgi.dispatch.v1.DispatchService/GetEvent"])

    server = _only(spans, PUBLISH, SpanKind.SERVER)
    delivery = _only(spans, "deliver notification", SpanKind.PRODUCER)
    assert [(link.context.trace_id, link.context.span_id) for link in delivery.links] == [
        (server.context.trace_id, server.context.span_id)
    ]
    lookup = _only(missing, "vgi.dispatch.v1.DispatchService/GetEvent", SpanKind.SERVER)
    reads = [s for s in missing if s.parent is not None and s.parent.span_id == lookup.context.span_id]
    assert reads and all(s.status.status_code is StatusCode.UNSET for s in reads)
