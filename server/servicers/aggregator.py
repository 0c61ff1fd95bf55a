"""vgi.aggregator.v1.AggregatorService, composed from one mixin per group of RPCs.

Each group lives in its own module (`server/servicers/aggregator_<group>.py`) as a
class whose methods are the RPCs it implements; add it to the bases below. RPCs
no group implements fall through to the generated base (UNIMPLEMENTED).
"""

from __future__ import annotations

from vgi.aggregator.v1 import aggregator_service_pb2 as pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as pb_grpc

from server.servicers import Deps
from server.servicers.aggregator_market import AggregatorMarket
from server.servicers.aggregator_notifications import AggregatorNotifications
from server.servicers.aggregator_registry import AggregatorRegistry
from server.servicers.aggregator_settlement import AggregatorSettlement
from server.servicers.telemetry_view import TelemetryView


class AggregatorService(
    AggregatorRegistry,
    AggregatorNotifications,
    AggregatorMarket,
    AggregatorSettlement,
    TelemetryView,
    pb_grpc.AggregatorServiceServicer,
):
    _view_pb = pb
    _view_tenanted = True

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
