import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import decimal_pb2 as _decimal_pb2
from vgi.common.v1 import capacity_pb2 as _capacity_pb2
from vgi.common.v1 import market_pb2 as _market_pb2
from vgi.common.v1 import monitoring_pb2 as _monitoring_pb2
from vgi.common.v1 import names_pb2 as _names_pb2
from vgi.common.v1 import options_pb2 as _options_pb2
from vgi.common.v1 import prices_pb2 as _prices_pb2
from vgi.common.v1 import resources_pb2 as _resources_pb2
from vgi.common.v1 import settlement_pb2 as _settlement_pb2
from vgi.common.v1 import statistics_pb2 as _statistics_pb2
from vgi.common.v1 import telemetry_pb2 as _telemetry_pb2
from vgi.common.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignatureAlgorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNATURE_ALGORITHM_UNSPECIFIED: _ClassVar[SignatureAlgorithm]
    SIGNATURE_ALGORITHM_ECDSA_P256_SHA256: _ClassVar[SignatureAlgorithm]
    SIGNATURE_ALGORITHM_SM2_SM3: _ClassVar[SignatureAlgorithm]
SIGNATURE_ALGORITHM_UNSPECIFIED: SignatureAlgorithm
SIGNATURE_ALGORITHM_ECDSA_P256_SHA256: SignatureAlgorithm
SIGNATURE_ALGORITHM_SM2_SM3: SignatureAlgorithm

class UpsertGridNodesRequest(_message.Message):
    __slots__ = ("request_id", "nodes")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    nodes: _containers.RepeatedCompositeFieldContainer[_resources_pb2.GridNode]
    def __init__(self, request_id: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[_resources_pb2.GridNode, _Mapping]]] = ...) -> None: ...

class UpsertGridNodesResponse(_message.Message):
    __slots__ = ("upserted_count", "nodes")
    UPSERTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    upserted_count: int
    nodes: _containers.RepeatedCompositeFieldContainer[_resources_pb2.GridNode]
    def __init__(self, upserted_count: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[_resources_pb2.GridNode, _Mapping]]] = ...) -> None: ...

class GetGridNodeRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetGridNodeResponse(_message.Message):
    __slots__ = ("grid_node",)
    GRID_NODE_FIELD_NUMBER: _ClassVar[int]
    grid_node: _resources_pb2.GridNode
    def __init__(self, grid_node: _Optional[_Union[_resources_pb2.GridNode, _Mapping]] = ...) -> None: ...

class ListGridNodesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "parent_node", "kind")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PARENT_NODE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    parent_node: str
    kind: _resources_pb2.GridNodeKind
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., parent_node: _Optional[str] = ..., kind: _Optional[_Union[_resources_pb2.GridNodeKind, str]] = ...) -> None: ...

