from buf.validate import validate_pb2 as _validate_pb2
from vgi.common.v1 import aggregator_pb2 as _aggregator_pb2
from vgi.common.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
