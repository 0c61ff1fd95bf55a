"""DeviceService.Connect over a real server (mTLS, tokens, the whole chain), both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from registry.world import aggregator_client, charger, meter, onboard, session, station, topology
from vgi.common.v1 import market_pb2, resources_pb2
from vgi.device.v1 import device_service_pb2 as pb
from vgi.device.v1 import device_service_pb2_grpc as pb_grpc

from clients.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from clients.streams import DeviceSession
from store.outbox_tables import OutboxSetpointRow
from store.tables import table_of
from store.telemetry_tables import MeterValueRow
from wire import outbox as wire_outbox

from waiting import WAIT_S, eventually

CHARGER_1 = "vgi://device/charger-1"
CHARGER_2 = "vgi://device/charger-2"
_setpoints = table_of(OutboxSetpointRow)


def device(platform: Any, principal: str, **options: Any) -> DeviceSession:
    return DeviceSession(
        platform.channel_for(principal, aggregator_id="agg-1"), principal.rsplit("/", 1)[1], **options
    )


async def register_chargers(platform: Any) -> None:
    """charger-1 and charger-2 registered under agg-1: a device writes only for its aggregator's charger."""
    await onboard(platform, "agg-1")
    await topology(platform)
    registry = aggregator_client(platform)
    await registry.upsert_stations([station("st-1", "ta1")])
    await registry.upsert_chargers([charger("charger-1", "st-1"), charger("charger-2", "st-1")])


def setpoints(*pairs: tuple[str, int]) -> Callable[[sa.Connection], list[int]]:
    return lambda conn: wire_outbox.enqueue_setpoints(
        conn, [market_pb2.Setpoint(charger_id=c, power_w=w, instruction="instructions/i-1") for c, w in pairs]
    )


async def take(session: DeviceSession, count: int) -> list[tuple[int, int]]:
    got: list[pb.SequencedSetpoint] = []
    async with asyncio.timeout(WAIT_S):
        async for item in session.setpoints():
            got.append(item)
            if len(got) == count:
                break
    return [(s.sequence, s.setpoint.power_w) for s in got]


async def ack_rows(platform: Any, charger_id: str) -> list[tuple[Any, ...]]:
    rows = await platform.db.read(
        lambda conn: conn.execute(
            sa.select(
                _setpoints.c.sequence,
                _setpoints.c.ack_time.is_not(None),
                _setpoints.c.accepted,
                _setpoints.c.ack_reason,
            )
            .where(_setpoints.c.charger_id == charger_id)
            .order_by(_setpoints.c.sequence)
        ).all()
    )
    return [tuple(r) for r in rows]


async def test_setpoints_reach_only_the_addressed_device_and_acks_are_recorded(platform: Any) -> None:
    await register_chargers(platform)
    async with device(platform, CHARGER_1) as one, device(platform, CHARGER_2) as two:
        assert one.welcome.heartbeat_interval_seconds == 40  # a third of the 120 s heartbeat timeout
        await platform.db.write(setpoints(("charger-1", 1000), ("charger-2", 2000), ("charger-1", 3000)))
        assert await take(one, 2) == [(1, 1000), (2, 3000)]
        assert await take(two, 1) == [(1, 2000)]
        await one.ack_setpoints(2, accepted=False, reason="site import limit")
        await eventually(
            lambda: ack_rows(platform, "charger-1"),
            [(1, True, None, None), (2, True, False, "site import limit")],
        )
        assert await ack_rows(platform, "charger-2") == [(1, False, None, None)]
        # charger-2's next setpoint is its own: nothing of charger-1's came in between.
        await platform.db.write(setpoints(("charger-1", 4000), ("charger-2", 5000)))
        assert await take(two, 1) == [(2, 5000)]
        assert await take(one, 1) == [(3, 4000)]

    # Acknowledged setpoints are not sent again; the unacknowledged one is.
    async with device(platform, CHARGER_1) as again:
        await platform.db.write(setpoints(("charger-1", 6000)))
        assert await take(again, 2) == [(3, 4000), (4, 6000)]


async def test_a_device_resumes_after_the_cursor_in_its_hello(platform: Any) -> None:
    await register_chargers(platform)
    await platform.db.write(setpoints(*(("charger-1", w) for w in (100, 200, 300))))
    async with device(platform, CHARGER_1, after_sequence=2) as resumed:
        assert await take(resumed, 1) == [(3, 300)]


