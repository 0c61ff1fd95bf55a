"""Monitoring records → the event progress stream's messages (SPEC F7).

Deviations are sent rounded half-up to 6 decimal places.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from google.type import decimal_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as pb

from domain.monitoring import Figures
from store.monitoring import ProgressMinute
from wire.market import EVENT_STATES, alarm_message
from wire.timestamps import timestamp

_PLACES = Decimal("0.000001")


def decimal(value: Fraction | None) -> decimal_pb2.Decimal | None:
    if value is None:
        return None
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return decimal_pb2.Decimal(value=str(exact.quantize(_PLACES, rounding=ROUND_HALF_UP)))


def _aggregator(scope: str, f: Figures) -> pb.AggregatorProgress:
    return pb.AggregatorProgress(
        aggregator=f"aggregators/{scope}",
        target_w=f.target_w,
        actual_w=f.actual_w,
        baseline_w=f.baseline_w,
        response_w=f.response_w,
        deviation=decimal(f.deviation),
        unmeasured=f.unmeasured,
    )


def _node(scope: str, f: Figures) -> pb.NodeProgress:
    return pb.NodeProgress(
        grid_node=f"gridNodes/{scope}",
        target_w=f.target_w,
        actual_w=f.actual_w,
        baseline_w=f.baseline_w,
        response_w=f.response_w,
        deviation=decimal(f.deviation),
        unmeasured=f.unmeasured,
    )


def progress_message(minute: ProgressMinute) -> pb.StreamEventProgressResponse:
    return pb.StreamEventProgressResponse(
        minute_time=timestamp(minute.minute_start),
        event_state=EVENT_STATES[minute.event_state],
        target_w=minute.target_w,
        actual_w=minute.actual_w,
        baseline_w=minute.baseline_w,
        aggregators=[_aggregator(a.scope, a.figures) for a in minute.aggregators],
        nodes=[_node(n.scope, n.figures) for n in minute.nodes],
        alarms=[alarm_message(a) for a in minute.alarms],
    )
