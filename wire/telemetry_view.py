"""Monitoring-view records (store.telemetry_view) → vgi.common.v1 monitoring and telemetry messages."""

from __future__ import annotations

from decimal import Decimal

from google.type import decimal_pb2
from vgi.common.v1 import monitoring_pb2, resources_pb2, telemetry_pb2

from domain import exact
from store import telemetry
from store.telemetry_view import AggregateCorrection, ChargerState, Correction, SlotMean, StoredReading
from wire import resources

_SOURCES = {
    telemetry.REGISTER_SOURCE: monitoring_pb2.SLOT_SOURCE_REGISTER,
    telemetry.POWER_SOURCE: monitoring_pb2.SLOT_SOURCE_POWER,
    telemetry.AGGREGATOR_SOURCE: monitoring_pb2.SLOT_SOURCE_AGGREGATOR,
    telemetry.MIXED_SOURCE: monitoring_pb2.SLOT_SOURCE_MIXED,
}
_PPB = Decimal(1_000_000_000)


def _charger_name(aggregator_id: str, station_id: str, charger_id: str) -> str:
    return f"{resources.station_name(aggregator_id, station_id)}/chargers/{charger_id}"


def _soc(ppb: int | None) -> float | None:
    return None if ppb is None else float(Decimal(ppb) / _PPB)


def charger_state_message(state: ChargerState) -> monitoring_pb2.ChargerState:
    return monitoring_pb2.ChargerState(
        charger=_charger_name(state.aggregator_id, state.station_id, state.charger_id),
        grid_node=f"gridNodes/{state.grid_node_id}",
        power_w=state.power_w,
        energy_register_wh=state.energy_register_wh,
        soc=_soc(state.soc_ppb),
        status="CHARGER_STATUS_" + state.status,
        last_meter_time=resources.timestamp(state.last_meter_time),
        last_heartbeat_time=resources.timestamp(state.last_heartbeat_time),
        online=state.online,
    )


def meter_value_message(reading: StoredReading) -> telemetry_pb2.MeterValue:
    return telemetry_pb2.MeterValue(
        charger_id=reading.charger_id,
        sample_time=resources.timestamp(reading.sample_time),
        power_w=reading.power_w,
        energy_register_wh=reading.energy_register_wh,
        export_energy_register_wh=reading.export_register_wh,
        soc=_soc(reading.soc_ppb),
        status=resources_pb2.ChargerStatus.Name(reading.status),
    )


def slot_mean_message(slot: SlotMean) -> monitoring_pb2.SlotMean:
    return monitoring_pb2.SlotMean(
        slot_start_time=resources.timestamp(slot.slot_start),
        mean_power_w=decimal_pb2.Decimal(value=exact.decimal_text(slot.mean_power_w)),
        source=_SOURCES[slot.source],
        coverage=decimal_pb2.Decimal(value=exact.decimal_text(slot.coverage)),
    )


def correction_message(correction: Correction | AggregateCorrection) -> monitoring_pb2.MeterCorrection:
    kind, _, who = correction.source.partition("/")
    if isinstance(correction, AggregateCorrection):
        resource = f"{resources.AGGREGATOR_PREFIX}{correction.aggregator_id}"
        if correction.station_id:
            resource = resources.station_name(correction.aggregator_id, correction.station_id)
        slot = resources.timestamp(correction.slot_start)
        return monitoring_pb2.MeterCorrection(
            sample_time=slot,
            source=f"{kind}s/{who}",
            batch_id=correction.batch_id,
            correct_time=resources.timestamp(correction.correct_time),
            old_aggregate=telemetry_pb2.IntervalAggregate(
                resource=resource, slot_start_time=slot, mean_power_w=correction.old_mean_power_w
            ),
            new_aggregate=telemetry_pb2.IntervalAggregate(
                resource=resource, slot_start_time=slot, mean_power_w=correction.new_mean_power_w
            ),
        )
    return monitoring_pb2.MeterCorrection(
        charger=_charger_name(correction.aggregator_id, correction.station_id, correction.old.charger_id),
        sample_time=resources.timestamp(correction.old.sample_time),
        source=f"{kind}s/{who}",
        batch_id=correction.batch_id,
        correct_time=resources.timestamp(correction.correct_time),
        old_value=meter_value_message(correction.old),
        new_value=meter_value_message(correction.new),
    )
