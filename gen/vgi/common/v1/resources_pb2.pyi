import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vgi.common.v1 import names_pb2 as _names_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GridNodeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRID_NODE_KIND_UNSPECIFIED: _ClassVar[GridNodeKind]
    GRID_NODE_KIND_REGION: _ClassVar[GridNodeKind]
    GRID_NODE_KIND_SUBSTATION: _ClassVar[GridNodeKind]
    GRID_NODE_KIND_FEEDER: _ClassVar[GridNodeKind]
    GRID_NODE_KIND_TRANSFORMER_AREA: _ClassVar[GridNodeKind]

class ChargerKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHARGER_KIND_UNSPECIFIED: _ClassVar[ChargerKind]
    CHARGER_KIND_AC: _ClassVar[ChargerKind]
    CHARGER_KIND_DC: _ClassVar[ChargerKind]
    CHARGER_KIND_V2G: _ClassVar[ChargerKind]

class ChargerStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHARGER_STATUS_UNSPECIFIED: _ClassVar[ChargerStatus]
    CHARGER_STATUS_AVAILABLE: _ClassVar[ChargerStatus]
    CHARGER_STATUS_OCCUPIED: _ClassVar[ChargerStatus]
    CHARGER_STATUS_CHARGING: _ClassVar[ChargerStatus]
    CHARGER_STATUS_DISCHARGING: _ClassVar[ChargerStatus]
    CHARGER_STATUS_FAULTED: _ClassVar[ChargerStatus]
    CHARGER_STATUS_UNAVAILABLE: _ClassVar[ChargerStatus]

class EvSessionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EV_SESSION_STATE_UNSPECIFIED: _ClassVar[EvSessionState]
    EV_SESSION_STATE_ACTIVE: _ClassVar[EvSessionState]
    EV_SESSION_STATE_ENDED: _ClassVar[EvSessionState]
GRID_NODE_KIND_UNSPECIFIED: GridNodeKind
GRID_NODE_KIND_REGION: GridNodeKind
GRID_NODE_KIND_SUBSTATION: GridNodeKind
GRID_NODE_KIND_FEEDER: GridNodeKind
GRID_NODE_KIND_TRANSFORMER_AREA: GridNodeKind
CHARGER_KIND_UNSPECIFIED: ChargerKind
CHARGER_KIND_AC: ChargerKind
CHARGER_KIND_DC: ChargerKind
CHARGER_KIND_V2G: ChargerKind
CHARGER_STATUS_UNSPECIFIED: ChargerStatus
CHARGER_STATUS_AVAILABLE: ChargerStatus
CHARGER_STATUS_OCCUPIED: ChargerStatus
CHARGER_STATUS_CHARGING: ChargerStatus
CHARGER_STATUS_DISCHARGING: ChargerStatus
CHARGER_STATUS_FAULTED: ChargerStatus
CHARGER_STATUS_UNAVAILABLE: ChargerStatus
EV_SESSION_STATE_UNSPECIFIED: EvSessionState
EV_SESSION_STATE_ACTIVE: EvSessionState
EV_SESSION_STATE_ENDED: EvSessionState

class GridNode(_message.Message):
    __slots__ = ("name", "node_id", "kind", "parent", "display_name", "capacity_limit_w", "base_load_w", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_LIMIT_W_FIELD_NUMBER: _ClassVar[int]
    BASE_LOAD_W_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    node_id: str
    kind: GridNodeKind
    parent: str
    display_name: str
    capacity_limit_w: int
    base_load_w: int
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., node_id: _Optional[str] = ..., kind: _Optional[_Union[GridNodeKind, str]] = ..., parent: _Optional[str] = ..., display_name: _Optional[str] = ..., capacity_limit_w: _Optional[int] = ..., base_load_w: _Optional[int] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Station(_message.Message):
    __slots__ = ("name", "station_id", "display_name", "grid_node", "import_limit_w", "export_limit_w", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATION_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    GRID_NODE_FIELD_NUMBER: _ClassVar[int]
    IMPORT_LIMIT_W_FIELD_NUMBER: _ClassVar[int]
    EXPORT_LIMIT_W_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    station_id: str
    display_name: str
    grid_node: str
    import_limit_w: int
    export_limit_w: int
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., station_id: _Optional[str] = ..., display_name: _Optional[str] = ..., grid_node: _Optional[str] = ..., import_limit_w: _Optional[int] = ..., export_limit_w: _Optional[int] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Charger(_message.Message):
    __slots__ = ("name", "charger_id", "station_id", "kind", "rated_charge_w", "rated_discharge_w", "bidirectional", "platform_managed", "status", "online", "last_heartbeat_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHARGER_ID_FIELD_NUMBER: _ClassVar[int]
    STATION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RATED_CHARGE_W_FIELD_NUMBER: _ClassVar[int]
    RATED_DISCHARGE_W_FIELD_NUMBER: _ClassVar[int]
    BIDIRECTIONAL_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_MANAGED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    charger_id: str
    station_id: str
    kind: ChargerKind
    rated_charge_w: int
    rated_discharge_w: int
    bidirectional: bool
    platform_managed: bool
    status: ChargerStatus
    online: bool
    last_heartbeat_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., charger_id: _Optional[str] = ..., station_id: _Optional[str] = ..., kind: _Optional[_Union[ChargerKind, str]] = ..., rated_charge_w: _Optional[int] = ..., rated_discharge_w: _Optional[int] = ..., bidirectional: _Optional[bool] = ..., platform_managed: _Optional[bool] = ..., status: _Optional[_Union[ChargerStatus, str]] = ..., online: _Optional[bool] = ..., last_heartbeat_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EvSession(_message.Message):
    __slots__ = ("name", "session_id", "charger_id", "plug_in_time", "expected_departure_time", "battery_wh", "soc", "target_soc", "v2g_floor_soc", "max_charge_w", "max_discharge_w", "bidirectional", "state", "end_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CHARGER_ID_FIELD_NUMBER: _ClassVar[int]
    PLUG_IN_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DEPARTURE_TIME_FIELD_NUMBER: _ClassVar[int]
    BATTERY_WH_FIELD_NUMBER: _ClassVar[int]
    SOC_FIELD_NUMBER: _ClassVar[int]
    TARGET_SOC_FIELD_NUMBER: _ClassVar[int]
    V2G_FLOOR_SOC_FIELD_NUMBER: _ClassVar[int]
    MAX_CHARGE_W_FIELD_NUMBER: _ClassVar[int]
    MAX_DISCHARGE_W_FIELD_NUMBER: _ClassVar[int]
    BIDIRECTIONAL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    session_id: str
    charger_id: str
    plug_in_time: _timestamp_pb2.Timestamp
    expected_departure_time: _timestamp_pb2.Timestamp
    battery_wh: int
    soc: float
    target_soc: float
    v2g_floor_soc: float
    max_charge_w: int
    max_discharge_w: int
    bidirectional: bool
    state: EvSessionState
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., session_id: _Optional[str] = ..., charger_id: _Optional[str] = ..., plug_in_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expected_departure_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., battery_wh: _Optional[int] = ..., soc: _Optional[float] = ..., target_soc: _Optional[float] = ..., v2g_floor_soc: _Optional[float] = ..., max_charge_w: _Optional[int] = ..., max_discharge_w: _Optional[int] = ..., bidirectional: _Optional[bool] = ..., state: _Optional[_Union[EvSessionState, str]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
