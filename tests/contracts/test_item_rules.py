"""Batch items checked by compiled rules (interceptors.item_rules) answer exactly as protovalidate.

The property tests generate batches of valid and invalid MeterValues and Chargers (every rule's
edges, NaN and infinities, unset optional fields, undefined enum numbers, ids RE2 and Python's
``$`` would read differently) and compare, on the real request types, the validation stage's
answer with the stage that hands the whole request to protovalidate: the same violations (path
with the item's index, description, reason) in the same order, or none. The compiled checks are
also compared directly: ``clean`` with protovalidate finding nothing, ``violations`` with its list.
"""

from __future__ import annotations

import math
import uuid

import protovalidate
import pytest
from buf.validate import validate_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vgi.aggregator.v1 import aggregator_service_pb2 as aggregator_pb
from vgi.common.v1 import resources_pb2, telemetry_pb2
from vgi.device.v1 import device_service_pb2 as device_pb

from domain.errors import FieldViolation, InvalidArgument
from interceptors import item_rules
from interceptors.item_rules import compile_rules
from interceptors.validation import ValidationInterceptor, _batch_of, _invalid

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_IDS = st.one_of(
    st.sampled_from(
        ["ing-00001", "a", "A.b_c-d", "x" * 64, "", "x" * 65, "-a", ".a", "a\n", "a b", "aé", "a/b"]
    ),
    st.text(alphabet="ab-._Z9 \n/é", max_size=6),
)
_INT64 = st.one_of(
    st.none(),
    st.sampled_from([-2_000_001, -2_000_000, -1, 0, 1, 2_000_000, 2_000_001, -(2**63), 2**63 - 1]),
    st.integers(min_value=-3_000_000, max_value=3_000_000),
)
_SOC = st.one_of(
    st.none(),
    st.sampled_from([0.0, 1.0, -0.0, -1e-300, 1.0000000001, math.nan, math.inf, -math.inf, 0.5]),
    st.floats(min_value=-0.5, max_value=1.5),
)
_ENUM = st.one_of(st.integers(min_value=0, max_value=6), st.sampled_from([-1, 7, 99]))


@st.composite
def meter_values(draw: st.DrawFn) -> telemetry_pb2.MeterValue:
    value = telemetry_pb2.MeterValue(charger_id=draw(_IDS), status=draw(_ENUM))
    if draw(st.booleans()) or draw(st.booleans()):
        value.sample_time.CopyFrom(Timestamp(seconds=draw(st.integers(0, 2_000_000_000))))
    for name in ("power_w", "energy_register_wh", "export_energy_register_wh"):
        number = draw(_INT64)
        if number is not None:
            setattr(value, name, number)
    soc = draw(_SOC)
    if soc is not None:
        value.soc = soc
    return value


@st.composite
def chargers(draw: st.DrawFn) -> resources_pb2.Charger:
    return resources_pb2.Charger(
        charger_id=draw(_IDS),
        station_id=draw(_IDS),
        kind=draw(st.one_of(st.integers(min_value=0, max_value=3), st.sampled_from([-1, 99]))),
        rated_charge_w=draw(_INT64) or 0,
        rated_discharge_w=draw(_INT64) or 0,
        bidirectional=draw(st.booleans()),
        platform_managed=draw(st.booleans()),
    )


def _mostly_valid(items: st.SearchStrategy, valid: st.SearchStrategy) -> st.SearchStrategy:
    """Lists where valid items dominate (the common batch) or any items at all."""
    return st.one_of(st.lists(valid, max_size=12), st.lists(st.one_of(valid, items), max_size=12))


_VALID_VALUES = st.builds(
    lambda i, t, p: telemetry_pb2.MeterValue(
        charger_id=f"c-{i}", sample_time=Timestamp(seconds=t), power_w=p, soc=0.5, status=3
    ),
    st.integers(0, 50),
    st.integers(0, 2_000_000_000),
    st.integers(-2_000_000, 2_000_000),
)
_VALID_CHARGERS = st.builds(
    lambda i, w: resources_pb2.Charger(
        charger_id=f"c-{i}", station_id="st-1", kind=resources_pb2.CHARGER_KIND_DC, rated_charge_w=w
    ),
    st.integers(0, 50),
    st.integers(1, 2_000_000),
)


