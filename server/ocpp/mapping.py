"""OCPP payloads ⇄ the platform's domain values, for both protocol versions; no I/O.

Meter values. A sampled value counts when its measurand is one the platform
stores: ``Power.Active.Import`` / ``Power.Active.Export`` (W or kW; net
power = import − export), ``Energy.Active.Import.Register`` /
``Energy.Active.Export.Register`` (Wh or kWh; the register is net, as SPEC
F2 wants for bidirectional chargers) and ``SoC`` (percent). A value with no
measurand is OCPP's default, the import energy register. Only phase totals
are read (a value with a ``phase`` is one phase of a total the station also
sends). A meterValue is a Reading when it has both a power and an energy
figure, the two the platform's Reading holds.

Sessions. OCPP does not tell the platform the EV's battery and target at
transaction start; until the EV reports its needs (2.0.1
NotifyEVChargingNeeds, ISO 15118) a session is recorded as needing
``DEFAULT_ENERGY_NEED_WH`` by ``DEFAULT_DWELL`` after plug-in, expressed as
battery = the need, SOC 0 → target 1 (so F3's E = need exactly).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.errors import FieldViolation, InvalidArgument
from domain.telemetry import PPB, Reading

DEFAULT_ENERGY_NEED_WH = 20_000
DEFAULT_DWELL = timedelta(hours=8)

POWER_IMPORT = "Power.Active.Import"
POWER_EXPORT = "Power.Active.Export"
ENERGY_IMPORT = "Energy.Active.Import.Register"
ENERGY_EXPORT = "Energy.Active.Export.Register"
SOC = "SoC"

#: OCPP connector statuses (1.6 ChargePointStatus, 2.0.1 ConnectorStatusEnumType) → stored ChargerStatus names.
STATUSES: Mapping[str, str] = {
    "Available": "AVAILABLE",
    "Preparing": "OCCUPIED",
    "Charging": "CHARGING",
    "SuspendedEVSE": "OCCUPIED",
    "SuspendedEV": "OCCUPIED",
    "Finishing": "OCCUPIED",
    "Occupied": "OCCUPIED",
    "Reserved": "UNAVAILABLE",
    "Unavailable": "UNAVAILABLE",
    "Faulted": "FAULTED",
}

_UNITS = {"power": {"W": 1, "kW": 1000}, "energy": {"Wh": 1, "kWh": 1000}}


def parse_time(value: str, field: str) -> datetime:
    """An OCPP dateTime (RFC 3339) as an aware UTC datetime; INVALID_ARGUMENT otherwise."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(field, "is not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise _invalid(field, "needs a UTC offset")
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_name(ocpp_status: str) -> str:
    try:
        return STATUSES[ocpp_status]
    except KeyError:
        raise _invalid("status", f"unknown connector status {ocpp_status!r}") from None


@dataclass
class _Sample:
    power_import: Decimal | None = None
    power_export: Decimal | None = None
    energy_import: Decimal | None = None
    energy_export: Decimal | None = None
    soc: Decimal | None = None


def readings(
    charger_id: str, meter_values: Iterable[Mapping[str, Any]], *, field: str = "meter_value"
) -> tuple[list[Reading], list[int]]:
    """The Readings among OCPP meterValues (snake_case keys, either version) and the indexes of those
    that are not one (no power or no energy figure)."""
    out: list[Reading] = []
    incomplete: list[int] = []
    for i, meter_value in enumerate(meter_values):
        at = parse_time(str(meter_value.get("timestamp", "")), f"{field}[{i}].timestamp")
        sample = _Sample()
        for j, sampled in enumerate(meter_value.get("sampled_value", [])):
            if sampled.get("phase"):
                continue
            where = f"{field}[{i}].sampled_value[{j}]"
            measurand = sampled.get("measurand", ENERGY_IMPORT)
            number = _value(sampled, where)
            if measurand == SOC:
                sample.soc = number / 100
                continue
            if measurand not in (POWER_IMPORT, POWER_EXPORT, ENERGY_IMPORT, ENERGY_EXPORT):
                continue  # other measurands (current, voltage, …) are not stored
            unit = _unit(sampled)
            kind = "power" if measurand.startswith("Power") else "energy"
            if unit not in _UNITS[kind]:
                raise _invalid(f"{where}.unit_of_measure", f"unit {unit!r} does not fit {measurand}")
            direction = "import" if "Import" in measurand else "export"
            setattr(sample, f"{kind}_{direction}", number * _UNITS[kind][unit])
        if (sample.power_import is None and sample.power_export is None) or sample.energy_import is None:
            incomplete.append(i)
            continue
        power = (sample.power_import or 0) - (sample.power_export or 0)
        energy = sample.energy_import - (sample.energy_export or 0)
        soc = None if sample.soc is None else min(max(sample.soc, Decimal(0)), Decimal(1))
        out.append(Reading(charger_id, at, int(power), int(energy), soc, 0))
    return out, incomplete


