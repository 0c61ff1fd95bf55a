import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Statistics(_message.Message):
    __slots__ = ("scope", "compute_time", "stations", "chargers", "v2g_chargers", "online_chargers", "active_sessions", "rated_charge_w", "rated_discharge_w", "decrease_w", "increase_w")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATIONS_FIELD_NUMBER: _ClassVar[int]
    CHARGERS_FIELD_NUMBER: _ClassVar[int]
    V2G_CHARGERS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_CHARGERS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    RATED_CHARGE_W_FIELD_NUMBER: _ClassVar[int]
    RATED_DISCHARGE_W_FIELD_NUMBER: _ClassVar[int]
    DECREASE_W_FIELD_NUMBER: _ClassVar[int]
    INCREASE_W_FIELD_NUMBER: _ClassVar[int]
    scope: str
    compute_time: _timestamp_pb2.Timestamp
    stations: int
    chargers: int
    v2g_chargers: int
    online_chargers: int
    active_sessions: int
    rated_charge_w: int
    rated_discharge_w: int
    decrease_w: int
    increase_w: int
    def __init__(self, scope: _Optional[str] = ..., compute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stations: _Optional[int] = ..., chargers: _Optional[int] = ..., v2g_chargers: _Optional[int] = ..., online_chargers: _Optional[int] = ..., active_sessions: _Optional[int] = ..., rated_charge_w: _Optional[int] = ..., rated_discharge_w: _Optional[int] = ..., decrease_w: _Optional[int] = ..., increase_w: _Optional[int] = ...) -> None: ...
