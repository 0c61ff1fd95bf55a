"""Real-time direct control (SPEC F6) over a real server: node split, session setpoints, cancel-and-reissue.

ta-1 has three platform-managed 7 kW chargers with EVs at 60 kWh, SOC 0.5 →
0.9 (E = 24 000 Wh), no meter value yet (P0 = Pmax = 7 000 W) and far enough
from departure that the F3 floor is 0: each can shed 7 000 W.

    agg-a: s-long leaves in 10 h (laxity 10 − 24/7 ≈ 6.57 h), s-short in 5 h (≈ 1.57 h)
    agg-b: s-b leaves in 8 h

Available decrease: agg-a 14 000 W, agg-b 7 000 W, agg-c 0.
A node target of 9 000 W splits 2 : 1 → agg-a 6 000, agg-b 3 000. agg-a's
share goes most laxity first: s-long sheds 6 000 (setpoint 1 000), s-short
nothing (7 000); agg-b: s-b sheds 3 000 (setpoint 4 000).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from vgi.common.v1 import market_pb2, types_pb2

from clients.errors import NotFoundError
from clients.market import AggregatorMarketClient, GridMarketClient
from clients.streams import NotificationSubscriber
from store import outbox

from . import world
from .world import notifications, setpoints, ts

pytestmark = pytest.mark.timeout(120)

SESSIONS = {"agg-a": [("s-long", 10.0), ("s-short", 5.0)], "agg-b": [("s-b", 8.0)]}


def _window() -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    return start, start + timedelta(minutes=15)


async def _instruct(grid: GridMarketClient, scope: str, watts: int, request_id: str | None = None) -> Any:
    start, end = _window()
    return await grid.submit_dispatch_instruction(
        scope,
        types_pb2.DIRECTION_LOAD_DECREASE,
        types_pb2.PowerCurve(start_time=ts(start), step_minutes=15, values_w=[watts]),
        types_pb2.TimeWindow(start_time=ts(start), end_time=ts(end)),
        request_id=request_id,
    )


def _powers(items: list[market_pb2.Setpoint]) -> list[int]:
    return [s.power_w for s in items]


async def test_node_instruction_is_split_revised_and_cancelled(platform: Any) -> None:
    await world.build(platform, managed_sessions=SESSIONS)
    grid = GridMarketClient(platform.grid)

    request_id = str(uuid.uuid4())
    first = await _instruct(grid, "gridNodes/ta-1", 9_000, request_id)
    assert first.shortfall_w == 0
    by_aggregator = {i.aggregator: i for i in first.instructions}
    assert {a: list(i.target.values_w) for a, i in by_aggregator.items()} == {
        "aggregators/agg-a": [6_000],
        "aggregators/agg-b": [3_000],
    }
    assert {i.version for i in first.instructions} == {1}
    assert _powers(await setpoints(platform, "ch-s-long")) == [1_000]
    assert _powers(await setpoints(platform, "ch-s-short")) == [7_000]
    assert _powers(await setpoints(platform, "ch-s-b")) == [4_000]
    [sent] = await setpoints(platform, "ch-s-long")
    assert sent.instruction == by_aggregator["aggregators/agg-a"].name
    assert sent.valid_until == by_aggregator["aggregators/agg-a"].validity.end_time

    # The grid's retry creates nothing new.
    assert await _instruct(grid, "gridNodes/ta-1", 9_000, request_id) == first
    assert len(await setpoints(platform, "ch-s-long")) == 1

    # A new target revises by cancel-and-reissue: same ids, version 2, the old version streamed as cancelled.
    second = await _instruct(grid, "gridNodes/ta-1", 3_000)
    revised = {i.aggregator: i for i in second.instructions}
    assert revised.keys() == by_aggregator.keys()
    for aggregator, instruction in revised.items():
        assert instruction.instruction_id == by_aggregator[aggregator].instruction_id
        assert instruction.version == 2
    assert list(revised["aggregators/agg-a"].target.values_w) == [2_000]
    stream = await notifications(platform, "agg-a")
    [cancelled] = [n.instruction_cancelled for n in stream if n.HasField("instruction_cancelled")]
    assert cancelled.instruction.version == 1
    assert cancelled.instruction.state == market_pb2.INSTRUCTION_STATE_CANCELLED
    assert cancelled.reissued_version == 2
    assert [
        (n.instruction.version, list(n.instruction.target.values_w))
        for n in stream
        if n.HasField("instruction")
    ] == [
        (1, [6_000]),
        (2, [2_000]),
    ]
    assert _powers(await setpoints(platform, "ch-s-long")) == [1_000, 5_000]
    assert _powers(await setpoints(platform, "ch-s-b")) == [4_000, 6_000]

    listed = await grid.list_instructions()
    # Oldest first: both version 1 (created together, in id order), then both version 2.
    assert sorted((i.version, i.aggregator, i.state) for i in listed.instructions) == [
        (1, "aggregators/agg-a", market_pb2.INSTRUCTION_STATE_CANCELLED),
        (1, "aggregators/agg-b", market_pb2.INSTRUCTION_STATE_CANCELLED),
        (2, "aggregators/agg-a", market_pb2.INSTRUCTION_STATE_ACTIVE),
        (2, "aggregators/agg-b", market_pb2.INSTRUCTION_STATE_ACTIVE),
    ]
    assert [i.version for i in listed.instructions] == [1, 1, 2, 2]

    # More than the node can shed: everybody at capacity, the rest is the shortfall.
    third = await _instruct(grid, "gridNodes/ta-1", 30_000)
    assert third.shortfall_w == 9_000
    assert {i.aggregator: list(i.target.values_w) for i in third.instructions} == {
        "aggregators/agg-a": [14_000],
        "aggregators/agg-b": [7_000],
    }

    # A zero target leaves nothing in force: cancelled without reissue, devices released.
    none = await _instruct(grid, "gridNodes/ta-1", 0)
    assert list(none.instructions) == []
    assert (await grid.list_instructions(active_only=True)).instructions == []
    released = (await setpoints(platform, "ch-s-b"))[-1]
    assert released.valid_until.ToDatetime() <= datetime.now(UTC).replace(tzinfo=None)
    assert released.instruction == revised["aggregators/agg-b"].name


async def test_aggregator_instruction_follows_laxity(platform: Any) -> None:
    await world.build(platform, managed_sessions=SESSIONS)
    grid = GridMarketClient(platform.grid)
    result = await _instruct(grid, "aggregators/agg-a", 10_000)
    [instruction] = result.instructions
    assert instruction.grid_node == ""
    # s-long (most laxity) sheds all 7 000, s-short the remaining 3 000.
    assert _powers(await setpoints(platform, "ch-s-long")) == [0]
    assert _powers(await setpoints(platform, "ch-s-short")) == [4_000]
    assert await setpoints(platform, "ch-s-b") == []

    mine = await AggregatorMarketClient(platform.channel_for("vgi://aggregator/agg-a")).list_instructions()
    assert [i.instruction_id for i in mine.instructions] == [instruction.instruction_id]
    theirs = await AggregatorMarketClient(platform.channel_for("vgi://aggregator/agg-b")).list_instructions()
    assert list(theirs.instructions) == []

    with pytest.raises(NotFoundError) as unknown:
        await _instruct(grid, "aggregators/nobody", 1_000)
    assert unknown.value.reason == "AGGREGATOR_NOT_FOUND"


async def test_instructions_reach_the_aggregator_stream_and_acks_are_recorded(platform: Any) -> None:
    await world.build(platform, managed_sessions=SESSIONS)
    grid = GridMarketClient(platform.grid)
    subscriber = NotificationSubscriber(platform.channel_for("vgi://aggregator/agg-a"))
    [instruction] = (await _instruct(grid, "aggregators/agg-a", 10_000)).instructions

    async def first_instruction() -> Any:
        async for notification in subscriber:
            if notification.HasField("instruction"):
                return notification
        raise AssertionError("stream ended")

    received = await asyncio.wait_for(first_instruction(), timeout=10)
    assert received.instruction == instruction
    assert await subscriber.ack(received.sequence) == received.sequence
    subscriber.disconnect()
    cursor = await platform.db.read(lambda conn: outbox.cursor(conn, outbox.Channel.NOTIFICATIONS, "agg-a"))
    assert cursor.acked_sequence == received.sequence
