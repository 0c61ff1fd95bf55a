"""Typed async SDK for the registry, telemetry, capacity, price and statistics RPCs (SPEC F1–F3, F11, F12).

Same conventions as ``clients.sdk``: the caller owns the channel (mTLS and
token), every call has a deadline, mutating calls always carry a request_id
(pass your own to make your retries idempotent too), failures raise
``clients.errors`` exceptions with the unpacked details.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as agg_grpc
from vgi.common.v1 import capacity_pb2, prices_pb2, resources_pb2, statistics_pb2, telemetry_pb2
from vgi.device.v1 import device_service_pb2 as device_pb
from vgi.device.v1 import device_service_pb2_grpc as device_grpc
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as dispatch_grpc

from clients.errors import from_grpc_error, from_status
from clients.sdk import _Client, request_id_or_new


class GridRegistryClient(_Client):
    """Topology, prices, capacity and statistics on vgi.dispatch.v1.DispatchService (the grid's side)."""

    _STUB = dispatch_grpc.DispatchServiceStub

    async def upsert_grid_nodes(
        self,
        nodes: Sequence[resources_pb2.GridNode],
        *,
        request_id: str | None = None,
        deadline: float | None = None,
    ) -> list[resources_pb2.GridNode]:
        """Create or replace nodes (parents may come in the same batch); returns them as stored, in order."""
        request = dispatch_pb.UpsertGridNodesRequest(request_id=request_id_or_new(request_id), nodes=nodes)
        response: dispatch_pb.UpsertGridNodesResponse = await self._unary(
            self._stub.UpsertGridNodes, request, deadline
        )
        return list(response.nodes)

    async def get_grid_node(self, name: str) -> resources_pb2.GridNode:
        response: dispatch_pb.GetGridNodeResponse = await self._unary(
            self._stub.GetGridNode, dispatch_pb.GetGridNodeRequest(name=name), None
        )
        return response.grid_node

    async def list_grid_nodes(
        self,
        *,
        page_size: int = 0,
        page_token: str = "",
        parent_node: str = "",
        kind: int = 0,
    ) -> dispatch_pb.ListGridNodesResponse:
        request = dispatch_pb.ListGridNodesRequest(
            page_size=page_size,
            page_token=page_token,
            parent_node=parent_node,
            kind=kind,  # type: ignore[arg-type]
        )
        response: dispatch_pb.ListGridNodesResponse = await self._unary(
            self._stub.ListGridNodes, request, None
        )
        return response

    async def delete_grid_node(self, name: str, *, request_id: str | None = None) -> resources_pb2.GridNode:
        request = dispatch_pb.DeleteGridNodeRequest(request_id=request_id_or_new(request_id), name=name)
        response: dispatch_pb.DeleteGridNodeResponse = await self._unary(
            self._stub.DeleteGridNode, request, None
        )
        return response.grid_node

    async def publish_price_curve(
        self, curve: prices_pb2.PriceCurve, *, request_id: str | None = None
    ) -> prices_pb2.PriceCurve:
        """Publish a curve; the aggregators concerned are notified. Earlier versions stay in the history."""
        request = dispatch_pb.PublishPriceCurveRequest(
            request_id=request_id_or_new(request_id), price_curve=curve
        )
        response: dispatch_pb.PublishPriceCurveResponse = await self._unary(
            self._stub.PublishPriceCurve, request, None
        )
        return response.price_curve

    async def list_price_curves(
        self,
        *,
        page_size: int = 0,
        page_token: str = "",
        kind: int = 0,
        grid_node: str = "",
    ) -> dispatch_pb.ListPriceCurvesResponse:
        request = dispatch_pb.ListPriceCurvesRequest(
            page_size=page_size,
            page_token=page_token,
            kind=kind,  # type: ignore[arg-type]
            grid_node=grid_node,
        )
        response: dispatch_pb.ListPriceCurvesResponse = await self._unary(
            self._stub.ListPriceCurves, request, None
        )
        return response

    async def get_adjustable_capacity(
        self, scope: str, *, forecast_day_start: Timestamp | None = None
    ) -> dispatch_pb.GetAdjustableCapacityResponse:
        """Real-time capacity of ``gridNodes/{id}`` or ``aggregators/{id}``, plus the day-ahead forecast if asked."""
        request = dispatch_pb.GetAdjustableCapacityRequest(
            scope=scope, forecast_day_start_time=forecast_day_start
        )
        response: dispatch_pb.GetAdjustableCapacityResponse = await self._unary(
            self._stub.GetAdjustableCapacity, request, None
        )
        return response

    async def stream_adjustable_capacity(
        self, scope: str, *, interval_seconds: int = 0
    ) -> AsyncIterator[capacity_pb2.AdjustableCapacity]:
        """Updates until the caller stops iterating (no deadline: the stream is long-lived)."""
        call = self._stub.StreamAdjustableCapacity(
            dispatch_pb.StreamAdjustableCapacityRequest(scope=scope, interval_seconds=interval_seconds),
            metadata=self._metadata,
        )
        try:
            async for update in call:
                yield update.capacity
        except grpc.aio.AioRpcError as exc:
            raise from_grpc_error(exc) from exc
        finally:
            call.cancel()

    async def get_statistics(self, scope: str = "") -> statistics_pb2.Statistics:
        response: dispatch_pb.GetStatisticsResponse = await self._unary(
            self._stub.GetStatistics, dispatch_pb.GetStatisticsRequest(scope=scope), None
        )
        return response.statistics


class AggregatorRegistryClient(_Client):
    """Resources, capacity and telemetry on vgi.aggregator.v1.AggregatorService (an aggregator's own)."""

    _STUB = agg_grpc.AggregatorServiceStub

    async def upsert_stations(
        self,
        stations: Sequence[resources_pb2.Station],
        *,
        request_id: str | None = None,
        deadline: float | None = None,
    ) -> list[resources_pb2.Station]:
        """Create or replace stations; returns them as stored, in request order."""
        request = agg_pb.BatchUpsertStationsRequest(
            request_id=request_id_or_new(request_id), stations=stations
        )
        response: agg_pb.BatchUpsertStationsResponse = await self._unary(
            self._stub.BatchUpsertStations, request, deadline
        )
        return list(response.stations)

    async def list_stations(
        self, *, page_size: int = 0, page_token: str = "", grid_node: str = ""
    ) -> agg_pb.ListStationsResponse:
        request = agg_pb.ListStationsRequest(page_size=page_size, page_token=page_token, grid_node=grid_node)
        response: agg_pb.ListStationsResponse = await self._unary(self._stub.ListStations, request, None)
        return response

    async def delete_station(self, name: str, *, request_id: str | None = None) -> resources_pb2.Station:
        request = agg_pb.DeleteStationRequest(request_id=request_id_or_new(request_id), name=name)
        response: agg_pb.DeleteStationResponse = await self._unary(self._stub.DeleteStation, request, None)
        return response.station

    async def upsert_chargers(
        self,
        chargers: Sequence[resources_pb2.Charger],
        *,
        request_id: str | None = None,
        deadline: float | None = None,
    ) -> list[resources_pb2.Charger]:
        """Create or replace chargers (at least 10,000 per call fit in one request); returns them as stored
        (a replaced charger keeps its reported status and heartbeat), in request order."""
        request = agg_pb.BatchUpsertChargersRequest(
            request_id=request_id_or_new(request_id), chargers=chargers
        )
        response: agg_pb.BatchUpsertChargersResponse = await self._unary(
            self._stub.BatchUpsertChargers, request, deadline
        )
        return list(response.chargers)

    async def get_charger(self, name: str) -> resources_pb2.Charger:
        response: agg_pb.GetChargerResponse = await self._unary(
            self._stub.GetCharger, agg_pb.GetChargerRequest(name=name), None
        )
        return response.charger

    async def list_chargers(
        self, *, page_size: int = 0, page_token: str = "", station_id: str = "", online_only: bool = False
    ) -> agg_pb.ListChargersResponse:
        request = agg_pb.ListChargersRequest(
            page_size=page_size, page_token=page_token, station_id=station_id, online_only=online_only
        )
        response: agg_pb.ListChargersResponse = await self._unary(self._stub.ListChargers, request, None)
        return response

    async def delete_charger(self, name: str, *, request_id: str | None = None) -> resources_pb2.Charger:
        request = agg_pb.DeleteChargerRequest(request_id=request_id_or_new(request_id), name=name)
        response: agg_pb.DeleteChargerResponse = await self._unary(self._stub.DeleteCharger, request, None)
        return response.charger

    async def upsert_sessions(
        self,
        sessions: Sequence[resources_pb2.EvSession],
        *,
        request_id: str | None = None,
        deadline: float | None = None,
    ) -> list[resources_pb2.EvSession]:
        """Create or replace sessions; returns them as stored (state and end as the platform made them), in
        request order."""
        request = agg_pb.BatchUpsertSessionsRequest(
            request_id=request_id_or_new(request_id), sessions=sessions
        )
        response: agg_pb.BatchUpsertSessionsResponse = await self._unary(
            self._stub.BatchUpsertSessions, request, deadline
        )
        return list(response.sessions)

    async def list_sessions(
        self, *, page_size: int = 0, page_token: str = "", active_only: bool = False
    ) -> agg_pb.ListSessionsResponse:
        request = agg_pb.ListSessionsRequest(
            page_size=page_size, page_token=page_token, active_only=active_only
        )
        response: agg_pb.ListSessionsResponse = await self._unary(self._stub.ListSessions, request, None)
        return response

    async def declare_capacity(
        self, declaration: capacity_pb2.CapacityDeclaration, *, request_id: str | None = None
    ) -> capacity_pb2.CapacityDeclaration:
        request = agg_pb.DeclareCapacityRequest(
            request_id=request_id_or_new(request_id), declaration=declaration
        )
        response: agg_pb.DeclareCapacityResponse = await self._unary(
            self._stub.DeclareCapacity, request, None
        )
        return response.declaration

    async def get_adjustable_capacity(
        self, *, forecast_day_start: Timestamp | None = None
    ) -> agg_pb.GetAdjustableCapacityResponse:
        request = agg_pb.GetAdjustableCapacityRequest(forecast_day_start_time=forecast_day_start)
        response: agg_pb.GetAdjustableCapacityResponse = await self._unary(
            self._stub.GetAdjustableCapacity, request, None
        )
        return response

    async def upload_telemetry(
        self,
        batches: AsyncIterable[agg_pb.TelemetryBatch] | Sequence[agg_pb.TelemetryBatch],
        *,
        raise_rejected: bool = True,
    ) -> AsyncIterator[agg_pb.UploadTelemetryResponse]:
        """Stream batches; each acknowledgement means that batch is committed (resend unacked ones after a break).

        A batch the platform rejects (result REJECTED, its status in ``error``)
        raises the typed error, ending the upload; with ``raise_rejected=False``
        its response is yielded like the others and the upload goes on.
        """

        async def requests() -> AsyncIterator[agg_pb.UploadTelemetryRequest]:
            if isinstance(batches, AsyncIterable):
                async for batch in batches:
                    yield agg_pb.UploadTelemetryRequest(batch=batch)
            else:
                for batch in batches:
                    yield agg_pb.UploadTelemetryRequest(batch=batch)

        call = self._stub.UploadTelemetry(requests(), metadata=self._metadata)
        try:
            async for ack in call:
                if raise_rejected and ack.result == agg_pb.TELEMETRY_BATCH_RESULT_REJECTED:
                    raise from_status(ack.error)
                yield ack
        except grpc.aio.AioRpcError as exc:
            raise from_grpc_error(exc) from exc
        finally:
            call.cancel()


class DeviceTelemetryClient(_Client):
    """The offline batch upload of vgi.device.v1.DeviceService (a charger's own readings)."""

    _STUB = device_grpc.DeviceServiceStub

    async def upload_meter_values(
        self, values: Sequence[telemetry_pb2.MeterValue], *, batch_id: str | None = None
    ) -> device_pb.UploadMeterValuesResponse:
        """Store readings recorded offline; ``batch_id`` (the request_id) makes a re-send store nothing
        and answer the first answer. The answer counts stored, duplicate and corrected readings."""
        request = device_pb.UploadMeterValuesRequest(request_id=request_id_or_new(batch_id), values=values)
        response: device_pb.UploadMeterValuesResponse = await self._unary(
            self._stub.UploadMeterValues, request, None
        )
        return response
