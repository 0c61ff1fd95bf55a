"""Capacity use cases (SPEC F3): an aggregator's day-ahead declaration, a streamed real-time figure kept as
its slot's history."""

from __future__ import annotations

from datetime import timedelta

from application import tenants
from application.uow import UnitOfWork
from store import capacity
from store.capacity import Declaration, RealtimeCapacity


def declare(uow: UnitOfWork, aggregator_id: str, declaration: Declaration) -> Declaration:
    """Store (replace) the aggregator's declaration for a local day; a SUSPENDED aggregator's is refused."""
    tenants.require_active(uow, "declare capacity")
    return capacity.declare(uow.conn, aggregator_id, declaration, uow.now)


def record_sample(uow: UnitOfWork, scope: str, heartbeat_timeout: timedelta) -> RealtimeCapacity:
    """The scope's real-time capacity at ``uow.now``, remembered as its slot's history."""
    figure = capacity.realtime_capacity(uow.conn, scope, uow.now, heartbeat_timeout)
    capacity.record_sample(uow.conn, figure)
    return figure
