"""One SPEC F8 baseline: the progress stream (F7) and the evaluation (F9) agree for every aggregator and slot.

Both go through the real platform: the execution monitor's minutes as the grid's
StreamEventProgress replays them, and EvaluateEvent's evaluations (their exact
baselines). The progress stream carries whole watts (half-up), so each minute's
aggregator baseline must equal the evaluation's exact baseline of the slot
containing the minute, rounded that way.

History: tests/settlement/scenario.py (agg-a hand-built, agg-b flat 200 000 W).
On D agg-a draws 150 000 W except slot 71 (17:45) 290 000 and slot 93 (23:15)
280 000 W; agg-b 200 000 W. Two day-ahead events, agg-a and agg-b both cleared:

- "one-trimmed", D 18:00–18:30, TRIMMED: agg-a 890 000/3 → 296 667 and
  910 000/3 → 303 333 (test_service_baseline.py), agg-b 200 000;
- "one-pre", D 23:30 – D+1 00:30 (across local midnight), PRE_EVENT: the slot
  before the start (23:15) held flat over all four slots, agg-a 280 000, agg-b
  200 000 — also on D+1, whose part has no slot of its own before it outside
  the window (the monitor used to look for 23:45 there and find nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from dr import world
from sqlalchemy.engine import Connection
from vgi.common.v1 import market_pb2

from clients.monitoring import ProgressClient
from domain.monitoring import whole_watts
from store import capacity

from . import scenario
from .scenario import World

pytestmark = pytest.mark.timeout(180)

M = market_pb2
MINUTE = timedelta(minutes=1)
SLOT = timedelta(minutes=15)
BIDS = {
    "agg-a": (50_000, "0.50"),
    "agg-b": (30_000, "0.60"),
}


async def run_event(
    w: World, event_id: str, start: datetime, slots: int, method: M.BaselineMethod.ValueType
) -> tuple[dict[tuple[str, datetime], int], dict[tuple[str, datetime], Fraction]]:
    """Publish, bid, clear, execute (monitoring one minute of every slot), evaluate; (progress, evaluation)
    baselines per (aggregator, slot start)."""
    event = world.day_ahead_event(event_id, start, [80_000] * slots)
    event.program = scenario.PROGRAM
    event.baseline_method = method
    await w.grid.publish_event(event)
    for aggregator_id, offer in BIDS.items():
        await w.market[aggregator_id].submit_bid(f"events/{event_id}", world.slots(start, [offer] * slots))
    scheduler, monitor = w.platform.platform.scheduler, w.platform.platform.monitor
    await scheduler.tick(start - timedelta(hours=2))
    await w.grid.clear_event(f"events/{event_id}")
    await scheduler.tick(start)
    for k in range(slots):
        # Monitors the minute 7 minutes into slot k.
        assert event_id in await monitor.tick(start + k * SLOT + 8 * MINUTE)
    await scheduler.tick(start + slots * SLOT)
    # The window's last minute: the replayed stream ends after it.
    assert event_id in await monitor.tick(start + slots * SLOT)

    evaluated = await w.settlement.evaluate_event(f"events/{event_id}")
    evaluation = {
        (e.aggregator, s.slot_start_time.ToDatetime(UTC)): Fraction(
            int(s.baseline_w_exact.numerator), int(s.baseline_w_exact.denominator)
        )
        for e in evaluated.evaluations
        for s in e.slots
    }
    progress = {}
    async for minute in ProgressClient(w.platform.grid).stream_event_progress(f"events/{event_id}"):
        at = minute.minute_time.ToDatetime(UTC)
        slot = at - (at - start) % SLOT
        for figures in minute.aggregators:
            progress[(figures.aggregator, slot)] = figures.baseline_w
    return progress, evaluation


async def test_the_progress_stream_and_the_evaluation_give_the_same_baseline(
    database_url: str, platform_factory: Any
) -> None:
    settings = {**scenario.SETTINGS, "monitor_interval_seconds": 0}
    async with platform_factory(database_url, **settings) as platform:
        w = World(platform)
        await w.build()
        next_day = w.day + timedelta(days=1)

        def declare(conn: Connection) -> None:
            for aggregator_id in BIDS:
                capacity.declare(
                    conn,
                    aggregator_id,
                    capacity.Declaration(scenario.at(next_day, 0), (200_000,) * 96, (0,) * 96, "", ""),
                    datetime.now(UTC),
                )

        await platform.db.write(declare)
        await w.upload_event_day("agg-a", {71: 290_000, 93: 280_000}, scenario.BASE_A)
        await w.upload_event_day("agg-b", {}, scenario.BASE_B)
        await w.upload("agg-a", {scenario.at(next_day, slot): scenario.BASE_A for slot in range(4)})
        await w.upload("agg-b", {scenario.at(next_day, slot): scenario.BASE_B for slot in range(4)})

        a, b = "aggregators/agg-a", "aggregators/agg-b"
        start = scenario.at(w.day, 72)
        progress, evaluation = await run_event(w, "one-trimmed", start, 2, M.BASELINE_METHOD_TRIMMED)
        slots = [start, start + SLOT]
        assert evaluation == {
            (a, slots[0]): Fraction(890_000, 3),
            (a, slots[1]): Fraction(910_000, 3),
            (b, slots[0]): 200_000,
            (b, slots[1]): 200_000,
        }
        assert progress == {key: whole_watts(value) for key, value in evaluation.items()}
        assert progress[(a, slots[0])] == 296_667

        start = scenario.at(w.day, 94)
        progress, evaluation = await run_event(w, "one-pre", start, 4, M.BASELINE_METHOD_PRE_EVENT)
        slots = [start + k * SLOT for k in range(4)]
        assert evaluation == {
            **{(a, s): 280_000 for s in slots},
            **{(b, s): 200_000 for s in slots},
        }
        assert progress == {key: whole_watts(value) for key, value in evaluation.items()}
