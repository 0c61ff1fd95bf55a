"""The device leg of real-time dispatch (SPEC F6): the grid's instruction reaches LIVE device streams.

The other tests here check setpoints where they are committed (the outbox);
this one opens DeviceService.Connect for each charger first (mTLS, device
certificates bound to agg-a) and checks what arrives on the wire, the
devices' acks in the store, and a revision arriving as the next sequence.

Time. The platform runs on its simulated business clock; AdvanceClock moves
it and ticks the market scheduler at every instant with work due, so the
instruction's setpoints go out when the clock reaches its validity start,
and the revision is submitted while the clock reads that instant (as on a
real clock). Calling Scheduler.tick(V) directly would leave the servicers at
wall time before V: the revision would then revise an instruction that has
not started and first release the devices (power 0, valid until now).
A = the first whole minute after the clock's start; the grid acts at A for
the window [V, V + 15 min), V = A + 15 min.

agg-a has three platform-managed 7 kW chargers at ta-1, each with an EV of
60 kWh, SOC 0.5 → 0.9 (E = 24 000 Wh), Pc = 7 000 W, no meter value
(P0 = Pmax = min(7 000, E/0.25 h) = 7 000 W), and a fourth, ch-idle, with no
EV. Departures are fixed from V; F3 floor Pmin = max((E − Pc·(T − 0.25))/0.25, 0):

    s-1 on ch-1 leaves at V + 10 h:  at V laxity 10 − 24/7 ≈ 6.57 h, floor 0,     can shed 7 000
    s-2 on ch-2 leaves at V + 6 h:   at V laxity  6 − 24/7 ≈ 2.57 h, floor 0,     can shed 7 000
    s-3 on ch-3 leaves at V + 3.5 h: at V laxity 3.5 − 24/7 ≈ 0.07 h,
                                     floor (24 000 − 7 000·3.25)/0.25 = 5 000,    can shed 2 000
    (at A, 15 min earlier, s-3's floor is (24 000 − 7 000·3.5)/0.25 < 0 → 0: agg-a has 21 000)

v1, submitted at A: node target 10 000 W. agg-a is the only aggregator with
capacity at ta-1 (21 000 ≥ 10 000) → its share is 10 000, nothing goes out
before V. At V, most laxity first: s-1 sheds 7 000 → 0 W, s-2 the remaining
3 000 → 4 000 W, s-3 nothing → 7 000 W. Sequence 1 on each stream.

v2, submitted at V: node target 16 500 W. agg-a can shed 7 000 + 7 000 +
2 000 = 16 000 now, so its share is 16 000 and the grid is told of a 500 W
shortfall; the instruction is revised (same id, version 2). s-1 → 0 W, s-2 →
0 W, s-3 sheds its 2 000 → 5 000 W, exactly its F3 floor. Sequence 2.

ch-idle (managed, no session) receives nothing throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from vgi.common.v1 import market_pb2, types_pb2
from vgi.device.v1 import device_service_pb2 as device_pb
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from application import registry as use_cases
from application.uow import UnitOfWork
from clients.market import GridMarketClient
from clients.streams import DeviceSession
from server import clock
from store import outbox
from store.outbox import Channel
from store.outbox_tables import OutboxSetpointRow
from store.registry import Charger, Session
from store.tables import table_of

from . import world
from .world import NODE, ts
from waiting import WAIT_S, eventually

pytestmark = pytest.mark.timeout(60)

AGGREGATOR = "agg-a"
#: (session, charger, hours from V to departure)
SESSIONS = (("s-1", "ch-1", 10.0), ("s-2", "ch-2", 6.0), ("s-3", "ch-3", 3.5))
CHARGERS = tuple(charger for _, charger, _ in SESSIONS)
IDLE = "ch-idle"
V1_W = {"ch-1": 0, "ch-2": 4_000, "ch-3": 7_000}
V2_W = {"ch-1": 0, "ch-2": 0, "ch-3": 5_000}
RECEIVE_S = WAIT_S
QUIET_S = 0.3
_setpoints = table_of(OutboxSetpointRow)


def _seed(start: datetime, anchor: datetime) -> Callable[[Connection], None]:
    """agg-a's managed chargers at ta-1 (world's st-agg-a), an EV on each but ch-idle; departures from ``anchor``."""

    def seed(conn: Connection) -> None:
        use_cases.upsert_chargers(
            UnitOfWork(conn, start),
            AGGREGATOR,
            [
                Charger(charger, f"st-{AGGREGATOR}", "AC", 7_000, 0, False, True)
                for charger in (*CHARGERS, IDLE)
            ],
        )
        use_cases.upsert_sessions(
            UnitOfWork(conn, start),
            AGGREGATOR,
            [
                Session(
                    session_id=session_id,
                    charger_id=charger,
                    plug_in_time=start - timedelta(hours=1),
                    expected_departure_time=anchor + timedelta(hours=hours),
                    battery_wh=60_000,
                    soc_ppb=500_000_000,
                    target_soc_ppb=900_000_000,
                    v2g_floor_soc_ppb=0,
                    max_charge_w=7_000,
                    max_discharge_w=0,
                    bidirectional=False,
                )
                for session_id, charger, hours in SESSIONS
            ],
        )

    return seed


async def _advance(platform: Any, to: datetime) -> datetime:
    stub = operator_grpc.OperatorServiceStub(platform.channel)
    answer = await stub.AdvanceClock(
        operator_pb.AdvanceClockRequest(request_id=str(uuid.uuid4()), advance_to=ts(to)), timeout=30
    )
    reached: datetime = answer.now.ToDatetime(tzinfo=UTC)
    return reached


async def _instruct(grid: GridMarketClient, watts: int, start: datetime) -> Any:
    end = start + timedelta(minutes=15)
    return await grid.submit_dispatch_instruction(
        f"gridNodes/{NODE}",
        types_pb2.DIRECTION_LOAD_DECREASE,
        types_pb2.PowerCurve(start_time=ts(start), step_minutes=15, values_w=[watts]),
        types_pb2.TimeWindow(start_time=ts(start), end_time=ts(end)),
    )


async def _next(device: DeviceSession, seconds: float) -> device_pb.SequencedSetpoint:
    item: device_pb.SequencedSetpoint = await asyncio.wait_for(anext(device.setpoints()), seconds)
    return item


async def _quiet(devices: dict[str, DeviceSession]) -> None:
    """No device receives anything (more) within QUIET_S."""

    async def silent(device: DeviceSession) -> bool:
        try:
            await _next(device, QUIET_S)
        except TimeoutError:
            return True
        return False

    assert await asyncio.gather(*(silent(d) for d in devices.values())) == [True] * len(devices)


async def _rows(platform: Any, charger_id: str) -> list[tuple[Any, ...]]:
    """(sequence, setpoint_id, ack_time, accepted, ack_reason) of a charger's setpoints."""
    c = _setpoints.c
    rows = await platform.db.read(
        lambda conn: conn.execute(
            sa.select(c.sequence, c.setpoint_id, c.ack_time, c.accepted, c.ack_reason)
            .where(c.charger_id == charger_id)
            .order_by(c.sequence)
        ).all()
    )
    return [tuple(row) for row in rows]


