"""DispatchService execution monitoring (SPEC F7): the event progress stream.

StreamEventProgress replays the event's monitored minutes from the store,
then sends each new one as it commits (woken at once when this process's
monitor committed it, else found by polling every ``delivery_poll_seconds``),
so any process can serve any event's stream. Before the event executes the
stream waits; it ends (OK) once the event has left execution and its last
minute was sent (or, if that minute was never monitored, two minutes after
the window). The messages are ``wire.monitoring``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import grpc
from sqlalchemy.engine import Connection
from vgi.dispatch.v1 import dispatch_service_pb2 as pb

from domain.events import EventState
from domain.monitoring import MINUTE
from server import clock
from server.monitor import progress_signal
from server.servicers import Deps
from store import monitoring
from store.monitoring import ProgressMinute
from wire.monitoring import progress_message

BATCH = 100
_LIVE = frozenset({EventState.PUBLISHED, EventState.BIDDING_CLOSED, EventState.CLEARED, EventState.EXECUTING})
_LATE_MINUTE = timedelta(minutes=2)


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
