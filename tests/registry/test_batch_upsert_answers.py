"""AIP-233: every batch upsert answers the upserted resources as stored after the write, in request order,
over the real gRPC API on both stores; a retry with the same request_id answers the same resources again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from vgi.common.v1 import resources_pb2

from application import registry as use_cases
from application.uow import UnitOfWork
from domain.errors import AlreadyExists
from store import registry, telemetry

from .world import aggregator_client, charger, node, now, onboard, session, station, topology, ts

pytestmark = pytest.mark.timeout(120)

CHARGERS = "aggregators/agg-1/stations/{station}/chargers/{charger}"


async def test_grid_nodes_and_stations_answer_what_was_stored_in_request_order(platform: Any) -> None:
    await onboard(platform, "agg-1")
    grid = await topology(platform)
    client = aggregator_client(platform)

    # Out of id order, a parent after its child: the answer keeps the request's order.
    nodes = await grid.upsert_grid_nodes(
        [
            node("ta9", resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA, "f9", 250_000),
            node("f9", resources_pb2.GRID_NODE_KIND_FEEDER, "s1"),
        ]
    )
    assert [(n.name, n.parent, n.capacity_limit_w) for n in nodes] == [
        ("gridNodes/ta9", "gridNodes/f9", 250_000),
        ("gridNodes/f9", "gridNodes/s1", 0),
    ]
    assert nodes == [await grid.get_grid_node("gridNodes/ta9"), await grid.get_grid_node("gridNodes/f9")]
    assert all(n.HasField("update_time") for n in nodes)

    stations = await client.upsert_stations([station("st-b", "ta9"), station("st-a", "ta1")])
    assert [s.name for s in stations] == [
        "aggregators/agg-1/stations/st-b",
        "aggregators/agg-1/stations/st-a",
    ]
    listed = {s.station_id: s for s in (await client.list_stations()).stations}
    assert stations == [listed["st-b"], listed["st-a"]]
    assert all(s.HasField("update_time") for s in stations)


async def test_a_replaced_charger_answers_the_state_its_device_reported(platform: Any) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1")])
    created = await client.upsert_chargers([charger("z1", "st-a"), charger("a1", "st-a", rated_w=11_000)])
    assert [c.name for c in created] == [
        CHARGERS.format(station="st-a", charger="z1"),
        CHARGERS.format(station="st-a", charger="a1"),
    ]
    assert [(c.rated_charge_w, c.status, c.online) for c in created] == [
        (7_000, resources_pb2.CHARGER_STATUS_UNSPECIFIED, False),
        (11_000, resources_pb2.CHARGER_STATUS_UNSPECIFIED, False),
    ]
    # The device reports (what its Connect stream records): the state an upsert must not lose.
    seen = datetime.now(UTC).replace(microsecond=0)

    def report(conn: Any) -> None:
        telemetry.record_heartbeat(conn, "a1", seen)
        telemetry.record_status(conn, "a1", "CHARGING", seen)

    await platform.db.write(report)

    replaced = await client.upsert_chargers([charger("a1", "st-a", rated_w=22_000)])

    [a1] = replaced
    assert (a1.rated_charge_w, a1.status, a1.online) == (22_000, resources_pb2.CHARGER_STATUS_CHARGING, True)
    assert a1.last_heartbeat_time == ts(seen)
    assert a1.update_time.ToDatetime(UTC) >= seen
    assert replaced == [await client.get_charger(CHARGERS.format(station="st-a", charger="a1"))]


async def test_sessions_answer_the_state_the_platform_made_of_them(platform: Any) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1")])
    await client.upsert_chargers([charger("a1", "st-a")])
    t = now()
    earlier = session("s1", "a1", t)
    later = session("s2", "a1", t)
    later.plug_in_time.CopyFrom(ts(t - timedelta(minutes=10)))

    # Neither message ends s1: the later plug-in on the same charger does, and the answer says so.
    answered = await client.upsert_sessions([later, earlier])

    assert [(s.name, s.state) for s in answered] == [
        ("aggregators/agg-1/sessions/s2", resources_pb2.EV_SESSION_STATE_ACTIVE),
        ("aggregators/agg-1/sessions/s1", resources_pb2.EV_SESSION_STATE_ENDED),
    ]
    assert answered[1].end_time == later.plug_in_time
    listed = {s.session_id: s for s in (await client.list_sessions()).sessions}
    assert answered == [listed["s2"], listed["s1"]]

    # ENDED is final: a re-sent start of s1 answers it still ended, at the earlier end.
    [again] = await client.upsert_sessions([earlier])
    assert (again.state, again.end_time) == (resources_pb2.EV_SESSION_STATE_ENDED, later.plug_in_time)


async def test_a_retry_with_the_same_request_id_answers_the_same_resources(platform: Any) -> None:
    await onboard(platform, "agg-1")
    grid = await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1")])
    await client.upsert_chargers([charger("c1", "st-a")])
    t = now()

    async def stored_chargers() -> list[Any]:
        return [await client.get_charger(CHARGERS.format(station="st-a", charger=c)) for c in ("c1", "c2")]

    async def stored_sessions() -> list[Any]:
        return [s for s in (await client.list_sessions()).sessions if s.session_id == "s1"]

    async def stored_stations() -> list[Any]:
        return [s for s in (await client.list_stations()).stations if s.station_id == "st-r"]

    async def stored_nodes() -> list[Any]:
        return [await grid.get_grid_node("gridNodes/ta7")]

    cases: dict[str, tuple[Any, list[Any], list[Any], Any]] = {
        "UpsertGridNodes": (
            grid.upsert_grid_nodes,
            [node("ta7", resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA, "f1", 1_000)],
            [node("ta7", resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA, "f1", 2_000)],
            stored_nodes,
        ),
        "BatchUpsertStations": (
            client.upsert_stations,
            [station("st-r", "ta1")],
            [station("st-r", "ta2")],
            stored_stations,
        ),
        "BatchUpsertChargers": (
            client.upsert_chargers,
            [charger("c1", "st-a"), charger("c2", "st-a", v2g=True)],
            [charger("c1", "st-a", rated_w=9_000), charger("c2", "st-a", v2g=True)],
            stored_chargers,
        ),
        "BatchUpsertSessions": (
            client.upsert_sessions,
            [session("s1", "c1", t, soc=0.4)],
            [session("s1", "c1", t, soc=0.6)],
            stored_sessions,
        ),
    }
    for rpc, (upsert, batch, changed, stored) in cases.items():
        request_id = str(uuid.uuid4())
        first = await upsert(batch, request_id=request_id)
        assert first == await stored(), rpc
        # Another call changes the resources in between ...
        second = await upsert(changed, request_id=str(uuid.uuid4()))
        assert second != first, rpc

        # ... and the retry answers the first call's resources again (AIP-155) and writes nothing.
        assert await upsert(batch, request_id=request_id) == first, rpc
        assert await stored() == second, rpc


async def test_an_id_another_tenant_took_during_the_write_is_not_answered_as_upserted(platform: Any) -> None:
    """The read-back is the last word: a charger row that is not the caller's after the write (another
    tenant registered it between the check and the write) refuses the batch instead of counting it."""
    await onboard(platform, "agg-1", "agg-2")
    await topology(platform)
    other = aggregator_client(platform, "agg-2")
    await other.upsert_stations([station("st-b", "ta1")])
    await other.upsert_chargers([charger("shared", "st-b")])
    seen = datetime.now(UTC)

    with pytest.raises(AlreadyExists) as taken:
        await platform.db.write(
            lambda conn: use_cases.upserted_chargers(
                UnitOfWork(conn, seen), "agg-1", ["shared"], timedelta(minutes=2)
            )
        )

    assert (taken.value.reason, taken.value.metadata) == (
        "CHARGER_ID_TAKEN",
        {"charger_id": "shared", "taken_count": "1"},
    )


async def test_the_charger_answer_is_what_get_and_list_return_after_creates_updates_moves_and_undeletes(
    platform: Any,
) -> None:
    """The answer is built from the request and the rows' state before the write, not read back: it must
    equal what GetCharger and ListChargers return afterwards, field for field, for new chargers, replaced
    ones with reported state (online and offline), one moving station and one deleted and registered again."""
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1"), station("st-b", "ta2")])
    await client.upsert_chargers(
        [
            charger("old", "st-a"),
            charger("mover", "st-a", v2g=True),
            charger("gone", "st-b"),
            charger("hb", "st-a"),
        ]
    )
    fresh = datetime.now(UTC)
    stale = fresh - timedelta(hours=1)

    def report(conn: Any) -> None:
        telemetry.record_heartbeat(conn, "mover", fresh)
        telemetry.record_status(conn, "mover", "CHARGING", fresh)
        telemetry.record_heartbeat(conn, "hb", stale)
        telemetry.record_status(conn, "hb", "FAULTED", stale)

    await platform.db.write(report)
    await client.delete_charger(CHARGERS.format(station="st-b", charger="gone"))

    batch = [
        charger("new-2", "st-b", v2g=True, platform_managed=True),
        charger("mover", "st-b", v2g=True, rated_w=50_000),  # moves station, keeps its reported state
        charger("old", "st-a"),  # unchanged fields: rewritten as is
        charger("gone", "st-a", rated_w=3_700),  # deleted, registered again at another station
        charger("hb", "st-a", rated_w=11_000),  # offline: its heartbeat is older than the timeout
        charger("new-1", "st-a"),
    ]
    answered = await client.upsert_chargers(batch)

    assert [c.charger_id for c in answered] == [c.charger_id for c in batch]
    gotten = [
        await client.get_charger(CHARGERS.format(station=c.station_id, charger=c.charger_id)) for c in batch
    ]
    assert answered == gotten
    listed = {c.charger_id: c for c in (await client.list_chargers(page_size=100)).chargers}
    assert answered == [listed[c.charger_id] for c in batch]
    by_id = {c.charger_id: c for c in answered}
    assert (by_id["mover"].station_id, by_id["mover"].status, by_id["mover"].online) == (
        "st-b",
        resources_pb2.CHARGER_STATUS_CHARGING,
        True,
    )
    assert (by_id["hb"].status, by_id["hb"].online, by_id["hb"].last_heartbeat_time) == (
        resources_pb2.CHARGER_STATUS_FAULTED,
        False,
        ts(stale),
    )
    assert not by_id["new-1"].HasField("last_heartbeat_time")
    assert len({c.update_time.ToDatetime() for c in answered}) == 1


async def test_the_charger_write_counts_no_row_another_tenant_holds(platform: Any) -> None:
    """The count ``write_chargers`` returns is what tells the use case to fall back to the read-back (which
    refuses the batch): a row another tenant holds is not counted, on both drivers."""
    await onboard(platform, "agg-1", "agg-2")
    await topology(platform)
    other = aggregator_client(platform, "agg-2")
    await other.upsert_stations([station("st-b", "ta1")])
    await other.upsert_chargers([charger("shared", "st-b")])
    mine = aggregator_client(platform)
    await mine.upsert_stations([station("st-a", "ta1")])
    rows = [
        registry.Charger("shared", "st-a", "AC", 7_000, 0, False, False),
        registry.Charger("mine", "st-a", "AC", 7_000, 0, False, False),
    ]

    written = await platform.db.write(
        lambda conn: registry.write_chargers(conn, "agg-1", rows, datetime.now(UTC))
    )

    assert written == 1


async def test_output_only_fields_a_client_sends_are_answered_as_the_server_set_them(platform: Any) -> None:
    """The answer copies the sent chargers and sets what the server owns: a client's name, status, online,
    heartbeat and update_time (and fields unknown to the server) never come back."""
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1")])
    claimed = datetime(2030, 1, 1, tzinfo=UTC)
    sent = charger(
        "c-out",
        "st-a",
        name="aggregators/agg-9/stations/x/chargers/y",
        status=resources_pb2.CHARGER_STATUS_CHARGING,
        online=True,
        last_heartbeat_time=ts(claimed),
        update_time=ts(claimed),
    )
    # Field 99 is unknown to the contract: a client built from a newer one might send it.
    sent.MergeFromString(sent.SerializeToString() + b"\x98\x06\x01")
    [answered] = await client.upsert_chargers([sent])
    gotten = await client.get_charger(CHARGERS.format(station="st-a", charger="c-out"))
    assert answered == gotten
    assert answered.name == CHARGERS.format(station="st-a", charger="c-out")
    assert (answered.status, answered.online) == (resources_pb2.CHARGER_STATUS_UNSPECIFIED, False)
    assert not answered.HasField("last_heartbeat_time")
    assert answered.update_time != ts(claimed)
    assert b"\x98\x06" not in answered.SerializeToString()
