"""SPEC F2 metering through the public surfaces on both stores: every path a reading arrives by,
field presence, the export register, register falls, reported aggregates, batch/order independence."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry.world import aggregator_client, charger, now, onboard, station, topology, ts
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import resources_pb2, telemetry_pb2

from clients.errors import InvalidArgumentError
from clients.registry import DeviceTelemetryClient
from clients.streams import DeviceSession
from domain import metering as rules
from domain.telemetry import SLOT, slot_floor
from store import metering, telemetry
from store.registry import stations
from store.tables import table_of
from store.telemetry_tables import MeterValueRow
from telemetry.irregular_feed import EXPECTED, EXPECTED_SLOT, FEED

pytestmark = pytest.mark.timeout(300)

TIMEOUT = timedelta(seconds=120)
_READY: set[int] = set()  # platforms (one per store) the property test has set up its aggregator on


def reading(
    charger_id: str,
    at: Any,
    power_w: int | None,
    import_wh: int | None = None,
    export_wh: int | None = None,
) -> telemetry_pb2.MeterValue:
    value = telemetry_pb2.MeterValue(
        charger_id=charger_id, sample_time=ts(at), status=resources_pb2.CHARGER_STATUS_CHARGING
    )
    if power_w is not None:
        value.power_w = power_w
    if import_wh is not None:
        value.energy_register_wh = import_wh
    if export_wh is not None:
        value.export_energy_register_wh = export_wh
    return value


async def _fleet(platform: Any) -> Any:
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1"), station("st-b", "ta2")])
    await client.upsert_chargers(
        [charger("ir-a", "st-a"), charger("ir-b", "st-a"), charger("ir-v2g", "st-b", v2g=True)]
    )
    return client


def _feed(charger_id: str, start: Any) -> list[telemetry_pb2.MeterValue]:
    return [reading(c, start + timedelta(seconds=t), p, i, e) for c, t, p, i, e in FEED if c == charger_id]


async def _slot(
    platform: Any, start: Any, *, aggregator_id: str | None = None, node_id: str | None = None
) -> dict[Any, Fraction]:
    return await platform.db.read(  # type: ignore[no-any-return]
        lambda conn: telemetry.slot_mean_power(
            conn, start=start, end=start + SLOT, aggregator_id=aggregator_id, node_id=node_id
        )
    )


async def test_an_irregular_feed_by_every_path_gives_the_hand_computed_slot_value(platform: Any) -> None:
    client = await _fleet(platform)
    start = slot_floor(now() - timedelta(hours=2))
    # ir-a on its device session, ir-b uploaded offline by the device, ir-v2g by the aggregator.
    session = DeviceSession(platform.channel_for("vgi://device/ir-a", aggregator_id="agg-1"), "ir-a")
    async with session:
        ack = await session.send_meter_values(_feed("ir-a", start))
    assert ack.stored_points == 12
    offline = DeviceTelemetryClient(platform.channel_for("vgi://device/ir-b", aggregator_id="agg-1"))
    assert (await offline.upload_meter_values(_feed("ir-b", start))).stored_points == 10
    acks = [
        a
        async for a in client.upload_telemetry(
            [agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=_feed("ir-v2g", start))]
        )
    ]
    assert [a.stored_points for a in acks] == [5]

    assert await _slot(platform, start, aggregator_id="agg-1") == {start: EXPECTED_SLOT}
    assert await _slot(platform, start, node_id="ta1") == {start: EXPECTED["ir-a"] + EXPECTED["ir-b"]}
    assert await _slot(platform, start, node_id="ta2") == {start: EXPECTED["ir-v2g"]}
    assert await _slot(platform, start, node_id="r1") == {start: EXPECTED_SLOT}

    # Field presence survives every path: "not sent" is stored as NULL, never as 0.
    mv = table_of(MeterValueRow)
    rows = await platform.db.read(
        lambda conn: {
            (r.charger_id, r.power_w is None, r.energy_register_wh is None, r.export_register_wh is None)
            for r in conn.execute(sa.select(mv))
        }
    )
    assert rows == {("ir-a", False, True, True), ("ir-b", False, True, True), ("ir-v2g", False, False, False)}


async def test_the_monitor_minute_applies_the_same_rules_and_a_reported_aggregate_replaces_the_sum(
    platform: Any,
) -> None:
    client = await _fleet(platform)
    start = slot_floor(now() - timedelta(hours=2))
    values = [v for c in ("ir-a", "ir-b", "ir-v2g") for v in _feed(c, start)]
    [
        _
        async for _ in client.upload_telemetry(
            [agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=values)]
        )
    ]
    minute = start + timedelta(minutes=1)
    found = await platform.db.read(lambda conn: metering.minute_power(conn, minute, TIMEOUT, ["agg-1"]))
    # ir-a [60, 120): 4000·30 + 6000·5 + 6200·5 + 6100·20; ir-b 3000 throughout; ir-v2g from its
    # registers: E(60) and E(120) both between −200 s (net 5000) and 130 s (net 4500), a slope of
    # −500 Wh / 330 s, i.e. −500·3600/330 W.
    expected = Fraction(4000 * 30 + 6000 * 5 + 6200 * 5 + 6100 * 20, 60) + 3000 + Fraction(-500 * 3600, 330)
    assert found == {"agg-1": expected}
    at_node = await platform.db.read(lambda conn: metering.minute_power(conn, minute, TIMEOUT, node_id="ta2"))
    assert at_node == {"agg-1": Fraction(-500 * 3600, 330)}

    # Another aggregator's figure (it has no stations at all) is its own, never added to agg-1's.
    await onboard(platform, "agg-2")
    theirs = telemetry_pb2.IntervalAggregate(
        resource="aggregators/agg-2", slot_start_time=ts(start), mean_power_w=555
    )
    other = aggregator_client(platform, "agg-2")
    [
        _
        async for _ in other.upload_telemetry(
            [agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), aggregates=[theirs])]
        )
    ]
    assert await _slot(platform, start, aggregator_id="agg-1") == {start: EXPECTED_SLOT}
    assert await _slot(platform, start, aggregator_id="agg-2") == {start: 555}
    both = await platform.db.read(
        lambda conn: metering.minute_power(conn, minute, TIMEOUT, ["agg-1", "agg-2"])
    )
    assert both == {"agg-1": expected, "agg-2": 555}

    reported = telemetry_pb2.IntervalAggregate(
        resource="aggregators/agg-1", slot_start_time=ts(start), mean_power_w=1234
    )
    [
        _
        async for _ in client.upload_telemetry(
            [agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), aggregates=[reported])]
        )
    ]
    assert await _slot(platform, start, aggregator_id="agg-1") == {start: 1234}
    later = minute + timedelta(minutes=5)
    assert await platform.db.read(lambda conn: metering.minute_power(conn, later, TIMEOUT, ["agg-1"])) == {
        "agg-1": 1234
    }
    # A node cannot place an aggregator-level figure: it keeps the chargers' F2 sum.
    assert await _slot(platform, start, node_id="r1") == {start: EXPECTED_SLOT}


async def test_a_register_that_goes_backwards_is_a_data_quality_event_not_negative_energy(
    platform: Any,
) -> None:
    client = await _fleet(platform)
    start = slot_floor(now() - timedelta(hours=2))
    # A register reset at 450 s; the falling reading arrives in the FIRST batch, its predecessor later.
    first = [reading("ir-a", start + timedelta(seconds=450), None, 12)]
    second = [reading("ir-a", start, 700, 5000), reading("ir-a", start + SLOT, None, 300)]
    second += [reading("ir-a", start + timedelta(seconds=t), 700) for t in range(100, 900, 100)]
    for values in (first, second):
        [
            _
            async for _ in client.upload_telemetry(
                [agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=values)]
            )
        ]

    # Metering in a write transaction (as evaluation and the monitor do) records what it met.
    metered = await platform.db.write(
        lambda conn: telemetry.slot_mean_power(
            conn, start=start, end=start + SLOT, node_id="ta1", record_falls=True
        )
    )
    assert metered == {start: 700}  # from power, not (300 − 5000)·4
    issues = await platform.db.read(lambda conn: metering.data_quality_issues(conn, "ir-a"))
    assert [(i.at, i.reason) for i in issues] == [
        (start + timedelta(seconds=450), rules.REGISTER_WENT_BACKWARDS)
    ]
    assert "from 5000 Wh" in issues[0].detail
    # Metering again records nothing twice; a read-only metering records nothing.
    await platform.db.write(
        lambda conn: telemetry.slot_mean_power(
            conn, start=start, end=start + SLOT, node_id="ta1", record_falls=True
        )
    )
    assert len(await platform.db.read(lambda conn: metering.data_quality_issues(conn, "ir-a"))) == 1
    await _slot(platform, start - SLOT, node_id="ta1")
    assert await platform.db.read(lambda conn: metering.data_quality_issues(conn, "ir-b")) == []

    # The monitor's minutes record too: a fall of ir-b's register inside a minute it meters.
    for values in (
        [reading("ir-b", start, 3000, 900)],
        [reading("ir-b", start + timedelta(seconds=30), 3000, 100)],
    ):
        [
            _
            async for _ in client.upload_telemetry(
                [agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=values)]
            )
        ]
    found = await platform.db.write(
        lambda conn: metering.minute_power(conn, start, TIMEOUT, ["agg-1"], record_falls=True)
    )
    assert found["agg-1"] == 3000 + 700  # ir-b from power, ir-a from power (its register fell)
    issues = await platform.db.read(lambda conn: metering.data_quality_issues(conn, "ir-b"))
    assert [(i.at, i.reason) for i in issues] == [
        (start + timedelta(seconds=30), rules.REGISTER_WENT_BACKWARDS)
    ]


async def test_a_bidirectional_reading_needs_its_import_register_for_an_export_register(
    platform: Any,
) -> None:
    client = await _fleet(platform)
    bad = reading("ir-v2g", now() - timedelta(minutes=5), -3000, None, 40)
    with pytest.raises(InvalidArgumentError) as caught:
        [
            _
            async for _ in client.upload_telemetry(
                [agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=[bad])]
            )
        ]
    assert "export_energy_register_wh" in str(caught.value)


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(min_value=0, max_value=10**6),
    batches=st.integers(min_value=1, max_value=6),
)
async def test_slot_values_do_not_depend_on_batches_or_arrival_order_and_match_the_domain(
    platform: Any, seed: int, batches: int
) -> None:
    """The same irregular readings, split into batches at random and sent in random order, give the
    values ``domain.metering`` computes from them — on SQLite and PostgreSQL alike (same examples)."""
    if id(platform) not in _READY:
        await _fleet(platform)
        _READY.add(id(platform))
    client = aggregator_client(platform)
    tag = uuid.uuid4().hex[:8]
    station_id, ids = f"st-{tag}", [f"p{tag}-{k}" for k in range(3)]
    await client.upsert_stations([station(station_id, "ta1")])
    await client.upsert_chargers([charger(c, station_id, v2g=k == 2) for k, c in enumerate(ids)])
    rng = random.Random(seed)
    start = slot_floor(now() - timedelta(hours=3))
    samples: dict[str, list[rules.MeterSample]] = {c: [] for c in ids}
    values = []
    for k, charger_id in enumerate(ids):
        t, imported, exported = -rng.randint(0, 300), 10_000, 5_000
        while t < 2 * 900 + 300:
            power = rng.randint(-7000, 7000) if k == 2 else rng.randint(0, 7000)
            registers = k > 0 and rng.random() < 0.5
            at = start + timedelta(seconds=t)
            sample = rules.MeterSample(
                at,
                power if rng.random() < 0.9 else None,
                imported if registers else None,
                exported if registers and k == 2 else None,
            )
            samples[charger_id].append(sample)
            values.append(reading(charger_id, at, sample.power_w, sample.import_wh, sample.export_wh))
            # Charger 0 (power only) mostly within the heartbeat timeout; the others sparser, with bursts.
            t += rng.choice([1, 3, 40, 70, 110, 119, 125] if k == 0 else [1, 3, 70, 110, 150, 330])
            imported += rng.randint(0, 30)
            exported += rng.randint(0, 30)
    rng.shuffle(values)
    cuts = sorted(rng.sample(range(1, len(values)), batches - 1))
    parts = [values[a:b] for a, b in zip([0, *cuts], [*cuts, len(values)], strict=True)]
    for part in parts:
        [
            _
            async for _ in client.upload_telemetry(
                [agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=part)]
            )
        ]

    spans = [(start, start + SLOT), (start + SLOT, start + 2 * SLOT)]
    expected = rules.scope_sum(
        rules.charger_means(samples[c], spans, bidirectional=k == 2, heartbeat_timeout=TIMEOUT)
        for k, c in enumerate(ids)
    )
    found = await platform.db.read(
        lambda conn: metering.scope_means(
            conn,
            start=start,
            end=start + 2 * SLOT,
            step=SLOT,
            station_scope=sa.select(stations.c.aggregator_id, stations.c.station_id).where(
                stations.c.station_id == station_id
            ),
            heartbeat_timeout=TIMEOUT,
        )
    )
    assert found == ({"agg-1": expected} if expected else {})

    # The monitor's one-minute read fetches only the readings bracketing its minute
    # (store.metering._bracketing_readings): the same value as from the whole window,
    # for a station and for a node (membership at reading time), every minute around the slots.
    minute = timedelta(minutes=1)
    scopes: list[dict[str, Any]] = [
        {
            "station_scope": sa.select(stations.c.aggregator_id, stations.c.station_id).where(
                stations.c.station_id == station_id
            )
        },
        {"node_id": "ta1"},
    ]

    def one_minute_and_window(conn: Any) -> list[tuple[Any, Any, Any]]:
        compared = []
        for k in range(-3, 34):
            at = start + k * minute
            for scope in scopes:
                alone = metering.scope_means(
                    conn, start=at, end=at + minute, step=minute, heartbeat_timeout=TIMEOUT, **scope
                )
                window = metering.scope_means(
                    conn, start=at, end=at + 2 * minute, step=minute, heartbeat_timeout=TIMEOUT, **scope
                )
                compared.append(
                    (
                        at,
                        {a: v[at] for a, v in alone.items() if at in v},
                        {a: v[at] for a, v in window.items() if at in v},
                    )
                )
        return compared

    compared = await platform.db.read(one_minute_and_window)
    assert [(at, alone) for at, alone, _ in compared] == [(at, window) for at, _, window in compared]
    assert any(alone for _, alone, _ in compared)
