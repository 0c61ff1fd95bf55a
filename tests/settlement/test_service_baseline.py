"""SPEC F8 baselines served by EvaluateEvent, each method against the hand-built history of scenario.py.

Four day-ahead events on D, window 18:00–18:30, each with its own
``baseline_method``; only agg-a bids (C = 50 000 W, 20 000 W). On D agg-a draws
slot 71 (17:45) 290 000 W, slot 72 268 000 W, slot 73 274 000 W. Candidate
days (working, most recent first): D−2, D−4 (调休 Saturday), D−5, D−8, D−12,
D−13, D−14, … — D−3 (Sunday), D−6 (holiday), D−7 (event day of "rt-old") and
D−9 (slot 10 missing) are skipped. Window values (kW) of the first five:
D−2 300/300, D−4 320/300, D−5 280/320, D−8 310/290, D−12 100/100.

- TOP5_OF_10: D−13, D−4, D−2, D−5, D−8 → 308 000 / 304 000 (worked out in test_e2e.py)
- RECENT5: D−2, D−4, D−5, D−8, D−12 → (300+320+280+310+100)/5 = 262 000 and (300+300+320+290+100)/5 = 262 000
- TRIMMED: of those five drop the highest window sum D−4 (620) and the lowest D−12 (200):
  D−2, D−5, D−8 → 890 000/3 = 296 666.67 and 910 000/3 = 303 333.33 (exact, sent to 9 places)
- PRE_EVENT: slot 71 of D, 290 000 flat, from D itself
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from vgi.common.v1 import market_pb2

from clients.errors import FailedPreconditionError
from store import events as event_store
from store import programs
from store import settlement as store

from . import scenario
from .scenario import World

pytestmark = pytest.mark.timeout(120)

M = market_pb2
A_BIDS = {"agg-a": [(50_000, "0.50"), (20_000, "0.60")]}


def days(day: date, *offsets: int) -> list[str]:
    return [(day - timedelta(days=k)).isoformat() for k in offsets]


async def test_each_method_over_the_grpc_surface(database_url: str, platform_factory: Any) -> None:
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        await w.build()
        methods = {
            "dr-top5": M.BASELINE_METHOD_TOP5_OF_10,
            "dr-recent5": M.BASELINE_METHOD_RECENT5,
            "dr-trimmed": M.BASELINE_METHOD_TRIMMED,
            "dr-pre": M.BASELINE_METHOD_PRE_EVENT,
        }
        for event_id, method in methods.items():
            await w.day_ahead(event_id, [50_000, 20_000], A_BIDS, baseline_method=method)
        await w.upload_event_day("agg-a", {71: 290_000, 72: 268_000, 73: 274_000}, scenario.BASE_A)
        await w.run_window()

        found = {}
        for event_id in methods:
            [evaluation] = (await w.settlement.evaluate_event(f"events/{event_id}")).evaluations
            found[event_id] = evaluation
        d = w.day
        expected = {
            "dr-top5": (days(d, 2, 4, 5, 8, 13), ["308000", "304000"], ["0.8", "1.5"]),
            "dr-recent5": (days(d, 2, 4, 5, 8, 12), ["262000", "262000"], ["-0.12", "-0.6"]),
            # r = (890 000/3 − 268 000) / 50 000 = 86/150; (910 000/3 − 274 000) / 20 000 = 88/60
            "dr-trimmed": (
                days(d, 2, 5, 8),
                ["296666.666666667", "303333.333333333"],
                ["0.573333333", "1.466666667"],
            ),
            "dr-pre": ([d.isoformat()], ["290000", "290000"], ["0.44", "0.8"]),
        }
        for event_id, (baseline_days, baseline, rates) in expected.items():
            evaluation = found[event_id]
            assert evaluation.baseline_method == methods[event_id], event_id
            assert list(evaluation.baseline_days) == baseline_days, event_id
            assert [s.baseline_w.value for s in evaluation.slots] == baseline, event_id
            assert [s.rate.value for s in evaluation.slots] == rates, event_id

        # The exact thirds are what is kept and settled, not the wire's 9 places.
        record = await platform.db.read(lambda conn: store.get_evaluation(conn, "dr-trimmed", "agg-a"))
        assert [s.baseline_w for s in record.evaluation.slots] == [Fraction(890_000, 3), Fraction(910_000, 3)]
        [statement] = (await w.settlement.list_statements("events/dr-trimmed")).statements
        # slot 0: R = 86 000/3 W, r ≈ 0.57 → 86 000/3 × 0.25 / 1000 × 0.50 = 3.5833… → 3.58
        # slot 1: r ≈ 1.47 → capped 1.2 × 20 000 → 6 kWh × 0.60 = 3.60
        assert [
            line.compensation.units * 100 + line.compensation.nanos // 10**7 for line in statement.lines
        ] == [
            358,
            360,
        ]


async def test_a_grid_node_baseline(database_url: str, platform_factory: Any) -> None:
    """ta-1 serves agg-a and agg-b: the node's 15-minute means are their sums.

    At node level a day counts as metered when every slot has data from some
    station, so D−9 (agg-a lacks slot 10, agg-b has it) is a candidate there.
    Node window sums (kW): D−2 1000, D−4 1020, D−5 1000, D−8 1000, D−9 2000,
    D−12 600, D−13 1040, D−14 700, D−15 640, D−16 1000 → top 5: D−9, D−13, D−4,
    then the most recent 1000s D−2, D−5:
        slot 72: (1000 + 530 + 520 + 500 + 480) / 5 = 606 000; slot 73: (1000 + 510 + 500 + 500 + 520) / 5 = 606 000
    """
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        await w.build()
        await w.day_ahead("dr-node", [50_000, 20_000], A_BIDS)

        def read(conn: Any) -> store.Baseline:
            event = event_store.get(conn, "dr-node")
            return store.baseline(conn, event, programs.get(conn, "settle"), node_id="ta-1")

        node = await platform.db.read(read)
        start, _ = w.window()
        assert node.days == tuple(w.day - timedelta(days=k) for k in (2, 4, 5, 9, 13))
        assert node.values == {start: Decimal(606_000), start + timedelta(minutes=15): Decimal(606_000)}


async def test_too_few_days_fail_clearly_unless_the_program_names_a_fallback(
    database_url: str, platform_factory: Any
) -> None:
    """agg-c has no history at all: TOP5_OF_10 finds 0 of the 5 days it needs."""
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        await w.build()
        await w.day_ahead("dr-c", [30_000, 30_000], {"agg-c": [(30_000, "0.50"), (30_000, "0.50")]})
        await w.upload_event_day("agg-c", {71: 100_000, 72: 80_000, 73: 70_000}, 90_000)
        await w.run_window()

        with pytest.raises(FailedPreconditionError) as short:
            await w.settlement.evaluate_event("events/dr-c")
        assert short.value.reason == "INSUFFICIENT_BASELINE_DAYS"
        assert short.value.metadata == {
            "method": "TOP5_OF_10",
            "found": "0",
            "needed": "5",
            "scope": "aggregators/agg-c",
        }
        assert (await w.grid.get_event("events/dr-c")).state == M.EVENT_STATE_COMPLETED

        await w.set_program(fallback_baseline_method=M.BASELINE_METHOD_PRE_EVENT)
        [evaluation] = (await w.settlement.evaluate_event("events/dr-c")).evaluations
        assert evaluation.baseline_method == M.BASELINE_METHOD_PRE_EVENT
        assert list(evaluation.baseline_days) == [w.day.isoformat()]
        # B = 100 000 flat: R = 20 000 and 30 000 of C = 30 000
        assert [(s.baseline_w.value, s.response_w.value, s.rate.value) for s in evaluation.slots] == [
            ("100000", "20000", "0.666666667"),
            ("100000", "30000", "1"),
        ]
