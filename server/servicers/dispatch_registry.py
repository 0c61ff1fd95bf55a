"""DispatchService registry group: topology, prices (F11), adjustable capacity (F3), statistics (F12).

Thin: each RPC translates the request (``wire.resources``), runs one
transaction (the mutating ones idempotent by request_id, AIP-155; publishing
a price curve is the ``application.prices`` use case, the grid topology's writes ``application.registry``) and translates the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from sqlalchemy.engine import Connection
from vgi.dispatch.v1 import dispatch_service_pb2 as pb

from application import capacity as capacity_cases
from application import registry as use_cases
from application.prices import publish_price_curve
from application.uow import UnitOfWork
from interceptors.context import current_principal
from server import clock
from server.servicers import Deps, write_once
from store import capacity, prices, registry, statistics
from wire import resources as convert

SERVICE = "/vgi.dispatch.v1.DispatchService/"
DEFAULT_STREAM_INTERVAL_S = 60


class DispatchRegistry:
    """The registry group of vgi.dispatch.v1.DispatchService."""

    deps: Deps

    async def UpsertGridNodes(
        self, request: pb.UpsertGridNodesRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpsertGridNodesResponse:
        nodes = [convert.grid_node_from(n) for n in request.nodes]

        def effect(uow: UnitOfWork) -> pb.UpsertGridNodesResponse:
            stored = use_cases.upsert_grid_nodes(uow, nodes)
            return pb.UpsertGridNodesResponse(
                upserted_count=len(stored), nodes=[convert.grid_node_to(n) for n in stored]
            )

        return await write_once(self.deps.db, request, pb.UpsertGridNodesResponse, effect)

    async def GetGridNode(
        self, request: pb.GetGridNodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetGridNodeResponse:
        node = await self.deps.db.read(
            lambda conn: registry.get_grid_node(conn, convert.node_id(request.name))
        )
        return pb.GetGridNodeResponse(grid_node=convert.grid_node_to(node))

    async def ListGridNodes(
        self, request: pb.ListGridNodesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListGridNodesResponse:
        page = await self.deps.db.read(
            lambda conn: registry.list_grid_nodes(
                conn,
                page_size=request.page_size,
                page_token=request.page_token,
                parent_id=convert.node_id(request.parent_node),
                kind=convert.grid_node_kind(request.kind),
            )
        )
        return pb.ListGridNodesResponse(
            grid_nodes=[convert.grid_node_to(n) for n in page.items], next_page_token=page.next_page_token
        )

    async def DeleteGridNode(
        self, request: pb.DeleteGridNodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteGridNodeResponse:
        node_id = convert.node_id(request.name)

        def effect(uow: UnitOfWork) -> pb.DeleteGridNodeResponse:
            return pb.DeleteGridNodeResponse(
                grid_node=convert.grid_node_to(use_cases.delete_grid_node(uow, node_id))
            )

        return await write_once(self.deps.db, request, pb.DeleteGridNodeResponse, effect)

    async def PublishPriceCurve(
        self, request: pb.PublishPriceCurveRequest, context: grpc.aio.ServicerContext
    ) -> pb.PublishPriceCurveResponse:
        curve = convert.price_curve_from(request.price_curve)

        def effect(uow: UnitOfWork) -> pb.PublishPriceCurveResponse:
            published = publish_price_curve(uow, curve)
            return pb.PublishPriceCurveResponse(price_curve=convert.price_curve_message(published))

        return await write_once(self.deps.db, request, pb.PublishPriceCurveResponse, effect)

    async def ListPriceCurves(
        self, request: pb.ListPriceCurvesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPriceCurvesResponse:
        page = await self.deps.db.read(
            lambda conn: prices.list_page(
                conn,
                page_size=request.page_size,
                page_token=request.page_token,
                kind=convert.price_curve_kind(request.kind),
                grid_node_id=convert.node_id(request.grid_node),
            )
        )
        return pb.ListPriceCurvesResponse(
            price_curves=[convert.price_curve_message(c) for c in page.curves],
            next_page_token=page.next_page_token,
        )

    async def GetAdjustableCapacity(
        self, request: pb.GetAdjustableCapacityRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAdjustableCapacityResponse:
        timeout = self.deps.settings.heartbeat_timeout()
        now = clock.now()
        want_forecast = request.HasField("forecast_day_start_time")
        day_start = convert.to_datetime(request.forecast_day_start_time)

        def read(conn: Connection) -> pb.GetAdjustableCapacityResponse:
            response = pb.GetAdjustableCapacityResponse(
                capacity=convert.capacity_to(capacity.realtime_capacity(conn, request.scope, now, timeout))
            )
            if want_forecast:
                response.forecast.CopyFrom(
                    convert.forecast_to(capacity.forecast(conn, request.scope, day_start))
                )
            return response

        return await self.deps.db.read(read)

    async def StreamAdjustableCapacity(
        self, request: pb.StreamAdjustableCapacityRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamAdjustableCapacityResponse]:
        """Each update is also remembered as its slot's history, the input of day-ahead forecasts."""
        timeout = self.deps.settings.heartbeat_timeout()
        interval = request.interval_seconds or DEFAULT_STREAM_INTERVAL_S
        principal = current_principal()

        def measure(conn: Connection) -> capacity.RealtimeCapacity:
            return capacity_cases.record_sample(
                UnitOfWork(conn, clock.now(), principal), request.scope, timeout
            )

        while True:
            figure = await self.deps.db.write(measure)
            yield pb.StreamAdjustableCapacityResponse(capacity=convert.capacity_to(figure))
            await asyncio.sleep(interval)

    async def GetStatistics(
        self, request: pb.GetStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetStatisticsResponse:
        timeout = self.deps.settings.heartbeat_timeout()
        now = clock.now()
        figures = await self.deps.db.read(
            lambda conn: statistics.statistics(conn, request.scope, now, timeout)
        )
        return pb.GetStatisticsResponse(statistics=convert.statistics_to(figures))
