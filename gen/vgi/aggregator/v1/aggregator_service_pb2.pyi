import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from vgi.common.v1 import capacity_pb2 as _capacity_pb2
from vgi.common.v1 import market_pb2 as _market_pb2
from vgi.common.v1 import monitoring_pb2 as _monitoring_pb2
from vgi.common.v1 import names_pb2 as _names_pb2
from vgi.common.v1 import notifications_pb2 as _notifications_pb2
from vgi.common.v1 import options_pb2 as _options_pb2
from vgi.common.v1 import resources_pb2 as _resources_pb2
from vgi.common.v1 import settlement_pb2 as _settlement_pb2
from vgi.common.v1 import telemetry_pb2 as _telemetry_pb2
from vgi.common.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TelemetryBatchResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TELEMETRY_BATCH_RESULT_UNSPECIFIED: _ClassVar[TelemetryBatchResult]
    TELEMETRY_BATCH_RESULT_ACCEPTED: _ClassVar[TelemetryBatchResult]
    TELEMETRY_BATCH_RESULT_DUPLICATE: _ClassVar[TelemetryBatchResult]
    TELEMETRY_BATCH_RESULT_REJECTED: _ClassVar[TelemetryBatchResult]
TELEMETRY_BATCH_RESULT_UNSPECIFIED: TelemetryBatchResult
TELEMETRY_BATCH_RESULT_ACCEPTED: TelemetryBatchResult
TELEMETRY_BATCH_RESULT_DUPLICATE: TelemetryBatchResult
TELEMETRY_BATCH_RESULT_REJECTED: TelemetryBatchResult

class BatchUpsertStationsRequest(_message.Message):
    __slots__ = ("request_id", "stations")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATIONS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    stations: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Station]
    def __init__(self, request_id: _Optional[str] = ..., stations: _Optional[_Iterable[_Union[_resources_pb2.Station, _Mapping]]] = ...) -> None: ...

class BatchUpsertStationsResponse(_message.Message):
    __slots__ = ("upserted_count", "stations")
    UPSERTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    STATIONS_FIELD_NUMBER: _ClassVar[int]
    upserted_count: int
    stations: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Station]
    def __init__(self, upserted_count: _Optional[int] = ..., stations: _Optional[_Iterable[_Union[_resources_pb2.Station, _Mapping]]] = ...) -> None: ...

class ListStationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "grid_node")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    GRID_NODE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    grid_node: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., grid_node: _Optional[str] = ...) -> None: ...

