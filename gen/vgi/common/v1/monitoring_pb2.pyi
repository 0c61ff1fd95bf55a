import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import decimal_pb2 as _decimal_pb2
from vgi.common.v1 import resources_pb2 as _resources_pb2
from vgi.common.v1 import telemetry_pb2 as _telemetry_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SlotSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SLOT_SOURCE_UNSPECIFIED: _ClassVar[SlotSource]
    SLOT_SOURCE_REGISTER: _ClassVar[SlotSource]
    SLOT_SOURCE_POWER: _ClassVar[SlotSource]
    SLOT_SOURCE_AGGREGATOR: _ClassVar[SlotSource]
    SLOT_SOURCE_MIXED: _ClassVar[SlotSource]
SLOT_SOURCE_UNSPECIFIED: SlotSource
SLOT_SOURCE_REGISTER: SlotSource
SLOT_SOURCE_POWER: SlotSource
SLOT_SOURCE_AGGREGATOR: SlotSource
SLOT_SOURCE_MIXED: SlotSource

class ChargerState(_message.Message):
    __slots__ = ("charger", "grid_node", "power_w", "energy_register_wh", "soc", "status", "last_meter_time", "last_heartbeat_time", "online")
    CHARGER_FIELD_NUMBER: _ClassVar[int]
    GRID_NODE_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    ENERGY_REGISTER_WH_FIELD_NUMBER: _ClassVar[int]
    SOC_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_METER_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_TIME_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    charger: str
    grid_node: str
    power_w: int
    energy_register_wh: int
    soc: float
    status: _resources_pb2.ChargerStatus
    last_meter_time: _timestamp_pb2.Timestamp
    last_heartbeat_time: _timestamp_pb2.Timestamp
    online: bool
    def __init__(self, charger: _Optional[str] = ..., grid_node: _Optional[str] = ..., power_w: _Optional[int] = ..., energy_register_wh: _Optional[int] = ..., soc: _Optional[float] = ..., status: _Optional[_Union[_resources_pb2.ChargerStatus, str]] = ..., last_meter_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_heartbeat_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., online: _Optional[bool] = ...) -> None: ...

class SlotMean(_message.Message):
    __slots__ = ("slot_start_time", "mean_power_w", "source", "coverage")
    SLOT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    MEAN_POWER_W_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    slot_start_time: _timestamp_pb2.Timestamp
    mean_power_w: _decimal_pb2.Decimal
    source: SlotSource
    coverage: _decimal_pb2.Decimal
    def __init__(self, slot_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mean_power_w: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., source: _Optional[_Union[SlotSource, str]] = ..., coverage: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...

class MeterCorrection(_message.Message):
    __slots__ = ("charger", "sample_time", "source", "batch_id", "correct_time", "old_value", "new_value", "old_aggregate", "new_aggregate")
    CHARGER_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CORRECT_TIME_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUE_FIELD_NUMBER: _ClassVar[int]
    OLD_AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    NEW_AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    charger: str
    sample_time: _timestamp_pb2.Timestamp
    source: str
    batch_id: str
    correct_time: _timestamp_pb2.Timestamp
    old_value: _telemetry_pb2.MeterValue
    new_value: _telemetry_pb2.MeterValue
    old_aggregate: _telemetry_pb2.IntervalAggregate
    new_aggregate: _telemetry_pb2.IntervalAggregate
    def __init__(self, charger: _Optional[str] = ..., sample_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[str] = ..., batch_id: _Optional[str] = ..., correct_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., old_value: _Optional[_Union[_telemetry_pb2.MeterValue, _Mapping]] = ..., new_value: _Optional[_Union[_telemetry_pb2.MeterValue, _Mapping]] = ..., old_aggregate: _Optional[_Union[_telemetry_pb2.IntervalAggregate, _Mapping]] = ..., new_aggregate: _Optional[_Union[_telemetry_pb2.IntervalAggregate, _Mapping]] = ...) -> None: ...
