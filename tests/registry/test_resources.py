"""Resource registry (SPEC F1) end to end: SDK → real server (mTLS, tokens, whole chain) → real store."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from vgi.common.v1 import resources_pb2

from clients.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError
from clients.registry import GridRegistryClient
from store.registry import chargers as charger_table

from .world import aggregator_client, charger, node, now, onboard, session, station, topology

pytestmark = pytest.mark.timeout(120)


async def test_ten_thousand_chargers_in_one_call_read_back_identical_through_pagination(
    platform: Any,
) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1"), station("st-b", "ta2")])
    sent = [
        charger(
            f"c{i:05d}",
            "st-a" if i % 3 else "st-b",
            v2g=i % 7 == 0,
            rated_w=7_000 + i,
            platform_managed=i % 2 == 0,
        )
        for i in range(10_000)
    ]

    upserted = await client.upsert_chargers(sent)

    received: list[resources_pb2.Charger] = []
    token, pages = "", 0
    while True:
        page = await client.list_chargers(page_size=1000, page_token=token)
        received.extend(page.chargers)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 10
    assert len(received) == 10_000
    # The answer is the stored chargers in request order (AIP-233): what a list reads back.
    assert upserted == received
    for want, got in zip(sent, received, strict=True):
        assert got.name == f"aggregators/agg-1/stations/{want.station_id}/chargers/{want.charger_id}"
        got_fields = resources_pb2.Charger()
        got_fields.CopyFrom(got)
        for output_only in ("name", "status", "online", "last_heartbeat_time", "update_time"):
            got_fields.ClearField(output_only)
        assert got_fields == want
        assert got.status == resources_pb2.CHARGER_STATUS_UNSPECIFIED
        assert not got.online
    count = await platform.db.read(
        lambda conn: conn.execute(sa.select(sa.func.count()).select_from(charger_table)).scalar_one()
    )
    assert count == 10_000


async def test_retried_batch_returns_the_first_answer_and_replaces_nothing(platform: Any) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1")])
    request_id = str(uuid.uuid4())
    first = await client.upsert_chargers([charger("c1", "st-a")], request_id=request_id)
    before = await client.get_charger("aggregators/agg-1/stations/st-a/chargers/c1")
    assert first == [before]

    assert await client.upsert_chargers([charger("c1", "st-a")], request_id=request_id) == first

    after = await client.get_charger("aggregators/agg-1/stations/st-a/chargers/c1")
    assert after.update_time == before.update_time


async def test_invalid_batches_name_each_bad_record_and_store_nothing(platform: Any) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1")])

    with pytest.raises(InvalidArgumentError) as caught:
        await client.upsert_chargers([charger("c1", "st-a"), charger("c2", "nowhere"), charger("c3", "gone")])
    assert caught.value.reason == "STATION_NOT_FOUND"
    assert [(v.field, v.reason) for v in caught.value.field_violations] == [
        ("chargers[1].station_id", "STATION_NOT_FOUND"),
        ("chargers[2].station_id", "STATION_NOT_FOUND"),
    ]

    with pytest.raises(InvalidArgumentError) as caught:
        await client.upsert_chargers([charger("c1", "st-a"), charger("c1", "st-a")])
    assert caught.value.reason == "DUPLICATE_ID"
    assert [(v.field, v.reason) for v in caught.value.field_violations] == [
        ("chargers[1].charger_id", "DUPLICATE_ID")
    ]

    with pytest.raises(InvalidArgumentError) as caught:
        await client.upsert_stations([station("st-x", "ta1"), station("st-y", "no-such-node")])
    assert caught.value.reason == "GRID_NODE_NOT_FOUND"
    assert [v.field for v in caught.value.field_violations] == ["stations[1].grid_node"]

    with pytest.raises(InvalidArgumentError) as caught:
        await client.upsert_chargers([charger("c9", "st-a", rated_w=0)])
    assert caught.value.reason == "VALIDATION_FAILED"
    assert [v.field for v in caught.value.field_violations] == ["chargers[0].rated_charge_w"]

    assert (await client.list_chargers()).chargers == []
    assert [s.station_id for s in (await client.list_stations()).stations] == ["st-a"]


async def test_soft_delete_hides_and_a_station_takes_its_chargers_along(platform: Any) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1"), station("st-b", "ta2")])
    await client.upsert_chargers([charger("a1", "st-a"), charger("a2", "st-a"), charger("b1", "st-b")])

    deleted = await client.delete_charger("aggregators/agg-1/stations/st-a/chargers/a1")
    assert deleted.charger_id == "a1"
    with pytest.raises(NotFoundError) as caught:
        await client.get_charger("aggregators/agg-1/stations/st-a/chargers/a1")
    assert caught.value.reason == "CHARGER_NOT_FOUND"
    assert [c.charger_id for c in (await client.list_chargers()).chargers] == ["a2", "b1"]

    await client.delete_station("aggregators/agg-1/stations/st-a")
    assert [c.charger_id for c in (await client.list_chargers()).chargers] == ["b1"]
    assert [s.station_id for s in (await client.list_stations()).stations] == ["st-b"]
    # The rows stay (soft delete) with their delete_time set.
    rows = await platform.db.read(
        lambda conn: conn.execute(
            sa.select(charger_table.c.charger_id).where(charger_table.c.delete_time.is_not(None))
        ).all()
    )
    assert sorted(r.charger_id for r in rows) == ["a1", "a2"]

    # Re-registering revives a deleted charger.
    await client.upsert_stations([station("st-a", "ta1")])
    await client.upsert_chargers([charger("a1", "st-a")])
    assert [c.charger_id for c in (await client.list_chargers()).chargers] == ["a1", "b1"]


async def test_list_filters(platform: Any) -> None:
    await onboard(platform, "agg-1")
    grid = await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1"), station("st-b", "ta2")])
    await client.upsert_chargers([charger("a1", "st-a"), charger("b1", "st-b"), charger("b2", "st-b")])
    t = now()
    await client.upsert_sessions([session("s1", "a1", t), session("s2", "b1", t)])
    ended = session("s0", "b2", t)
    ended.end_time.CopyFrom(ended.plug_in_time)
    await client.upsert_sessions([ended])

    assert [s.station_id for s in (await client.list_stations(grid_node="gridNodes/ta2")).stations] == [
        "st-b"
    ]
    assert [c.charger_id for c in (await client.list_chargers(station_id="st-b")).chargers] == ["b1", "b2"]
    assert [s.session_id for s in (await client.list_sessions()).sessions] == ["s0", "s1", "s2"]
    active = (await client.list_sessions(active_only=True)).sessions
    assert [s.session_id for s in active] == ["s1", "s2"]
    assert active[0].state == resources_pb2.EV_SESSION_STATE_ACTIVE
    assert active[0].soc == 0.5 and active[0].target_soc == 0.8
    children = await grid.list_grid_nodes(parent_node="gridNodes/f1")
    assert [n.node_id for n in children.grid_nodes] == ["ta1", "ta2"]
    areas = await grid.list_grid_nodes(kind=resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA, page_size=1)
    assert [n.node_id for n in areas.grid_nodes] == ["ta1"]
    rest = await grid.list_grid_nodes(
        kind=resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA, page_size=1, page_token=areas.next_page_token
    )
    assert [n.node_id for n in rest.grid_nodes] == ["ta2"]
    assert rest.next_page_token == ""


async def test_a_new_session_on_a_charger_ends_the_previous_one(platform: Any) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1")])
    await client.upsert_chargers([charger("a1", "st-a")])
    t = now()
    await client.upsert_sessions([session("s1", "a1", t)])
    await client.upsert_sessions([session("s2", "a1", t)])

    sessions = {s.session_id: s for s in (await client.list_sessions()).sessions}
    assert sessions["s1"].state == resources_pb2.EV_SESSION_STATE_ENDED
    assert sessions["s1"].end_time == sessions["s2"].plug_in_time
    assert sessions["s2"].state == resources_pb2.EV_SESSION_STATE_ACTIVE


async def test_grid_topology_get_and_delete(platform: Any) -> None:
    await onboard(platform, "agg-1")
    grid = await topology(platform, area_limit_w=100_000)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1")])

    got = await grid.get_grid_node("gridNodes/ta1")
    assert (got.name, got.parent, got.capacity_limit_w) == ("gridNodes/ta1", "gridNodes/f1", 100_000)
    assert got.kind == resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA

    with pytest.raises(FailedPreconditionError) as caught:
        await grid.delete_grid_node("gridNodes/ta1")
    assert caught.value.reason == "GRID_NODE_IN_USE"
    assert [v.subject for v in caught.value.precondition_violations] == ["gridNodes/ta1"]

    deleted = await grid.delete_grid_node("gridNodes/ta2")
    assert deleted.node_id == "ta2"
    with pytest.raises(NotFoundError) as missing:
        await grid.get_grid_node("gridNodes/ta2")
    assert missing.value.reason == "GRID_NODE_NOT_FOUND"

    with pytest.raises(InvalidArgumentError) as caught:
        await grid.upsert_grid_nodes(
            [
                resources_pb2.GridNode(
                    node_id="x", kind=resources_pb2.GRID_NODE_KIND_FEEDER, parent="gridNodes/zz"
                )
            ]
        )
    assert caught.value.reason == "GRID_NODE_NOT_FOUND"
    assert [v.field for v in caught.value.field_violations] == ["nodes[0].parent"]


async def test_aggregator_cannot_register_topology(platform: Any) -> None:
    intruder = GridRegistryClient(platform.channel_for("vgi://aggregator/agg-1"))
    with pytest.raises(PermissionDeniedError):
        await intruder.upsert_grid_nodes([node("x", resources_pb2.GRID_NODE_KIND_REGION)])


async def test_a_refusal_of_thousands_of_items_reaches_a_default_client_as_invalid_argument(
    platform: Any,
) -> None:
    # A 1,000-node cycle: one field violation per node would be ~110 KB of trailer, past the 16 KiB a
    # gRPC client accepts by default, and would reach it as RESOURCE_EXHAUSTED "Stream removed".
    grid = GridRegistryClient(platform.grid)
    cycle = [node(f"y{i}", resources_pb2.GRID_NODE_KIND_FEEDER, f"y{(i - 1) % 1000}") for i in range(1000)]
    with pytest.raises(InvalidArgumentError) as caught:
        await grid.upsert_grid_nodes(cycle)
    assert caught.value.reason == "GRID_NODE_CYCLE"
    listed = [v.field for v in caught.value.field_violations]
    assert 1 <= len(listed) < 1000
    assert listed == [f"nodes[{i}].parent" for i in range(len(listed))]
    assert caught.value.metadata["field_violations"] == "1000"
    assert f"the first {len(listed)} of 1000 field violations listed" in str(caught.value)
    with pytest.raises(NotFoundError):
        await grid.get_grid_node("gridNodes/y0")
