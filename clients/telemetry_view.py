"""Typed async SDK for the monitoring view (SPEC F2 运行监测) on any of its three surfaces.

``TelemetryViewClient(channel, Surface.AGGREGATOR)`` (or DISPATCH, OPERATOR):
the same four reads everywhere — latest charger states, raw readings, slot
means with their source and coverage, corrections — each returning one page
(``page_token`` for the next), or ``all_*`` to follow the pages. On the
aggregator surface only the caller's own chargers are seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from enum import Enum
from types import ModuleType
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as agg_grpc
from vgi.common.v1 import monitoring_pb2, telemetry_pb2, types_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as dispatch_grpc
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from clients.sdk import DEFAULT_DEADLINE_SECONDS, _Client


class Surface(Enum):
    """Which service the view is read through (and so which role the caller has)."""

    DISPATCH = (dispatch_pb, dispatch_grpc.DispatchServiceStub)
    AGGREGATOR = (agg_pb, agg_grpc.AggregatorServiceStub)
    OPERATOR = (operator_pb, operator_grpc.OperatorServiceStub)


def _window(start: datetime, end: datetime) -> types_pb2.TimeWindow:
    first, last = Timestamp(), Timestamp()
    first.FromDatetime(start)
    last.FromDatetime(end)
    return types_pb2.TimeWindow(start_time=first, end_time=last)


class TelemetryViewClient(_Client):
    """The monitoring view RPCs of one surface (its stub is chosen by ``surface``, not by ``_STUB``)."""

    _STUB = dispatch_grpc.DispatchServiceStub

    def __init__(
        self, channel: grpc.aio.Channel, surface: Surface, *, deadline: float = DEFAULT_DEADLINE_SECONDS
    ) -> None:
        super().__init__(channel, deadline=deadline)
        self._pb: ModuleType = surface.value[0]
        self._stub = surface.value[1](channel)

    async def list_charger_states(self, scope: str, *, page_size: int = 0, page_token: str = "") -> Any:
        """One page of the latest state of the chargers of ``scope`` (a station, aggregator or grid node)."""
        request = self._pb.ListChargerStatesRequest(scope=scope, page_size=page_size, page_token=page_token)
        return await self._unary(self._stub.ListChargerStates, request, None)

    async def list_meter_readings(
        self, charger: str, start: datetime, end: datetime, *, page_size: int = 0, page_token: str = ""
    ) -> Any:
        """One page of a charger's stored readings in [start, end), oldest first."""
        request = self._pb.ListMeterReadingsRequest(
            charger=charger, range=_window(start, end), page_size=page_size, page_token=page_token
        )
        return await self._unary(self._stub.ListMeterReadings, request, None)

    async def list_slot_means(
        self, scope: str, start: datetime, end: datetime, *, page_size: int = 0, page_token: str = ""
    ) -> Any:
        """One page of the slot means of ``scope`` (charger, station, aggregator or grid node) in [start, end)."""
        request = self._pb.ListSlotMeansRequest(
            scope=scope, range=_window(start, end), page_size=page_size, page_token=page_token
        )
        return await self._unary(self._stub.ListSlotMeans, request, None)

    async def list_meter_corrections(
        self, scope: str, start: datetime, end: datetime, *, page_size: int = 0, page_token: str = ""
    ) -> Any:
        """One page of the corrections in [start, end) of ``scope``: its chargers' readings and its uploaded
        15-minute values."""
        request = self._pb.ListMeterCorrectionsRequest(
            scope=scope, range=_window(start, end), page_size=page_size, page_token=page_token
        )
        return await self._unary(self._stub.ListMeterCorrections, request, None)

    async def all_charger_states(self, scope: str) -> list[monitoring_pb2.ChargerState]:
        return [
            s
            async for s in _pages(
                lambda token: self.list_charger_states(scope, page_token=token), "charger_states"
            )
        ]

    async def all_meter_readings(
        self, charger: str, start: datetime, end: datetime
    ) -> list[telemetry_pb2.MeterValue]:
        return [
            r
            async for r in _pages(
                lambda token: self.list_meter_readings(charger, start, end, page_token=token), "readings"
            )
        ]

    async def all_slot_means(
        self, scope: str, start: datetime, end: datetime
    ) -> list[monitoring_pb2.SlotMean]:
        return [
            s
            async for s in _pages(
                lambda token: self.list_slot_means(scope, start, end, page_token=token), "slot_means"
            )
        ]

    async def all_meter_corrections(
        self, scope: str, start: datetime, end: datetime
    ) -> list[monitoring_pb2.MeterCorrection]:
        return [
            c
            async for c in _pages(
                lambda token: self.list_meter_corrections(scope, start, end, page_token=token), "corrections"
            )
        ]


async def _pages(fetch: Callable[[str], Awaitable[Any]], field: str) -> AsyncIterator[Any]:
    token = ""
    while True:
        page = await fetch(token)
        for item in getattr(page, field):
            yield item
        token = page.next_page_token
        if not token:
            return
