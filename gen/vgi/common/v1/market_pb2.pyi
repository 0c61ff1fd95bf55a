import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import money_pb2 as _money_pb2
from vgi.common.v1 import names_pb2 as _names_pb2
from vgi.common.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_DAY_AHEAD: _ClassVar[EventType]
    EVENT_TYPE_INTRADAY: _ClassVar[EventType]
    EVENT_TYPE_REAL_TIME: _ClassVar[EventType]
    EVENT_TYPE_PRICE_SIGNAL: _ClassVar[EventType]

class EventState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_STATE_UNSPECIFIED: _ClassVar[EventState]
    EVENT_STATE_PUBLISHED: _ClassVar[EventState]
    EVENT_STATE_BIDDING_CLOSED: _ClassVar[EventState]
    EVENT_STATE_CLEARED: _ClassVar[EventState]
    EVENT_STATE_EXECUTING: _ClassVar[EventState]
    EVENT_STATE_COMPLETED: _ClassVar[EventState]
    EVENT_STATE_EVALUATED: _ClassVar[EventState]
    EVENT_STATE_SETTLED: _ClassVar[EventState]
    EVENT_STATE_CANCELLED: _ClassVar[EventState]

class ClearingMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CLEARING_MODE_UNSPECIFIED: _ClassVar[ClearingMode]
    CLEARING_MODE_GRID: _ClassVar[ClearingMode]
    CLEARING_MODE_PLATFORM: _ClassVar[ClearingMode]

class PriceMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_MODE_UNSPECIFIED: _ClassVar[PriceMode]
    PRICE_MODE_UNIFORM: _ClassVar[PriceMode]
    PRICE_MODE_PAY_AS_BID: _ClassVar[PriceMode]
    PRICE_MODE_ANNOUNCED: _ClassVar[PriceMode]

class BaselineMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BASELINE_METHOD_UNSPECIFIED: _ClassVar[BaselineMethod]
    BASELINE_METHOD_TOP5_OF_10: _ClassVar[BaselineMethod]
    BASELINE_METHOD_RECENT5: _ClassVar[BaselineMethod]
    BASELINE_METHOD_TRIMMED: _ClassVar[BaselineMethod]
    BASELINE_METHOD_PRE_EVENT: _ClassVar[BaselineMethod]

class BidState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BID_STATE_UNSPECIFIED: _ClassVar[BidState]
    BID_STATE_SUBMITTED: _ClassVar[BidState]
    BID_STATE_WITHDRAWN: _ClassVar[BidState]
    BID_STATE_CLEARED: _ClassVar[BidState]

class InstructionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTRUCTION_STATE_UNSPECIFIED: _ClassVar[InstructionState]
    INSTRUCTION_STATE_ACTIVE: _ClassVar[InstructionState]
    INSTRUCTION_STATE_CANCELLED: _ClassVar[InstructionState]

class AlarmKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALARM_KIND_UNSPECIFIED: _ClassVar[AlarmKind]
    ALARM_KIND_DEVIATION: _ClassVar[AlarmKind]
    ALARM_KIND_REDISPATCH: _ClassVar[AlarmKind]
    ALARM_KIND_DEVICE_OFFLINE: _ClassVar[AlarmKind]
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_DAY_AHEAD: EventType
EVENT_TYPE_INTRADAY: EventType
EVENT_TYPE_REAL_TIME: EventType
EVENT_TYPE_PRICE_SIGNAL: EventType
EVENT_STATE_UNSPECIFIED: EventState
EVENT_STATE_PUBLISHED: EventState
EVENT_STATE_BIDDING_CLOSED: EventState
EVENT_STATE_CLEARED: EventState
EVENT_STATE_EXECUTING: EventState
EVENT_STATE_COMPLETED: EventState
EVENT_STATE_EVALUATED: EventState
EVENT_STATE_SETTLED: EventState
EVENT_STATE_CANCELLED: EventState
CLEARING_MODE_UNSPECIFIED: ClearingMode
CLEARING_MODE_GRID: ClearingMode
CLEARING_MODE_PLATFORM: ClearingMode
PRICE_MODE_UNSPECIFIED: PriceMode
PRICE_MODE_UNIFORM: PriceMode
PRICE_MODE_PAY_AS_BID: PriceMode
PRICE_MODE_ANNOUNCED: PriceMode
BASELINE_METHOD_UNSPECIFIED: BaselineMethod
BASELINE_METHOD_TOP5_OF_10: BaselineMethod
BASELINE_METHOD_RECENT5: BaselineMethod
BASELINE_METHOD_TRIMMED: BaselineMethod
BASELINE_METHOD_PRE_EVENT: BaselineMethod
BID_STATE_UNSPECIFIED: BidState
BID_STATE_SUBMITTED: BidState
BID_STATE_WITHDRAWN: BidState
BID_STATE_CLEARED: BidState
INSTRUCTION_STATE_UNSPECIFIED: InstructionState
INSTRUCTION_STATE_ACTIVE: InstructionState
INSTRUCTION_STATE_CANCELLED: InstructionState
ALARM_KIND_UNSPECIFIED: AlarmKind
ALARM_KIND_DEVIATION: AlarmKind
ALARM_KIND_REDISPATCH: AlarmKind
ALARM_KIND_DEVICE_OFFLINE: AlarmKind

