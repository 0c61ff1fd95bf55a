"""The monitoring view RPCs (SPEC F2 运行监测), shared by the dispatch, aggregator and operator surfaces.

Each surface's servicer mixes in ``TelemetryView`` and names its generated
module in ``_view_pb``; the request and response messages have the same
shape on every surface. On the aggregator surface (``_view_tenanted``) every
scope is confined to the caller (domain.telemetry_view.confine).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import ModuleType
from typing import Any

import grpc
from google.type import decimal_pb2
from sqlalchemy.engine import Connection
from vgi.common.v1 import monitoring_pb2, resources_pb2, telemetry_pb2

from domain import exact
from domain.telemetry_view import Scope, check_range, confine, parse_scope
from server import clock
from server.servicers import Deps, caller
from store import telemetry, telemetry_view
from store.telemetry_view import AggregateCorrection, ChargerState, Correction, SlotMean, StoredReading
from wire import resources as convert

_SOURCES = {
    telemetry.REGISTER_SOURCE: monitoring_pb2.SLOT_SOURCE_REGISTER,
    telemetry.POWER_SOURCE: monitoring_pb2.SLOT_SOURCE_POWER,
    telemetry.AGGREGATOR_SOURCE: monitoring_pb2.SLOT_SOURCE_AGGREGATOR,
    telemetry.MIXED_SOURCE: monitoring_pb2.SLOT_SOURCE_MIXED,
}
_PPB = Decimal(1_000_000_000)


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
            charger_states=[_state(s) for s in page.items], next_page_token=page.next_page_token
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
            readings=[_reading(r) for r in page.items], next_page_token=page.next_page_token
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
            slot_means=[_slot_mean(s) for s in page.items], next_page_token=page.next_page_token
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
            corrections=[_correction(c) for c in page.items], next_page_token=page.next_page_token
        )


def _range(request: Any) -> tuple[datetime, datetime]:
    start = convert.to_datetime(request.range.start_time)
    end = convert.to_datetime(request.range.end_time)
    check_range(start, end)
    return start, end


def _charger_name(aggregator_id: str, station_id: str, charger_id: str) -> str:
    return f"{convert.station_name(aggregator_id, station_id)}/chargers/{charger_id}"


def _soc(ppb: int | None) -> float | None:
    return None if ppb is None else float(Decimal(ppb) / _PPB)


def _state(state: ChargerState) -> monitoring_pb2.ChargerState:
    return monitoring_pb2.ChargerState(
        charger=_charger_name(state.aggregator_id, state.station_id, state.charger_id),
        grid_node=f"gridNodes/{state.grid_node_id}",
        power_w=state.power_w,
        energy_register_wh=state.energy_register_wh,
        soc=_soc(state.soc_ppb),
        status="CHARGER_STATUS_" + state.status,
        last_meter_time=convert.timestamp(state.last_meter_time),
        last_heartbeat_time=convert.timestamp(state.last_heartbeat_time),
        online=state.online,
    )


def _reading(reading: StoredReading) -> telemetry_pb2.MeterValue:
    return telemetry_pb2.MeterValue(
        charger_id=reading.charger_id,
        sample_time=convert.timestamp(reading.sample_time),
        power_w=reading.power_w,
        energy_register_wh=reading.energy_register_wh,
        export_energy_register_wh=reading.export_register_wh,
        soc=_soc(reading.soc_ppb),
        status=resources_pb2.ChargerStatus.Name(reading.status),
    )


def _slot_mean(slot: SlotMean) -> monitoring_pb2.SlotMean:
    return monitoring_pb2.SlotMean(
        slot_start_time=convert.timestamp(slot.slot_start),
        mean_power_w=decimal_pb2.Decimal(value=exact.decimal_text(slot.mean_power_w)),
        source=_SOURCES[slot.source],
        coverage=decimal_pb2.Decimal(value=exact.decimal_text(slot.coverage)),
    )


def _correction(correction: Correction | AggregateCorrection) -> monitoring_pb2.MeterCorrection:
    kind, _, who = correction.source.partition("/")
    if isinstance(correction, AggregateCorrection):
        resource = f"{convert.AGGREGATOR_PREFIX}{correction.aggregator_id}"
        if correction.station_id:
            resource = convert.station_name(correction.aggregator_id, correction.station_id)
        slot = convert.timestamp(correction.slot_start)
        return monitoring_pb2.MeterCorrection(
            sample_time=slot,
            source=f"{kind}s/{who}",
            batch_id=correction.batch_id,
            correct_time=convert.timestamp(correction.correct_time),
            old_aggregate=telemetry_pb2.IntervalAggregate(
                resource=resource, slot_start_time=slot, mean_power_w=correction.old_mean_power_w
            ),
            new_aggregate=telemetry_pb2.IntervalAggregate(
                resource=resource, slot_start_time=slot, mean_power_w=correction.new_mean_power_w
            ),
        )
    return monitoring_pb2.MeterCorrection(
        charger=_charger_name(correction.aggregator_id, correction.station_id, correction.old.charger_id),
        sample_time=convert.timestamp(correction.old.sample_time),
        source=f"{kind}s/{who}",
        batch_id=correction.batch_id,
        correct_time=convert.timestamp(correction.correct_time),
        old_value=_reading(correction.old),
        new_value=_reading(correction.new),
    )
