import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AggregatorState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATOR_STATE_UNSPECIFIED: _ClassVar[AggregatorState]
    AGGREGATOR_STATE_ACTIVE: _ClassVar[AggregatorState]
    AGGREGATOR_STATE_SUSPENDED: _ClassVar[AggregatorState]
AGGREGATOR_STATE_UNSPECIFIED: AggregatorState
AGGREGATOR_STATE_ACTIVE: AggregatorState
AGGREGATOR_STATE_SUSPENDED: AggregatorState

class Aggregator(_message.Message):
    __slots__ = ("name", "aggregator_id", "display_name", "unified_social_credit_code", "contact_email", "state", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    UNIFIED_SOCIAL_CREDIT_CODE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    aggregator_id: str
    display_name: str
    unified_social_credit_code: str
    contact_email: str
    state: AggregatorState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., aggregator_id: _Optional[str] = ..., display_name: _Optional[str] = ..., unified_social_credit_code: _Optional[str] = ..., contact_email: _Optional[str] = ..., state: _Optional[_Union[AggregatorState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
