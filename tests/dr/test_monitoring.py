"""SPEC F7 end to end over a real server: per-minute progress, closed-loop re-dispatch, alarms.

ta-1 is served by agg-a (4 chargers), agg-b (4) and agg-c (2): 7 kW AC
chargers, not platform-managed, each with an EV at 60 kWh, SOC 0.5 → 0.9,
leaving in 10 h, so the F3 floor is 0 and each can shed its present power.

Timeline (wall clock; ``now`` is when the test starts, ``t`` its minute):

* pre-event slot (the 15 minutes before the window): every charger reads
  7 000 W every 2 minutes (SPEC F2: each reading holds up to the 120 s
  heartbeat timeout, so the slot is covered) → PRE_EVENT baselines (the program's TOP5_OF_10 has no history:
  the fallback) agg-a 28 000, agg-b 28 000, agg-c 14 000, ta-1 70 000 W;
* a real-time event on ta-1, window = the current slot and the next, target
  35 000 W per slot; the grid's node instruction is split by available
  capacity (no fresh reading: P0 = Pmax = 7 000 W per session)
  28 000 : 28 000 : 14 000 → agg-a 14 000, agg-b 14 000, agg-c 7 000 W;
* minutes m0 = t + 1 and m0 + 1 (a reading at the start of each, held
  through it): agg-a's chargers read 6 900 W (27 600,
  response 400 W: it stays near its baseline), agg-b's and agg-c's 3 500 W
  (14 000 and 7 000: on target). agg-a's deviation (14 000 − 400)/14 000 =
  0.971429 > 0.1 two minutes running → at the end of m0 + 1 its shortfall
  14 000 − 400 = 13 600 W is re-dispatched over agg-b and agg-c in
  proportion to their capacity left (P0 − Pmin = 4·3 500 = 14 000 and
  2·3 500 = 7 000): 9 066.67 / 4 533.33 → largest remainder 9 067 / 4 533.
  New versions: agg-a 400, agg-b 23 067, agg-c 11 533 W from the step
  containing m0 + 2 on (Σ still 35 000);
* minute m0 + 2: agg-b reads 4 933 W (response 23 067), agg-c 2 467 W
  (11 533), agg-a 27 600 (400): everybody on target.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Connection
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import aggregator_pb2, market_pb2, notifications_pb2, telemetry_pb2, types_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb

from application import registry as use_cases
from application.uow import UnitOfWork
from clients.errors import NotFoundError
from clients.market import GridMarketClient
from clients.monitoring import ProgressClient
from clients.registry import AggregatorRegistryClient
from clients.streams import NotificationSubscriber
from domain.monitoring import minute_floor
from server.monitor import Monitor
from store.db import Database
from store.registry import Charger, GridNode, Session, Station
from wire import notices as wire_notices

from .world import ts

pytestmark = pytest.mark.timeout(120)

NODE = "ta-1"
CHARGERS = {"agg-a": 4, "agg-b": 4, "agg-c": 2}
SLOT = timedelta(minutes=15)
MINUTE = timedelta(minutes=1)


def charger_ids(aggregator_id: str) -> list[str]:
    return [f"ch-{aggregator_id}-{i}" for i in range(CHARGERS[aggregator_id])]


async def seed(platform: Any, now: datetime) -> None:
    for aggregator_id in CHARGERS:
        await platform.operator.create_aggregator(
            aggregator_id, aggregator_pb2.Aggregator(display_name=f"Aggregator {aggregator_id}")
        )

    def write(conn: Connection) -> None:
        use_cases.upsert_grid_nodes(
            UnitOfWork(conn, now), [GridNode(NODE, "TRANSFORMER_AREA", None, "Area 1", 0, 0)]
        )
        for aggregator_id in CHARGERS:
            station = f"st-{aggregator_id}"
            use_cases.upsert_stations(
                UnitOfWork(conn, now), aggregator_id, [Station(station, "", NODE, 0, 0)]
            )
            use_cases.upsert_chargers(
                UnitOfWork(conn, now),
                aggregator_id,
                [Charger(c, station, "AC", 7_000, 0, False, False) for c in charger_ids(aggregator_id)],
            )
            use_cases.upsert_sessions(
                UnitOfWork(conn, now),
                aggregator_id,
                [
                    Session(
                        session_id=f"s-{c}",
                        charger_id=c,
                        plug_in_time=now - timedelta(hours=1),
                        expected_departure_time=now + timedelta(hours=10),
                        battery_wh=60_000,
                        soc_ppb=500_000_000,
                        target_soc_ppb=900_000_000,
                        v2g_floor_soc_ppb=0,
                        max_charge_w=7_000,
                        max_discharge_w=0,
                        bidirectional=False,
                    )
                    for c in charger_ids(aggregator_id)
                ],
            )

    await platform.db.write(write)


async def upload(platform: Any, aggregator_id: str, powers_w: Sequence[int], at: datetime) -> None:
    """The aggregator uploads one reading per charger (in charger order) through UploadTelemetry."""
    client = AggregatorRegistryClient(platform.channel_for(f"vgi://aggregator/{aggregator_id}"))
    batch = agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()),
        meter_values=[
            telemetry_pb2.MeterValue(charger_id=c, sample_time=ts(at), power_w=p)
            for c, p in zip(charger_ids(aggregator_id), powers_w, strict=True)
        ],
    )
    acks = [ack async for ack in client.upload_telemetry([batch])]
    assert [a.stored_points for a in acks] == [len(powers_w)]


async def pre_event(platform: Any, s0: datetime) -> None:
    """Every charger reads 7 000 W every 2 minutes through the slot before ``s0`` (covered per F2)."""
    for ago in range(15, 0, -2):
        for aggregator_id in CHARGERS:
            await upload(platform, aggregator_id, [7_000] * CHARGERS[aggregator_id], s0 - ago * MINUTE)


class Collector:
    """Reads a stream in the background; ``wait_for`` waits until what it read satisfies a condition."""

    def __init__(self, stream: AsyncIterable[Any]) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Condition()
        self.task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: AsyncIterable[Any]) -> None:
        async for item in stream:
            async with self._changed:
                self.items.append(item)
                self._changed.notify_all()

    async def wait_for(self, condition: Callable[[list[Any]], bool], what: str) -> None:
        try:
            async with asyncio.timeout(10), self._changed:
                await self._changed.wait_for(lambda: condition(self.items))
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None


def dec(value: str) -> Any:
    return {"value": value}


def expected_minute(
    minute: datetime,
    aggregators: dict[str, tuple[int, int, int, str]],
    node: tuple[int, int, int, str],
) -> dispatch_pb.StreamEventProgressResponse:
    """(target, actual, baseline, deviation) per aggregator and for ta-1; response = baseline − actual."""
    return dispatch_pb.StreamEventProgressResponse(
        minute_time=ts(minute),
        event_state=market_pb2.EVENT_STATE_EXECUTING,
        target_w=sum(f[0] for f in aggregators.values()),
        actual_w=sum(f[1] for f in aggregators.values()),
        baseline_w=sum(f[2] for f in aggregators.values()),
        aggregators=[
            dispatch_pb.AggregatorProgress(
                aggregator=f"aggregators/{aid}",
                target_w=t,
                actual_w=a,
                baseline_w=b,
                response_w=b - a,
                deviation=dec(d),
            )
            for aid, (t, a, b, d) in sorted(aggregators.items())
        ],
        nodes=[
            dispatch_pb.NodeProgress(
                grid_node=f"gridNodes/{NODE}",
                target_w=node[0],
                actual_w=node[1],
                baseline_w=node[2],
                response_w=node[2] - node[1],
                deviation=dec(node[3]),
            )
        ],
    )


def payloads(items: Sequence[notifications_pb2.Notification]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for n in items:
        kind = n.WhichOneof("payload")
        if kind == "instruction":
            out.append((kind, (n.instruction.version, list(n.instruction.target.values_w))))
        elif kind == "instruction_cancelled":
            out.append(
                (
                    kind,
                    (n.instruction_cancelled.instruction.version, n.instruction_cancelled.reissued_version),
                )
            )
        elif kind == "alarm":
            out.append((kind, (n.alarm.kind, n.alarm.aggregator)))
    return out


async def test_under_delivery_is_alarmed_and_redispatched(database_url: str, platform_factory: Any) -> None:
    # The test is the monitor's clock: the platform runs none of its own.
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
                event_id="rt-1",
                type=market_pb2.EVENT_TYPE_REAL_TIME,
                direction=types_pb2.DIRECTION_LOAD_DECREASE,
                window=window,
                targets=[market_pb2.NodeTarget(grid_node=f"gridNodes/{NODE}", target=curve)],
            )
        )
        await platform.platform.scheduler.tick(now)
        first = await grid.submit_dispatch_instruction(
            f"gridNodes/{NODE}", types_pb2.DIRECTION_LOAD_DECREASE, curve, window, event="events/rt-1"
        )
        assert {i.aggregator: list(i.target.values_w) for i in first.instructions} == {
            "aggregators/agg-a": [14_000, 14_000],
            "aggregators/agg-b": [14_000, 14_000],
            "aggregators/agg-c": [7_000, 7_000],
        }

        progress = Collector(ProgressClient(platform.grid).stream_event_progress("events/rt-1"))
        received = {
            aggregator_id: Collector(
                NotificationSubscriber(platform.channel_for(f"vgi://aggregator/{aggregator_id}"))
            )
            for aggregator_id in CHARGERS
        }

        monitor = platform.platform.monitor
        # Another process's monitor over its own connection pool races for the same minute.
        other = Monitor(Database(database_url, threads=2, publisher=wire_notices.publish))
        try:
            for aggregator_id, power in (("agg-a", 6_900), ("agg-b", 3_500), ("agg-c", 3_500)):
                await upload(platform, aggregator_id, [power] * CHARGERS[aggregator_id], m0)
            ours, theirs = await asyncio.gather(monitor.tick(m0 + MINUTE), other.tick(m0 + MINUTE))
            assert sorted([*ours, *theirs]) == ["rt-1"]
            assert await monitor.tick(m0 + MINUTE + timedelta(seconds=20)) == {}
        finally:
            await other._db.close()

        on_target = {
            "agg-b": (14_000, 14_000, 28_000, "0.000000"),
            "agg-c": (7_000, 7_000, 14_000, "0.000000"),
        }
        lagging = {"agg-a": (14_000, 27_600, 28_000, "0.971429"), **on_target}
        before = (35_000, 48_600, 70_000, "0.388571")
        await progress.wait_for(lambda items: len(items) == 1, "minute m0 on the progress stream")
        assert progress.items[0] == expected_minute(m0, lagging, before)

        for aggregator_id, power in (("agg-a", 6_900), ("agg-b", 3_500), ("agg-c", 3_500)):
            await upload(platform, aggregator_id, [power] * CHARGERS[aggregator_id], m0 + MINUTE)
        done = await monitor.tick(m0 + 2 * MINUTE)
        assert [a.kind for a in done["rt-1"].alarms] == [
            "DEVIATION",
            "REDISPATCH",
            "REDISPATCH",
            "REDISPATCH",
        ]

        # The grid sees the minute's figures (before the correction) and the four alarms.
        await progress.wait_for(lambda items: len(items) == 2, "minute m0 + 1 on the progress stream")
        second = dispatch_pb.StreamEventProgressResponse()
        second.CopyFrom(progress.items[1])
        alarms = list(second.alarms)
        del second.alarms[:]
        assert second == expected_minute(m0 + MINUTE, lagging, before)
        assert [(a.kind, a.aggregator, a.event) for a in alarms] == [
            (market_pb2.ALARM_KIND_DEVIATION, "aggregators/agg-a", "events/rt-1"),
            (market_pb2.ALARM_KIND_REDISPATCH, "aggregators/agg-a", "events/rt-1"),
            (market_pb2.ALARM_KIND_REDISPATCH, "aggregators/agg-b", "events/rt-1"),
            (market_pb2.ALARM_KIND_REDISPATCH, "aggregators/agg-c", "events/rt-1"),
        ]
        assert alarms[0].message == (
            "aggregators/agg-a responded 400 W of 14000 W instructed (deviation 97.1%) for 2 consecutive "
            "minutes, above the 10.0% allowed"
        )
        moved = (
            "shortfall of 13600 W at gridNodes/ta-1 re-dispatched: aggregators/agg-a -13600 W, "
            "aggregators/agg-b +9067 W, aggregators/agg-c +4533 W; your instruction is now version 2"
        )
        assert [a.message for a in alarms[1:]] == [moved] * 3
        assert {a.raise_time.ToDatetime(tzinfo=UTC) for a in alarms} == {m0 + 2 * MINUTE}

        # Cancel-and-reissue: version 2 from the step containing m0 + 2 on; a step that ended is history.
        effective = m0 + 2 * MINUTE
        changed = [s0 + (i + 1) * SLOT > effective for i in range(2)]

        def revised(old: int, new: int) -> list[int]:
            return [new if c else old for c in changed]

        listed = await grid.list_instructions(event="events/rt-1")
        assert sorted(
            (i.aggregator, i.version, i.state, list(i.target.values_w)) for i in listed.instructions
        ) == [
            ("aggregators/agg-a", 1, market_pb2.INSTRUCTION_STATE_CANCELLED, [14_000, 14_000]),
            ("aggregators/agg-a", 2, market_pb2.INSTRUCTION_STATE_ACTIVE, revised(14_000, 400)),
            ("aggregators/agg-b", 1, market_pb2.INSTRUCTION_STATE_CANCELLED, [14_000, 14_000]),
            ("aggregators/agg-b", 2, market_pb2.INSTRUCTION_STATE_ACTIVE, revised(14_000, 23_067)),
            ("aggregators/agg-c", 1, market_pb2.INSTRUCTION_STATE_CANCELLED, [7_000, 7_000]),
            ("aggregators/agg-c", 2, market_pb2.INSTRUCTION_STATE_ACTIVE, revised(7_000, 11_533)),
        ]

        # Each aggregator's notification stream: its alarms and its revised instruction, in commit order.
        def story(aggregator_id: str, old: int, new: int) -> list[tuple[str, Any]]:
            mine = f"aggregators/{aggregator_id}"
            deviation = (
                [("alarm", (market_pb2.ALARM_KIND_DEVIATION, mine))] if aggregator_id == "agg-a" else []
            )
            return [
                ("instruction", (1, [old, old])),
                *deviation,
                ("instruction_cancelled", (1, 2)),
                ("instruction", (2, revised(old, new))),
                ("alarm", (market_pb2.ALARM_KIND_REDISPATCH, mine)),
            ]

        expected = {"agg-a": story("agg-a", 14_000, 400), "agg-b": story("agg-b", 14_000, 23_067)}
        expected["agg-c"] = story("agg-c", 7_000, 11_533)
        for aggregator_id, collector in received.items():
            wanted = len(expected[aggregator_id])

            def complete(items: list[Any], wanted: int = wanted) -> bool:
                return len(payloads(items)) == wanted

            await collector.wait_for(complete, f"{aggregator_id}'s notifications")
        assert {a: payloads(received[a].items) for a in CHARGERS} == expected
        agg_b_alarm = next(n.alarm for n in received["agg-b"].items if n.HasField("alarm"))
        assert agg_b_alarm == alarms[2]

        # The others deliver their new share; agg-a its 400 W: everybody on target, no alarm.
        for aggregator_id, powers in (
            ("agg-a", [6_900] * 4),
            ("agg-b", [1_233, 1_233, 1_233, 1_234]),
            ("agg-c", [1_233, 1_234]),
        ):
            await upload(platform, aggregator_id, powers, m0 + 2 * MINUTE)
        await monitor.tick(m0 + 3 * MINUTE)
        await progress.wait_for(lambda items: len(items) == 3, "minute m0 + 2 on the progress stream")
        assert progress.items[2] == expected_minute(
            m0 + 2 * MINUTE,
            {
                "agg-a": (400, 27_600, 28_000, "0.000000"),
                "agg-b": (23_067, 4_933, 28_000, "0.000000"),
                "agg-c": (11_533, 2_467, 14_000, "0.000000"),
            },
            (35_000, 35_000, 70_000, "0.000000"),
        )

        # An operator's stream replays the stored minutes; once the event is cancelled it ends there.
        await grid.cancel_event("events/rt-1", "grid emergency over")
        replay = [m async for m in ProgressClient(platform.channel).stream_event_progress("events/rt-1")]
        assert replay == progress.items
        await asyncio.wait_for(progress.task, timeout=10)
        for collector in received.values():
            collector.task.cancel()
        await asyncio.gather(*(c.task for c in received.values()), return_exceptions=True)

        with pytest.raises(NotFoundError) as unknown:
            _ = [m async for m in ProgressClient(platform.grid).stream_event_progress("events/nope")]
        assert unknown.value.reason == "EVENT_NOT_FOUND"


async def test_silent_aggregators_count_as_not_responding_and_the_stream_ends_with_the_event(
    database_url: str, platform_factory: Any
) -> None:
    """No reading after the baseline slot: every response is unmeasured (0, deviation 1); the last minute of
    the window is monitored after the event completed, and the stream opened before it ends after it."""
    async with platform_factory(database_url, monitor_interval_seconds=0) as platform:
        now = datetime.now(UTC)
        t = minute_floor(now)
        s0 = t - timedelta(minutes=t.minute % 15)
        end = s0 + SLOT
        await seed(platform, now)
        await pre_event(platform, s0)
        grid = GridMarketClient(platform.grid)
        window = types_pb2.TimeWindow(start_time=ts(s0), end_time=ts(end))
        curve = types_pb2.PowerCurve(start_time=ts(s0), step_minutes=15, values_w=[35_000])
        await grid.publish_event(
            market_pb2.Event(
                event_id="rt-2",
                type=market_pb2.EVENT_TYPE_REAL_TIME,
                direction=types_pb2.DIRECTION_LOAD_DECREASE,
                window=window,
                targets=[market_pb2.NodeTarget(grid_node=f"gridNodes/{NODE}", target=curve)],
            )
        )
        await platform.platform.scheduler.tick(now)
        await grid.submit_dispatch_instruction(
            f"gridNodes/{NODE}", types_pb2.DIRECTION_LOAD_DECREASE, curve, window, event="events/rt-2"
        )
        progress = Collector(ProgressClient(platform.grid).stream_event_progress("events/rt-2"))

        await platform.platform.scheduler.tick(end)
        done = await platform.platform.monitor.tick(end)
        assert list(done) == ["rt-2"]
        await asyncio.wait_for(progress.task, timeout=10)
        silent = {
            aid: dispatch_pb.AggregatorProgress(
                aggregator=f"aggregators/{aid}",
                target_w=target,
                baseline_w=baseline,
                deviation=dec("1.000000"),
                unmeasured=True,
            )
            for aid, target, baseline in (
                ("agg-a", 14_000, 28_000),
                ("agg-b", 14_000, 28_000),
                ("agg-c", 7_000, 14_000),
            )
        }
        assert progress.items == [
            dispatch_pb.StreamEventProgressResponse(
                minute_time=ts(end - MINUTE),
                event_state=market_pb2.EVENT_STATE_COMPLETED,
                target_w=35_000,
                baseline_w=70_000,
                aggregators=[silent[a] for a in sorted(silent)],
                nodes=[
                    dispatch_pb.NodeProgress(
                        grid_node=f"gridNodes/{NODE}",
                        target_w=35_000,
                        baseline_w=70_000,
                        deviation=dec("1.000000"),
                        unmeasured=True,
                    )
                ],
            )
        ]
        # The event is over: nothing more to monitor.
        assert await platform.platform.monitor.tick(end + MINUTE) == {}
