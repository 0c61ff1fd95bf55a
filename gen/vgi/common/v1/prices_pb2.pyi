import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from vgi.common.v1 import names_pb2 as _names_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PriceCurveKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_CURVE_KIND_UNSPECIFIED: _ClassVar[PriceCurveKind]
    PRICE_CURVE_KIND_TIME_OF_USE: _ClassVar[PriceCurveKind]
    PRICE_CURVE_KIND_REAL_TIME: _ClassVar[PriceCurveKind]
    PRICE_CURVE_KIND_INCENTIVE: _ClassVar[PriceCurveKind]
PRICE_CURVE_KIND_UNSPECIFIED: PriceCurveKind
PRICE_CURVE_KIND_TIME_OF_USE: PriceCurveKind
PRICE_CURVE_KIND_REAL_TIME: PriceCurveKind
PRICE_CURVE_KIND_INCENTIVE: PriceCurveKind

class PriceCurve(_message.Message):
    __slots__ = ("name", "price_curve_id", "kind", "grid_node", "start_time", "step_minutes", "prices", "publish_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRICE_CURVE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    GRID_NODE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    STEP_MINUTES_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    price_curve_id: str
    kind: PriceCurveKind
    grid_node: str
    start_time: _timestamp_pb2.Timestamp
    step_minutes: int
    prices: _containers.RepeatedCompositeFieldContainer[_money_pb2.Money]
    publish_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., price_curve_id: _Optional[str] = ..., kind: _Optional[_Union[PriceCurveKind, str]] = ..., grid_node: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step_minutes: _Optional[int] = ..., prices: _Optional[_Iterable[_Union[_money_pb2.Money, _Mapping]]] = ..., publish_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
