"""The monitor judges a minute by the instruction versions in force at its end (domain.in_force), as the
evaluation judges a slot — not by the versions active when it happens to run.

A minute monitored late, after a revision issued past its end, keeps the
version that was in force during it. Before the rule was shared the monitor
took the versions ACTIVE at run time, so such a minute showed the revised
targets (35 000 W split 14 000 / 14 000 / 7 000 here, revised to 20 000 W
in total after the minute ended). Setting as in test_monitoring.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Connection
from vgi.common.v1 import market_pb2, types_pb2

from application import dispatch
from application.uow import UnitOfWork
from clients.market import GridMarketClient
from domain.evaluation import Direction
from domain.monitoring import minute_floor
from store import instructions

from .test_monitoring import CHARGERS, NODE, pre_event, seed, upload
from .world import ts

pytestmark = pytest.mark.timeout(120)

SLOT = timedelta(minutes=15)
MINUTE = timedelta(minutes=1)


async def test_a_late_minute_keeps_the_versions_in_force_during_it(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, monitor_interval_seconds=0) as platform:
        now = datetime.now(UTC)
        t = minute_floor(now)
        s0 = t - timedelta(minutes=t.minute % 15)
        m0 = t + MINUTE
        await seed(platform, now)
        await pre_event(platform, s0)
        grid = GridMarketClient(platform.grid)
        window = types_pb2.TimeWindow(start_time=ts(s0), end_time=ts(s0 + 2 * SLOT))
        curve = types_pb2.PowerCurve(start_time=ts(s0), step_minutes=15, values_w=[35_000, 35_000])
        await grid.publish_event(
            market_pb2.Event(
                event_id="rt-late",
                type=market_pb2.EVENT_TYPE_REAL_TIME,
                direction=types_pb2.DIRECTION_LOAD_DECREASE,
                window=window,
                targets=[market_pb2.NodeTarget(grid_node=f"gridNodes/{NODE}", target=curve)],
            )
        )
        await platform.platform.scheduler.tick(now)
        await grid.submit_dispatch_instruction(
            f"gridNodes/{NODE}", types_pb2.DIRECTION_LOAD_DECREASE, curve, window, event="events/rt-late"
        )
        for aggregator_id, power in (("agg-a", 6_900), ("agg-b", 3_500), ("agg-c", 3_500)):
            await upload(platform, aggregator_id, [power] * CHARGERS[aggregator_id], m0)

        # The grid revises the node's instruction two minutes after m0 ended; m0 is monitored only then.
        revised_at = m0 + 3 * MINUTE

        def revise(conn: Connection) -> list[instructions.Instruction]:
            return dispatch.submit_dispatch_instruction(
                UnitOfWork(conn, revised_at),
                event_id="rt-late",
                grid_node=NODE,
                aggregator_id=None,
                direction=Direction.LOAD_DECREASE,
                target=instructions.Target(s0, 15, (20_000, 20_000), s0, s0 + 2 * SLOT),
                heartbeat_timeout=timedelta(seconds=120),
            ).instructions

        revised = await platform.db.write(revise)
        assert sum(i.target_w[0] for i in revised) == 20_000
        assert {i.version for i in revised} == {2}

        done = await platform.platform.monitor.tick(m0 + MINUTE)
        minute = done["rt-late"]
        assert minute.minute_start == m0
        assert {a.scope: a.figures.target_w for a in minute.aggregators} == {
            "agg-a": 14_000,
            "agg-b": 14_000,
            "agg-c": 7_000,
        }
        assert minute.target_w == 35_000
        # The first minute judged after the revision takes the new versions.
        later = await platform.platform.monitor.tick(revised_at + MINUTE)
        assert later["rt-late"].minute_start == revised_at
        assert later["rt-late"].target_w == 20_000
