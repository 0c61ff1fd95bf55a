"""wire.resources.readings, which converts each distinct sample time and SOC of a batch once and asks
``HasField`` only of zeros, gives what the field-by-field definition gives, on generated batches."""

from __future__ import annotations

from decimal import Decimal

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st
from vgi.common.v1 import telemetry_pb2

from domain.telemetry import Reading
from wire import resources as convert
from wire.timestamps import to_datetime

_OPTIONAL_INT = st.one_of(st.none(), st.sampled_from([0, 1, -1, 7_000]), st.integers(-(2**63), 2**63 - 1))


@st.composite
def values(draw: st.DrawFn) -> telemetry_pb2.MeterValue:
    value = telemetry_pb2.MeterValue(
        charger_id=draw(st.sampled_from(["c-1", "c-2", ""])),
        status=draw(st.integers(0, 6)),
        sample_time=Timestamp(
            seconds=draw(st.sampled_from([0, 60, 1_700_000_000])),
            nanos=draw(st.sampled_from([0, 999, 1_500, 999_999_999])),
        ),
    )
    for name in ("power_w", "energy_register_wh", "export_energy_register_wh"):
        number = draw(_OPTIONAL_INT)
        if number is not None:
            setattr(value, name, number)
    soc = draw(st.one_of(st.none(), st.sampled_from([0.0, -0.0, 0.5, 1.0, 0.1 + 0.2]), st.floats(0, 1)))
    if soc is not None:
        value.soc = soc
    return value


def _defined(v: telemetry_pb2.MeterValue) -> Reading:
    return Reading(
        charger_id=v.charger_id,
        sample_time=to_datetime(v.sample_time),
        power_w=v.power_w if v.HasField("power_w") else None,
        energy_register_wh=v.energy_register_wh if v.HasField("energy_register_wh") else None,
        soc=Decimal(str(v.soc)) if v.HasField("soc") else None,
        status=v.status,
        export_register_wh=v.export_energy_register_wh if v.HasField("export_energy_register_wh") else None,
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(values(), max_size=20))
def test_readings_are_the_field_by_field_conversion(batch: list[telemetry_pb2.MeterValue]) -> None:
    converted = convert.readings(batch)
    expected = [_defined(v) for v in batch]
    assert converted == expected
    # Decimal('0.0') == Decimal('-0.0'): the sign of a zero SOC is kept too.
    assert [str(r.soc) for r in converted] == [str(r.soc) for r in expected]
    assert all(type(r) is Reading for r in converted)