def _stage() -> ValidationInterceptor:
    return ValidationInterceptor()


def _protovalidate_stage() -> ValidationInterceptor:
    """The stage as it was: every request handed whole to protovalidate."""
    stage = ValidationInterceptor()
    for request_type in (
        aggregator_pb.UploadTelemetryRequest,
        aggregator_pb.BatchUpsertChargersRequest,
        device_pb.UploadMeterValuesRequest,
    ):
        stage._batches[request_type.DESCRIPTOR.full_name] = None
    return stage


def _answer(stage: ValidationInterceptor, request: object) -> list[FieldViolation] | None:
    try:
        stage._check(request)  # type: ignore[arg-type]
    except InvalidArgument as error:
        return list(error.violations)
    return None


FAST, SLOW = _stage(), _protovalidate_stage()
VALIDATOR = protovalidate.Validator()


def _same(request: object) -> None:
    assert _answer(FAST, request) == _answer(SLOW, request)


@PROPERTY
@given(_mostly_valid(meter_values(), _VALID_VALUES), st.booleans())
def test_upload_telemetry_answers_as_protovalidate(
    values: list[telemetry_pb2.MeterValue], good_id: bool
) -> None:
    batch_id = str(uuid.uuid4()) if good_id else "not-a-uuid"
    _same(
        aggregator_pb.UploadTelemetryRequest(
            batch=aggregator_pb.TelemetryBatch(batch_id=batch_id, meter_values=values)
        )
    )


@PROPERTY
@given(_mostly_valid(meter_values(), _VALID_VALUES))
def test_upload_meter_values_answers_as_protovalidate(values: list[telemetry_pb2.MeterValue]) -> None:
    _same(device_pb.UploadMeterValuesRequest(request_id=str(uuid.uuid4()), values=values))


@PROPERTY
@given(_mostly_valid(chargers(), _VALID_CHARGERS), st.booleans())
def test_batch_upsert_chargers_answers_as_protovalidate(
    items: list[resources_pb2.Charger], good_id: bool
) -> None:
    request_id = str(uuid.uuid4()) if good_id else "x"
    _same(aggregator_pb.BatchUpsertChargersRequest(request_id=request_id, chargers=items))


@PROPERTY
@given(st.lists(meter_values(), max_size=12))
def test_compiled_meter_value_rules_are_protovalidate_s(values: list[telemetry_pb2.MeterValue]) -> None:
    request = device_pb.UploadMeterValuesRequest(request_id=str(uuid.uuid4()), values=values)
    expected = VALIDATOR.collect_violations(request)
    rules = compile_rules(telemetry_pb2.MeterValue.DESCRIPTOR)
    assert rules is not None
    expected_fields = _invalid(expected).violations if expected else []
    # values=[] breaks the list's min_items: that one is the list's, not an item's.
    expected_fields = [v for v in expected_fields if v.field != "values"]
    assert rules.violations(values, "values") == expected_fields
    assert rules.clean(values) == (not expected_fields)


@PROPERTY
@given(st.lists(chargers(), max_size=12))
def test_compiled_charger_rules_are_protovalidate_s(items: list[resources_pb2.Charger]) -> None:
    request = aggregator_pb.BatchUpsertChargersRequest(request_id=str(uuid.uuid4()), chargers=items)
    expected = VALIDATOR.collect_violations(request)
    rules = compile_rules(resources_pb2.Charger.DESCRIPTOR)
    assert rules is not None
    expected_fields = [
        v for v in (_invalid(expected).violations if expected else []) if v.field != "chargers"
    ]
    assert rules.violations(items, "chargers") == expected_fields
    assert rules.clean(items) == (not expected_fields)


def _valid_value(**fields: object) -> telemetry_pb2.MeterValue:
    value = telemetry_pb2.MeterValue(charger_id="c-1", sample_time=Timestamp(seconds=1_700_000_000), status=3)
    for name, field_value in fields.items():
        setattr(value, name, field_value)
    return value


