from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
GRID_NODE_NAME_FIELD_NUMBER: _ClassVar[int]
grid_node_name: _descriptor.FieldDescriptor
AGGREGATOR_NAME_FIELD_NUMBER: _ClassVar[int]
aggregator_name: _descriptor.FieldDescriptor
STATION_NAME_FIELD_NUMBER: _ClassVar[int]
station_name: _descriptor.FieldDescriptor
CHARGER_NAME_FIELD_NUMBER: _ClassVar[int]
charger_name: _descriptor.FieldDescriptor
EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
event_name: _descriptor.FieldDescriptor
BID_NAME_FIELD_NUMBER: _ClassVar[int]
bid_name: _descriptor.FieldDescriptor
EVALUATION_NAME_FIELD_NUMBER: _ClassVar[int]
evaluation_name: _descriptor.FieldDescriptor
STATEMENT_NAME_FIELD_NUMBER: _ClassVar[int]
statement_name: _descriptor.FieldDescriptor
PROGRAM_NAME_FIELD_NUMBER: _ClassVar[int]
program_name: _descriptor.FieldDescriptor
AGGREGATE_RESOURCE_FIELD_NUMBER: _ClassVar[int]
aggregate_resource: _descriptor.FieldDescriptor
CAPACITY_SCOPE_FIELD_NUMBER: _ClassVar[int]
capacity_scope: _descriptor.FieldDescriptor
STATION_SCOPE_FIELD_NUMBER: _ClassVar[int]
station_scope: _descriptor.FieldDescriptor
CHARGER_SCOPE_FIELD_NUMBER: _ClassVar[int]
charger_scope: _descriptor.FieldDescriptor
