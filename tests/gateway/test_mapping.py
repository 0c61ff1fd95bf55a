"""OCPP payloads → domain values, without a server: units, export netting, phases, incomplete values, needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import InvalidArgument
from domain.telemetry import PPB, Reading
from server.ocpp import mapping

AT = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_units_export_and_phases() -> None:
    values = [
        {  # 2.0.1 style: numbers, unitOfMeasure; a bidirectional charger discharging
            "timestamp": "2026-12-06T08:00:00Z",
            "sampled_value": [
                {"value": 0, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}},
                {"value": 3.3, "measurand": "Power.Active.Export", "unit_of_measure": {"unit": "kW"}},
                {
                    "value": 1100,
                    "measurand": "Power.Active.Export",
                    "phase": "L1",
                    "unit_of_measure": {"unit": "W"},
                },
                {
                    "value": 20.5,
                    "measurand": "Energy.Active.Import.Register",
                    "unit_of_measure": {"unit": "kWh"},
                },
                {
                    "value": 4000,
                    "measurand": "Energy.Active.Export.Register",
                    "unit_of_measure": {"unit": "Wh"},
                },
                {"value": 61.5, "measurand": "SoC", "unit_of_measure": {"unit": "Percent"}},
                {"value": 16, "measurand": "Current.Import", "unit_of_measure": {"unit": "A"}},
            ],
        },
        {  # 1.6 style: strings, unit; no measurand is the import register
            "timestamp": "2026-12-06T09:00:00+01:00",
            "sampled_value": [
                {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                {"value": "12345"},
            ],
        },
        {"timestamp": "2026-12-06T08:02:00Z", "sampled_value": [{"value": "12400"}]},
    ]
    readings, incomplete = mapping.readings("cp-1", values)
    assert readings == [
        Reading("cp-1", AT, -3_300, 16_500, Decimal("0.615"), 0),
        Reading("cp-1", AT, 7_200, 12_345, None, 0),
    ]
    assert incomplete == [2]


@pytest.mark.parametrize(
    ("sampled", "field"),
    [
        ({"value": "x", "measurand": "Power.Active.Import"}, "meter_value[0].sampled_value[0].value"),
        (
            {"value": 1, "measurand": "Power.Active.Import", "unit": "Wh"},
            "meter_value[0].sampled_value[0].unit_of_measure",
        ),
    ],
)
def test_invalid_values_name_the_field(sampled: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        mapping.readings("cp-1", [{"timestamp": "2026-12-06T08:00:00Z", "sampled_value": [sampled]}])
    assert [v.field for v in error.value.violations] == [field]


def test_time_needs_an_offset() -> None:
    with pytest.raises(InvalidArgument):
        mapping.parse_time("2026-12-06T08:00:00", "timestamp")


def test_charging_needs() -> None:
    assert mapping.default_needs(AT, 7_000) == mapping.Needs(AT + timedelta(hours=8), 20_000, 0, PPB, 7_000)
    ac = {"departure_time": "2026-12-06T12:00:00Z", "ac_charging_parameters": {"energy_amount": 15_000}}
    assert mapping.needs_from(ac, AT, 7_000) == mapping.Needs(AT + timedelta(hours=4), 15_000, 0, PPB, 7_000)
    dc = {
        "dc_charging_parameters": {
            "energy_amount": 30_000,
            "ev_energy_capacity": 60_000,
            "state_of_charge": 40,
            "ev_max_power": 5_000,
        }
    }
    assert mapping.needs_from(dc, AT, 7_000) == mapping.Needs(
        AT + timedelta(hours=8), 60_000, 400_000_000, 900_000_000, 5_000
    )
    # A departure before the plug-in is the plug-in (the session's rule: departure ≥ plug-in).
    early = {"departure_time": "2026-12-06T07:00:00Z"}
    assert mapping.needs_from(early, AT, 7_000).expected_departure_time == AT