def test_meter_value_violations_are_named_exactly() -> None:
    bad = telemetry_pb2.MeterValue(
        charger_id="a\n", power_w=-2_000_001, soc=math.nan, status=99, export_energy_register_wh=-1
    )
    request = aggregator_pb.UploadTelemetryRequest(
        batch=aggregator_pb.TelemetryBatch(
            batch_id=str(uuid.uuid4()),
            meter_values=[_valid_value(), _valid_value(), bad, _valid_value(soc=1.5)],
        )
    )
    pattern = "does not match regex pattern `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`"
    soc_range = "must be greater than or equal to 0 and less than or equal to 1"
    assert _answer(FAST, request) == [
        FieldViolation(
            "batch.meter_values[2]",
            "export_energy_register_wh needs energy_register_wh in the same reading",
            "METER_VALUE_EXPORT_NEEDS_IMPORT",
        ),
        FieldViolation("batch.meter_values[2].charger_id", pattern, "STRING_PATTERN"),
        FieldViolation("batch.meter_values[2].sample_time", "value is required", "REQUIRED"),
        FieldViolation(
            "batch.meter_values[2].power_w",
            "must be greater than or equal to -2000000 and less than or equal to 2000000",
            "INT64_GTE_LTE",
        ),
        FieldViolation("batch.meter_values[2].soc", soc_range, "DOUBLE_GTE_LTE"),
        FieldViolation(
            "batch.meter_values[2].status",
            "value must be one of the defined enum values",
            "ENUM_DEFINED_ONLY",
        ),
        FieldViolation(
            "batch.meter_values[2].export_energy_register_wh",
            "must be greater than or equal to 0",
            "INT64_GTE",
        ),
        FieldViolation("batch.meter_values[3].soc", soc_range, "DOUBLE_GTE_LTE"),
    ]
    assert _answer(FAST, request) == _answer(SLOW, request)


def test_charger_violations_are_named_exactly() -> None:
    good = resources_pb2.Charger(
        charger_id="c-1", station_id="st-1", kind=resources_pb2.CHARGER_KIND_DC, rated_charge_w=1
    )
    request = aggregator_pb.BatchUpsertChargersRequest(
        request_id=str(uuid.uuid4()),
        chargers=[good, resources_pb2.Charger(station_id="st-1", rated_discharge_w=2_000_001), good],
    )
    assert _answer(FAST, request) == [
        FieldViolation(
            "chargers[1].charger_id",
            "does not match regex pattern `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`",
            "STRING_PATTERN",
        ),
        FieldViolation("chargers[1].kind", "must not be in list [0]", "ENUM_NOT_IN"),
        FieldViolation(
            "chargers[1].rated_charge_w",
            "must be greater than 0 and less than or equal to 2000000",
            "INT64_GT_LTE",
        ),
        FieldViolation(
            "chargers[1].rated_discharge_w",
            "must be greater than or equal to 0 and less than or equal to 2000000",
            "INT64_GTE_LTE",
        ),
    ]
    assert _answer(FAST, request) == _answer(SLOW, request)


def test_a_clean_batch_is_not_handed_to_protovalidate_whole() -> None:
    """The fast path is taken: protovalidate sees the request with its batch cut to the first item."""
    seen: list[int] = []
    stage = ValidationInterceptor()
    collect = stage._collect

    def counting(message: aggregator_pb.BatchUpsertChargersRequest) -> list[protovalidate.Violation]:
        seen.append(len(message.chargers))
        return collect(message)

    stage._collect = counting  # type: ignore[method-assign]
    good = resources_pb2.Charger(
        charger_id="c-1", station_id="st-1", kind=resources_pb2.CHARGER_KIND_DC, rated_charge_w=1
    )
    stage._check(
        aggregator_pb.BatchUpsertChargersRequest(request_id=str(uuid.uuid4()), chargers=[good] * 500)
    )
    assert seen == [1]


@pytest.mark.parametrize(
    ("message", "compiled"),
    [
        (telemetry_pb2.MeterValue, True),
        (resources_pb2.Charger, True),
        # Custom predefined rules, max_len, CEL over timestamps: left to protovalidate.
        (resources_pb2.Station, False),
        (resources_pb2.EvSession, False),
        (telemetry_pb2.IntervalAggregate, False),
    ],
)
def test_only_the_supported_rules_are_compiled(message: type, compiled: bool) -> None:
    assert (compile_rules(message.DESCRIPTOR) is not None) == compiled