def _value(sampled: Mapping[str, Any], where: str) -> Decimal:
    # 1.6 sends the value as a string, 2.0.1 as a number; Decimal keeps either exact.
    try:
        number = Decimal(str(sampled.get("value")))
    except InvalidOperation:
        raise _invalid(f"{where}.value", "is not a number") from None
    if not number.is_finite():
        raise _invalid(f"{where}.value", "is not a finite number")
    return number


def _unit(sampled: Mapping[str, Any]) -> str:
    unit = sampled.get("unit")  # 1.6
    of_measure = sampled.get("unit_of_measure")  # 2.0.1: {unit, multiplier}
    if isinstance(of_measure, Mapping):
        unit = of_measure.get("unit", "Wh")
        if of_measure.get("multiplier"):
            return f"10^{of_measure['multiplier']}{unit}"  # a scale the platform does not read
    if unit is None:
        return "Wh" if sampled.get("measurand", ENERGY_IMPORT).startswith("Energy") else "W"
    return str(unit)


@dataclass(frozen=True, slots=True)
class Needs:
    """An EV's charging needs as the platform's session stores them."""

    expected_departure_time: datetime
    battery_wh: int
    soc_ppb: int
    target_soc_ppb: int
    max_charge_w: int


def default_needs(plug_in: datetime, rated_charge_w: int) -> Needs:
    return Needs(plug_in + DEFAULT_DWELL, DEFAULT_ENERGY_NEED_WH, 0, PPB, rated_charge_w)


def needs_from(charging_needs: Mapping[str, Any], plug_in: datetime, rated_charge_w: int) -> Needs:
    """NotifyEVChargingNeeds' chargingNeeds (snake_case) → Needs; absent figures keep the defaults.

    The energy need is ``energyAmount`` (AC or DC parameters); with a DC
    battery capacity and present SoC the session gets the real battery and
    SOC, the target being what the need adds.
    """
    base = default_needs(plug_in, rated_charge_w)
    departure = base.expected_departure_time
    if charging_needs.get("departure_time"):
        departure = max(
            parse_time(str(charging_needs["departure_time"]), "charging_needs.departure_time"), plug_in
        )
    parameters = (
        charging_needs.get("dc_charging_parameters") or charging_needs.get("ac_charging_parameters") or {}
    )
    energy = parameters.get("energy_amount")
    if energy is None:
        return Needs(departure, base.battery_wh, base.soc_ppb, base.target_soc_ppb, base.max_charge_w)
    energy_wh = max(int(energy), 0)
    max_charge = rated_charge_w
    if parameters.get("ev_max_power"):
        max_charge = min(rated_charge_w, int(parameters["ev_max_power"]))
    capacity, soc = parameters.get("ev_energy_capacity"), parameters.get("state_of_charge")
    if capacity and soc is not None and int(capacity) > 0:
        soc_ppb = int(soc) * PPB // 100
        target = min(PPB, soc_ppb + energy_wh * PPB // int(capacity))
        return Needs(departure, int(capacity), soc_ppb, target, max_charge)
    return Needs(departure, energy_wh, 0, PPB, max_charge)


def _invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field} {description}",
        reason="OCPP_PAYLOAD_INVALID",
        violations=[FieldViolation(field, description)],
    )
