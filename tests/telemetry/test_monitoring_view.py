"""The monitoring view (SPEC F2 运行监测) end to end, on field-shaped telemetry (tests/fieldgen.py).

agg-1 runs five chargers of their own habits (V2G among them) at station
st-a in transformer area ta1; agg-2 runs one charger at st-z, also in ta1.
Their readings of the last ten minutes arrive late, overlapping, duplicated
and re-sent; the view must show what was stored, the same on every surface
it is offered on, each aggregator confined to its own chargers.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import fieldgen
import pytest
from registry.world import aggregator_client, charger, onboard, station, topology, ts
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import monitoring_pb2, telemetry_pb2

from clients.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from clients.telemetry_view import Surface, TelemetryViewClient

pytestmark = pytest.mark.timeout(180)

CHARGER = "aggregators/agg-1/stations/st-a/chargers/{}"


def _view(platform: Any, surface: Surface, principal: str = "vgi://aggregator/agg-1") -> TelemetryViewClient:
    channel = {
        Surface.AGGREGATOR: platform.channel_for(principal),
        Surface.DISPATCH: platform.grid,
        Surface.OPERATOR: platform.channel,
    }[surface]
    return TelemetryViewClient(channel, surface, deadline=60)


async def _send(platform: Any, aggregator_id: str, batches: Sequence[fieldgen.Batch]) -> None:
    client = aggregator_client(platform, aggregator_id)
    requests = [
        agg_pb.TelemetryBatch(batch_id=b.batch_id, meter_values=[fieldgen.meter_value(s) for s in b.samples])
        for b in batches
    ]
    async for _ in client.upload_telemetry(requests):
        pass


async def _field_world(
    platform: Any,
) -> tuple[list[fieldgen.Sample], list[fieldgen.Sample], datetime, datetime]:
    await onboard(platform, "agg-1", "agg-2")
    await topology(platform)
    rng = random.Random(15)
    fleet = fieldgen.fleet(rng, "fc", 5, v2g_share=0.4)
    other = fieldgen.fleet(rng, "zc", 1)
    one, two = aggregator_client(platform, "agg-1"), aggregator_client(platform, "agg-2")
    await one.upsert_stations([station("st-a", "ta1")])
    await one.upsert_chargers([charger(c.charger_id, "st-a", v2g=c.bidirectional) for c in fleet])
    await two.upsert_stations([station("st-z", "ta1")])
    await two.upsert_chargers([charger(c.charger_id, "st-z") for c in other])
    end = datetime.now(UTC).replace(microsecond=0)
    # 45 minutes: at least two whole slots, which SPEC F2 meters (registers bracketing, or power covering).
    start = end - timedelta(minutes=45)
    mine = fieldgen.readings(rng, fleet, start, end)
    theirs = fieldgen.readings(rng, other, start, end)
    await _send(platform, "agg-1", fieldgen.arrivals(rng, mine))
    await _send(platform, "agg-2", fieldgen.arrivals(rng, theirs))
    return mine, theirs, start, end


def _exact(mean: monitoring_pb2.SlotMean) -> Decimal:
    return Decimal(mean.mean_power_w.value)


def _close(got: dict[datetime, Decimal], want: dict[datetime, Decimal], terms: int) -> bool:
    return got.keys() == want.keys() and all(abs(got[k] - want[k]) <= Decimal("0.0005") * terms for k in got)


def _by_slot(means: Sequence[monitoring_pb2.SlotMean]) -> dict[datetime, Decimal]:
    return {m.slot_start_time.ToDatetime(tzinfo=UTC): _exact(m) for m in means}


async def test_the_view_shows_what_was_stored_on_every_surface_confined_to_the_tenant(platform: Any) -> None:
    mine, _, start, end = await _field_world(platform)
    own = _view(platform, Surface.AGGREGATOR)
    grid, operator = _view(platform, Surface.DISPATCH), _view(platform, Surface.OPERATOR)
    slots_from = start.replace(minute=start.minute // 15 * 15, second=0)
    slots_to = end + timedelta(minutes=15)

    # Latest state: each charger's latest reading, online (the readings are signs of life).
    asked = datetime.now(UTC)
    states = await own.all_charger_states("aggregators/agg-1")
    answered = datetime.now(UTC)
    latest = {s.charger_id: s for s in mine}  # samples are sorted by time
    assert [s.charger for s in states] == [CHARGER.format(c) for c in sorted(latest)]
    for state in states:
        sample = latest[state.charger.rsplit("/", 1)[1]]
        assert (state.power_w, state.energy_register_wh, state.grid_node) == (
            sample.power_w,
            sample.energy_register_wh,
            "gridNodes/ta1",
        )
        assert state.last_meter_time.ToDatetime(tzinfo=UTC) == sample.sample_time
        assert Decimal(str(state.soc)) == sample.soc
        # Online while the latest reading (a sign of life) is within the 120 s heartbeat timeout; a field
        # gap at the end of the window leaves a charger offline (undecided only inside the call itself).
        timeout = timedelta(seconds=120)
        if answered - sample.sample_time <= timeout:
            assert state.online
        elif asked - sample.sample_time > timeout:
            assert not state.online
    node_states = await grid.all_charger_states("gridNodes/f1")  # the grid sees both aggregators there
    assert len(node_states) == len(latest) + 1
    assert [s.charger for s in await own.all_charger_states("gridNodes/f1")] == [s.charger for s in states]

    # Raw series, page by page, oldest first: exactly the stored set, whatever the arrival.
    some = sorted(latest)[0]
    pages, token = [], ""
    while True:
        page = await own.list_meter_readings(CHARGER.format(some), start, end, page_size=7, page_token=token)
        pages.append(list(page.readings))
        token = page.next_page_token
        if not token:
            break
    series = [r for p in pages for r in p]
    assert len(pages) > 1 and all(len(p) <= 7 for p in pages)
    assert [(r.sample_time.ToDatetime(tzinfo=UTC), r.power_w) for r in series] == [
        (s.sample_time, s.power_w) for s in mine if s.charger_id == some
    ]
    assert series == await operator.all_meter_readings(CHARGER.format(some), start, end)

    # Slot means: chargers sum to the station, the station is the aggregator, the node adds agg-2
    # for the grid but shows the aggregator only its own.
    per_charger = [await own.all_slot_means(CHARGER.format(c), slots_from, slots_to) for c in sorted(latest)]
    station_means = await own.all_slot_means("aggregators/agg-1/stations/st-a", slots_from, slots_to)
    aggregator_means = await grid.all_slot_means("aggregators/agg-1", slots_from, slots_to)
    other_means = await grid.all_slot_means("aggregators/agg-2", slots_from, slots_to)
    node_for_grid = await grid.all_slot_means("gridNodes/ta1", slots_from, slots_to)
    node_for_agg = await own.all_slot_means("gridNodes/ta1", slots_from, slots_to)
    assert station_means and {m.source for m in station_means} <= {
        monitoring_pb2.SLOT_SOURCE_REGISTER,
        monitoring_pb2.SLOT_SOURCE_POWER,
        monitoring_pb2.SLOT_SOURCE_MIXED,
    }
    summed: dict[datetime, Decimal] = {}
    for means in per_charger:
        for at, value in _by_slot(means).items():
            summed[at] = summed.get(at, Decimal(0)) + value
    # (a value without a finite decimal is written to 9 places, so a sum of charger means may differ a little)
    assert _close(_by_slot(station_means), summed, len(latest))
    assert _by_slot(station_means) == _by_slot(aggregator_means) == _by_slot(node_for_agg)
    assert _close(
        _by_slot(node_for_grid),
        {
            at: value + _by_slot(other_means).get(at, Decimal(0))
            for at, value in _by_slot(station_means).items()
        },
        2,
    )
    assert await operator.all_slot_means("gridNodes/ta1", slots_from, slots_to) == node_for_grid

    # An aggregator-uploaded 15-minute value replaces its station's readings: its source says so.
    slot = min(summed)
    upload = agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()),
        aggregates=[
            telemetry_pb2.IntervalAggregate(
                resource="aggregators/agg-1/stations/st-a", slot_start_time=ts(slot), mean_power_w=123_456
            )
        ],
    )
    [ack] = [a async for a in aggregator_client(platform).upload_telemetry([upload])]
    assert ack.stored_points == 1
    [first] = await own.all_slot_means("aggregators/agg-1/stations/st-a", slot, slot + timedelta(minutes=15))
    assert (first.source, _exact(first)) == (monitoring_pb2.SLOT_SOURCE_AGGREGATOR, Decimal(123_456))
    [mixed] = (await grid.list_slot_means("gridNodes/ta1", slot, slot + timedelta(minutes=15))).slot_means
    expected_source = (
        monitoring_pb2.SLOT_SOURCE_MIXED
        if slot in _by_slot(other_means)
        else monitoring_pb2.SLOT_SOURCE_AGGREGATOR
    )
    assert mixed.source == expected_source

    # Corrections, with who, when, old and new.
    wrong = fieldgen.replace(mine[0], power_w=mine[0].power_w + 1)
    await _send(platform, "agg-1", [fieldgen.Batch(str(uuid.uuid4()), (wrong,))])
    [correction] = await operator.all_meter_corrections("aggregators/agg-1", start, end)
    assert (correction.source, correction.old_value.power_w, correction.new_value.power_w) == (
        "aggregators/agg-1",
        mine[0].power_w,
        mine[0].power_w + 1,
    )
    assert correction.charger == CHARGER.format(mine[0].charger_id)
    assert await own.all_meter_corrections("gridNodes/ta1", start, end) == [correction]
    assert (
        await _view(platform, Surface.AGGREGATOR, "vgi://aggregator/agg-2").all_meter_corrections(
            "gridNodes/ta1", start, end
        )
        == []
    )


async def test_the_view_refuses_other_tenants_bad_ranges_and_foreign_tokens(platform: Any) -> None:
    _, _, start, end = await _field_world(platform)
    theirs = _view(platform, Surface.AGGREGATOR, "vgi://aggregator/agg-2")
    own = _view(platform, Surface.AGGREGATOR)
    for call in (
        theirs.list_meter_readings(CHARGER.format("fc-0"), start, end),
        theirs.list_slot_means("aggregators/agg-1", start, end),
        theirs.list_charger_states("aggregators/agg-1/stations/st-a"),
        own.list_meter_readings("aggregators/agg-1/stations/st-a/chargers/zc-0", start, end),  # not at st-a
    ):
        with pytest.raises(NotFoundError):
            await call

    with pytest.raises(InvalidArgumentError) as backwards:
        await own.list_slot_means("aggregators/agg-1", end, start)
    assert [v.field for v in backwards.value.field_violations] == ["range"]
    with pytest.raises(InvalidArgumentError) as too_long:
        await own.list_slot_means("aggregators/agg-1", end - timedelta(days=63), end)
    assert too_long.value.reason == "RANGE_TOO_LONG"
    assert [v.field for v in too_long.value.field_violations] == ["range.end_time"]
    with pytest.raises(InvalidArgumentError) as scope:
        await own.list_charger_states(
            "aggregators/agg-1/stations/st-a/chargers/fc-0"
        )  # a charger is not a group
    assert [v.field for v in scope.value.field_violations] == ["scope"]

    page = await own.list_meter_readings(CHARGER.format("fc-0"), start, end, page_size=1)
    assert page.next_page_token
    with pytest.raises(InvalidArgumentError) as foreign:  # a token of another range
        await own.list_meter_readings(
            CHARGER.format("fc-0"), start, end - timedelta(seconds=1), page_token=page.next_page_token
        )
    assert foreign.value.reason == "INVALID_PAGE_TOKEN"

    device = TelemetryViewClient(
        platform.channel_for("vgi://device/fc-0", aggregator_id="agg-1"), Surface.AGGREGATOR, deadline=60
    )
    with pytest.raises(PermissionDeniedError):
        await device.list_charger_states("aggregators/agg-1")


async def test_the_latest_state_is_the_latest_reading_whatever_it_carried_and_slots_stay_on_the_grid(
    platform: Any,
) -> None:
    """Outside-in findings: a register-only or SOC/status-only latest reading was invisible in the state
    (only readings with power counted), an aggregator's reported status never showed, and a range
    starting off the 15-minute grid shifted the slots (values depending on the range asked)."""
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-s", "ta1")])
    await client.upsert_chargers([charger(c, "st-s") for c in ("reg-only", "later-reg", "soc-only")])
    now = datetime.now(UTC).replace(microsecond=0)
    t0, t1 = now - timedelta(minutes=2), now - timedelta(minutes=1)

    def value(charger_id: str, at: datetime, **fields: Any) -> telemetry_pb2.MeterValue:
        return telemetry_pb2.MeterValue(charger_id=charger_id, sample_time=ts(at), **fields)

    charging = telemetry_pb2.MeterValue(status=3).status  # CHARGER_STATUS_CHARGING
    batch = agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()),
        meter_values=[
            value("reg-only", t0, energy_register_wh=500),
            value("later-reg", t0, power_w=4000, energy_register_wh=500),
            value("later-reg", t1, energy_register_wh=570),
            value("soc-only", t0, soc=0.5, status=charging),
        ],
    )
    [ack] = [a async for a in client.upload_telemetry([batch])]
    assert ack.stored_points == 4
    states = {
        s.charger.rsplit("/", 1)[1]: s
        for s in await _view(platform, Surface.AGGREGATOR).all_charger_states(
            "aggregators/agg-1/stations/st-s"
        )
    }
    reg_only, later, soc_only = states["reg-only"], states["later-reg"], states["soc-only"]
    assert (reg_only.HasField("power_w"), reg_only.energy_register_wh) == (False, 500)
    assert reg_only.last_meter_time.ToDatetime(tzinfo=UTC) == t0
    assert (later.HasField("power_w"), later.energy_register_wh) == (False, 570)
    assert later.last_meter_time.ToDatetime(tzinfo=UTC) == t1
    assert (soc_only.soc, soc_only.status, soc_only.last_meter_time.ToDatetime(tzinfo=UTC)) == (
        0.5,
        charging,
        t0,
    )

    # Slots on the grid whatever the range: an unaligned start begins at the next slot, same values.
    _, _, start, end = await _field_world_for(platform, client)
    grid_from = start.replace(minute=start.minute // 15 * 15, second=0) + timedelta(minutes=15)
    own = _view(platform, Surface.AGGREGATOR)
    aligned = await own.all_slot_means("aggregators/agg-1/stations/st-f", grid_from, end)
    for offset in (timedelta(minutes=-8), timedelta(minutes=-1), timedelta(seconds=-1)):
        unaligned = await own.all_slot_means("aggregators/agg-1/stations/st-f", grid_from + offset, end)
        assert unaligned == aligned
    assert aligned and all(m.slot_start_time.ToDatetime(tzinfo=UTC).minute % 15 == 0 for m in aligned)
    inside = await own.all_slot_means(
        "aggregators/agg-1/stations/st-f", grid_from + timedelta(minutes=1), grid_from + timedelta(minutes=14)
    )
    assert inside == []


async def _field_world_for(platform: Any, client: Any) -> tuple[Any, Any, datetime, datetime]:
    """Five field-shaped chargers of agg-1 at st-f with 45 minutes of readings."""
    rng = random.Random(7)
    fleet = fieldgen.fleet(rng, "ff", 5)
    await client.upsert_stations([station("st-f", "ta1")])
    await client.upsert_chargers([charger(c.charger_id, "st-f", v2g=c.bidirectional) for c in fleet])
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(minutes=45)
    samples = fieldgen.readings(rng, fleet, start, end)
    await _send(platform, "agg-1", fieldgen.arrivals(rng, samples))
    return fleet, samples, start, end