class ListStationsResponse(_message.Message):
    __slots__ = ("stations", "next_page_token")
    STATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    stations: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Station]
    next_page_token: str
    def __init__(self, stations: _Optional[_Iterable[_Union[_resources_pb2.Station, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteStationRequest(_message.Message):
    __slots__ = ("request_id", "name")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteStationResponse(_message.Message):
    __slots__ = ("station",)
    STATION_FIELD_NUMBER: _ClassVar[int]
    station: _resources_pb2.Station
    def __init__(self, station: _Optional[_Union[_resources_pb2.Station, _Mapping]] = ...) -> None: ...

class BatchUpsertChargersRequest(_message.Message):
    __slots__ = ("request_id", "chargers")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CHARGERS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    chargers: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Charger]
    def __init__(self, request_id: _Optional[str] = ..., chargers: _Optional[_Iterable[_Union[_resources_pb2.Charger, _Mapping]]] = ...) -> None: ...

class BatchUpsertChargersResponse(_message.Message):
    __slots__ = ("upserted_count", "chargers")
    UPSERTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHARGERS_FIELD_NUMBER: _ClassVar[int]
    upserted_count: int
    chargers: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Charger]
    def __init__(self, upserted_count: _Optional[int] = ..., chargers: _Optional[_Iterable[_Union[_resources_pb2.Charger, _Mapping]]] = ...) -> None: ...

class GetChargerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetChargerResponse(_message.Message):
    __slots__ = ("charger",)
    CHARGER_FIELD_NUMBER: _ClassVar[int]
    charger: _resources_pb2.Charger
    def __init__(self, charger: _Optional[_Union[_resources_pb2.Charger, _Mapping]] = ...) -> None: ...

class ListChargersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "station_id", "online_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATION_ID_FIELD_NUMBER: _ClassVar[int]
    ONLINE_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    station_id: str
    online_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., station_id: _Optional[str] = ..., online_only: _Optional[bool] = ...) -> None: ...

class ListChargersResponse(_message.Message):
    __slots__ = ("chargers", "next_page_token")
    CHARGERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    chargers: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Charger]
    next_page_token: str
    def __init__(self, chargers: _Optional[_Iterable[_Union[_resources_pb2.Charger, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteChargerRequest(_message.Message):
    __slots__ = ("request_id", "name")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteChargerResponse(_message.Message):
    __slots__ = ("charger",)
    CHARGER_FIELD_NUMBER: _ClassVar[int]
    charger: _resources_pb2.Charger
    def __init__(self, charger: _Optional[_Union[_resources_pb2.Charger, _Mapping]] = ...) -> None: ...

class BatchUpsertSessionsRequest(_message.Message):
    __slots__ = ("request_id", "sessions")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    sessions: _containers.RepeatedCompositeFieldContainer[_resources_pb2.EvSession]
    def __init__(self, request_id: _Optional[str] = ..., sessions: _Optional[_Iterable[_Union[_resources_pb2.EvSession, _Mapping]]] = ...) -> None: ...

class BatchUpsertSessionsResponse(_message.Message):
    __slots__ = ("upserted_count", "sessions")
    UPSERTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    upserted_count: int
    sessions: _containers.RepeatedCompositeFieldContainer[_resources_pb2.EvSession]
    def __init__(self, upserted_count: _Optional[int] = ..., sessions: _Optional[_Iterable[_Union[_resources_pb2.EvSession, _Mapping]]] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "active_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    active_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., active_only: _Optional[bool] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[_resources_pb2.EvSession]
    next_page_token: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[_resources_pb2.EvSession, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeclareCapacityRequest(_message.Message):
    __slots__ = ("request_id", "declaration")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DECLARATION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    declaration: _capacity_pb2.CapacityDeclaration
    def __init__(self, request_id: _Optional[str] = ..., declaration: _Optional[_Union[_capacity_pb2.CapacityDeclaration, _Mapping]] = ...) -> None: ...

class DeclareCapacityResponse(_message.Message):
    __slots__ = ("declaration",)
    DECLARATION_FIELD_NUMBER: _ClassVar[int]
    declaration: _capacity_pb2.CapacityDeclaration
    def __init__(self, declaration: _Optional[_Union[_capacity_pb2.CapacityDeclaration, _Mapping]] = ...) -> None: ...

class GetAdjustableCapacityRequest(_message.Message):
    __slots__ = ("forecast_day_start_time",)
    FORECAST_DAY_START_TIME_FIELD_NUMBER: _ClassVar[int]
    forecast_day_start_time: _timestamp_pb2.Timestamp
    def __init__(self, forecast_day_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAdjustableCapacityResponse(_message.Message):
    __slots__ = ("capacity", "forecast")
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    capacity: _capacity_pb2.AdjustableCapacity
    forecast: _capacity_pb2.CapacityForecast
    def __init__(self, capacity: _Optional[_Union[_capacity_pb2.AdjustableCapacity, _Mapping]] = ..., forecast: _Optional[_Union[_capacity_pb2.CapacityForecast, _Mapping]] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_market_pb2.Event]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[_market_pb2.Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SubmitBidRequest(_message.Message):
    __slots__ = ("request_id", "parent", "bid")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    BID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    parent: str
    bid: _market_pb2.Bid
    def __init__(self, request_id: _Optional[str] = ..., parent: _Optional[str] = ..., bid: _Optional[_Union[_market_pb2.Bid, _Mapping]] = ...) -> None: ...

class SubmitBidResponse(_message.Message):
    __slots__ = ("bid",)
    BID_FIELD_NUMBER: _ClassVar[int]
    bid: _market_pb2.Bid
    def __init__(self, bid: _Optional[_Union[_market_pb2.Bid, _Mapping]] = ...) -> None: ...

class WithdrawBidRequest(_message.Message):
    __slots__ = ("request_id", "name")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class WithdrawBidResponse(_message.Message):
    __slots__ = ("bid",)
    BID_FIELD_NUMBER: _ClassVar[int]
    bid: _market_pb2.Bid
    def __init__(self, bid: _Optional[_Union[_market_pb2.Bid, _Mapping]] = ...) -> None: ...

class GetBidRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetBidResponse(_message.Message):
    __slots__ = ("bid",)
    BID_FIELD_NUMBER: _ClassVar[int]
    bid: _market_pb2.Bid
    def __init__(self, bid: _Optional[_Union[_market_pb2.Bid, _Mapping]] = ...) -> None: ...

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

class StreamNotificationsRequest(_message.Message):
    __slots__ = ("after_sequence",)
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    def __init__(self, after_sequence: _Optional[int] = ...) -> None: ...

class StreamNotificationsResponse(_message.Message):
    __slots__ = ("notification",)
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    notification: _notifications_pb2.Notification
    def __init__(self, notification: _Optional[_Union[_notifications_pb2.Notification, _Mapping]] = ...) -> None: ...

class AckNotificationsRequest(_message.Message):
    __slots__ = ("request_id", "up_to_sequence")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    UP_TO_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    up_to_sequence: int
    def __init__(self, request_id: _Optional[str] = ..., up_to_sequence: _Optional[int] = ...) -> None: ...

class AckNotificationsResponse(_message.Message):
    __slots__ = ("acked_sequence",)
    ACKED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    acked_sequence: int
    def __init__(self, acked_sequence: _Optional[int] = ...) -> None: ...

class TelemetryBatch(_message.Message):
    __slots__ = ("batch_id", "meter_values", "aggregates")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    METER_VALUES_FIELD_NUMBER: _ClassVar[int]
    AGGREGATES_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    meter_values: _containers.RepeatedCompositeFieldContainer[_telemetry_pb2.MeterValue]
    aggregates: _containers.RepeatedCompositeFieldContainer[_telemetry_pb2.IntervalAggregate]
    def __init__(self, batch_id: _Optional[str] = ..., meter_values: _Optional[_Iterable[_Union[_telemetry_pb2.MeterValue, _Mapping]]] = ..., aggregates: _Optional[_Iterable[_Union[_telemetry_pb2.IntervalAggregate, _Mapping]]] = ...) -> None: ...

class UploadTelemetryRequest(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: TelemetryBatch
    def __init__(self, batch: _Optional[_Union[TelemetryBatch, _Mapping]] = ...) -> None: ...

class UploadTelemetryResponse(_message.Message):
    __slots__ = ("batch_id", "stored_points", "duplicate", "duplicate_points", "corrected_points", "result", "error")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_POINTS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_POINTS_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_POINTS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    stored_points: int
    duplicate: bool
    duplicate_points: int
    corrected_points: int
    result: TelemetryBatchResult
    error: _status_pb2.Status
    def __init__(self, batch_id: _Optional[str] = ..., stored_points: _Optional[int] = ..., duplicate: _Optional[bool] = ..., duplicate_points: _Optional[int] = ..., corrected_points: _Optional[int] = ..., result: _Optional[_Union[TelemetryBatchResult, str]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class GetEvaluationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetEvaluationResponse(_message.Message):
    __slots__ = ("evaluation",)
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    evaluation: _settlement_pb2.Evaluation
    def __init__(self, evaluation: _Optional[_Union[_settlement_pb2.Evaluation, _Mapping]] = ...) -> None: ...

class ListStatementsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "event")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    event: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., event: _Optional[str] = ...) -> None: ...

class ListStatementsResponse(_message.Message):
    __slots__ = ("statements", "next_page_token")
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    statements: _containers.RepeatedCompositeFieldContainer[_settlement_pb2.Statement]
    next_page_token: str
    def __init__(self, statements: _Optional[_Iterable[_Union[_settlement_pb2.Statement, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

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

class DisputeStatementRequest(_message.Message):
    __slots__ = ("request_id", "name", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DisputeStatementResponse(_message.Message):
    __slots__ = ("statement",)
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    statement: _settlement_pb2.Statement
    def __init__(self, statement: _Optional[_Union[_settlement_pb2.Statement, _Mapping]] = ...) -> None: ...

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
