"""Tenant properties under hostile input, on both stores.

* Whatever an aggregator sends — any filter, page size, or page token
  (another tenant's included) — no answer carries another aggregator's items.
* A device, whatever it sends, never writes for a charger outside its
  aggregator.
* Every stream takes its cursor extremes without harming other subscribers.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from conftest import PlatformFactory
from delivery.helpers import WAIT_S, enqueue, text_of
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from registry.world import aggregator_client, charger, meter, session, station
from security.rpcs import Rpc, call, contract_rpcs
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import notifications_pb2
from vgi.device.v1 import device_service_pb2 as device_pb

from clients.streams import NotificationSubscriber
from domain.principal import Principal, Role
from store.registry_tables import ChargerRow, EvSessionRow
from store.tables import table_of
from store.telemetry_tables import MeterValueRow

from .fuzzing import KNOWN, Builder
from .live import LoopThread, ServerErrors, World, send
from .test_fuzz_rpcs import SEED

pytestmark = pytest.mark.timeout(900)

EXAMPLES = int(os.environ.get("VGI_FUZZ_EXAMPLES", "12"))
OWNER = Principal(Role.AGGREGATOR, "agg-1", "agg-1")
OTHER = Principal(Role.AGGREGATOR, "agg-2", "agg-2")
#: agg-2's own device, and agg-1's charger under a certificate wrongly bound to agg-2.
OTHER_DEVICE = Principal(Role.DEVICE, "cb-1", "agg-2")
MISBOUND_DEVICE = Principal(Role.DEVICE, "charger-1", "agg-2")
#: What only agg-1's items carry.
OWNER_MARK = b"aggregators/agg-1/"
RPCS = contract_rpcs()


def _settings() -> Any:
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture
def world(database_url: str, platform_factory: PlatformFactory) -> Iterator[World]:
    thread = LoopThread()
    world = World(thread, platform_factory, database_url)
    try:
        thread.run(world.start())
        thread.run(_more_world(world))
        yield world
    finally:
        thread.run(world.stop())
        thread.close()


async def _more_world(world: World) -> None:
    """agg-1's items in every listing (stations, chargers, a session), agg-2's charger cb-1."""
    platform = world.platform
    now = datetime.now(UTC).replace(microsecond=0)
    owner = aggregator_client(platform, "agg-1")
    await owner.upsert_stations([station(f"st-{i}", "ta1") for i in range(2, 5)])
    await owner.upsert_chargers([charger(f"charger-{i}", "st-2") for i in range(2, 5)])
    await owner.upsert_sessions([session("s-1", "charger-2", now)])
    other = aggregator_client(platform, "agg-2")
    await other.upsert_stations([station("st-b", "ta2")])
    await other.upsert_chargers([charger("cb-1", "st-b")])


async def _owner_tokens(world: World) -> list[str]:
    """Page tokens agg-1 really received, for agg-2 to replay."""
    owner = aggregator_client(world.platform, "agg-1")
    return [
        (await owner.list_stations(page_size=1)).next_page_token,
        (await owner.list_chargers(page_size=1)).next_page_token,
    ]


def _aggregator_requests(rpc: Rpc, builder: Builder, tokens: list[str]) -> Any:
    descriptor = rpc.request_type.DESCRIPTOR
    has_token = "page_token" in descriptor.fields_by_name

    @st.composite
    def build(draw: Any) -> list[bytes]:
        count = draw(st.integers(1, 2)) if rpc.client_streaming else 1
        out = []
        for _ in range(count):
            message = draw(builder.message(descriptor, rpc.request_type, draw(st.booleans())))
            if has_token and draw(st.booleans()):
                message.page_token = draw(st.sampled_from(tokens))
            out.append(message.SerializeToString())
        return out

    return build()


def test_an_aggregator_never_sees_another_aggregators_items(world: World) -> None:
    tokens = world.thread.run(_owner_tokens(world))
    assert all(tokens)
    builder = Builder()
    aggregator_rpcs = [rpc for rpc in RPCS if Role.AGGREGATOR in rpc.roles]
    assert any(rpc.name == "ListStations" for rpc in aggregator_rpcs)
    for rpc in aggregator_rpcs:
        _never_shows_the_owner(world, rpc, builder, tokens)


def _never_shows_the_owner(world: World, rpc: Rpc, builder: Builder, tokens: list[str]) -> None:
    @seed(SEED)
    @_settings()
    @given(messages=_aggregator_requests(rpc, builder, tokens))
    def case(messages: list[bytes]) -> None:
        outcome, received = world.thread.run(send(world, OTHER, rpc, messages))
        assert outcome.code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), f"{rpc}: {outcome}"
        assert OWNER_MARK not in received, f"{rpc} showed agg-2 an item of agg-1"

    try:
        with ServerErrors().installed() as errors:
            case()
        assert not errors.found, f"{rpc}: the server recorded {errors.found}"
    except Exception as exc:
        raise AssertionError(f"{rpc} failed under VGI_FUZZ_SEED={SEED}: {exc}") from exc


def _device_requests(builder: Builder) -> Any:
    """A hello of the device's own, then fuzzed device messages naming any charger (agg-1's included)."""
    connect = device_pb.ConnectRequest.DESCRIPTOR
    upload = device_pb.UploadMeterValuesRequest.DESCRIPTOR

    @st.composite
    def build(draw: Any) -> tuple[str, list[bytes]]:
        valid = draw(st.booleans())
        if draw(st.booleans()):
            message = draw(builder.message(upload, device_pb.UploadMeterValuesRequest, valid))
            return "UploadMeterValues", [message.SerializeToString()]
        rest = draw(st.lists(builder.message(connect, device_pb.ConnectRequest, valid), max_size=4))
        return "Connect", [m.SerializeToString() for m in rest]

    return build()


async def _owner_charger_rows(world: World) -> tuple[int, int, Any]:
    meters = table_of(MeterValueRow)
    sessions = table_of(EvSessionRow)
    chargers = table_of(ChargerRow)
    mine = [f"charger-{i}" for i in range(1, 5)]

    def read(conn: sa.Connection) -> tuple[int, int, Any]:
        return (
            conn.execute(sa.select(sa.func.count()).where(meters.c.charger_id.in_(mine))).scalar_one(),
            conn.execute(sa.select(sa.func.count()).where(sessions.c.charger_id.in_(mine))).scalar_one(),
            conn.execute(
                sa.select(
                    chargers.c.charger_id,
                    chargers.c.last_heartbeat_time,
                    chargers.c.status,
                    chargers.c.last_meter_time,
                )
                .where(chargers.c.charger_id.in_(mine))
                .order_by(chargers.c.charger_id)
            ).all(),
        )

    return await world.platform.db.read(read)


def test_a_device_never_writes_outside_its_aggregator(world: World) -> None:
    before = world.thread.run(_owner_charger_rows(world))
    builder = Builder()
    by_name = {rpc.name: rpc for rpc in RPCS if rpc.service == "vgi.device.v1.DeviceService"}
    assert "charger-1" in KNOWN  # the fuzzed messages name agg-1's charger

    @seed(SEED)
    @_settings()
    @given(drawn=_device_requests(builder), device=st.sampled_from([OTHER_DEVICE, MISBOUND_DEVICE]))
    def case(drawn: tuple[str, list[bytes]], device: Principal) -> None:
        name, messages = drawn
        if name == "Connect":
            hello = device_pb.ConnectRequest(hello=device_pb.Hello(charger_id=device.id))
            messages = [hello.SerializeToString(), *messages]
        outcome, _ = world.thread.run(send(world, device, by_name[name], messages))
        assert outcome.code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), outcome

    # The valid device write that the properties must not be vacuous about: cb-1's own reading lands.
    own = device_pb.UploadMeterValuesRequest(
        request_id=str(uuid.uuid4()), values=[meter("cb-1", datetime.now(UTC).replace(microsecond=0), 7000)]
    )
    ok, _ = world.thread.run(
        send(world, OTHER_DEVICE, by_name["UploadMeterValues"], [own.SerializeToString()])
    )
    assert ok.code is grpc.StatusCode.OK, ok
    try:
        with ServerErrors().installed() as errors:
            case()
        assert not errors.found, f"the server recorded {errors.found}"
    except Exception as exc:
        raise AssertionError(f"device writes failed under VGI_FUZZ_SEED={SEED}: {exc}") from exc
    assert world.thread.run(_owner_charger_rows(world)) == before


CURSORS = [0, 1, 2**31, 2**53, 10**18, 10**18 + 1, 2**62, 2**63 - 1, -1, -(2**63)]


async def test_stream_cursor_extremes_never_harm_other_subscribers(
    database_url: str, platform_factory: PlatformFactory
) -> None:
    async with platform_factory(database_url, max_streams_per_principal=100) as platform:
        notifications = next(rpc for rpc in RPCS if rpc.name == "StreamNotifications")
        connect = next(rpc for rpc in RPCS if rpc.name == "Connect")
        hostile = platform.channel_for(OTHER)
        # Every extreme cursor, on both kinds of stream, opened and kept open where admitted.
        opened = await asyncio.gather(
            *(
                call(hostile, notifications, agg_pb.StreamNotificationsRequest(after_sequence=c), settle=2.0)
                for c in CURSORS
            )
        )
        for cursor, outcome in zip(CURSORS, opened, strict=True):
            # Its stream has sent nothing: 0 is its only cursor; a greater one is past it (refused, as a
            # negative or out-of-range one is), never a way to skip.
            admitted = cursor == 0
            assert (outcome.code is None) == admitted, (cursor, outcome)
            if not admitted:
                assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, (cursor, outcome)
        hellos = await asyncio.gather(
            *(
                call(
                    platform.channel_for(Principal(Role.DEVICE, "ghost", "agg-2")),
                    connect,
                    [device_pb.ConnectRequest(hello=device_pb.Hello(charger_id="ghost", after_sequence=c))],
                )
                for c in CURSORS
            )
        )
        for cursor, outcome in zip(CURSORS, hellos, strict=True):
            assert outcome.code is not grpc.StatusCode.INTERNAL, (cursor, outcome)
            if not 0 <= cursor <= 10**18:
                assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, (cursor, outcome)

        # The other tenant's subscriber open while an item of each tenant is sent.
        top = asyncio.ensure_future(
            call(hostile, notifications, agg_pb.StreamNotificationsRequest(after_sequence=0), settle=30)
        )
        subscriber = NotificationSubscriber(platform.channel_for(OWNER))
        received: list[notifications_pb2.Notification] = []

        async def first() -> None:
            async for notification in subscriber:
                received.append(notification)
                return

        listening = asyncio.ensure_future(first())
        await platform.db.write(enqueue([("agg-1", "for agg-1"), ("agg-2", "for agg-2")]))
        async with asyncio.timeout(WAIT_S):
            await listening
        assert [text_of(n) for n in received] == ["for agg-1"]
        top.cancel()
