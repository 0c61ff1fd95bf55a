"""StreamNotifications / AckNotifications over a real server (mTLS, tokens, the whole chain), both databases."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from conftest import PlatformFactory, RunningPlatform
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vgi.aggregator.v1 import aggregator_service_pb2 as pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as pb_grpc

from clients.errors import InvalidArgumentError
from clients.streams import NotificationSubscriber

from .helpers import enqueue, read_n, text_of
from waiting import WAIT_S, until

AGG_1 = "vgi://aggregator/agg-1"
AGG_2 = "vgi://aggregator/agg-2"


def stub(platform: RunningPlatform, principal: str) -> pb_grpc.AggregatorServiceStub:
    return pb_grpc.AggregatorServiceStub(platform.channel_for(principal))


def seen(responses: list[pb.StreamNotificationsResponse]) -> list[tuple[int, str]]:
    return [(r.notification.sequence, text_of(r.notification)) for r in responses]


async def test_committed_items_reach_their_aggregator_in_order_and_no_other(
    platform: RunningPlatform,
) -> None:
    one = stub(platform, AGG_1).StreamNotifications(pb.StreamNotificationsRequest())
    two = stub(platform, AGG_2).StreamNotifications(pb.StreamNotificationsRequest())
    await platform.db.write(enqueue([("agg-1", "a"), ("agg-2", "x"), ("agg-1", "b")]))
    await platform.db.write(enqueue([("agg-2", "y")]))
    await platform.db.write(enqueue([("agg-1", "c")]))
    first = await read_n(one, 3)
    assert seen(first) == [(1, "a"), (2, "b"), (3, "c")]
    assert seen(await read_n(two, 2)) == [(1, "x"), (2, "y")]
    # Each item is complete: a unique id and its commit time.
    assert len({r.notification.notification_id for r in first}) == 3
    assert all(r.notification.create_time.seconds > 0 for r in first)
    # agg-2's later items never reach agg-1: its next item is its own.
    await platform.db.write(enqueue([("agg-2", "z"), ("agg-1", "d")]))
    assert seen(await read_n(one, 1)) == [(4, "d")]
    one.cancel()
    two.cancel()
    # A stream the client cancels leaves nothing behind in the dispatcher.
    await until(lambda: platform.platform.dispatcher.open_streams() == 0)


async def test_a_cut_off_subscriber_gets_every_unacked_item_in_order_after_reconnecting(
    platform: RunningPlatform,
) -> None:
    aggregator = stub(platform, AGG_1)
    await platform.db.write(enqueue([("agg-1", f"n{n}") for n in range(1, 6)]))
    first = aggregator.StreamNotifications(pb.StreamNotificationsRequest())
    assert seen(await read_n(first, 3)) == [(1, "n1"), (2, "n2"), (3, "n3")]
    acked = await aggregator.AckNotifications(
        pb.AckNotificationsRequest(request_id=str(uuid.uuid4()), up_to_sequence=2)
    )
    assert acked.acked_sequence == 2
    first.cancel()

    # From the oldest unacknowledged item: 3 was received but not acked, so it comes again.
    again = aggregator.StreamNotifications(pb.StreamNotificationsRequest(after_sequence=0))
    assert seen(await read_n(again, 3)) == [(3, "n3"), (4, "n4"), (5, "n5")]
    again.cancel()

    # From the client's own cursor.
    resumed = aggregator.StreamNotifications(pb.StreamNotificationsRequest(after_sequence=4))
    assert seen(await read_n(resumed, 1)) == [(5, "n5")]
    await aggregator.AckNotifications(
        pb.AckNotificationsRequest(request_id=str(uuid.uuid4()), up_to_sequence=5)
    )
    resumed.cancel()

    # Everything acked: a new stream starts with the next new item.
    fresh = aggregator.StreamNotifications(pb.StreamNotificationsRequest())
    await platform.db.write(enqueue([("agg-1", "n6")]))
    assert seen(await read_n(fresh, 1)) == [(6, "n6")]
    fresh.cancel()


async def test_a_cursor_past_the_stream_is_refused_not_skipped_to(platform: RunningPlatform) -> None:
    """A cursor this stream never sent (a client's state from another store): resuming after it would skip
    the items up to it unseen, so the stream is refused, naming the last sequence sent."""
    aggregator = stub(platform, AGG_1)
    await platform.db.write(enqueue([("agg-1", "n1"), ("agg-1", "n2")]))
    beyond = aggregator.StreamNotifications(pb.StreamNotificationsRequest(after_sequence=3))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await beyond.read()
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(refused.value)
    assert status is not None
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(bad)
    assert (info.reason, dict(info.metadata)) == ("CURSOR_BEYOND_STREAM", {"last_sequence": "2"})
    assert [v.field for v in bad.field_violations] == ["after_sequence"]
    # The last sequence sent itself is a cursor of the stream: it opens and waits for the next item.
    at_end = aggregator.StreamNotifications(pb.StreamNotificationsRequest(after_sequence=2))
    await platform.db.write(enqueue([("agg-1", "n3")]))
    assert seen(await read_n(at_end, 1)) == [(3, "n3")]
    at_end.cancel()


async def test_the_sdk_subscriber_resumes_from_its_cursor_without_gaps_or_repeats(
    platform: RunningPlatform,
) -> None:
    subscriber = NotificationSubscriber(platform.channel_for(AGG_1), initial_backoff_s=0.01)
    await platform.db.write(enqueue([("agg-1", f"n{n}") for n in range(1, 4)]))
    received: list[tuple[int, str]] = []
    async with asyncio.timeout(WAIT_S):
        async for notification in subscriber:
            received.append((notification.sequence, text_of(notification)))
            if notification.sequence == 2:
                await subscriber.ack()
                subscriber.disconnect()
                await platform.db.write(enqueue([("agg-1", "n4"), ("agg-1", "n5")]))
            if notification.sequence == 5:
                break
    assert received == [(n, f"n{n}") for n in range(1, 6)]
    assert subscriber.reconnects == 1
    assert subscriber.acked_sequence == 2
    assert await subscriber.ack() == 5


async def test_acks_are_idempotent_and_cannot_pass_the_stream(platform: RunningPlatform) -> None:
    aggregator = stub(platform, AGG_1)
    await platform.db.write(enqueue([("agg-1", f"n{n}") for n in range(1, 5)]))
    retried = str(uuid.uuid4())
    assert (
        await aggregator.AckNotifications(pb.AckNotificationsRequest(request_id=retried, up_to_sequence=2))
    ).acked_sequence == 2
    assert (
        await aggregator.AckNotifications(
            pb.AckNotificationsRequest(request_id=str(uuid.uuid4()), up_to_sequence=4)
        )
    ).acked_sequence == 4
    # A retry of the first call returns its first answer.
    assert (
        await aggregator.AckNotifications(pb.AckNotificationsRequest(request_id=retried, up_to_sequence=2))
    ).acked_sequence == 2

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await aggregator.AckNotifications(
            pb.AckNotificationsRequest(request_id=str(uuid.uuid4()), up_to_sequence=9)
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(refused.value)
    assert status is not None
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(bad)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "ACK_BEYOND_STREAM",
        "vgi",
        {"last_sequence": "4"},
    )
    assert [v.field for v in bad.field_violations] == ["up_to_sequence"]

    # Another tenant's stream is out of reach: agg-2 has nothing to acknowledge.
    with pytest.raises(InvalidArgumentError) as other:
        await NotificationSubscriber(platform.channel_for(AGG_2)).ack(1)
    assert other.value.reason == "ACK_BEYOND_STREAM"
    assert other.value.metadata == {"last_sequence": "0"}


async def test_a_slow_consumer_is_disconnected_while_others_keep_receiving(
    database_url: str, platform_factory: PlatformFactory
) -> None:
    async with platform_factory(database_url, delivery_queue_size=8) as running:
        # agg-2 never reads until the end. gRPC buffers about 4 MiB for it in
        # flow-control windows; 64 KiB items fill that within ~70 items, then
        # the server's writes block and its queue of 8 overflows.
        slow = stub(running, AGG_2).StreamNotifications(pb.StreamNotificationsRequest())
        fast = stub(running, AGG_1).StreamNotifications(pb.StreamNotificationsRequest())
        padding = "x" * 65536
        total = 0
        for _ in range(24):
            batch = [(agg, f"{total + n + 1} {padding}") for n in range(8) for agg in ("agg-1", "agg-2")]
            await running.db.write(enqueue(batch))
            total += 8
            # The fast consumer keeps up: it has read each batch before the next is committed.
            got = await read_n(fast, 8)
            assert [r.notification.sequence for r in got] == list(range(total - 7, total + 1))

        received = []
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            async with asyncio.timeout(WAIT_S):
                async for response in slow:
                    received.append(response.notification.sequence)
        assert ended.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        status = rpc_status.from_call(ended.value)
        assert status is not None
        info = error_details_pb2.ErrorInfo()
        assert status.details[0].Unpack(info)
        assert (info.reason, dict(info.metadata)) == ("SLOW_CONSUMER", {"queue_size": "8"})
        # What it did get came in order from the start, and was not everything.
        assert received == list(range(1, len(received) + 1))
        assert len(received) < total
        fast.cancel()
