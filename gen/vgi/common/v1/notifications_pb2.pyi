import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vgi.common.v1 import market_pb2 as _market_pb2
from vgi.common.v1 import prices_pb2 as _prices_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventStateChanged(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _market_pb2.Event
    def __init__(self, event: _Optional[_Union[_market_pb2.Event, _Mapping]] = ...) -> None: ...

class InstructionCancelled(_message.Message):
    __slots__ = ("instruction", "reissued_version")
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    REISSUED_VERSION_FIELD_NUMBER: _ClassVar[int]
    instruction: _market_pb2.Instruction
    reissued_version: int
    def __init__(self, instruction: _Optional[_Union[_market_pb2.Instruction, _Mapping]] = ..., reissued_version: _Optional[int] = ...) -> None: ...

class StatementReady(_message.Message):
    __slots__ = ("statement",)
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    statement: str
    def __init__(self, statement: _Optional[str] = ...) -> None: ...

class Notification(_message.Message):
    __slots__ = ("notification_id", "sequence", "create_time", "invitation", "event_state_changed", "clearing", "instruction", "instruction_cancelled", "alarm", "statement_ready", "price_curve")
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    EVENT_STATE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    CLEARING_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    ALARM_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_READY_FIELD_NUMBER: _ClassVar[int]
    PRICE_CURVE_FIELD_NUMBER: _ClassVar[int]
    notification_id: str
    sequence: int
    create_time: _timestamp_pb2.Timestamp
    invitation: _market_pb2.Event
    event_state_changed: EventStateChanged
    clearing: _market_pb2.ClearingResult
    instruction: _market_pb2.Instruction
    instruction_cancelled: InstructionCancelled
    alarm: _market_pb2.Alarm
    statement_ready: StatementReady
    price_curve: _prices_pb2.PriceCurve
    def __init__(self, notification_id: _Optional[str] = ..., sequence: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., invitation: _Optional[_Union[_market_pb2.Event, _Mapping]] = ..., event_state_changed: _Optional[_Union[EventStateChanged, _Mapping]] = ..., clearing: _Optional[_Union[_market_pb2.ClearingResult, _Mapping]] = ..., instruction: _Optional[_Union[_market_pb2.Instruction, _Mapping]] = ..., instruction_cancelled: _Optional[_Union[InstructionCancelled, _Mapping]] = ..., alarm: _Optional[_Union[_market_pb2.Alarm, _Mapping]] = ..., statement_ready: _Optional[_Union[StatementReady, _Mapping]] = ..., price_curve: _Optional[_Union[_prices_pb2.PriceCurve, _Mapping]] = ...) -> None: ...
