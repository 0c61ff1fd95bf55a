"""Statistics (SPEC F12): counts and capacities per grid node, per aggregator, or platform-wide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.capacity_totals import Totals
from store import aggregators, capacity, registry
from store.registry import chargers, sessions, stations


@dataclass(frozen=True, slots=True)
class Statistics:
    """vgi.common.v1.Statistics."""

    scope: str
    compute_time: datetime
    stations: int
    chargers: int
    v2g_chargers: int
    online_chargers: int
    active_sessions: int
    rated_charge_w: int
    rated_discharge_w: int
    decrease_w: int
    increase_w: int


def _count_if(condition: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def statistics(conn: Connection, scope: str, now: datetime, heartbeat_timeout: timedelta) -> Statistics:
    """Figures for ``gridNodes/{id}`` (with descendants), ``aggregators/{id}`` or "" (everything).

    Counts are of live resources; capacity is the real-time F3 capacity of
    the scope (a node's increase capped as in store.capacity, the platform's
    the uncapped sum over all sessions). An unknown node or aggregator is NOT_FOUND.
    """
    station_where: list[Any] = [stations.c.delete_time.is_(None)]
    if scope:
        aggregator_id, node_id = capacity.parse_scope(scope)
        if aggregator_id is not None:
            aggregators.get(conn, aggregator_id)
            station_where.append(stations.c.aggregator_id == aggregator_id)
        else:
            station_where.append(
                stations.c.grid_node_id.in_(sa.select(registry.subtree_cte(str(node_id)).c.node_id))
            )
        realtime = capacity.realtime_capacity(conn, scope, now, heartbeat_timeout)
        decrease, increase = realtime.decrease_w, realtime.increase_w
    else:
        total = Totals()
        for totals in capacity.all_totals(conn, now, heartbeat_timeout).values():
            total.add(totals)
        decrease, increase = total.decrease_w, total.increase_w
    station_count = conn.execute(
        sa.select(sa.func.count()).select_from(stations).where(*station_where)
    ).scalar_one()
    joined = chargers.join(
        stations,
        sa.and_(
            stations.c.aggregator_id == chargers.c.aggregator_id,
            stations.c.station_id == chargers.c.station_id,
        ),
    )
    live = [chargers.c.delete_time.is_(None), *station_where]
    row = conn.execute(
        sa.select(
            sa.func.count().label("chargers"),
            _count_if(chargers.c.bidirectional.is_(True)).label("v2g"),
            _count_if(chargers.c.last_heartbeat_time >= now - heartbeat_timeout).label("online"),
            sa.func.coalesce(sa.func.sum(chargers.c.rated_charge_w), 0).label("charge"),
            sa.func.coalesce(sa.func.sum(chargers.c.rated_discharge_w), 0).label("discharge"),
        )
        .select_from(joined)
        .where(*live)
    ).one()
    active = conn.execute(
        sa.select(sa.func.count())
        .select_from(sessions.join(joined, chargers.c.charger_id == sessions.c.charger_id))
        .where(sessions.c.state == registry.ACTIVE, *live)
    ).scalar_one()
    return Statistics(
        scope=scope,
        compute_time=now,
        stations=station_count,
        chargers=row.chargers,
        v2g_chargers=int(row.v2g),
        online_chargers=int(row.online),
        active_sessions=active,
        rated_charge_w=int(row.charge),
        rated_discharge_w=int(row.discharge),
        decrease_w=decrease,
        increase_w=increase,
    )