class NodeTarget(_message.Message):
    __slots__ = ("grid_node", "target")
    GRID_NODE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    grid_node: str
    target: _types_pb2.PowerCurve
    def __init__(self, grid_node: _Optional[str] = ..., target: _Optional[_Union[_types_pb2.PowerCurve, _Mapping]] = ...) -> None: ...

class StateTransition(_message.Message):
    __slots__ = ("state", "transition_time", "reason")
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRANSITION_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    state: EventState
    transition_time: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, state: _Optional[_Union[EventState, str]] = ..., transition_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("name", "event_id", "type", "direction", "window", "targets", "bid_deadline", "price_cap", "announced_price", "clearing_mode", "price_mode", "baseline_method", "program", "state", "transitions", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    BID_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PRICE_CAP_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCED_PRICE_FIELD_NUMBER: _ClassVar[int]
    CLEARING_MODE_FIELD_NUMBER: _ClassVar[int]
    PRICE_MODE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_METHOD_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    event_id: str
    type: EventType
    direction: _types_pb2.Direction
    window: _types_pb2.TimeWindow
    targets: _containers.RepeatedCompositeFieldContainer[NodeTarget]
    bid_deadline: _timestamp_pb2.Timestamp
    price_cap: _money_pb2.Money
    announced_price: _money_pb2.Money
    clearing_mode: ClearingMode
    price_mode: PriceMode
    baseline_method: BaselineMethod
    program: str
    state: EventState
    transitions: _containers.RepeatedCompositeFieldContainer[StateTransition]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., event_id: _Optional[str] = ..., type: _Optional[_Union[EventType, str]] = ..., direction: _Optional[_Union[_types_pb2.Direction, str]] = ..., window: _Optional[_Union[_types_pb2.TimeWindow, _Mapping]] = ..., targets: _Optional[_Iterable[_Union[NodeTarget, _Mapping]]] = ..., bid_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., price_cap: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., announced_price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., clearing_mode: _Optional[_Union[ClearingMode, str]] = ..., price_mode: _Optional[_Union[PriceMode, str]] = ..., baseline_method: _Optional[_Union[BaselineMethod, str]] = ..., program: _Optional[str] = ..., state: _Optional[_Union[EventState, str]] = ..., transitions: _Optional[_Iterable[_Union[StateTransition, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BidSlot(_message.Message):
    __slots__ = ("slot_start_time", "capacity_w", "price")
    SLOT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_W_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    slot_start_time: _timestamp_pb2.Timestamp
    capacity_w: int
    price: _money_pb2.Money
    def __init__(self, slot_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., capacity_w: _Optional[int] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class Bid(_message.Message):
    __slots__ = ("name", "aggregator", "slots", "state", "submit_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    aggregator: str
    slots: _containers.RepeatedCompositeFieldContainer[BidSlot]
    state: BidState
    submit_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., aggregator: _Optional[str] = ..., slots: _Optional[_Iterable[_Union[BidSlot, _Mapping]]] = ..., state: _Optional[_Union[BidState, str]] = ..., submit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PriceStep(_message.Message):
    __slots__ = ("price", "capacity_w")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_W_FIELD_NUMBER: _ClassVar[int]
    price: _money_pb2.Money
    capacity_w: int
    def __init__(self, price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., capacity_w: _Optional[int] = ...) -> None: ...

class AggregatedBidSlot(_message.Message):
    __slots__ = ("slot_start_time", "total_capacity_w", "steps")
    SLOT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CAPACITY_W_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    slot_start_time: _timestamp_pb2.Timestamp
    total_capacity_w: int
    steps: _containers.RepeatedCompositeFieldContainer[PriceStep]
    def __init__(self, slot_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., total_capacity_w: _Optional[int] = ..., steps: _Optional[_Iterable[_Union[PriceStep, _Mapping]]] = ...) -> None: ...

class AggregatedBid(_message.Message):
    __slots__ = ("event", "slots", "bid_count")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    BID_COUNT_FIELD_NUMBER: _ClassVar[int]
    event: str
    slots: _containers.RepeatedCompositeFieldContainer[AggregatedBidSlot]
    bid_count: int
    def __init__(self, event: _Optional[str] = ..., slots: _Optional[_Iterable[_Union[AggregatedBidSlot, _Mapping]]] = ..., bid_count: _Optional[int] = ...) -> None: ...

class ClearedQuantity(_message.Message):
    __slots__ = ("aggregator", "grid_node", "slot_start_time", "accepted_w", "price")
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    GRID_NODE_FIELD_NUMBER: _ClassVar[int]
    SLOT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_W_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    aggregator: str
    grid_node: str
    slot_start_time: _timestamp_pb2.Timestamp
    accepted_w: int
    price: _money_pb2.Money
    def __init__(self, aggregator: _Optional[str] = ..., grid_node: _Optional[str] = ..., slot_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., accepted_w: _Optional[int] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class ClearingResult(_message.Message):
    __slots__ = ("event", "quantities", "cleared_by", "clear_time")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    QUANTITIES_FIELD_NUMBER: _ClassVar[int]
    CLEARED_BY_FIELD_NUMBER: _ClassVar[int]
    CLEAR_TIME_FIELD_NUMBER: _ClassVar[int]
    event: str
    quantities: _containers.RepeatedCompositeFieldContainer[ClearedQuantity]
    cleared_by: ClearingMode
    clear_time: _timestamp_pb2.Timestamp
    def __init__(self, event: _Optional[str] = ..., quantities: _Optional[_Iterable[_Union[ClearedQuantity, _Mapping]]] = ..., cleared_by: _Optional[_Union[ClearingMode, str]] = ..., clear_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Instruction(_message.Message):
    __slots__ = ("name", "instruction_id", "version", "event", "aggregator", "grid_node", "direction", "target", "validity", "state", "create_time", "cancel_reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    GRID_NODE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    instruction_id: str
    version: int
    event: str
    aggregator: str
    grid_node: str
    direction: _types_pb2.Direction
    target: _types_pb2.PowerCurve
    validity: _types_pb2.TimeWindow
    state: InstructionState
    create_time: _timestamp_pb2.Timestamp
    cancel_reason: str
    def __init__(self, name: _Optional[str] = ..., instruction_id: _Optional[str] = ..., version: _Optional[int] = ..., event: _Optional[str] = ..., aggregator: _Optional[str] = ..., grid_node: _Optional[str] = ..., direction: _Optional[_Union[_types_pb2.Direction, str]] = ..., target: _Optional[_Union[_types_pb2.PowerCurve, _Mapping]] = ..., validity: _Optional[_Union[_types_pb2.TimeWindow, _Mapping]] = ..., state: _Optional[_Union[InstructionState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancel_reason: _Optional[str] = ...) -> None: ...

class Setpoint(_message.Message):
    __slots__ = ("setpoint_id", "charger_id", "power_w", "valid_until", "schedule", "instruction")
    SETPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    CHARGER_ID_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    setpoint_id: str
    charger_id: str
    power_w: int
    valid_until: _timestamp_pb2.Timestamp
    schedule: _types_pb2.PowerCurve
    instruction: str
    def __init__(self, setpoint_id: _Optional[str] = ..., charger_id: _Optional[str] = ..., power_w: _Optional[int] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., schedule: _Optional[_Union[_types_pb2.PowerCurve, _Mapping]] = ..., instruction: _Optional[str] = ...) -> None: ...

class Alarm(_message.Message):
    __slots__ = ("alarm_id", "kind", "event", "aggregator", "message", "raise_time")
    ALARM_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RAISE_TIME_FIELD_NUMBER: _ClassVar[int]
    alarm_id: str
    kind: AlarmKind
    event: str
    aggregator: str
    message: str
    raise_time: _timestamp_pb2.Timestamp
    def __init__(self, alarm_id: _Optional[str] = ..., kind: _Optional[_Union[AlarmKind, str]] = ..., event: _Optional[str] = ..., aggregator: _Optional[str] = ..., message: _Optional[str] = ..., raise_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
