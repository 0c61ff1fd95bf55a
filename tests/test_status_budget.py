"""interceptors.errors.status_for keeps a status's field violations within what gRPC clients accept.

The details travel in the ``grpc-status-details-bin`` trailer; clients refuse
metadata past 8 KiB (soft) / 16 KiB (hard) by default. A refusal naming every
item of a large batch lists the first violations, in order, says how many
there are in the message, and counts them all in ErrorInfo's metadata.
"""

from __future__ import annotations

from google.rpc import error_details_pb2

from domain.errors import FieldViolation, InvalidArgument
from interceptors.errors import FIELD_VIOLATION_BYTES, status_for


def _details(status: object) -> tuple[error_details_pb2.ErrorInfo, error_details_pb2.BadRequest]:
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(bad)  # type: ignore[attr-defined]
    return info, bad


def test_ten_thousand_violations_are_listed_within_the_budget_and_counted() -> None:
    violations = [
        FieldViolation(f"chargers[{i}].station_id", f"station st-{i} does not exist", "X")
        for i in range(10_000)
    ]
    status = status_for(
        InvalidArgument("unknown stations", reason="STATION_NOT_FOUND", violations=violations)
    )
    info, bad = _details(status)
    listed = [v.field for v in bad.field_violations]
    assert 1 < len(listed) < 10_000
    assert listed == [v.field for v in violations[: len(listed)]]
    assert bad.ByteSize() <= FIELD_VIOLATION_BYTES
    assert status.ByteSize() < 8 * 1024
    assert info.reason == "STATION_NOT_FOUND"
    assert info.metadata["field_violations"] == "10000"
    assert status.message == f"unknown stations (the first {len(listed)} of 10000 field violations listed)"


def test_a_few_violations_are_all_listed_as_they_are() -> None:
    violations = [FieldViolation(f"nodes[{i}].parent", "grid node zz does not exist") for i in range(3)]
    status = status_for(
        InvalidArgument(
            "unknown parent nodes", reason="GRID_NODE_NOT_FOUND", metadata={"a": "b"}, violations=violations
        )
    )
    info, bad = _details(status)
    assert [v.field for v in bad.field_violations] == [
        "nodes[0].parent",
        "nodes[1].parent",
        "nodes[2].parent",
    ]
    assert dict(info.metadata) == {"a": "b"}
    assert status.message == "unknown parent nodes"


def test_one_violation_larger_than_the_budget_is_still_listed() -> None:
    status = status_for(InvalidArgument("too long", violations=[FieldViolation("name", "x" * 10_000)]))
    _, bad = _details(status)
    assert [v.field for v in bad.field_violations] == ["name"]


def test_a_validation_message_says_the_count_once() -> None:
    violations = [
        FieldViolation(f"chargers[{i}].charger_id", "value does not match regex", "X") for i in range(1000)
    ]
    message = "invalid request: chargers[0].charger_id: value does not match regex (and 999 more)"
    status = status_for(InvalidArgument(message, reason="VALIDATION_FAILED", violations=violations))
    _, bad = _details(status)
    assert status.message == (
        "invalid request: chargers[0].charger_id: value does not match regex"
        f" (the first {len(bad.field_violations)} of 1000 field violations listed)"
    )


def test_a_violation_without_a_rule_of_its_own_carries_the_refusals_reason() -> None:
    violations = [
        FieldViolation("chargers[1].charger_id", "charger id c-1 appears more than once"),
        FieldViolation("chargers[2].charger_id", "charger id c-1 appears more than once", "OWN_RULE"),
    ]
    status = status_for(
        InvalidArgument("duplicate charger ids", reason="DUPLICATE_ID", violations=violations)
    )
    _, bad = _details(status)
    assert [(v.field, v.reason) for v in bad.field_violations] == [
        ("chargers[1].charger_id", "DUPLICATE_ID"),
        ("chargers[2].charger_id", "OWN_RULE"),
    ]
