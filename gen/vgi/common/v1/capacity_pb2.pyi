import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CapacityForecastSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAPACITY_FORECAST_SOURCE_UNSPECIFIED: _ClassVar[CapacityForecastSource]
    CAPACITY_FORECAST_SOURCE_HISTORY: _ClassVar[CapacityForecastSource]
    CAPACITY_FORECAST_SOURCE_DECLARATION: _ClassVar[CapacityForecastSource]
    CAPACITY_FORECAST_SOURCE_MIXED: _ClassVar[CapacityForecastSource]
CAPACITY_FORECAST_SOURCE_UNSPECIFIED: CapacityForecastSource
CAPACITY_FORECAST_SOURCE_HISTORY: CapacityForecastSource
CAPACITY_FORECAST_SOURCE_DECLARATION: CapacityForecastSource
CAPACITY_FORECAST_SOURCE_MIXED: CapacityForecastSource

class AdjustableCapacity(_message.Message):
    __slots__ = ("scope", "compute_time", "decrease_w", "increase_w", "present_power_w", "active_sessions")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    DECREASE_W_FIELD_NUMBER: _ClassVar[int]
    INCREASE_W_FIELD_NUMBER: _ClassVar[int]
    PRESENT_POWER_W_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    scope: str
    compute_time: _timestamp_pb2.Timestamp
    decrease_w: int
    increase_w: int
    present_power_w: int
    active_sessions: int
    def __init__(self, scope: _Optional[str] = ..., compute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decrease_w: _Optional[int] = ..., increase_w: _Optional[int] = ..., present_power_w: _Optional[int] = ..., active_sessions: _Optional[int] = ...) -> None: ...

class CapacityForecast(_message.Message):
    __slots__ = ("scope", "day_start_time", "decrease_w", "increase_w", "source")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    DAY_START_TIME_FIELD_NUMBER: _ClassVar[int]
    DECREASE_W_FIELD_NUMBER: _ClassVar[int]
    INCREASE_W_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    scope: str
    day_start_time: _timestamp_pb2.Timestamp
    decrease_w: _containers.RepeatedScalarFieldContainer[int]
    increase_w: _containers.RepeatedScalarFieldContainer[int]
    source: CapacityForecastSource
    def __init__(self, scope: _Optional[str] = ..., day_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decrease_w: _Optional[_Iterable[int]] = ..., increase_w: _Optional[_Iterable[int]] = ..., source: _Optional[_Union[CapacityForecastSource, str]] = ...) -> None: ...

class CapacityDeclaration(_message.Message):
    __slots__ = ("day_start_time", "decrease_w", "increase_w", "decrease_price", "increase_price")
    DAY_START_TIME_FIELD_NUMBER: _ClassVar[int]
    DECREASE_W_FIELD_NUMBER: _ClassVar[int]
    INCREASE_W_FIELD_NUMBER: _ClassVar[int]
    DECREASE_PRICE_FIELD_NUMBER: _ClassVar[int]
    INCREASE_PRICE_FIELD_NUMBER: _ClassVar[int]
    day_start_time: _timestamp_pb2.Timestamp
    decrease_w: _containers.RepeatedScalarFieldContainer[int]
    increase_w: _containers.RepeatedScalarFieldContainer[int]
    decrease_price: _money_pb2.Money
    increase_price: _money_pb2.Money
    def __init__(self, day_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decrease_w: _Optional[_Iterable[int]] = ..., increase_w: _Optional[_Iterable[int]] = ..., decrease_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., increase_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...
