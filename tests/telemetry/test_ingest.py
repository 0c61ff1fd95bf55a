"""Telemetry ingestion (SPEC F2) end to end: exactly once, re-sent batches, broken streams, skew, tenancy."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from registry.world import aggregator_client, charger, meter, now, onboard, session, station, topology, ts
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import telemetry_pb2

from clients.errors import InvalidArgumentError
from clients.registry import DeviceTelemetryClient
from store import telemetry
from store.registry import chargers
from store.telemetry import meter_values

from waiting import WAIT_S

pytestmark = pytest.mark.timeout(180)

CHARGERS = 500


async def _fleet(platform: Any) -> None:
    await onboard(platform, "agg-1", "agg-2")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1")])
    await client.upsert_chargers([charger(f"c{i:03d}", "st-a") for i in range(CHARGERS)])


def _batch(minute: int, start: Any) -> agg_pb.TelemetryBatch:
    """One reading per charger for minute ``minute``: power = minute·1000 + charger number."""
    at = start + timedelta(minutes=minute)
    return agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()),
        meter_values=[meter(f"c{i:03d}", at, minute * 1000 + i, minute * 10 + i) for i in range(CHARGERS)],
    )


async def _stored(platform: Any) -> tuple[int, int]:
    return await platform.db.read(
        lambda conn: tuple(
            conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(meter_values.c.power_w), 0))
            ).one()
        )
    )


async def test_hundred_thousand_meter_values_land_exactly_once_and_a_resent_batch_adds_nothing(
    platform: Any,
) -> None:
    await _fleet(platform)
    client = aggregator_client(platform)
    start = now() - timedelta(hours=4)
    batches = [_batch(m, start) for m in range(200)]  # 200 × 500 = 100,000 readings
    expected_sum = sum(m * 1000 + i for m in range(200) for i in range(CHARGERS))

    acks = [ack async for ack in client.upload_telemetry(batches)]

    assert [a.batch_id for a in acks] == [b.batch_id for b in batches]
    assert all(a.stored_points == CHARGERS and not a.duplicate for a in acks)
    assert await _stored(platform) == (100_000, expected_sum)

    resent = [ack async for ack in client.upload_telemetry([batches[7], batches[150]])]
    # A re-sent batch id is answered with the first answer's counts, flagged duplicate, and stores nothing.
    assert [(a.stored_points, a.duplicate) for a in resent] == [(CHARGERS, True), (CHARGERS, True)]
    assert await _stored(platform) == (100_000, expected_sum)


async def test_a_stream_broken_midway_loses_nothing_acknowledged(platform: Any) -> None:
    await _fleet(platform)
    client = aggregator_client(platform)
    start = now() - timedelta(hours=1)
    batches = [_batch(m, start) for m in range(6)]
    acked: list[str] = []

    async def stream():  # type: ignore[no-untyped-def]
        for batch in batches:
            yield batch

    uploads = client.upload_telemetry(stream())
    async for ack in uploads:
        acked.append(ack.batch_id)
        if len(acked) == 3:
            break  # the connection drops: the client goes away mid-stream
    await uploads.aclose()

    count, _ = await _stored(platform)
    assert acked == [b.batch_id for b in batches[:3]]
    assert count >= 3 * CHARGERS  # everything acknowledged is committed

    # The client resends every batch it has no ack for, and (being unsure) the acked ones too.
    again = [ack async for ack in client.upload_telemetry(batches)]
    assert all(a.duplicate for a in again[:3])
    assert await _stored(platform) == (
        6 * CHARGERS,
        sum(m * 1000 + i for m in range(6) for i in range(CHARGERS)),
    )


async def test_batches_of_one_stream_apply_in_order_so_the_later_batch_wins(platform: Any) -> None:
    """Several batches of a stream are taken in while earlier ones are written (on SQLite): each batch
    re-sends the previous batch's readings with other values, so any batch written out of order would leave
    another value stored or count other corrections."""
    await _fleet(platform)
    client = aggregator_client(platform)
    at = now() - timedelta(minutes=30)
    rounds = 12
    batches = [
        agg_pb.TelemetryBatch(
            batch_id=str(uuid.uuid4()),
            meter_values=[meter(f"c{i:03d}", at, r * 1000 + i) for i in range(CHARGERS)],
        )
        for r in range(rounds)
    ]

    acks = [ack async for ack in client.upload_telemetry(batches)]

    assert [a.batch_id for a in acks] == [b.batch_id for b in batches]
    assert [(a.stored_points, a.corrected_points) for a in acks] == [(CHARGERS, 0)] + [(0, CHARGERS)] * (
        rounds - 1
    )
    assert await _stored(platform) == (CHARGERS, sum((rounds - 1) * 1000 + i for i in range(CHARGERS)))
    olds = await platform.db.read(
        lambda conn: (
            conn.execute(
                sa.select(telemetry.corrections_table.c.old_power_w).order_by(
                    telemetry.corrections_table.c.correct_time, telemetry.corrections_table.c.old_power_w
                )
            )
            .scalars()
            .all()
        )
    )
    assert olds == [r * 1000 + i for r in range(rounds - 1) for i in range(CHARGERS)]


async def test_future_timestamps_beyond_the_skew_are_rejected_and_nothing_is_stored(platform: Any) -> None:
    await _fleet(platform)
    client = aggregator_client(platform)
    t = now()
    batch = agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()),
        meter_values=[
            meter("c000", t, 1),
            meter("c001", t + timedelta(seconds=60), 2),
            meter("c002", t + timedelta(hours=1), 3),
        ],
    )
    with pytest.raises(InvalidArgumentError) as caught:
        [ack async for ack in client.upload_telemetry([batch])]
    assert caught.value.reason == "FUTURE_TIMESTAMP"
    assert [v.field for v in caught.value.field_violations] == ["batch.meter_values[2].sample_time"]
    assert await _stored(platform) == (0, 0)


async def test_an_aggregator_reports_only_its_own_chargers(platform: Any) -> None:
    await _fleet(platform)
    other = aggregator_client(platform, "agg-2")
    batch = agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=[meter("c000", now(), 1)])
    with pytest.raises(InvalidArgumentError) as caught:
        [ack async for ack in other.upload_telemetry([batch])]
    assert caught.value.reason == "CHARGER_NOT_ALLOWED"
    assert [v.field for v in caught.value.field_violations] == ["batch.meter_values[0].charger_id"]
    assert await _stored(platform) == (0, 0)


async def test_device_offline_upload_is_idempotent_and_own_charger_only(platform: Any) -> None:
    await _fleet(platform)
    device = DeviceTelemetryClient(platform.channel_for("vgi://device/c007", aggregator_id="agg-1"))
    t = now() - timedelta(hours=2)
    values = [meter("c007", t + timedelta(minutes=m), 100 + m) for m in range(60)]
    batch_id = str(uuid.uuid4())

    assert (await device.upload_meter_values(values, batch_id=batch_id)).stored_points == 60
    assert (
        await device.upload_meter_values(values, batch_id=batch_id)
    ).stored_points == 60  # the first answer, stored once
    assert await _stored(platform) == (60, sum(100 + m for m in range(60)))

    with pytest.raises(InvalidArgumentError) as caught:
        await device.upload_meter_values([meter("c007", t, 1), meter("c008", t, 1)])
    assert caught.value.reason == "CHARGER_NOT_ALLOWED"
    assert [v.field for v in caught.value.field_violations] == ["values[1].charger_id"]

    charger_state = await aggregator_client(platform).get_charger(
        "aggregators/agg-1/stations/st-a/chargers/c007"
    )
    assert not charger_state.online  # the latest reading is older than the heartbeat timeout
    assert charger_state.last_heartbeat_time == ts(t + timedelta(minutes=59))


async def test_sixty_days_of_aggregates_backfill_and_feed_the_slot_read_side(platform: Any) -> None:
    await _fleet(platform)
    client = aggregator_client(platform)
    midnight = now().replace(hour=16, minute=0, second=0) - timedelta(days=2)  # a Shanghai midnight
    slots = [midnight - timedelta(days=60) + timedelta(minutes=15 * k) for k in range(60 * 96)]
    aggregates = [
        telemetry_pb2.IntervalAggregate(
            resource="aggregators/agg-1", slot_start_time=ts(s), mean_power_w=1000 + k % 96
        )
        for k, s in enumerate(slots)
    ]
    batches = [
        agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), aggregates=aggregates[i : i + 2000])
        for i in range(0, len(aggregates), 2000)
    ]
    acks = [ack async for ack in client.upload_telemetry(batches)]
    assert sum(a.stored_points for a in acks) == 60 * 96

    means = await platform.db.read(
        lambda conn: telemetry.slot_mean_power(
            conn, start=slots[0], end=slots[-1] + timedelta(minutes=15), aggregator_id="agg-1"
        )
    )
    assert len(means) == 60 * 96
    assert means[slots[0]] == 1000 and means[slots[95]] == 1095

    misaligned = agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()),
        aggregates=[
            telemetry_pb2.IntervalAggregate(
                resource="aggregators/agg-1",
                slot_start_time=ts(slots[0] + timedelta(minutes=1)),
                mean_power_w=1,
            )
        ],
    )
    with pytest.raises(InvalidArgumentError) as caught:
        [ack async for ack in client.upload_telemetry([misaligned])]
    assert caught.value.reason == "NOT_ON_SLOT_BOUNDARY"
    assert [v.field for v in caught.value.field_violations] == ["batch.aggregates[0].slot_start_time"]


async def test_a_batch_naming_a_foreign_or_deleted_charger_is_refused_whole_and_changes_no_charger(
    platform: Any,
) -> None:
    """On PostgreSQL the batch's charger check is the statement that writes the chargers' latest readings:
    a refusal still stores nothing — no reading, no charger's latest reading or sign of life, no capacity
    row, no batch id — and names exactly the readings of chargers that are not the caller's live ones,
    before any other check (a future time in the same batch)."""
    await _fleet(platform)
    client, other = aggregator_client(platform), aggregator_client(platform, "agg-2")
    await other.upsert_stations([station("st-b", "ta2")])
    await other.upsert_chargers([charger("x000", "st-b")])
    await client.upsert_sessions([session("s1", "c001", now())])
    await client.delete_charger("aggregators/agg-1/stations/st-a/chargers/c003")
    earlier = now() - timedelta(minutes=10)
    first = agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()), meter_values=[meter(f"c{i:03d}", earlier, i, i) for i in range(3)]
    )
    [ack] = [a async for a in client.upload_telemetry([first])]
    assert ack.stored_points == 3

    def state(conn: Any) -> tuple[list[Any], list[Any], int]:
        return (
            conn.execute(
                sa.select(
                    chargers.c.charger_id,
                    chargers.c.last_power_w,
                    chargers.c.last_energy_register_wh,
                    chargers.c.last_meter_time,
                    chargers.c.last_heartbeat_time,
                ).order_by(chargers.c.charger_id)
            ).all(),
            conn.exec_driver_sql(
                "SELECT charger_id, meter_time, meter_power_w FROM capacity_sessions ORDER BY charger_id"
            ).all(),
            conn.execute(sa.select(sa.func.count()).select_from(telemetry.batches)).scalar_one(),
        )

    before = await platform.db.read(state)
    assert [row[1] for row in before[0][:3]] == [0, 1, 2] and [row[0] for row in before[1]] == ["c001"]
    stored_before = await _stored(platform)
    t = now() - timedelta(minutes=1)
    registers_only = telemetry_pb2.MeterValue(charger_id="x000", sample_time=ts(t), energy_register_wh=9)
    batch_id = str(uuid.uuid4())
    own = [meter("c000", t, 11, 1), meter("c001", t, 12, 2)]
    refused = agg_pb.TelemetryBatch(
        batch_id=batch_id,
        meter_values=[
            *own,
            meter("x000", t, 13),  # another aggregator's
            meter("c003", t, 14),  # deleted
            registers_only,  # another aggregator's, without power
            meter("c002", t + timedelta(hours=1), 15),  # in the future as well
        ],
    )
    with pytest.raises(InvalidArgumentError) as caught:
        [a async for a in client.upload_telemetry([refused])]
    assert caught.value.reason == "CHARGER_NOT_ALLOWED"
    assert [v.field for v in caught.value.field_violations] == [
        f"batch.meter_values[{i}].charger_id" for i in (2, 3, 4)
    ]
    assert await _stored(platform) == stored_before
    assert await platform.db.read(state) == before

    # The id was not taken: the same id with the caller's own chargers only is a new batch.
    [ack] = [
        a async for a in client.upload_telemetry([agg_pb.TelemetryBatch(batch_id=batch_id, meter_values=own)])
    ]
    assert (ack.stored_points, ack.duplicate) == (2, False)
    latest = {row[0]: row[1:] for row in (await platform.db.read(state))[0]}
    assert [(latest[c][0], latest[c][1]) for c in ("c000", "c001")] == [(11, 1), (12, 2)]


async def test_a_batch_naming_another_tenants_charger_is_refused_before_it_writes_their_key(
    platform: Any, database_url: str
) -> None:
    """A batch of agg-1 naming agg-2's charger is checked before any of its rows is written: it never holds,
    even uncommitted, a key of agg-2's. Shown with agg-2's reading of that key in flight (inserted in a
    transaction left open): agg-1's batch is refused at once instead of waiting on it."""
    if not database_url.startswith("postgresql"):
        pytest.skip("on SQLite one writer runs every batch in turn: an open write would hold them all")
    await _fleet(platform)
    client, other = aggregator_client(platform), aggregator_client(platform, "agg-2")
    await other.upsert_stations([station("st-b", "ta2")])
    await other.upsert_chargers([charger("x000", "st-b")])
    # agg-1's chargers are known to be its own (a batch of theirs went through): its usual state.
    earlier = now() - timedelta(minutes=10)
    [ack] = [
        a
        async for a in client.upload_telemetry(
            [agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=[meter("c000", earlier, 1, 1)])]
        )
    ]
    assert ack.stored_points == 1
    t = (now() - timedelta(minutes=1)).replace(microsecond=0)
    holder = platform.db.engine.connect()
    in_flight = holder.begin()
    holder.exec_driver_sql(
        "INSERT INTO meter_values (charger_id, sample_time, power_w, energy_register_wh, status, receive_time)"
        " VALUES ('x000', %(t)s, 7000, 1, 0, %(t)s)",
        {"t": t},
    )
    try:
        batch = agg_pb.TelemetryBatch(
            batch_id=str(uuid.uuid4()), meter_values=[meter("c000", t, 2, 2), meter("x000", t, 3, 3)]
        )
        async with asyncio.timeout(WAIT_S / 3):
            with pytest.raises(InvalidArgumentError) as caught:
                [a async for a in client.upload_telemetry([batch])]
        assert caught.value.reason == "CHARGER_NOT_ALLOWED"
        assert [v.field for v in caught.value.field_violations] == ["batch.meter_values[1].charger_id"]
    finally:
        in_flight.rollback()
        holder.close()
    # agg-2's own reading of that key goes in as usual.
    [ack] = [
        a
        async for a in other.upload_telemetry(
            [agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=[meter("x000", t, 4, 4)])]
        )
    ]
    assert (ack.stored_points, ack.duplicate_points) == (1, 0)
