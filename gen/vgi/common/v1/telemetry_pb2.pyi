import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vgi.common.v1 import names_pb2 as _names_pb2
from vgi.common.v1 import resources_pb2 as _resources_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MeterValue(_message.Message):
    __slots__ = ("charger_id", "sample_time", "power_w", "energy_register_wh", "soc", "status", "export_energy_register_wh")
    CHARGER_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_TIME_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    ENERGY_REGISTER_WH_FIELD_NUMBER: _ClassVar[int]
    SOC_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPORT_ENERGY_REGISTER_WH_FIELD_NUMBER: _ClassVar[int]
    charger_id: str
    sample_time: _timestamp_pb2.Timestamp
    power_w: int
    energy_register_wh: int
    soc: float
    status: _resources_pb2.ChargerStatus
    export_energy_register_wh: int
    def __init__(self, charger_id: _Optional[str] = ..., sample_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., power_w: _Optional[int] = ..., energy_register_wh: _Optional[int] = ..., soc: _Optional[float] = ..., status: _Optional[_Union[_resources_pb2.ChargerStatus, str]] = ..., export_energy_register_wh: _Optional[int] = ...) -> None: ...

class IntervalAggregate(_message.Message):
    __slots__ = ("resource", "slot_start_time", "mean_power_w")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    SLOT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    MEAN_POWER_W_FIELD_NUMBER: _ClassVar[int]
    resource: str
    slot_start_time: _timestamp_pb2.Timestamp
    mean_power_w: int
    def __init__(self, resource: _Optional[str] = ..., slot_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mean_power_w: _Optional[int] = ...) -> None: ...
