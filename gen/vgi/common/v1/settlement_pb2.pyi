import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import decimal_pb2 as _decimal_pb2
from google.type import money_pb2 as _money_pb2
from vgi.common.v1 import market_pb2 as _market_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatementState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATEMENT_STATE_UNSPECIFIED: _ClassVar[StatementState]
    STATEMENT_STATE_DRAFT: _ClassVar[StatementState]
    STATEMENT_STATE_CONFIRMED: _ClassVar[StatementState]
    STATEMENT_STATE_DISPUTED: _ClassVar[StatementState]

class StatementKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATEMENT_KIND_UNSPECIFIED: _ClassVar[StatementKind]
    STATEMENT_KIND_REGULAR: _ClassVar[StatementKind]
    STATEMENT_KIND_ADJUSTMENT: _ClassVar[StatementKind]
STATEMENT_STATE_UNSPECIFIED: StatementState
STATEMENT_STATE_DRAFT: StatementState
STATEMENT_STATE_CONFIRMED: StatementState
STATEMENT_STATE_DISPUTED: StatementState
STATEMENT_KIND_UNSPECIFIED: StatementKind
STATEMENT_KIND_REGULAR: StatementKind
STATEMENT_KIND_ADJUSTMENT: StatementKind

class ExactFraction(_message.Message):
    __slots__ = ("numerator", "denominator")
    NUMERATOR_FIELD_NUMBER: _ClassVar[int]
    DENOMINATOR_FIELD_NUMBER: _ClassVar[int]
    numerator: str
    denominator: str
    def __init__(self, numerator: _Optional[str] = ..., denominator: _Optional[str] = ...) -> None: ...

class SlotEvaluation(_message.Message):
    __slots__ = ("slot_start_time", "instructed_w", "baseline_w", "actual_w", "response_w", "rate", "baseline_w_exact", "actual_w_exact", "response_w_exact", "rate_exact")
    SLOT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTED_W_FIELD_NUMBER: _ClassVar[int]
    BASELINE_W_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_W_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_W_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_W_EXACT_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_W_EXACT_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_W_EXACT_FIELD_NUMBER: _ClassVar[int]
    RATE_EXACT_FIELD_NUMBER: _ClassVar[int]
    slot_start_time: _timestamp_pb2.Timestamp
    instructed_w: int
    baseline_w: _decimal_pb2.Decimal
    actual_w: _decimal_pb2.Decimal
    response_w: _decimal_pb2.Decimal
    rate: _decimal_pb2.Decimal
    baseline_w_exact: ExactFraction
    actual_w_exact: ExactFraction
    response_w_exact: ExactFraction
    rate_exact: ExactFraction
    def __init__(self, slot_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., instructed_w: _Optional[int] = ..., baseline_w: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., actual_w: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., response_w: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., rate: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., baseline_w_exact: _Optional[_Union[ExactFraction, _Mapping]] = ..., actual_w_exact: _Optional[_Union[ExactFraction, _Mapping]] = ..., response_w_exact: _Optional[_Union[ExactFraction, _Mapping]] = ..., rate_exact: _Optional[_Union[ExactFraction, _Mapping]] = ...) -> None: ...

class Evaluation(_message.Message):
    __slots__ = ("name", "aggregator", "baseline_method", "baseline_days", "slots", "mean_rate", "min_rate", "energy_responded_wh", "qualified", "mean_rate_exact", "min_rate_exact", "energy_responded_wh_exact", "stale")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    BASELINE_METHOD_FIELD_NUMBER: _ClassVar[int]
    BASELINE_DAYS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    MEAN_RATE_FIELD_NUMBER: _ClassVar[int]
    MIN_RATE_FIELD_NUMBER: _ClassVar[int]
    ENERGY_RESPONDED_WH_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_FIELD_NUMBER: _ClassVar[int]
    MEAN_RATE_EXACT_FIELD_NUMBER: _ClassVar[int]
    MIN_RATE_EXACT_FIELD_NUMBER: _ClassVar[int]
    ENERGY_RESPONDED_WH_EXACT_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    name: str
    aggregator: str
    baseline_method: _market_pb2.BaselineMethod
    baseline_days: _containers.RepeatedScalarFieldContainer[str]
    slots: _containers.RepeatedCompositeFieldContainer[SlotEvaluation]
    mean_rate: _decimal_pb2.Decimal
    min_rate: _decimal_pb2.Decimal
    energy_responded_wh: _decimal_pb2.Decimal
    qualified: bool
    mean_rate_exact: ExactFraction
    min_rate_exact: ExactFraction
    energy_responded_wh_exact: ExactFraction
    stale: bool
    def __init__(self, name: _Optional[str] = ..., aggregator: _Optional[str] = ..., baseline_method: _Optional[_Union[_market_pb2.BaselineMethod, str]] = ..., baseline_days: _Optional[_Iterable[str]] = ..., slots: _Optional[_Iterable[_Union[SlotEvaluation, _Mapping]]] = ..., mean_rate: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., min_rate: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., energy_responded_wh: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., qualified: _Optional[bool] = ..., mean_rate_exact: _Optional[_Union[ExactFraction, _Mapping]] = ..., min_rate_exact: _Optional[_Union[ExactFraction, _Mapping]] = ..., energy_responded_wh_exact: _Optional[_Union[ExactFraction, _Mapping]] = ..., stale: _Optional[bool] = ...) -> None: ...

class StatementLine(_message.Message):
    __slots__ = ("slot", "price", "compensation", "penalty")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    COMPENSATION_FIELD_NUMBER: _ClassVar[int]
    PENALTY_FIELD_NUMBER: _ClassVar[int]
    slot: SlotEvaluation
    price: _money_pb2.Money
    compensation: _money_pb2.Money
    penalty: _money_pb2.Money
    def __init__(self, slot: _Optional[_Union[SlotEvaluation, _Mapping]] = ..., price: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., compensation: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., penalty: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...

class Statement(_message.Message):
    __slots__ = ("name", "aggregator", "kind", "adjusts", "lines", "total_compensation", "total_penalty", "total", "fee", "payable", "state", "dispute_reason", "create_time", "confirm_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ADJUSTS_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COMPENSATION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PENALTY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    PAYABLE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    aggregator: str
    kind: StatementKind
    adjusts: str
    lines: _containers.RepeatedCompositeFieldContainer[StatementLine]
    total_compensation: _money_pb2.Money
    total_penalty: _money_pb2.Money
    total: _money_pb2.Money
    fee: _money_pb2.Money
    payable: _money_pb2.Money
    state: StatementState
    dispute_reason: str
    create_time: _timestamp_pb2.Timestamp
    confirm_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., aggregator: _Optional[str] = ..., kind: _Optional[_Union[StatementKind, str]] = ..., adjusts: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[StatementLine, _Mapping]]] = ..., total_compensation: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., total_penalty: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., total: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., fee: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., payable: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., state: _Optional[_Union[StatementState, str]] = ..., dispute_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., confirm_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GridStatement(_message.Message):
    __slots__ = ("event", "statements", "total", "total_payable", "total_fee")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PAYABLE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FEE_FIELD_NUMBER: _ClassVar[int]
    event: str
    statements: _containers.RepeatedScalarFieldContainer[str]
    total: _money_pb2.Money
    total_payable: _money_pb2.Money
    total_fee: _money_pb2.Money
    def __init__(self, event: _Optional[str] = ..., statements: _Optional[_Iterable[str]] = ..., total: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., total_payable: _Optional[_Union[_money_pb2.Money, _Mapping]] = ..., total_fee: _Optional[_Union[_money_pb2.Money, _Mapping]] = ...) -> None: ...
