"""wire.resources.chargers_answer (the sent chargers copied, the server's fields set from the stored
records) answers exactly what charger_to builds from each record, whatever a client put in the
fields the server owns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vgi.aggregator.v1 import aggregator_service_pb2 as pb
from vgi.common.v1 import resources_pb2

from store import registry
from wire import resources as convert

_AT = datetime(2026, 12, 7, 6, 0, 0, 123_456, tzinfo=UTC)
_TIMES = st.one_of(
    st.none(), st.sampled_from([_AT, _AT - timedelta(hours=1), datetime(1970, 1, 1, tzinfo=UTC)])
)


@st.composite
def sent_and_stored(draw: st.DrawFn) -> tuple[resources_pb2.Charger, registry.Charger]:
    sent = resources_pb2.Charger(
        charger_id=draw(st.sampled_from(["c-1", "c-2", "x.y"])),
        station_id=draw(st.sampled_from(["st-a", "st-b"])),
        kind=draw(st.sampled_from([1, 2, 3])),
        rated_charge_w=draw(st.integers(1, 2_000_000)),
        rated_discharge_w=draw(st.integers(0, 2_000_000)),
        bidirectional=draw(st.booleans()),
        platform_managed=draw(st.booleans()),
        # What a client may put in the fields the server owns: never answered.
        name=draw(st.sampled_from(["", "aggregators/x/stations/y/chargers/z"])),
        status=draw(st.integers(0, 6)),
        online=draw(st.booleans()),
    )
    for field in ("last_heartbeat_time", "update_time"):
        claimed = draw(_TIMES)
        if claimed is not None:
            getattr(sent, field).FromDatetime(claimed)
    stored = convert.charger_from(sent)._replace(
        aggregator_id="agg-1",
        status=draw(st.sampled_from(["UNSPECIFIED", "CHARGING", "FAULTED"])),
        online=draw(st.booleans()),
        last_heartbeat_time=draw(_TIMES),
        update_time=draw(_TIMES),
    )
    return sent, stored


@settings(max_examples=200, deadline=None)
@given(st.lists(sent_and_stored(), max_size=8))
def test_the_answer_is_what_charger_to_builds(
    pairs: list[tuple[resources_pb2.Charger, registry.Charger]],
) -> None:
    response = pb.BatchUpsertChargersResponse(upserted_count=len(pairs))
    convert.chargers_answer([sent for sent, _ in pairs], [stored for _, stored in pairs], response)
    assert list(response.chargers) == [convert.charger_to(stored) for _, stored in pairs]


@settings(max_examples=200, deadline=None)
@given(st.lists(sent_and_stored(), max_size=8), st.booleans())
def test_the_encoded_answer_is_the_answer_and_its_bytes(
    pairs: list[tuple[resources_pb2.Charger, registry.Charger]], unknown: bool
) -> None:
    """chargers_answer_encoded (the answer assembled from the sent chargers' encodings) is the response
    chargers_answer builds and exactly its serialization — what the idempotency record stores and a retry
    answers — also when a client put the server's fields or fields unknown to the server in a charger."""
    sent = [message for message, _ in pairs]
    if unknown:
        # Field 99 (varint 7), as a client built against a later contract may send: never answered.
        sent = [resources_pb2.Charger.FromString(m.SerializeToString() + b"\xd8\x06\x07") for m in sent]
    expected = pb.BatchUpsertChargersResponse(upserted_count=len(pairs))
    convert.chargers_answer(sent, [stored for _, stored in pairs], expected)
    response, data = convert.chargers_answer_encoded(sent, [stored for _, stored in pairs])
    assert response == expected
    assert data == expected.SerializeToString()
    assert pb.BatchUpsertChargersResponse.FromString(data) == expected
    assert list(response.chargers) == [convert.charger_to(stored) for _, stored in pairs]


def test_the_encoded_answer_knows_every_field_of_charger() -> None:
    """chargers_answer_encoded puts ``name`` (1) before a sent charger's encoding and the server's fields
    (9–12) after it, so protobuf's field-number order holds only while every other field is numbered
    2–8: a field added to Charger must be placed there, or the assembled answer's order changes."""
    fields = {f.name: f.number for f in resources_pb2.Charger.DESCRIPTOR.fields}
    server = {name: fields.pop(name) for name in convert._SERVER_FIELDS}
    assert server == {"name": 1, "status": 9, "online": 10, "last_heartbeat_time": 11, "update_time": 12}
    assert fields and all(2 <= number <= 8 for number in fields.values()), fields


@settings(max_examples=200, deadline=None)
@given(st.lists(sent_and_stored(), max_size=8), st.booleans())
def test_the_encoded_answer_of_the_request_is_the_answer_of_its_chargers(
    pairs: list[tuple[resources_pb2.Charger, registry.Charger]], unknown: bool
) -> None:
    """Given the whole request (what the servicer passes: its request_id, and unknown fields at its own
    level or in a charger), the answer is the same response and bytes as for the chargers alone."""
    sent = [message for message, _ in pairs]
    stored = [record for _, record in pairs]
    request = pb.BatchUpsertChargersRequest(request_id="6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6", chargers=sent)
    if unknown:
        # Field 99 of the request and of its last charger (a client built against a later contract).
        encoded = request.SerializeToString() + b"\xd8\x06\x07"
        if sent:
            last = sent[-1].SerializeToString() + b"\xd8\x06\x05"
            encoded += b"\x12" + convert._varint(len(last)) + last  # a later occurrence of chargers: appended
            request = pb.BatchUpsertChargersRequest.FromString(encoded)
            stored = [*stored, stored[-1]]
        else:
            request = pb.BatchUpsertChargersRequest.FromString(encoded)
    expected = pb.BatchUpsertChargersResponse(upserted_count=len(stored))
    convert.chargers_answer(list(request.chargers), stored, expected)
    response, data = convert.chargers_answer_encoded(request, stored)
    assert response == expected
    assert data == expected.SerializeToString()


@settings(max_examples=200, deadline=None)
@given(st.lists(sent_and_stored(), max_size=8))
def test_chargers_from_converts_each_charger_as_charger_from(
    pairs: list[tuple[resources_pb2.Charger, registry.Charger]],
) -> None:
    sent = [message for message, _ in pairs]
    request = pb.BatchUpsertChargersRequest(chargers=sent)
    converted = convert.chargers_from(request.chargers)
    assert converted == [convert.charger_from(message) for message in sent]
    assert all(type(record) is registry.Charger for record in converted)
    assert [record._asdict() for record in converted] == [convert.charger_from(m)._asdict() for m in sent]


def test_the_encoded_answer_refuses_records_that_are_not_one_per_charger() -> None:
    sent = [resources_pb2.Charger(charger_id="c-1", station_id="st-a", kind=1, rated_charge_w=7_000)]
    with pytest.raises(ValueError):
        convert.chargers_answer_encoded(pb.BatchUpsertChargersRequest(chargers=sent), [])
