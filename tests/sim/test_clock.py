"""The platform clock (server.clock) and OperatorService.AdvanceClock, over a real server (SQLite and PostgreSQL).

Off by default: AdvanceClock is refused and business time is the wall clock.
With ``simulated_clock`` business time stands still until AdvanceClock moves
it, only forward; before answering, the scheduler and the monitor have done
every minute passed; security (tokens) stays on the real clock.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from dr import world
from dr.world import day_ahead_event, slots, tomorrow_at, ts
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vgi.common.v1 import aggregator_pb2, market_pb2
from vgi.operator.v1 import operator_service_pb2 as pb
from vgi.operator.v1 import operator_service_pb2_grpc as pb_grpc

from clients.market import AggregatorMarketClient, GridMarketClient
from server import clock
from server.config import Settings
from store import monitoring

from waiting import WAIT_S

pytestmark = pytest.mark.timeout(120)

START = tomorrow_at(18)


def _request(advance_to: datetime, request_id: str | None = None) -> pb.AdvanceClockRequest:
    return pb.AdvanceClockRequest(request_id=request_id or str(uuid.uuid4()), advance_to=ts(advance_to))


def _details(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo, list[Any]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    precondition = error_details_pb2.PreconditionFailure()
    violations: list[Any] = []
    for detail in status.details:
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(precondition.DESCRIPTOR):
            detail.Unpack(precondition)
            violations = [(v.type, v.subject) for v in precondition.violations]
    return info, violations


async def test_advance_clock_is_refused_on_the_real_clock(platform: Any) -> None:
    stub = pb_grpc.OperatorServiceStub(platform.channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.AdvanceClock(_request(datetime.now(UTC) + timedelta(days=1)), timeout=10)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, violations = _details(refused.value)
    assert (info.reason, info.domain) == ("SIMULATED_CLOCK_DISABLED", "vgi")
    assert violations == [("SETTING", "simulated_clock")]
    # Business time is the wall clock.
    before = datetime.now(UTC)
    created = await platform.operator.create_aggregator("acme", aggregator_pb2.Aggregator(display_name="A"))
    assert before <= created.create_time.ToDatetime(tzinfo=UTC) <= datetime.now(UTC)


async def test_simulated_time_moves_only_forward_and_only_when_told(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, simulated_clock=True) as running:
        stub = pb_grpc.OperatorServiceStub(running.channel)
        started = clock.now()
        # Past the operator token's one-hour lifetime, but not days: before AdvanceClock answers, the
        # scheduler and the monitor work through every minute passed, which on a loaded machine took
        # longer than the call's deadline for two days' worth (2,887 minutes).
        later = started + timedelta(hours=2, minutes=7, seconds=30)
        first = _request(later)
        answer = await stub.AdvanceClock(first, timeout=WAIT_S * 2)
        assert answer.now.ToDatetime(tzinfo=UTC) == later == clock.now()
        # Domain objects are stamped with business time; the operator's token
        # (real clock) still works two simulated hours later.
        created = await running.operator.create_aggregator(
            "acme", aggregator_pb2.Aggregator(display_name="A")
        )
        assert created.create_time.ToDatetime(tzinfo=UTC) == later

        with pytest.raises(grpc.aio.AioRpcError) as backwards:
            await stub.AdvanceClock(_request(later - timedelta(seconds=1)), timeout=10)
        assert backwards.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        info, violations = _details(backwards.value)
        assert (info.reason, info.domain) == ("CLOCK_NOT_MONOTONIC", "vgi")
        assert info.metadata["now"] == later.isoformat()
        assert violations == [("CLOCK", "advance_to")]
        assert clock.now() == later

        # The same instant again changes nothing; a retry of the first call,
        # after the clock moved on, returns the first answer (AIP-155).
        assert (await stub.AdvanceClock(_request(later), timeout=10)).now == answer.now
        await stub.AdvanceClock(_request(later + timedelta(minutes=1)), timeout=10)
        assert await stub.AdvanceClock(first, timeout=10) == answer
        assert clock.now() == later + timedelta(minutes=1)
        reused = pb.AdvanceClockRequest(
            request_id=first.request_id, advance_to=ts(later + timedelta(hours=1))
        )
        with pytest.raises(grpc.aio.AioRpcError) as conflict:
            await stub.AdvanceClock(reused, timeout=10)
        assert conflict.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _details(conflict.value)[0].reason == "REQUEST_ID_REUSED"
    assert clock.now() >= datetime.now(UTC) - timedelta(seconds=5), "the stopped platform left its clock"


async def test_advance_clock_runs_the_scheduler_and_the_monitor_before_answering(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, simulated_clock=True) as running:
        await world.build(running)
        stub = pb_grpc.OperatorServiceStub(running.channel)
        grid = GridMarketClient(running.grid)
        bidder = AggregatorMarketClient(running.channel_for("vgi://aggregator/agg-b"))
        await grid.publish_event(day_ahead_event("dr-s", START, [10_000, 10_000]))
        await bidder.submit_bid("events/dr-s", slots(START, [(10_000, "0.40"), (10_000, "0.40")]))

        deadline = START - timedelta(hours=2)
        await stub.AdvanceClock(_request(deadline - timedelta(seconds=1)), timeout=60)
        assert (await grid.get_event("events/dr-s")).state == market_pb2.EVENT_STATE_PUBLISHED
        await stub.AdvanceClock(_request(deadline), timeout=60)
        assert (await grid.get_event("events/dr-s")).state == market_pb2.EVENT_STATE_BIDDING_CLOSED
        await grid.clear_event("events/dr-s")

        await stub.AdvanceClock(_request(START + timedelta(minutes=3, seconds=20)), timeout=60)
        assert (await grid.get_event("events/dr-s")).state == market_pb2.EVENT_STATE_EXECUTING
        minutes = await running.db.read(lambda conn: monitoring.read_minutes(conn, "dr-s", None, 10))
        # Every minute that ended since the window opened was monitored, in order.
        assert [m.minute_start for m in minutes] == [START + timedelta(minutes=i) for i in range(3)]
        assert [m.target_w for m in minutes] == [10_000] * 3

        await stub.AdvanceClock(_request(START + timedelta(minutes=30)), timeout=60)
        completed = await grid.get_event("events/dr-s")
        assert completed.state == market_pb2.EVENT_STATE_COMPLETED
        assert completed.transitions[-1].transition_time.ToDatetime(tzinfo=UTC) == START + timedelta(
            minutes=30
        )


def test_simulated_clock_only_on_loopback_in_one_process() -> None:
    base = Settings(listen="127.0.0.1:0", insecure=True, jwks_file="jwks.json", simulated_clock=True)
    base.validate()
    with pytest.raises(ValueError, match="simulated_clock"):
        dataclasses.replace(base, listen="0.0.0.0:50051", insecure=False, pki_dir="pki").validate()
    with pytest.raises(ValueError, match="simulated_clock"):
        dataclasses.replace(base, workers=2).validate()