async def _receive_and_ack(
    platform: Any,
    devices: dict[str, DeviceSession],
    sequence: int,
    powers: dict[str, int],
    instruction: market_pb2.Instruction,
    acked_at: datetime,
) -> None:
    """Each driven device gets exactly its setpoint at ``sequence``, the idle one nothing; all ack, recorded."""
    received = dict(
        zip(
            CHARGERS,
            await asyncio.gather(*(_next(devices[c], RECEIVE_S) for c in CHARGERS)),
            strict=True,
        )
    )
    await _quiet(devices)
    for charger, item in received.items():
        stored = await _rows(platform, charger)
        assert [row[0] for row in stored] == list(range(1, sequence + 1))
        assert item == device_pb.SequencedSetpoint(
            sequence=sequence,
            setpoint=market_pb2.Setpoint(
                setpoint_id=stored[-1][1],
                charger_id=charger,
                power_w=powers[charger],
                valid_until=instruction.validity.end_time,
                instruction=instruction.name,
            ),
        )
    for charger in CHARGERS:
        await devices[charger].ack_setpoints(sequence)
    for charger in CHARGERS:

        async def acks(charger: str = charger) -> list[tuple[Any, ...]]:
            return [
                (seq, at, accepted, reason) for seq, _, at, accepted, reason in await _rows(platform, charger)
            ]

        await eventually(acks, [(seq, acked_at, True, "") for seq in range(1, sequence + 1)])
        assert await platform.db.read(
            lambda conn, charger=charger: outbox.cursor(conn, Channel.SETPOINTS, charger)
        ) == outbox.Cursor(sequence, sequence)
    assert await _rows(platform, IDLE) == []


async def test_setpoints_reach_live_devices_are_acked_and_revised(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, simulated_clock=True) as platform:
        await world.build(platform)
        a = clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
        v = a + timedelta(minutes=15)
        assert await _advance(platform, a) == a
        await platform.db.write(_seed(a, v))
        grid = GridMarketClient(platform.grid)

        async with contextlib.AsyncExitStack() as stack:
            devices = {
                charger: await stack.enter_async_context(
                    DeviceSession(
                        platform.channel_for(f"vgi://device/{charger}", aggregator_id=AGGREGATOR), charger
                    )
                )
                for charger in (*CHARGERS, IDLE)
            }
            assert {d.welcome.server_time.ToDatetime(tzinfo=UTC) for d in devices.values()} == {a}

            # v1 at A for the window from V: instructed, nothing sent before the window starts.
            first = await _instruct(grid, 10_000, v)
            assert first.shortfall_w == 0
            [v1] = first.instructions
            assert (v1.aggregator, v1.grid_node, v1.version, list(v1.target.values_w)) == (
                f"aggregators/{AGGREGATOR}",
                f"gridNodes/{NODE}",
                1,
                [10_000],
            )
            await _quiet(devices)
            assert [await _rows(platform, c) for c in (*CHARGERS, IDLE)] == [[]] * 4

            # The clock reaches V: the scheduler sends v1's setpoints to the open streams.
            assert await _advance(platform, v) == v
            await _receive_and_ack(platform, devices, 1, V1_W, v1, v)

            # Revision at V: cancel-and-reissue as version 2, the devices get it as sequence 2.
            second = await _instruct(grid, 16_500, v)
            assert second.shortfall_w == 500
            [v2] = second.instructions
            assert (v2.instruction_id, v2.name, v2.version, list(v2.target.values_w)) == (
                v1.instruction_id,
                v1.name,
                2,
                [16_000],
            )
            await _receive_and_ack(platform, devices, 2, V2_W, v2, v)

        listed = await grid.list_instructions()
        assert [(i.instruction_id, i.version, i.state) for i in listed.instructions] == [
            (v1.instruction_id, 1, market_pb2.INSTRUCTION_STATE_CANCELLED),
            (v1.instruction_id, 2, market_pb2.INSTRUCTION_STATE_ACTIVE),
        ]