async def test_a_hello_cursor_past_the_stream_is_refused(platform: Any) -> None:
    await register_chargers(platform)
    await platform.db.write(setpoints(("charger-1", 100)))
    with pytest.raises(InvalidArgumentError) as refused:
        async with device(platform, CHARGER_1, after_sequence=2):
            pass
    assert (refused.value.reason, refused.value.metadata) == ("CURSOR_BEYOND_STREAM", {"last_sequence": "1"})
    assert [v.field for v in refused.value.field_violations] == ["hello.after_sequence"]
    # An acknowledgement past it is refused too, named by its path in the stream's message.
    async with device(platform, CHARGER_1) as session:
        await session.ack_setpoints(5)
        with pytest.raises(InvalidArgumentError) as acked:
            async with asyncio.timeout(WAIT_S):
                async for _ in session.setpoints():
                    pass
    assert (acked.value.reason, acked.value.metadata) == ("ACK_BEYOND_STREAM", {"last_sequence": "1"})
    assert [v.field for v in acked.value.field_violations] == ["setpoint_ack.up_to_sequence"]


async def test_a_hello_for_another_charger_is_refused(platform: Any) -> None:
    impostor = DeviceSession(platform.channel_for(CHARGER_1, aggregator_id="agg-1"), "charger-2")
    with pytest.raises(PermissionDeniedError) as refused:
        await impostor.__aenter__()
    assert (refused.value.reason, refused.value.domain) == ("CHARGER_MISMATCH", "vgi")
    assert refused.value.metadata == {"charger_id": "charger-2"}


async def test_the_first_message_must_be_a_hello(platform: Any) -> None:
    call = pb_grpc.DeviceServiceStub(platform.channel_for(CHARGER_1, aggregator_id="agg-1")).Connect()
    await call.write(pb.ConnectRequest(heartbeat=pb.Heartbeat()))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call.read()
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(refused.value)
    assert status is not None
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(bad)
    assert info.reason == "HELLO_REQUIRED"
    assert [v.field for v in bad.field_violations] == ["hello"]


async def test_telemetry_sent_on_the_session_is_committed(platform: Any) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    registry = aggregator_client(platform)
    await registry.upsert_stations([station("st-1", "ta1")])
    await registry.upsert_chargers([charger("charger-1", "st-1")])
    now = datetime.now(UTC).replace(microsecond=0)
    async with device(platform, CHARGER_1) as one:
        await one.heartbeat()
        await one.status(resources_pb2.CHARGER_STATUS_CHARGING, now)
        await one.session_started(session("s-1", "charger-1", now))
        batch = str(uuid.uuid4())
        values = [meter("charger-1", now - timedelta(minutes=m), 7000 - m) for m in range(3)]
        first = await one.send_meter_values(values, batch_id=batch)
        assert (first.batch_id, first.stored_points) == (batch, 3)
        again = await one.send_meter_values(values, batch_id=batch)
        assert again == first  # a re-sent batch id is answered with the first answer, storing nothing
        await one.session_stopped("s-1", now)
        await one.heartbeat()  # acknowledged by nothing: wait for the store instead

        async def state() -> tuple[Any, ...]:
            found = await registry.get_charger("aggregators/agg-1/stations/st-1/chargers/charger-1")
            sessions = (await registry.list_sessions()).sessions
            return (
                found.status,
                found.HasField("last_heartbeat_time"),
                [(s.session_id, s.HasField("end_time")) for s in sessions],
            )

        await eventually(state, (resources_pb2.CHARGER_STATUS_CHARGING, True, [("s-1", True)]))
    meter_values = table_of(MeterValueRow)
    stored = await platform.db.read(
        lambda conn: conn.execute(
            sa.select(sa.func.count()).where(meter_values.c.charger_id == "charger-1")
        ).scalar_one()
    )
    assert stored == 3


async def test_a_foreign_session_stop_ends_the_stream_with_not_found(platform: Any) -> None:
    await register_chargers(platform)
    async with device(platform, CHARGER_1) as one:
        await one.session_stopped("nobody-s-session", datetime.now(UTC))
        with pytest.raises(NotFoundError) as ended:
            await take(one, 1)
    assert (ended.value.reason, ended.value.metadata) == (
        "SESSION_NOT_FOUND",
        {"session_id": "nobody-s-session"},
    )
