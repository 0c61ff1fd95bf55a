"""The one conversion between google.protobuf.Timestamp and datetime.

``timestamp`` encodes a time (a naive one is taken as UTC, as
``Timestamp.FromDatetime`` does; ``None`` stays ``None`` for optional
fields); ``to_datetime`` decodes one as an aware UTC datetime, equal to
``Timestamp.ToDatetime(tzinfo=UTC)`` (nanoseconds truncated to microseconds)
without its per-call Python overhead. The SDK (``clients``) keeps its own:
it may not import the wire layer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import overload

from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@overload
def timestamp(value: datetime) -> Timestamp: ...
@overload
def timestamp(value: None) -> None: ...
@overload
def timestamp(value: datetime | None) -> Timestamp | None: ...
def timestamp(value: datetime | None) -> Timestamp | None:
    """``value`` as a Timestamp (None: None)."""
    if value is None:
        return None
    # What FromDatetime computes (timegm of the UTC time tuple, the microseconds as nanos) without its
    # struct_time and calendar calls, ~4 × the cost; every datetime is in Timestamp's range.
    since = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1_000)


def to_datetime(stamp: Timestamp) -> datetime:
    """An aware UTC datetime: ``stamp.ToDatetime(tzinfo=UTC)``, nanoseconds truncated to microseconds alike."""
    return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)