def test_the_batches_found_in_the_contracts() -> None:
    found = {
        request.DESCRIPTOR.full_name: batch.path
        for request in (
            aggregator_pb.UploadTelemetryRequest,
            aggregator_pb.BatchUpsertChargersRequest,
            aggregator_pb.BatchUpsertStationsRequest,
            aggregator_pb.BatchUpsertSessionsRequest,
            device_pb.UploadMeterValuesRequest,
        )
        if (batch := _batch_of(request.DESCRIPTOR)) is not None
    }
    assert found == {
        "vgi.aggregator.v1.UploadTelemetryRequest": ("batch", "meter_values"),
        "vgi.aggregator.v1.BatchUpsertChargersRequest": ("chargers",),
        "vgi.device.v1.UploadMeterValuesRequest": ("values",),
    }


_ANY_TIME = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from([-1, 0, 1_700_000_000, 32_503_679_999, 32_503_680_000]),
        st.sampled_from([0, 999_999_999, 1_000_000_000, -1]),
    ),
)


@st.composite
def stamped_values(draw: st.DrawFn) -> telemetry_pb2.MeterValue:
    value = telemetry_pb2.MeterValue(charger_id=draw(st.sampled_from(["c-1", "c\x00", "\x00", ""])), status=3)
    stamp = draw(_ANY_TIME)
    if stamp is not None:
        value.sample_time.seconds, value.sample_time.nanos = stamp
    return value


@st.composite
def stamped_chargers(draw: st.DrawFn) -> resources_pb2.Charger:
    item = resources_pb2.Charger(
        charger_id=draw(st.sampled_from(["c-1", "c\x00"])), station_id=draw(st.sampled_from(["st", "s\x00t"]))
    )
    for field in ("last_heartbeat_time", "update_time"):
        stamp = draw(_ANY_TIME)
        if stamp is not None:
            getattr(item, field).seconds, getattr(item, field).nanos = stamp
    return item


@PROPERTY
@given(st.lists(stamped_values(), max_size=8), st.lists(stamped_chargers(), max_size=8))
def test_batches_are_checked_for_time_range_and_nul_as_message_by_message(
    values: list[telemetry_pb2.MeterValue], items: list[resources_pb2.Charger]
) -> None:
    """The time-range and NUL checks read a batch of flat messages field by field over the list: clean
    exactly when the message-by-message walk that names violations finds none."""
    for request in (
        aggregator_pb.UploadTelemetryRequest(batch=aggregator_pb.TelemetryBatch(meter_values=values)),
        aggregator_pb.BatchUpsertChargersRequest(chargers=items),
    ):
        for walker in (FAST._times, FAST._text):
            assert walker._clean(request) == (walker._named(request, "", []) == [])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("pattern", "compiled"),
    [
        ("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", True),
        (r"^\d+$", False),  # Python's \d is Unicode, RE2's ASCII
        (r"^[\w]+$", False),
        ("^a.b$", False),  # RE2's . and Python's differ on newlines
        ("^a|b$", False),
        ("[a-z]+", False),  # unanchored
    ],
)
def test_only_patterns_re2_and_python_read_alike_are_compiled(pattern: str, compiled: bool) -> None:
    try:
        item_rules._pattern(validate_pb2.StringRules(pattern=pattern))
    except item_rules._NotCompiled:
        assert not compiled
    else:
        assert compiled


def test_a_pattern_column_is_matched_whole_and_a_newline_in_a_value_is_no_separator() -> None:
    """A compiled pattern checks a column as one match over the values joined by newlines; a value
    holding a newline must not pass as two values that match."""
    rule = item_rules._pattern(validate_pb2.StringRules(pattern="^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"))
    assert rule.column_ok(["a", "b-1", "c.d", "x" * 64])
    assert rule.column_ok([])
    assert not rule.column_ok(["a", "b\nc"])
    assert not rule.column_ok(["a\n", "b"])
    assert not rule.column_ok(["\n"])
    assert not rule.column_ok(["a", ""])
    assert not rule.column_ok(["a", "x" * 65])
    assert not rule.column_ok(["-a", "b"])
