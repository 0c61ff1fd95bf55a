"""``wire.timestamps.timestamp`` encodes a time exactly as ``Timestamp.FromDatetime`` does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.timestamps import timestamp, to_datetime

_ZONES = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))),
)


def _reference(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


@settings(max_examples=500, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_ZONES))
def test_a_time_is_encoded_as_from_datetime_encodes_it(value: datetime) -> None:
    assert timestamp(value) == _reference(value)


def test_times_around_the_epoch() -> None:
    for value in (
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 0, 1),
        datetime(2026, 12, 7, 12, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=8))),
    ):
        assert timestamp(value) == _reference(value)
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        assert to_datetime(timestamp(value)) == aware
    assert timestamp(None) is None
