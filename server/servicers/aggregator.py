"""vgi.aggregator.v1.AggregatorService, composed from one mixin per group of RPCs.

Each group lives in its own module (`server/servicers/aggregator_<group>.py`) as a
class whose methods are the RPCs it implements; add it to the bases below. RPCs
no group implements fall through to the generated base (UNIMPLEMENTED).
"""

from __future__ import annotations

from vgi.aggregator.v1 import aggregator_service_pb2_grpc as pb_grpc

from server.servicers import Deps
from server.servicers.aggregator_market import AggregatorMarket
from server.servicers.aggregator_notifications import AggregatorNotifications
from server.servicers.aggregator_registry import AggregatorRegistry
from server.servicers.aggregator_settlement import AggregatorSettlement


class AggregatorService(
    AggregatorRegistry,
    AggregatorNotifications,
    AggregatorMarket,
    AggregatorSettlement,
    pb_grpc.AggregatorServiceServicer,
):
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
