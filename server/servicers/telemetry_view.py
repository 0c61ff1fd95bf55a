"""The monitoring view RPCs (SPEC F2 运行监测), shared by the dispatch, aggregator and operator surfaces.

Each surface's servicer mixes in ``TelemetryView`` and names its generated
module in ``_view_pb``; the request and response messages have the same
shape on every surface. On the aggregator surface (``_view_tenanted``) every
scope is confined to the caller (domain.telemetry_view.confine).
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import Any

import grpc
from sqlalchemy.engine import Connection

from domain.telemetry_view import Scope, check_range, confine, parse_scope
from server import clock
from server.servicers import Deps, caller
from store import telemetry_view
from wire import resources as convert
from wire import telemetry_view as view


class TelemetryView:
    """ListChargerStates, ListMeterReadings, ListSlotMeans and ListMeterCorrections."""

    deps: Deps
    _view_pb: ModuleType
    _view_tenanted: bool = False

    def _scope(self, name: str, field: str = "scope") -> Scope:
        return confine(
            parse_scope(name, field), convert.tenant_of(caller()) if self._view_tenanted else None, name
        )

    async def ListChargerStates(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        scope = self._scope(request.scope)
        now, timeout = clock.now(), self.deps.settings.heartbeat_timeout()
        page = await self.deps.db.read(
            lambda conn: telemetry_view.charger_states(
                conn, scope, now, timeout, page_size=request.page_size, page_token=request.page_token
            )
        )
        return self._view_pb.ListChargerStatesResponse(
            charger_states=[view.charger_state_message(s) for s in page.items],
            next_page_token=page.next_page_token,
        )

    async def ListMeterReadings(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        scope = self._scope(request.charger, "charger")
        start, end = _range(request)

        def read(conn: Connection) -> Any:
            telemetry_view.check_charger(conn, scope, request.charger)
            return telemetry_view.meter_readings(
                conn, scope, start, end, page_size=request.page_size, page_token=request.page_token
            )

        page = await self.deps.db.read(read)
        return self._view_pb.ListMeterReadingsResponse(
            readings=[view.meter_value_message(r) for r in page.items], next_page_token=page.next_page_token
        )

    async def ListSlotMeans(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        scope = self._scope(request.scope)
        start, end = _range(request)

        def read(conn: Connection) -> Any:
            if scope.charger_id is not None:
                telemetry_view.check_charger(conn, scope, request.scope)
            return telemetry_view.slot_means(
                conn, scope, start, end, page_size=request.page_size, page_token=request.page_token
            )

        page = await self.deps.db.read(read)
        return self._view_pb.ListSlotMeansResponse(
            slot_means=[view.slot_mean_message(s) for s in page.items], next_page_token=page.next_page_token
        )

    async def ListMeterCorrections(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        scope = self._scope(request.scope)
        start, end = _range(request)

        def read(conn: Connection) -> Any:
            if scope.charger_id is not None:
                telemetry_view.check_charger(conn, scope, request.scope)
            return telemetry_view.corrections(
                conn, scope, start, end, page_size=request.page_size, page_token=request.page_token
            )

        page = await self.deps.db.read(read)
        return self._view_pb.ListMeterCorrectionsResponse(
            corrections=[view.correction_message(c) for c in page.items], next_page_token=page.next_page_token
        )


def _range(request: Any) -> tuple[datetime, datetime]:
    start = convert.to_datetime(request.range.start_time)
    end = convert.to_datetime(request.range.end_time)
    check_range(start, end)
    return start, end
