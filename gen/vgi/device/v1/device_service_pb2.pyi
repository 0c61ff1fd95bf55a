import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vgi.common.v1 import market_pb2 as _market_pb2
from vgi.common.v1 import options_pb2 as _options_pb2
from vgi.common.v1 import resources_pb2 as _resources_pb2
from vgi.common.v1 import telemetry_pb2 as _telemetry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Hello(_message.Message):
    __slots__ = ("charger_id", "after_sequence", "firmware_version")
    CHARGER_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    FIRMWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    charger_id: str
    after_sequence: int
    firmware_version: str
    def __init__(self, charger_id: _Optional[str] = ..., after_sequence: _Optional[int] = ..., firmware_version: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("device_time",)
    DEVICE_TIME_FIELD_NUMBER: _ClassVar[int]
    device_time: _timestamp_pb2.Timestamp
    def __init__(self, device_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StatusNotification(_message.Message):
    __slots__ = ("status", "status_time")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_TIME_FIELD_NUMBER: _ClassVar[int]
    status: _resources_pb2.ChargerStatus
    status_time: _timestamp_pb2.Timestamp
    def __init__(self, status: _Optional[_Union[_resources_pb2.ChargerStatus, str]] = ..., status_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MeterValues(_message.Message):
    __slots__ = ("batch_id", "values")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    values: _containers.RepeatedCompositeFieldContainer[_telemetry_pb2.MeterValue]
    def __init__(self, batch_id: _Optional[str] = ..., values: _Optional[_Iterable[_Union[_telemetry_pb2.MeterValue, _Mapping]]] = ...) -> None: ...

class SessionStarted(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: _resources_pb2.EvSession
    def __init__(self, session: _Optional[_Union[_resources_pb2.EvSession, _Mapping]] = ...) -> None: ...

class SessionStopped(_message.Message):
    __slots__ = ("session_id", "stop_time")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STOP_TIME_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    stop_time: _timestamp_pb2.Timestamp
    def __init__(self, session_id: _Optional[str] = ..., stop_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetpointAck(_message.Message):
    __slots__ = ("up_to_sequence", "accepted", "reason")
    UP_TO_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    up_to_sequence: int
    accepted: bool
    reason: str
    def __init__(self, up_to_sequence: _Optional[int] = ..., accepted: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class ConnectRequest(_message.Message):
    __slots__ = ("hello", "heartbeat", "status", "meter_values", "session_started", "session_stopped", "setpoint_ack")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    METER_VALUES_FIELD_NUMBER: _ClassVar[int]
    SESSION_STARTED_FIELD_NUMBER: _ClassVar[int]
    SESSION_STOPPED_FIELD_NUMBER: _ClassVar[int]
    SETPOINT_ACK_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    heartbeat: Heartbeat
    status: StatusNotification
    meter_values: MeterValues
    session_started: SessionStarted
    session_stopped: SessionStopped
    setpoint_ack: SetpointAck
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., status: _Optional[_Union[StatusNotification, _Mapping]] = ..., meter_values: _Optional[_Union[MeterValues, _Mapping]] = ..., session_started: _Optional[_Union[SessionStarted, _Mapping]] = ..., session_stopped: _Optional[_Union[SessionStopped, _Mapping]] = ..., setpoint_ack: _Optional[_Union[SetpointAck, _Mapping]] = ...) -> None: ...

class SequencedSetpoint(_message.Message):
    __slots__ = ("sequence", "setpoint")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SETPOINT_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    setpoint: _market_pb2.Setpoint
    def __init__(self, sequence: _Optional[int] = ..., setpoint: _Optional[_Union[_market_pb2.Setpoint, _Mapping]] = ...) -> None: ...

class MeterValuesAck(_message.Message):
    __slots__ = ("batch_id", "stored_points", "duplicate_points", "corrected_points")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_POINTS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_POINTS_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_POINTS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    stored_points: int
    duplicate_points: int
    corrected_points: int
    def __init__(self, batch_id: _Optional[str] = ..., stored_points: _Optional[int] = ..., duplicate_points: _Optional[int] = ..., corrected_points: _Optional[int] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("server_time", "heartbeat_interval_seconds")
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    server_time: _timestamp_pb2.Timestamp
    heartbeat_interval_seconds: int
    def __init__(self, server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., heartbeat_interval_seconds: _Optional[int] = ...) -> None: ...

class ConnectResponse(_message.Message):
    __slots__ = ("welcome", "setpoint", "meter_values_ack")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    SETPOINT_FIELD_NUMBER: _ClassVar[int]
    METER_VALUES_ACK_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    setpoint: SequencedSetpoint
    meter_values_ack: MeterValuesAck
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., setpoint: _Optional[_Union[SequencedSetpoint, _Mapping]] = ..., meter_values_ack: _Optional[_Union[MeterValuesAck, _Mapping]] = ...) -> None: ...

class UploadMeterValuesRequest(_message.Message):
    __slots__ = ("request_id", "values")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    values: _containers.RepeatedCompositeFieldContainer[_telemetry_pb2.MeterValue]
    def __init__(self, request_id: _Optional[str] = ..., values: _Optional[_Iterable[_Union[_telemetry_pb2.MeterValue, _Mapping]]] = ...) -> None: ...

class UploadMeterValuesResponse(_message.Message):
    __slots__ = ("stored_points", "duplicate_points", "corrected_points")
    STORED_POINTS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_POINTS_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_POINTS_FIELD_NUMBER: _ClassVar[int]
    stored_points: int
    duplicate_points: int
    corrected_points: int
    def __init__(self, stored_points: _Optional[int] = ..., duplicate_points: _Optional[int] = ..., corrected_points: _Optional[int] = ...) -> None: ...
