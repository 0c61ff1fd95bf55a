from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_GRID: _ClassVar[Role]
    ROLE_AGGREGATOR: _ClassVar[Role]
    ROLE_DEVICE: _ClassVar[Role]
    ROLE_OPERATOR: _ClassVar[Role]
    ROLE_INTERNAL: _ClassVar[Role]

class MethodClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METHOD_CLASS_UNSPECIFIED: _ClassVar[MethodClass]
    METHOD_CLASS_READ: _ClassVar[MethodClass]
    METHOD_CLASS_WRITE: _ClassVar[MethodClass]
    METHOD_CLASS_BULK: _ClassVar[MethodClass]
    METHOD_CLASS_STREAM: _ClassVar[MethodClass]
ROLE_UNSPECIFIED: Role
ROLE_GRID: Role
ROLE_AGGREGATOR: Role
ROLE_DEVICE: Role
ROLE_OPERATOR: Role
ROLE_INTERNAL: Role
METHOD_CLASS_UNSPECIFIED: MethodClass
METHOD_CLASS_READ: MethodClass
METHOD_CLASS_WRITE: MethodClass
METHOD_CLASS_BULK: MethodClass
METHOD_CLASS_STREAM: MethodClass
POLICY_FIELD_NUMBER: _ClassVar[int]
policy: _descriptor.FieldDescriptor

class MethodPolicy(_message.Message):
    __slots__ = ("roles", "method_class", "mutating", "per_message_results")
    ROLES_FIELD_NUMBER: _ClassVar[int]
    METHOD_CLASS_FIELD_NUMBER: _ClassVar[int]
    MUTATING_FIELD_NUMBER: _ClassVar[int]
    PER_MESSAGE_RESULTS_FIELD_NUMBER: _ClassVar[int]
    roles: _containers.RepeatedScalarFieldContainer[Role]
    method_class: MethodClass
    mutating: bool
    per_message_results: bool
    def __init__(self, roles: _Optional[_Iterable[_Union[Role, str]]] = ..., method_class: _Optional[_Union[MethodClass, str]] = ..., mutating: _Optional[bool] = ..., per_message_results: _Optional[bool] = ...) -> None: ...
