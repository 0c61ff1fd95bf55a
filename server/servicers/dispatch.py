"""vgi.dispatch.v1.DispatchService, composed from one mixin per group of RPCs.

Each group lives in its own module (`server/servicers/dispatch_<group>.py`) as a
class whose methods are the RPCs it implements; add it to the bases below. RPCs
no group implements fall through to the generated base (UNIMPLEMENTED).
"""

from __future__ import annotations

from vgi.dispatch.v1 import dispatch_service_pb2 as pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as pb_grpc

from server.servicers import Deps
from server.servicers.dispatch_market import DispatchMarket
from server.servicers.dispatch_monitoring import DispatchMonitoring
from server.servicers.dispatch_registry import DispatchRegistry
from server.servicers.dispatch_settlement import DispatchSettlement
from server.servicers.telemetry_view import TelemetryView


class DispatchService(
    DispatchRegistry,
    DispatchMarket,
    DispatchMonitoring,
    DispatchSettlement,
    TelemetryView,
    pb_grpc.DispatchServiceServicer,
):
    _view_pb = pb

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
