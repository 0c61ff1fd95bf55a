"""Real-world arrival (SPEC F2), checked from outside through the monitoring view and the acks.

Each test names one behaviour of issue 15 that main got wrong: corrections
dropped yet acknowledged as stored (1), late or re-sent session messages
leaving the wrong session active (2), a station's delete or move rewriting a
node's history (3) — nor a charger's move its station's and node's —, a new car inheriting the previous car's power (4), a
repeated batch id answered differently by path (5) — and a batch id reused for
other content, which is refused on every path rather than answered as a re-send,
and a corrected 15-minute aggregate, replaced but never written to the history.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import protovalidate
import pytest
from google.rpc import code_pb2
from registry.world import aggregator_client, charger, meter, now, onboard, session, station, topology, ts
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as aggregator_grpc
from vgi.common.v1 import resources_pb2, telemetry_pb2

from clients.errors import AlreadyExistsError, from_status
from clients.registry import DeviceTelemetryClient, GridRegistryClient
from clients.streams import DeviceSession
from clients.telemetry_view import Surface, TelemetryViewClient

pytestmark = pytest.mark.timeout(180)

C0 = "aggregators/agg-1/stations/st-a/chargers/c0"


async def _fleet(platform: Any, *chargers: str, station_id: str = "st-a", node: str = "ta1") -> None:
    await onboard(platform, "agg-1", "agg-2")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station(station_id, node)])
    await client.upsert_chargers([charger(c, station_id) for c in chargers or ("c0",)])


def _batch(*values: Any) -> agg_pb.TelemetryBatch:
    return agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=list(values))


async def _upload(platform: Any, *batches: agg_pb.TelemetryBatch) -> list[tuple[int, int, int, bool]]:
    acks = [a async for a in aggregator_client(platform).upload_telemetry(list(batches))]
    return [(a.stored_points, a.duplicate_points, a.corrected_points, a.duplicate) for a in acks]


def _view(platform: Any, surface: Surface = Surface.AGGREGATOR) -> TelemetryViewClient:
    channel = {
        Surface.AGGREGATOR: platform.channel_for("vgi://aggregator/agg-1"),
        Surface.DISPATCH: platform.grid,
        Surface.OPERATOR: platform.channel,
    }[surface]
    return TelemetryViewClient(channel, surface, deadline=60)


async def _powers(platform: Any, start: datetime, end: datetime) -> dict[datetime, int]:
    readings = await _view(platform).all_meter_readings(C0, start, end)
    return {r.sample_time.ToDatetime(tzinfo=UTC): r.power_w for r in readings}


async def test_a_correction_replaces_the_stored_reading_is_recorded_and_the_acks_count_it(
    platform: Any,
) -> None:
    await _fleet(platform)
    t0 = now().replace(second=0) - timedelta(hours=1)
    minute = timedelta(minutes=1)

    acks = await _upload(
        platform,
        _batch(meter("c0", t0, 1000), meter("c0", t0 + minute, 1000)),
        _batch(meter("c0", t0, 5000), meter("c0", t0 + 2 * minute, 1000)),
    )

    # b1: two new readings; b2: one new, one correction of t0 — nothing dropped, nothing miscounted.
    assert acks == [(2, 0, 0, False), (1, 0, 1, False)]
    assert await _powers(platform, t0, t0 + 3 * minute) == {
        t0: 5000,
        t0 + minute: 1000,
        t0 + 2 * minute: 1000,
    }
    [correction] = await _view(platform, Surface.DISPATCH).all_meter_corrections(C0, t0, t0 + 3 * minute)
    assert correction.source == "aggregators/agg-1"
    assert (correction.old_value.power_w, correction.new_value.power_w) == (1000, 5000)
    assert correction.sample_time.ToDatetime(tzinfo=UTC) == t0
    assert correction.correct_time.ToDatetime(tzinfo=UTC) >= t0

    # The same two copies of t0+3 in one batch store what two batches store: the later arrival.
    t3 = t0 + 3 * minute
    assert await _upload(platform, _batch(meter("c0", t3, 1000), meter("c0", t3, 5000))) == [(1, 0, 1, False)]
    t4 = t0 + 4 * minute
    assert await _upload(platform, _batch(meter("c0", t4, 1000)), _batch(meter("c0", t4, 5000))) == [
        (1, 0, 0, False),
        (0, 0, 1, False),
    ]
    powers = await _powers(platform, t0, t0 + 5 * minute)
    assert (powers[t3], powers[t4]) == (5000, 5000)
    # The same values again are a duplicate: counted, not stored, not a correction.
    assert await _upload(platform, _batch(meter("c0", t4, 5000))) == [(0, 1, 0, False)]
    assert len(await _view(platform).all_meter_corrections(C0, t0, t0 + 5 * minute)) == 3


def _aggregate(resource: str, slot: datetime, watts: int) -> telemetry_pb2.IntervalAggregate:
    return telemetry_pb2.IntervalAggregate(resource=resource, slot_start_time=ts(slot), mean_power_w=watts)


async def test_a_corrected_interval_aggregate_is_recorded_and_listed_with_the_reading_corrections(
    platform: Any,
) -> None:
    await _fleet(platform)
    slot = now().replace(minute=0, second=0) - timedelta(days=1)
    station_a, whole = "aggregators/agg-1/stations/st-a", "aggregators/agg-1"
    first = _batch(meter("c0", slot, 1000))
    first.aggregates.extend([_aggregate(station_a, slot, 1000), _aggregate(whole, slot, 3000)])
    fixed = _batch(meter("c0", slot, 1500))  # the reading and the station's value corrected
    fixed.aggregates.extend([_aggregate(station_a, slot, 2000), _aggregate(whole, slot, 3000)])
    again = _batch()
    again.aggregates.append(_aggregate(whole, slot, 4000))  # later, the aggregator's own value
    assert await _upload(platform, first, fixed, again) == [
        (3, 0, 0, False),
        (0, 1, 2, False),
        (0, 0, 1, False),
    ]

    end = slot + timedelta(minutes=15)
    grid = _view(platform, Surface.DISPATCH)
    listed = await grid.all_meter_corrections(whole, slot, end)
    # At one time, the reading comes first, then the uploaded values in the order they were corrected.
    assert [c.charger for c in listed] == [C0, "", ""]
    reading, station_fix, whole_fix = listed
    for correction in listed:
        protovalidate.validate(correction)  # the contract's rules, e.g. meter_correction.one_subject
    assert (reading.old_value.power_w, reading.new_value.power_w) == (1000, 1500)
    assert not reading.HasField("old_aggregate")
    for correction, resource, old, new, batch in (
        (station_fix, station_a, 1000, 2000, fixed),
        (whole_fix, whole, 3000, 4000, again),
    ):
        assert not correction.HasField("old_value")
        assert (correction.old_aggregate.resource, correction.new_aggregate.resource) == (resource, resource)
        assert (correction.old_aggregate.mean_power_w, correction.new_aggregate.mean_power_w) == (old, new)
        assert correction.sample_time.ToDatetime(tzinfo=UTC) == slot
        assert correction.new_aggregate.slot_start_time.ToDatetime(tzinfo=UTC) == slot
        assert (correction.source, correction.batch_id) == ("aggregators/agg-1", batch.batch_id)
        assert correction.correct_time.ToDatetime(tzinfo=UTC) >= slot

    # One per page, the same three in the same order (the page token carries the kind).
    paged, token = [], ""
    while True:
        page = await grid.list_meter_corrections(whole, slot, end, page_size=1, page_token=token)
        paged += list(page.corrections)
        token = page.next_page_token
        if not token:
            break
    assert paged == listed
    # A station sees its own value's correction, a node its stations', a charger only its readings.
    assert await grid.all_meter_corrections(station_a, slot, end) == [reading, station_fix]
    assert await grid.all_meter_corrections("gridNodes/ta1", slot, end) == [reading, station_fix]
    assert await grid.all_meter_corrections(C0, slot, end) == [reading]
    assert await _view(platform).all_meter_corrections(whole, slot, end) == listed
    other = TelemetryViewClient(
        platform.channel_for("vgi://aggregator/agg-2"), Surface.AGGREGATOR, deadline=60
    )
    assert await other.all_meter_corrections("gridNodes/ta1", slot, end) == []
    assert await grid.all_meter_corrections(whole, end, end + timedelta(minutes=15)) == []


def _session_at(session_id: str, plug_in: datetime, at: datetime) -> resources_pb2.EvSession:
    message = session(session_id, "c0", at)
    message.plug_in_time.CopyFrom(ts(plug_in))
    return message


async def _sessions(platform: Any) -> dict[str, tuple[int, datetime | None]]:
    listed = await aggregator_client(platform).list_sessions(page_size=1000)
    return {
        s.session_id: (s.state, s.end_time.ToDatetime(tzinfo=UTC) if s.HasField("end_time") else None)
        for s in listed.sessions
    }


async def test_late_or_resent_session_messages_never_leave_the_wrong_session_active(platform: Any) -> None:
    await _fleet(platform)
    t = now()
    one, two = t - timedelta(hours=2), t - timedelta(hours=1)
    async with DeviceSession(platform.channel_for("vgi://device/c0", aggregator_id="agg-1"), "c0") as device:
        await device.session_started(_session_at("s-new", two, t))
        await device.session_started(_session_at("s-old", one, t))  # delayed: plugged in before s-new
        await device.send_meter_values([meter("c0", t - timedelta(minutes=5), 1)])  # the stream is in order
        assert await _sessions(platform) == {
            "s-new": (resources_pb2.EV_SESSION_STATE_ACTIVE, None),
            "s-old": (resources_pb2.EV_SESSION_STATE_ENDED, two),  # the older car left by the next plug-in
        }

        stop = t - timedelta(minutes=30)
        await device.session_stopped("s-new", stop)
        await device.session_started(_session_at("s-new", two, t))  # the start re-sent after the stop
        await device.send_meter_values([meter("c0", t - timedelta(minutes=4), 1)])
        assert await _sessions(platform) == {
            "s-new": (resources_pb2.EV_SESSION_STATE_ENDED, stop),
            "s-old": (resources_pb2.EV_SESSION_STATE_ENDED, two),
        }


async def test_deleting_or_moving_a_station_never_rewrites_a_nodes_history(
    database_url: str, platform_factory: Any
) -> None:
    # Readings up to an hour ahead are accepted here, so a whole F2 slot after the move can be metered.
    async with platform_factory(database_url, telemetry_max_skew_seconds=3600) as platform:
        await _node_history(platform)


async def _node_history(platform: Any) -> None:
    await _fleet(platform, "c0", "c1")
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-b", "ta1")])
    await client.upsert_chargers([charger("c2", "st-b")])
    slot = now().replace(minute=0, second=0) - timedelta(days=2)
    await _upload(
        platform,
        _batch(*(meter(c, slot + timedelta(minutes=m), 2500) for c in ("c0", "c1", "c2") for m in range(15))),
    )
    grid = _view(platform, Surface.DISPATCH)

    async def node(name: str) -> dict[datetime, str]:
        means = await grid.all_slot_means(f"gridNodes/{name}", slot, slot + timedelta(minutes=15))
        return {m.slot_start_time.ToDatetime(tzinfo=UTC): m.mean_power_w.value for m in means}

    assert await node("ta1") == {slot: "7500"}
    assert await node("f1") == {slot: "7500"}
    await client.delete_station("aggregators/agg-1/stations/st-a")
    await client.upsert_stations([station("st-b", "ta2")])  # moved to another transformer area
    assert await node("ta1") == {slot: "7500"}  # the past as it was
    assert await node("ta2") == {}  # st-b's history stays where it was taken
    assert await node("f1") == {slot: "7500"}

    # Readings taken after the move count for the new node: the next whole slot, sampled every minute
    # (F2 meters a slot from power samples covering it).
    later = datetime.now(UTC) + timedelta(seconds=1)
    start = later.replace(minute=later.minute // 15 * 15, second=0, microsecond=0) + timedelta(minutes=15)
    end = start + timedelta(minutes=15)
    await _upload(platform, _batch(*(meter("c2", start + timedelta(minutes=k), 1000) for k in range(16))))
    assert [m.mean_power_w.value for m in await grid.all_slot_means("gridNodes/ta2", start, end)] == ["1000"]
    assert await grid.all_slot_means("gridNodes/ta1", start, end) == []


async def test_moving_a_charger_to_another_station_never_moves_its_history(
    database_url: str, platform_factory: Any
) -> None:
    # Readings up to an hour ahead are accepted here, so a whole F2 slot after the move can be metered.
    async with platform_factory(database_url, telemetry_max_skew_seconds=3600) as platform:
        await _charger_history(platform)


async def _charger_history(platform: Any) -> None:
    await _fleet(platform, "c0", "c1")
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-b", "ta2")])
    slot = now().replace(minute=0, second=0) - timedelta(days=2)
    end = slot + timedelta(minutes=15)
    await _upload(
        platform,
        _batch(*(meter(c, slot + timedelta(minutes=m), 2500) for c in ("c0", "c1") for m in range(16))),
    )
    await _upload(platform, _batch(meter("c0", slot, 3000)))  # a correction, listed where it was taken
    grid = _view(platform, Surface.DISPATCH)

    async def means(scope: str, start: datetime = slot) -> list[tuple[datetime, str]]:
        found = await grid.all_slot_means(scope, start, start + timedelta(minutes=15))
        return [(m.slot_start_time.ToDatetime(tzinfo=UTC), m.mean_power_w.value) for m in found]

    async def history() -> dict[str, Any]:
        scopes = ["gridNodes/ta1", "gridNodes/ta2", "gridNodes/f1", "aggregators/agg-1/stations/st-a"]
        scopes.append("aggregators/agg-1/stations/st-b")
        listed = {s: await means(s) for s in scopes}
        corrections = {s: len(await grid.all_meter_corrections(s, slot, end)) for s in scopes}
        return {"means": listed, "corrections": corrections}

    before = await history()
    c0_before = await means(C0)
    assert before["means"]["gridNodes/ta1"] == before["means"]["aggregators/agg-1/stations/st-a"] != []
    assert before["means"]["gridNodes/ta2"] == [] and before["corrections"]["gridNodes/ta1"] == 1
    await client.upsert_chargers([charger("c0", "st-b")])  # moved to a station at another node
    assert await history() == before  # the past as it was
    c0_now = "aggregators/agg-1/stations/st-b/chargers/c0"
    assert await means(c0_now) == c0_before != []  # the charger's own series follows it

    # Readings taken after the move count for the new station and node.
    later = datetime.now(UTC) + timedelta(seconds=1)
    start = later.replace(minute=later.minute // 15 * 15, second=0, microsecond=0) + timedelta(minutes=15)
    await _upload(platform, _batch(*(meter("c0", start + timedelta(minutes=k), 1000) for k in range(16))))
    assert await means("gridNodes/ta2", start) == [(start, "1000")]
    assert await means("aggregators/agg-1/stations/st-b", start) == [(start, "1000")]
    assert await means("aggregators/agg-1/stations/st-a", start) == []
    assert await means("gridNodes/ta1", start) == []


async def test_a_new_car_does_not_inherit_the_previous_cars_power(platform: Any) -> None:
    await _fleet(platform)
    t = now()
    await _upload(platform, _batch(meter("c0", t - timedelta(seconds=20), 1000)))  # the previous car
    fresh = _session_at("s-2", t - timedelta(seconds=10), t)  # 60 kWh at SOC 0.5 → 0.8: Pmax = 7000 W
    await aggregator_client(platform).upsert_sessions([fresh])

    capacity = await GridRegistryClient(platform.grid).get_adjustable_capacity("aggregators/agg-1")

    # No reading since the plug-in: P0 is the unmanaged power Pmax, not the previous car's 1000 W.
    assert capacity.capacity.present_power_w == 7000
    await _upload(platform, _batch(meter("c0", t, 3000)))
    capacity = await GridRegistryClient(platform.grid).get_adjustable_capacity("aggregators/agg-1")
    assert capacity.capacity.present_power_w == 3000


async def test_a_repeated_batch_id_is_answered_with_the_first_answer_on_every_path(platform: Any) -> None:
    await _fleet(platform)
    t = now() - timedelta(hours=1)
    values = [meter("c0", t + timedelta(minutes=m), 100 + m) for m in range(3)]
    again = [
        meter("c0", t, 100),
        meter("c0", t + timedelta(minutes=1), 999),
        meter("c0", t + timedelta(minutes=9), 1),
    ]
    offline = DeviceTelemetryClient(platform.channel_for("vgi://device/c0", aggregator_id="agg-1"))

    def counts(answer: Any) -> tuple[int, int, int]:
        return (answer.stored_points, answer.duplicate_points, answer.corrected_points)

    async with DeviceSession(platform.channel_for("vgi://device/c0", aggregator_id="agg-1"), "c0") as device:
        first = str(uuid.uuid4())
        assert counts(await device.send_meter_values(values, batch_id=first)) == (3, 0, 0)
        assert counts(await device.send_meter_values(values, batch_id=first)) == (
            3,
            0,
            0,
        )  # re-sent on the stream
        assert counts(await offline.upload_meter_values(values, batch_id=first)) == (3, 0, 0)  # and offline

        second = str(uuid.uuid4())
        assert counts(await offline.upload_meter_values(again, batch_id=second)) == (1, 1, 1)
        assert counts(await offline.upload_meter_values(again, batch_id=second)) == (1, 1, 1)
        assert counts(await device.send_meter_values(again, batch_id=second)) == (1, 1, 1)

    batch = _batch(meter("c0", t + timedelta(minutes=20), 5))
    assert await _upload(platform, batch, batch) == [(1, 0, 0, False), (1, 0, 0, True)]
    stored = await _powers(platform, t, t + timedelta(hours=1))
    assert stored == {
        t: 100,
        t + timedelta(minutes=1): 999,
        t + timedelta(minutes=2): 102,
        t + timedelta(minutes=9): 1,
        t + timedelta(minutes=20): 5,
    }


async def test_a_batch_id_reused_for_other_content_is_refused_on_every_path_and_stores_nothing(
    platform: Any,
) -> None:
    await _fleet(platform)
    t = now() - timedelta(hours=1)
    minute = timedelta(minutes=1)
    values = [meter("c0", t + k * minute, 100 + k) for k in range(3)]
    other = [meter("c0", t, 555), meter("c0", t + 5 * minute, 7)]  # a correction and a new reading
    device_channel = platform.channel_for("vgi://device/c0", aggregator_id="agg-1")
    offline = DeviceTelemetryClient(device_channel)
    first = str(uuid.uuid4())
    assert (await offline.upload_meter_values(values, batch_id=first)).stored_points == 3

    # Offline upload: refused, the batch of that id exists.
    with pytest.raises(AlreadyExistsError) as unary:
        await offline.upload_meter_values(other, batch_id=first)
    assert (unary.value.reason, unary.value.metadata) == ("BATCH_ID_REUSED", {"batch_id": first})
    # Device session: the same (device batch ids are the device's, whichever path carries them).
    with pytest.raises(AlreadyExistsError) as streamed:
        async with DeviceSession(device_channel, "c0") as device:
            await device.send_meter_values(other, batch_id=first)
    assert streamed.value.reason == "BATCH_ID_REUSED"
    # Aggregator stream: that batch is answered REJECTED with the same status, the next one stored.
    mine = _batch(meter("c0", t + 10 * minute, 1))
    reused = agg_pb.TelemetryBatch(batch_id=mine.batch_id, meter_values=[meter("c0", t + 10 * minute, 2)])
    stub = aggregator_grpc.AggregatorServiceStub(platform.channel_for("vgi://aggregator/agg-1"))
    after = _batch(meter("c0", t + 11 * minute, 3))
    acks = [
        a
        async for a in stub.UploadTelemetry(
            iter([agg_pb.UploadTelemetryRequest(batch=b) for b in (mine, reused, after)]), timeout=30
        )
    ]
    assert [a.result for a in acks] == [
        agg_pb.TELEMETRY_BATCH_RESULT_ACCEPTED,
        agg_pb.TELEMETRY_BATCH_RESULT_REJECTED,
        agg_pb.TELEMETRY_BATCH_RESULT_ACCEPTED,
    ]
    assert acks[1].error.code == code_pb2.ALREADY_EXISTS
    assert from_status(acks[1].error).reason == "BATCH_ID_REUSED"

    # Nothing of the refused batches was stored or recorded as a correction; the first content
    # re-sent under its id is still answered with the first answer.
    assert await _powers(platform, t, t + timedelta(hours=1)) == {
        t: 100,
        t + minute: 101,
        t + 2 * minute: 102,
        t + 10 * minute: 1,
        t + 11 * minute: 3,
    }
    assert await _view(platform).all_meter_corrections(C0, t, t + timedelta(hours=1)) == []
    again = await offline.upload_meter_values(values, batch_id=first)
    assert (again.stored_points, again.duplicate_points, again.corrected_points) == (3, 0, 0)
