import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import date_pb2 as _date_pb2
from google.type import decimal_pb2 as _decimal_pb2
from vgi.common.v1 import aggregator_pb2 as _aggregator_pb2
from vgi.common.v1 import market_pb2 as _market_pb2
from vgi.common.v1 import monitoring_pb2 as _monitoring_pb2
from vgi.common.v1 import names_pb2 as _names_pb2
from vgi.common.v1 import options_pb2 as _options_pb2
from vgi.common.v1 import statistics_pb2 as _statistics_pb2
from vgi.common.v1 import telemetry_pb2 as _telemetry_pb2
from vgi.common.v1 import types_pb2 as _types_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as _dispatch_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CredentialKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_KIND_UNSPECIFIED: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_CERTIFICATE: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_TOKEN: _ClassVar[CredentialKind]
CREDENTIAL_KIND_UNSPECIFIED: CredentialKind
CREDENTIAL_KIND_CERTIFICATE: CredentialKind
CREDENTIAL_KIND_TOKEN: CredentialKind

class CreateAggregatorRequest(_message.Message):
    __slots__ = ("request_id", "aggregator_id", "aggregator")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_ID_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    aggregator_id: str
    aggregator: _aggregator_pb2.Aggregator
    def __init__(self, request_id: _Optional[str] = ..., aggregator_id: _Optional[str] = ..., aggregator: _Optional[_Union[_aggregator_pb2.Aggregator, _Mapping]] = ...) -> None: ...

class CreateAggregatorResponse(_message.Message):
    __slots__ = ("aggregator",)
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    aggregator: _aggregator_pb2.Aggregator
    def __init__(self, aggregator: _Optional[_Union[_aggregator_pb2.Aggregator, _Mapping]] = ...) -> None: ...

class GetAggregatorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetAggregatorResponse(_message.Message):
    __slots__ = ("aggregator",)
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    aggregator: _aggregator_pb2.Aggregator
    def __init__(self, aggregator: _Optional[_Union[_aggregator_pb2.Aggregator, _Mapping]] = ...) -> None: ...

class ListAggregatorsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAggregatorsResponse(_message.Message):
    __slots__ = ("aggregators", "next_page_token")
    AGGREGATORS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    aggregators: _containers.RepeatedCompositeFieldContainer[_aggregator_pb2.Aggregator]
    next_page_token: str
    def __init__(self, aggregators: _Optional[_Iterable[_Union[_aggregator_pb2.Aggregator, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateAggregatorRequest(_message.Message):
    __slots__ = ("request_id", "aggregator", "update_mask", "state")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    aggregator: _aggregator_pb2.Aggregator
    update_mask: _field_mask_pb2.FieldMask
    state: _aggregator_pb2.AggregatorState
    def __init__(self, request_id: _Optional[str] = ..., aggregator: _Optional[_Union[_aggregator_pb2.Aggregator, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., state: _Optional[_Union[_aggregator_pb2.AggregatorState, str]] = ...) -> None: ...

class UpdateAggregatorResponse(_message.Message):
    __slots__ = ("aggregator",)
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    aggregator: _aggregator_pb2.Aggregator
    def __init__(self, aggregator: _Optional[_Union[_aggregator_pb2.Aggregator, _Mapping]] = ...) -> None: ...

class IssueCredentialsRequest(_message.Message):
    __slots__ = ("request_id", "principal", "kind", "aggregator_id", "ttl")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    principal: str
    kind: CredentialKind
    aggregator_id: str
    ttl: _duration_pb2.Duration
    def __init__(self, request_id: _Optional[str] = ..., principal: _Optional[str] = ..., kind: _Optional[_Union[CredentialKind, str]] = ..., aggregator_id: _Optional[str] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class IssueCredentialsResponse(_message.Message):
    __slots__ = ("certificate_pem", "private_key_pem", "token", "expire_time")
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    certificate_pem: str
    private_key_pem: str
    token: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, certificate_pem: _Optional[str] = ..., private_key_pem: _Optional[str] = ..., token: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegisterSigningKeyRequest(_message.Message):
    __slots__ = ("request_id", "principal", "key_id", "algorithm", "public_key")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    principal: str
    key_id: str
    algorithm: _dispatch_service_pb2.SignatureAlgorithm
    public_key: bytes
    def __init__(self, request_id: _Optional[str] = ..., principal: _Optional[str] = ..., key_id: _Optional[str] = ..., algorithm: _Optional[_Union[_dispatch_service_pb2.SignatureAlgorithm, str]] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class RegisterSigningKeyResponse(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class RevokeSigningKeyRequest(_message.Message):
    __slots__ = ("request_id", "key_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    key_id: str
    def __init__(self, request_id: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...

class RevokeSigningKeyResponse(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class Program(_message.Message):
    __slots__ = ("name", "baseline_method", "fallback_baseline_method", "clearing_mode", "price_mode", "penalty_threshold_rate", "cap_rate", "penalty_factor", "qualified_min_rate", "qualified_max_rate", "fee_ratio", "holidays", "make_up_working_days", "deviation_threshold", "deviation_minutes", "require_instruction_signatures", "redispatch_enabled")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASELINE_METHOD_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_BASELINE_METHOD_FIELD_NUMBER: _ClassVar[int]
    CLEARING_MODE_FIELD_NUMBER: _ClassVar[int]
    PRICE_MODE_FIELD_NUMBER: _ClassVar[int]
    PENALTY_THRESHOLD_RATE_FIELD_NUMBER: _ClassVar[int]
    CAP_RATE_FIELD_NUMBER: _ClassVar[int]
    PENALTY_FACTOR_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_MIN_RATE_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_MAX_RATE_FIELD_NUMBER: _ClassVar[int]
    FEE_RATIO_FIELD_NUMBER: _ClassVar[int]
    HOLIDAYS_FIELD_NUMBER: _ClassVar[int]
    MAKE_UP_WORKING_DAYS_FIELD_NUMBER: _ClassVar[int]
    DEVIATION_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DEVIATION_MINUTES_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_INSTRUCTION_SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    REDISPATCH_ENABLED_FIELD_NUMBER: _ClassVar[int]
    name: str
    baseline_method: _market_pb2.BaselineMethod
    fallback_baseline_method: _market_pb2.BaselineMethod
    clearing_mode: _market_pb2.ClearingMode
    price_mode: _market_pb2.PriceMode
    penalty_threshold_rate: _decimal_pb2.Decimal
    cap_rate: _decimal_pb2.Decimal
    penalty_factor: _decimal_pb2.Decimal
    qualified_min_rate: _decimal_pb2.Decimal
    qualified_max_rate: _decimal_pb2.Decimal
    fee_ratio: _decimal_pb2.Decimal
    holidays: _containers.RepeatedCompositeFieldContainer[_date_pb2.Date]
    make_up_working_days: _containers.RepeatedCompositeFieldContainer[_date_pb2.Date]
    deviation_threshold: _decimal_pb2.Decimal
    deviation_minutes: int
    require_instruction_signatures: bool
    redispatch_enabled: bool
    def __init__(self, name: _Optional[str] = ..., baseline_method: _Optional[_Union[_market_pb2.BaselineMethod, str]] = ..., fallback_baseline_method: _Optional[_Union[_market_pb2.BaselineMethod, str]] = ..., clearing_mode: _Optional[_Union[_market_pb2.ClearingMode, str]] = ..., price_mode: _Optional[_Union[_market_pb2.PriceMode, str]] = ..., penalty_threshold_rate: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., cap_rate: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., penalty_factor: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., qualified_min_rate: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., qualified_max_rate: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., fee_ratio: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., holidays: _Optional[_Iterable[_Union[_date_pb2.Date, _Mapping]]] = ..., make_up_working_days: _Optional[_Iterable[_Union[_date_pb2.Date, _Mapping]]] = ..., deviation_threshold: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., deviation_minutes: _Optional[int] = ..., require_instruction_signatures: _Optional[bool] = ..., redispatch_enabled: _Optional[bool] = ...) -> None: ...

class GetProgramRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetProgramResponse(_message.Message):
    __slots__ = ("program",)
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    program: Program
    def __init__(self, program: _Optional[_Union[Program, _Mapping]] = ...) -> None: ...

class ListProgramsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProgramsResponse(_message.Message):
    __slots__ = ("programs", "next_page_token")
    PROGRAMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    programs: _containers.RepeatedCompositeFieldContainer[Program]
    next_page_token: str
    def __init__(self, programs: _Optional[_Iterable[_Union[Program, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpsertProgramRequest(_message.Message):
    __slots__ = ("request_id", "program", "update_mask")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    program: Program
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, request_id: _Optional[str] = ..., program: _Optional[_Union[Program, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpsertProgramResponse(_message.Message):
    __slots__ = ("program",)
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    program: Program
    def __init__(self, program: _Optional[_Union[Program, _Mapping]] = ...) -> None: ...

class AuditRecord(_message.Message):
    __slots__ = ("sequence", "record_time", "principal", "method", "request_id", "request_digest", "code", "trace_id", "previous_hash", "hash", "detail", "chain", "chain_sequence")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RECORD_TIME_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_DIGEST_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    CHAIN_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    record_time: _timestamp_pb2.Timestamp
    principal: str
    method: str
    request_id: str
    request_digest: str
    code: str
    trace_id: str
    previous_hash: str
    hash: str
    detail: str
    chain: str
    chain_sequence: int
    def __init__(self, sequence: _Optional[int] = ..., record_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., principal: _Optional[str] = ..., method: _Optional[str] = ..., request_id: _Optional[str] = ..., request_digest: _Optional[str] = ..., code: _Optional[str] = ..., trace_id: _Optional[str] = ..., previous_hash: _Optional[str] = ..., hash: _Optional[str] = ..., detail: _Optional[str] = ..., chain: _Optional[str] = ..., chain_sequence: _Optional[int] = ...) -> None: ...

class ListAuditRecordsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "principal", "method")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    principal: str
    method: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., principal: _Optional[str] = ..., method: _Optional[str] = ...) -> None: ...

class ListAuditRecordsResponse(_message.Message):
    __slots__ = ("audit_records", "next_page_token")
    AUDIT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    audit_records: _containers.RepeatedCompositeFieldContainer[AuditRecord]
    next_page_token: str
    def __init__(self, audit_records: _Optional[_Iterable[_Union[AuditRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifyAuditLogRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VerifyAuditLogResponse(_message.Message):
    __slots__ = ("intact", "records_checked", "problems", "chains_checked")
    INTACT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    CHAINS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    intact: bool
    records_checked: int
    problems: _containers.RepeatedScalarFieldContainer[str]
    chains_checked: int
    def __init__(self, intact: _Optional[bool] = ..., records_checked: _Optional[int] = ..., problems: _Optional[_Iterable[str]] = ..., chains_checked: _Optional[int] = ...) -> None: ...

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

class AdvanceClockRequest(_message.Message):
    __slots__ = ("request_id", "advance_to")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ADVANCE_TO_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    advance_to: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., advance_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AdvanceClockResponse(_message.Message):
    __slots__ = ("now",)
    NOW_FIELD_NUMBER: _ClassVar[int]
    now: _timestamp_pb2.Timestamp
    def __init__(self, now: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

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
