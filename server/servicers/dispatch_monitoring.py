"""DispatchService execution monitoring (SPEC F7): the event progress stream.

StreamEventProgress replays the event's monitored minutes from the store,
then sends each new one as it commits (woken at once when this process's
monitor committed it, else found by polling every ``delivery_poll_seconds``),
so any process can serve any event's stream. Before the event executes the
stream waits; it ends (OK) once the event has left execution and its last
minute was sent (or, if that minute was never monitored, two minutes after
the window). Deviations are sent rounded half-up to 6 decimal places.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import grpc
from google.type import decimal_pb2
from sqlalchemy.engine import Connection
from vgi.dispatch.v1 import dispatch_service_pb2 as pb

from domain.events import EventState
from domain.monitoring import MINUTE, Figures
from server import clock
from server.monitor import progress_signal
from server.servicers import Deps
from store import monitoring
from store.monitoring import ProgressMinute
from wire import market as market_proto

BATCH = 100
_LIVE = frozenset({EventState.PUBLISHED, EventState.BIDDING_CLOSED, EventState.CLEARED, EventState.EXECUTING})
_LATE_MINUTE = timedelta(minutes=2)
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
        minute_time=market_proto.timestamp(minute.minute_start),
        event_state=market_proto.EVENT_STATES[minute.event_state],
        target_w=minute.target_w,
        actual_w=minute.actual_w,
        baseline_w=minute.baseline_w,
        aggregators=[_aggregator(a.scope, a.figures) for a in minute.aggregators],
        nodes=[_node(n.scope, n.figures) for n in minute.nodes],
        alarms=[market_proto.alarm_message(a) for a in minute.alarms],
    )


class DispatchMonitoring:
    """The monitoring group of vgi.dispatch.v1.DispatchService."""

    deps: Deps

    async def StreamEventProgress(
        self, request: pb.StreamEventProgressRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamEventProgressResponse]:
        event_id = request.event.removeprefix("events/")
        db = self.deps.db
        after: datetime | None = None

        def read(conn: Connection) -> tuple[EventState, datetime, list[ProgressMinute]]:
            state, window_end = monitoring.event_state(conn, event_id)
            return state, window_end, monitoring.read_minutes(conn, event_id, after, BATCH)

        with progress_signal(db) as signal:
            while True:
                signal.clear()
                state, window_end, batch = await db.read(read)
                for minute in batch:
                    yield progress_message(minute)
                    after = minute.minute_start
                if len(batch) == BATCH:
                    continue
                last_sent = after is not None and after + MINUTE >= window_end
                overdue = clock.now() >= window_end + _LATE_MINUTE
                if state not in _LIVE and (state is EventState.CANCELLED or last_sent or overdue):
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.deps.settings.delivery_poll_seconds):
                        await signal.wait()