class ListGridNodesResponse(_message.Message):
    __slots__ = ("grid_nodes", "next_page_token")
    GRID_NODES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    grid_nodes: _containers.RepeatedCompositeFieldContainer[_resources_pb2.GridNode]
    next_page_token: str
    def __init__(self, grid_nodes: _Optional[_Iterable[_Union[_resources_pb2.GridNode, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteGridNodeRequest(_message.Message):
    __slots__ = ("request_id", "name")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteGridNodeResponse(_message.Message):
    __slots__ = ("grid_node",)
    GRID_NODE_FIELD_NUMBER: _ClassVar[int]
    grid_node: _resources_pb2.GridNode
    def __init__(self, grid_node: _Optional[_Union[_resources_pb2.GridNode, _Mapping]] = ...) -> None: ...

class PublishPriceCurveRequest(_message.Message):
    __slots__ = ("request_id", "price_curve")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_CURVE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    price_curve: _prices_pb2.PriceCurve
    def __init__(self, request_id: _Optional[str] = ..., price_curve: _Optional[_Union[_prices_pb2.PriceCurve, _Mapping]] = ...) -> None: ...

class PublishPriceCurveResponse(_message.Message):
    __slots__ = ("price_curve",)
    PRICE_CURVE_FIELD_NUMBER: _ClassVar[int]
    price_curve: _prices_pb2.PriceCurve
    def __init__(self, price_curve: _Optional[_Union[_prices_pb2.PriceCurve, _Mapping]] = ...) -> None: ...

class ListPriceCurvesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "kind", "grid_node")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    GRID_NODE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    kind: _prices_pb2.PriceCurveKind
    grid_node: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., kind: _Optional[_Union[_prices_pb2.PriceCurveKind, str]] = ..., grid_node: _Optional[str] = ...) -> None: ...

class ListPriceCurvesResponse(_message.Message):
    __slots__ = ("price_curves", "next_page_token")
    PRICE_CURVES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    price_curves: _containers.RepeatedCompositeFieldContainer[_prices_pb2.PriceCurve]
    next_page_token: str
    def __init__(self, price_curves: _Optional[_Iterable[_Union[_prices_pb2.PriceCurve, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PublishEventRequest(_message.Message):
    __slots__ = ("request_id", "event")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    event: _market_pb2.Event
    def __init__(self, request_id: _Optional[str] = ..., event: _Optional[_Union[_market_pb2.Event, _Mapping]] = ...) -> None: ...

class PublishEventResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _market_pb2.Event
    def __init__(self, event: _Optional[_Union[_market_pb2.Event, _Mapping]] = ...) -> None: ...

class CancelEventRequest(_message.Message):
    __slots__ = ("request_id", "name", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelEventResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _market_pb2.Event
    def __init__(self, event: _Optional[_Union[_market_pb2.Event, _Mapping]] = ...) -> None: ...

class GetEventRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetEventResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _market_pb2.Event
    def __init__(self, event: _Optional[_Union[_market_pb2.Event, _Mapping]] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: _market_pb2.EventState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_market_pb2.EventState, str]] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_market_pb2.Event]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[_market_pb2.Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetAggregatedBidRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: str
    def __init__(self, event: _Optional[str] = ...) -> None: ...

class GetAggregatedBidResponse(_message.Message):
    __slots__ = ("aggregated_bid",)
    AGGREGATED_BID_FIELD_NUMBER: _ClassVar[int]
    aggregated_bid: _market_pb2.AggregatedBid
    def __init__(self, aggregated_bid: _Optional[_Union[_market_pb2.AggregatedBid, _Mapping]] = ...) -> None: ...

class SubmitClearingResultRequest(_message.Message):
    __slots__ = ("request_id", "event", "quantities")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    QUANTITIES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    event: str
    quantities: _containers.RepeatedCompositeFieldContainer[_market_pb2.ClearedQuantity]
    def __init__(self, request_id: _Optional[str] = ..., event: _Optional[str] = ..., quantities: _Optional[_Iterable[_Union[_market_pb2.ClearedQuantity, _Mapping]]] = ...) -> None: ...

class SubmitClearingResultResponse(_message.Message):
    __slots__ = ("clearing_result", "instructions")
    CLEARING_RESULT_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    clearing_result: _market_pb2.ClearingResult
    instructions: _containers.RepeatedCompositeFieldContainer[_market_pb2.Instruction]
    def __init__(self, clearing_result: _Optional[_Union[_market_pb2.ClearingResult, _Mapping]] = ..., instructions: _Optional[_Iterable[_Union[_market_pb2.Instruction, _Mapping]]] = ...) -> None: ...

class ClearEventRequest(_message.Message):
    __slots__ = ("request_id", "event")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    event: str
    def __init__(self, request_id: _Optional[str] = ..., event: _Optional[str] = ...) -> None: ...

class ClearEventResponse(_message.Message):
    __slots__ = ("clearing_result", "instructions")
    CLEARING_RESULT_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    clearing_result: _market_pb2.ClearingResult
    instructions: _containers.RepeatedCompositeFieldContainer[_market_pb2.Instruction]
    def __init__(self, clearing_result: _Optional[_Union[_market_pb2.ClearingResult, _Mapping]] = ..., instructions: _Optional[_Iterable[_Union[_market_pb2.Instruction, _Mapping]]] = ...) -> None: ...

class DetachedSignature(_message.Message):
    __slots__ = ("algorithm", "key_id", "signature", "signed_request")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    SIGNED_REQUEST_FIELD_NUMBER: _ClassVar[int]
    algorithm: SignatureAlgorithm
    key_id: str
    signature: bytes
    signed_request: bytes
    def __init__(self, algorithm: _Optional[_Union[SignatureAlgorithm, str]] = ..., key_id: _Optional[str] = ..., signature: _Optional[bytes] = ..., signed_request: _Optional[bytes] = ...) -> None: ...

class SubmitDispatchInstructionRequest(_message.Message):
    __slots__ = ("request_id", "event", "scope", "direction", "target", "validity", "signature")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    event: str
    scope: str
    direction: _types_pb2.Direction
    target: _types_pb2.PowerCurve
    validity: _types_pb2.TimeWindow
    signature: DetachedSignature
    def __init__(self, request_id: _Optional[str] = ..., event: _Optional[str] = ..., scope: _Optional[str] = ..., direction: _Optional[_Union[_types_pb2.Direction, str]] = ..., target: _Optional[_Union[_types_pb2.PowerCurve, _Mapping]] = ..., validity: _Optional[_Union[_types_pb2.TimeWindow, _Mapping]] = ..., signature: _Optional[_Union[DetachedSignature, _Mapping]] = ...) -> None: ...

class SubmitDispatchInstructionResponse(_message.Message):
    __slots__ = ("instructions", "shortfall_w")
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_W_FIELD_NUMBER: _ClassVar[int]
    instructions: _containers.RepeatedCompositeFieldContainer[_market_pb2.Instruction]
    shortfall_w: int
    def __init__(self, instructions: _Optional[_Iterable[_Union[_market_pb2.Instruction, _Mapping]]] = ..., shortfall_w: _Optional[int] = ...) -> None: ...

class ListInstructionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "event", "active_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    event: str
    active_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., event: _Optional[str] = ..., active_only: _Optional[bool] = ...) -> None: ...

class ListInstructionsResponse(_message.Message):
    __slots__ = ("instructions", "next_page_token")
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    instructions: _containers.RepeatedCompositeFieldContainer[_market_pb2.Instruction]
    next_page_token: str
    def __init__(self, instructions: _Optional[_Iterable[_Union[_market_pb2.Instruction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetAdjustableCapacityRequest(_message.Message):
    __slots__ = ("scope", "forecast_day_start_time")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    FORECAST_DAY_START_TIME_FIELD_NUMBER: _ClassVar[int]
    scope: str
    forecast_day_start_time: _timestamp_pb2.Timestamp
    def __init__(self, scope: _Optional[str] = ..., forecast_day_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAdjustableCapacityResponse(_message.Message):
    __slots__ = ("capacity", "forecast")
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    capacity: _capacity_pb2.AdjustableCapacity
    forecast: _capacity_pb2.CapacityForecast
    def __init__(self, capacity: _Optional[_Union[_capacity_pb2.AdjustableCapacity, _Mapping]] = ..., forecast: _Optional[_Union[_capacity_pb2.CapacityForecast, _Mapping]] = ...) -> None: ...

class StreamAdjustableCapacityRequest(_message.Message):
    __slots__ = ("scope", "interval_seconds")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    scope: str
    interval_seconds: int
    def __init__(self, scope: _Optional[str] = ..., interval_seconds: _Optional[int] = ...) -> None: ...

class StreamAdjustableCapacityResponse(_message.Message):
    __slots__ = ("capacity",)
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    capacity: _capacity_pb2.AdjustableCapacity
    def __init__(self, capacity: _Optional[_Union[_capacity_pb2.AdjustableCapacity, _Mapping]] = ...) -> None: ...

class StreamEventProgressRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: str
    def __init__(self, event: _Optional[str] = ...) -> None: ...

class AggregatorProgress(_message.Message):
    __slots__ = ("aggregator", "target_w", "actual_w", "baseline_w", "response_w", "deviation", "unmeasured")
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    TARGET_W_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_W_FIELD_NUMBER: _ClassVar[int]
    BASELINE_W_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_W_FIELD_NUMBER: _ClassVar[int]
    DEVIATION_FIELD_NUMBER: _ClassVar[int]
    UNMEASURED_FIELD_NUMBER: _ClassVar[int]
    aggregator: str
    target_w: int
    actual_w: int
    baseline_w: int
    response_w: int
    deviation: _decimal_pb2.Decimal
    unmeasured: bool
    def __init__(self, aggregator: _Optional[str] = ..., target_w: _Optional[int] = ..., actual_w: _Optional[int] = ..., baseline_w: _Optional[int] = ..., response_w: _Optional[int] = ..., deviation: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., unmeasured: _Optional[bool] = ...) -> None: ...

class NodeProgress(_message.Message):
    __slots__ = ("grid_node", "target_w", "actual_w", "baseline_w", "response_w", "deviation", "unmeasured")
    GRID_NODE_FIELD_NUMBER: _ClassVar[int]
    TARGET_W_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_W_FIELD_NUMBER: _ClassVar[int]
    BASELINE_W_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_W_FIELD_NUMBER: _ClassVar[int]
    DEVIATION_FIELD_NUMBER: _ClassVar[int]
    UNMEASURED_FIELD_NUMBER: _ClassVar[int]
    grid_node: str
    target_w: int
    actual_w: int
    baseline_w: int
    response_w: int
    deviation: _decimal_pb2.Decimal
    unmeasured: bool
    def __init__(self, grid_node: _Optional[str] = ..., target_w: _Optional[int] = ..., actual_w: _Optional[int] = ..., baseline_w: _Optional[int] = ..., response_w: _Optional[int] = ..., deviation: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., unmeasured: _Optional[bool] = ...) -> None: ...

class StreamEventProgressResponse(_message.Message):
    __slots__ = ("minute_time", "event_state", "target_w", "actual_w", "baseline_w", "aggregators", "alarms", "nodes")
    MINUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_STATE_FIELD_NUMBER: _ClassVar[int]
    TARGET_W_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_W_FIELD_NUMBER: _ClassVar[int]
    BASELINE_W_FIELD_NUMBER: _ClassVar[int]
    AGGREGATORS_FIELD_NUMBER: _ClassVar[int]
    ALARMS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    minute_time: _timestamp_pb2.Timestamp
    event_state: _market_pb2.EventState
    target_w: int
    actual_w: int
    baseline_w: int
    aggregators: _containers.RepeatedCompositeFieldContainer[AggregatorProgress]
    alarms: _containers.RepeatedCompositeFieldContainer[_market_pb2.Alarm]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeProgress]
    def __init__(self, minute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_state: _Optional[_Union[_market_pb2.EventState, str]] = ..., target_w: _Optional[int] = ..., actual_w: _Optional[int] = ..., baseline_w: _Optional[int] = ..., aggregators: _Optional[_Iterable[_Union[AggregatorProgress, _Mapping]]] = ..., alarms: _Optional[_Iterable[_Union[_market_pb2.Alarm, _Mapping]]] = ..., nodes: _Optional[_Iterable[_Union[NodeProgress, _Mapping]]] = ...) -> None: ...

class EvaluateEventRequest(_message.Message):
    __slots__ = ("request_id", "event")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    event: str
    def __init__(self, request_id: _Optional[str] = ..., event: _Optional[str] = ...) -> None: ...

class EvaluateEventResponse(_message.Message):
    __slots__ = ("evaluations", "statements")
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    evaluations: _containers.RepeatedCompositeFieldContainer[_settlement_pb2.Evaluation]
    statements: _containers.RepeatedCompositeFieldContainer[_settlement_pb2.Statement]
    def __init__(self, evaluations: _Optional[_Iterable[_Union[_settlement_pb2.Evaluation, _Mapping]]] = ..., statements: _Optional[_Iterable[_Union[_settlement_pb2.Statement, _Mapping]]] = ...) -> None: ...

class ListEvaluationsRequest(_message.Message):
    __slots__ = ("event", "page_size", "page_token")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    event: str
    page_size: int
    page_token: str
    def __init__(self, event: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEvaluationsResponse(_message.Message):
    __slots__ = ("evaluations", "next_page_token")
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    evaluations: _containers.RepeatedCompositeFieldContainer[_settlement_pb2.Evaluation]
    next_page_token: str
    def __init__(self, evaluations: _Optional[_Iterable[_Union[_settlement_pb2.Evaluation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListStatementsRequest(_message.Message):
    __slots__ = ("event", "page_size", "page_token")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    event: str
    page_size: int
    page_token: str
    def __init__(self, event: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStatementsResponse(_message.Message):
    __slots__ = ("statements", "next_page_token")
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    statements: _containers.RepeatedCompositeFieldContainer[_settlement_pb2.Statement]
    next_page_token: str
    def __init__(self, statements: _Optional[_Iterable[_Union[_settlement_pb2.Statement, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetGridStatementRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: str
    def __init__(self, event: _Optional[str] = ...) -> None: ...

class GetGridStatementResponse(_message.Message):
    __slots__ = ("grid_statement",)
    GRID_STATEMENT_FIELD_NUMBER: _ClassVar[int]
    grid_statement: _settlement_pb2.GridStatement
    def __init__(self, grid_statement: _Optional[_Union[_settlement_pb2.GridStatement, _Mapping]] = ...) -> None: ...

class ConfirmStatementRequest(_message.Message):
    __slots__ = ("request_id", "name")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ConfirmStatementResponse(_message.Message):
    __slots__ = ("statement",)
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    statement: _settlement_pb2.Statement
    def __init__(self, statement: _Optional[_Union[_settlement_pb2.Statement, _Mapping]] = ...) -> None: ...

class CreateAdjustmentStatementRequest(_message.Message):
    __slots__ = ("request_id", "statement")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    statement: str
    def __init__(self, request_id: _Optional[str] = ..., statement: _Optional[str] = ...) -> None: ...

class CreateAdjustmentStatementResponse(_message.Message):
    __slots__ = ("statement",)
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    statement: _settlement_pb2.Statement
    def __init__(self, statement: _Optional[_Union[_settlement_pb2.Statement, _Mapping]] = ...) -> None: ...

class GetStatisticsRequest(_message.Message):
    __slots__ = ("scope",)
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    scope: str
    def __init__(self, scope: _Optional[str] = ...) -> None: ...

class GetStatisticsResponse(_message.Message):
    __slots__ = ("statistics",)
    STATISTICS_FIELD_NUMBER: _ClassVar[int]
    statistics: _statistics_pb2.Statistics
    def __init__(self, statistics: _Optional[_Union[_statistics_pb2.Statistics, _Mapping]] = ...) -> None: ...

class ListChargerStatesRequest(_message.Message):
    __slots__ = ("scope", "page_size", "page_token")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    scope: str
    page_size: int
    page_token: str
    def __init__(self, scope: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListChargerStatesResponse(_message.Message):
    __slots__ = ("charger_states", "next_page_token")
    CHARGER_STATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    charger_states: _containers.RepeatedCompositeFieldContainer[_monitoring_pb2.ChargerState]
    next_page_token: str
    def __init__(self, charger_states: _Optional[_Iterable[_Union[_monitoring_pb2.ChargerState, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListMeterReadingsRequest(_message.Message):
    __slots__ = ("charger", "range", "page_size", "page_token")
    CHARGER_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    charger: str
    range: _types_pb2.TimeWindow
    page_size: int
    page_token: str
    def __init__(self, charger: _Optional[str] = ..., range: _Optional[_Union[_types_pb2.TimeWindow, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMeterReadingsResponse(_message.Message):
    __slots__ = ("readings", "next_page_token")
    READINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    readings: _containers.RepeatedCompositeFieldContainer[_telemetry_pb2.MeterValue]
    next_page_token: str
    def __init__(self, readings: _Optional[_Iterable[_Union[_telemetry_pb2.MeterValue, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListSlotMeansRequest(_message.Message):
    __slots__ = ("scope", "range", "page_size", "page_token")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    scope: str
    range: _types_pb2.TimeWindow
    page_size: int
    page_token: str
    def __init__(self, scope: _Optional[str] = ..., range: _Optional[_Union[_types_pb2.TimeWindow, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSlotMeansResponse(_message.Message):
    __slots__ = ("slot_means", "next_page_token")
    SLOT_MEANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    slot_means: _containers.RepeatedCompositeFieldContainer[_monitoring_pb2.SlotMean]
    next_page_token: str
    def __init__(self, slot_means: _Optional[_Iterable[_Union[_monitoring_pb2.SlotMean, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListMeterCorrectionsRequest(_message.Message):
    __slots__ = ("scope", "range", "page_size", "page_token")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    scope: str
    range: _types_pb2.TimeWindow
    page_size: int
    page_token: str
    def __init__(self, scope: _Optional[str] = ..., range: _Optional[_Union[_types_pb2.TimeWindow, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMeterCorrectionsResponse(_message.Message):
    __slots__ = ("corrections", "next_page_token")
    CORRECTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    corrections: _containers.RepeatedCompositeFieldContainer[_monitoring_pb2.MeterCorrection]
    next_page_token: str
    def __init__(self, corrections: _Optional[_Iterable[_Union[_monitoring_pb2.MeterCorrection, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
