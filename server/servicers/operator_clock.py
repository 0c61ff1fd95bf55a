"""OperatorService.AdvanceClock: move a simulated platform clock forward (``server.clock``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import grpc
from sqlalchemy.engine import Connection
from vgi.operator.v1 import operator_service_pb2 as pb

from domain.errors import FailedPrecondition
from domain.monitoring import MINUTE, minute_floor
from server import clock
from server.monitor import Monitor
from server.scheduler import Scheduler
from server.servicers import Deps, caller
from store import events as event_store
from store import idempotency, instructions, monitoring
from store.idempotency import IdempotencyKey
from wire.timestamps import timestamp, to_datetime

_ADVANCE_CLOCK = "/vgi.operator.v1.OperatorService/AdvanceClock"


class OperatorClock:
    """Mixin of ``OperatorService``; needs ``self.deps``."""

    deps: Deps

    async def AdvanceClock(
        self, request: pb.AdvanceClockRequest, context: grpc.aio.ServicerContext
    ) -> pb.AdvanceClockResponse:
        simulated = clock.simulated()
        key = IdempotencyKey(caller().uri, _ADVANCE_CLOCK, request.request_id)
        db = self.deps.db
        scheduler = Scheduler(db)
        monitor = Monitor(
            db, heartbeat_timeout=timedelta(seconds=self.deps.settings.heartbeat_timeout_seconds)
        )

        async def step(at: datetime) -> None:
            # Events move and setpoints go out before the minute that ended is monitored.
            await scheduler.tick(at)
            await monitor.tick(at)

        async def first_due(instants: Sequence[datetime]) -> datetime | None:
            return await db.read(lambda conn: _first_due(conn, instants))

        try:
            reached = await simulated.advance(to_datetime(request.advance_to), first_due, step)
        except FailedPrecondition as refused:
            if refused.reason != clock.CLOCK_NOT_MONOTONIC:
                raise
            backwards = refused

            def refuse(conn: Connection) -> pb.AdvanceClockResponse:
                raise backwards

            # The clock is not in the store: a retry of an advance that went
            # through finds its stored answer here; anything else is refused.
            return await idempotency.write_once(db, key, request, pb.AdvanceClockResponse, refuse)
        answer = pb.AdvanceClockResponse(now=timestamp(reached))
        return await idempotency.write_once(db, key, request, pb.AdvanceClockResponse, lambda conn: answer)


def _first_due(conn: Connection, instants: Sequence[datetime]) -> datetime | None:
    """The first instant at which the scheduler or the monitor would find something to do."""
    for at in instants:
        if (
            event_store.due_event_ids(conn, at, 1)
            or instructions.pending_setpoints(conn, at, 1)
            or monitoring.due_event_ids(conn, minute_floor(at) - MINUTE)
        ):
            return at
    return None
