"""The program's re-dispatch switch (issue 17 finding 14): with ``redispatch_enabled`` off, a lagging
aggregator is still alarmed but its shortfall stays where it is — no instruction is revised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from vgi.common.v1 import market_pb2, types_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb

from clients.market import GridMarketClient
from clients.settlement import ProgramClient
from domain.monitoring import minute_floor

from .test_monitoring import CHARGERS, MINUTE, NODE, SLOT, pre_event, seed, upload
from .world import ts


async def test_redispatch_switched_off_alarms_without_moving_the_shortfall(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, monitor_interval_seconds=0) as platform:
        switched = await ProgramClient(platform.channel).upsert_program(
            operator_pb.Program(name="programs/default", redispatch_enabled=False), ["redispatch_enabled"]
        )
        assert switched.redispatch_enabled is False and switched.deviation_minutes == 2
        now = datetime.now(UTC)
        t = minute_floor(now)
        s0 = t - timedelta(minutes=t.minute % 15)
        m0 = t + MINUTE
        await seed(platform, now)
        # The slot before s0 covered per F2 (a reading every 2 minutes), so every aggregator has a baseline.
        await pre_event(platform, s0)
        grid = GridMarketClient(platform.grid)
        window = types_pb2.TimeWindow(start_time=ts(s0), end_time=ts(s0 + 2 * SLOT))
        curve = types_pb2.PowerCurve(start_time=ts(s0), step_minutes=15, values_w=[35_000, 35_000])
        await grid.publish_event(
            market_pb2.Event(
                event_id="rt-off",
                type=market_pb2.EVENT_TYPE_REAL_TIME,
                direction=types_pb2.DIRECTION_LOAD_DECREASE,
                window=window,
                targets=[market_pb2.NodeTarget(grid_node=f"gridNodes/{NODE}", target=curve)],
            )
        )
        await platform.platform.scheduler.tick(now)
        await grid.submit_dispatch_instruction(
            f"gridNodes/{NODE}", types_pb2.DIRECTION_LOAD_DECREASE, curve, window, event="events/rt-off"
        )
        monitor = platform.platform.monitor
        for minute in (1, 2):
            for aggregator_id, power in (("agg-a", 6_900), ("agg-b", 3_500), ("agg-c", 3_500)):
                await upload(
                    platform,
                    aggregator_id,
                    [power] * CHARGERS[aggregator_id],
                    m0 + timedelta(seconds=60 * minute - 30),
                )
            done = await monitor.tick(m0 + minute * MINUTE)
        assert [a.kind for a in done["rt-off"].alarms] == ["DEVIATION"]
        versions = (await grid.list_instructions(event="events/rt-off", page_size=100)).instructions
        assert sorted(i.version for i in versions) == [1, 1, 1]
