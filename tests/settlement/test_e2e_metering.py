"""SPEC F2 → F9/F10 end to end over the gRPC surfaces: the event day arrives as irregular charger
telemetry (three chargers per aggregator, bursts, gaps, registers, a V2G charger discharging) by every
path a reading takes, and the evaluations and statements match figures computed here by hand.

World, market and baselines as tests/settlement/test_e2e.py: C(agg-a) = [50 000, 20 000],
C(agg-b) = [50 000, 40 000], prices 0.50 and 0.60 CNY/kWh (uniform), fee ratio 0.05;
B(agg-a) = [308 000, 304 000], B(agg-b) = 200 000. Offsets below are seconds from T, the start
of slot 72 (18:00 on D); heartbeat timeout 120 s.

agg-a (station st-agg-a):
  a1 DC, power only, aggregator upload: 120 kW to 300 s, a burst of 180 kW readings at 300/301/302 s,
     90 kW from 303 s; 60 kW from 960 s with a 240 kW burst at 1300/1302 s; every gap ≤ 120 s.
     slot 72: (120 000·300 + 180 000·3 + 90 000·597) / 900 = 90 270 000 / 900 = 100 300 W
     slot 73: (90 000·60 + 60 000·340 + 240 000·3 + 60 000·497) / 900 = 56 340 000 / 900 = 62 600 W
     (a mean of the slot-72 readings would say 120 000 W)
  a2 DC, power only, aggregator upload: 180 kW, a 210 s gap 270 → 480 s of which 120 s are held:
     810 of 900 s covered, exactly 90 % → 180 000 W; 170 kW from the reading exactly at 900 s → 170 000 W
  a3 V2G, import/export registers only (no power), offline device upload: net register
     (import − export) −250: 30 000, 200: 29 000, 650: 27 500, 1100: 26 600, 1550: 26 000, 2000: 25 400 Wh
     E(0) = 30 000 − 1000·250/450 = 265 000/9, E(900) = 27 500 − 900·250/450 = 27 000,
     E(1800) = 26 000 − 600·250/450 = 77 000/3
     slot 72: (27 000 − 265 000/9)·4 = −88 000/9 W; slot 73: (77 000/3 − 27 000)·4 = −16 000/3 W
  A72 = 100 300 + 180 000 − 88 000/9 = 2 434 700/9;  A73 = 62 600 + 170 000 − 16 000/3 = 681 800/3
  R72 = 308 000 − A72 = 337 300/9, r = 3373/4500 ∈ [0.5, 1.2] → 337 300/9 W · 0.25 h · 0.50 = 4.6847… → 4.68
  R73 = 304 000 − A73 = 230 200/3, r = 1151/300 > 1.2 → 1.2 · 20 000 · 0.25 · 0.60 / 1000 = 3.60
  total 8.28, fee 0.414 → 0.41, payable 7.87; mean rate 10319/4500 (not qualified), min 3373/4500,
  energy (R72 + R73) · 0.25 = 256 975/9 Wh

agg-b (station st-agg-b):
  b1 import register (readings also carry power: 250 kW once, never used), device session:
     −300: 1 000 000, 400: 1 013 000, 1300: 1 030 000, 2100: 1 044 000 Wh
     E(0) = 1 000 000 + 13 000·300/700 = 7 039 000/7, E(900) = 1 013 000 + 17 000·500/900 = 9 202 000/9,
     E(1800) = 1 030 000 + 14 000·500/800 = 1 038 750
     slot 72: (9 202 000/9 − 7 039 000/7)·4 = 4 252 000/63 W; slot 73: (1 038 750 − 9 202 000/9)·4 = 587 000/9 W
  b2 power only, aggregator upload: 90 kW with a 30 kW dip 450–455 s; 70 kW from 1000 s
     slot 72: (90 000·450 + 30 000·5 + 90 000·445) / 900 = 269 000/3 W
     slot 73: (90 000·100 + 70 000·800) / 900 = 650 000/9 W
  b3 power only, aggregator upload: a 540 s gap in slot 72 (480 s covered: no value there); 40 000 W in slot 73
  A72 = 4 252 000/63 + 269 000/3 = 9 901 000/63 (b3 has no value: not summed); A73 = 1 597 000/9
  R72 = 2 699 000/63, r = 2699/3150 → 2 699 000/63 · 0.25 · 0.50 / 1000 = 5.3551… → 5.36
  R73 = 203 000/9, r = 203/360 ∈ [0.5, 1.2] → 203 000/9 · 0.25 · 0.60 / 1000 = 3.3833… → 3.38
  total 8.74, fee 0.437 → 0.44, payable 8.30; mean rate 1989/2800 (not qualified), min 203/360,
  energy 1 030 000/63 Wh

grid: total 8.28 + 8.74 = 17.02 = payable 16.17 + fees 0.85
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from registry.world import charger, ts
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import resources_pb2, telemetry_pb2

from clients.registry import DeviceTelemetryClient
from clients.streams import DeviceSession

from . import scenario
from .scenario import World
from .test_e2e import cny, d, figures, money_lines

pytestmark = pytest.mark.timeout(180)

# (charger, offset s, power W, import Wh, export Wh); None = not sent.
Row = tuple[str, int, int | None, int | None, int | None]


def _power(charger_id: str, points: list[tuple[int, int]]) -> list[Row]:
    return [(charger_id, t, p, None, None) for t, p in points]


A1 = _power(
    "a1",
    [(-40, 120_000), (80, 120_000), (190, 120_000), (300, 180_000), (301, 180_000), (302, 180_000)]
    + [(t, 90_000) for t in (303, 410, 520, 630, 740, 850)]
    + [(t, 60_000) for t in (960, 1070, 1180, 1290)]
    + [(1300, 240_000), (1302, 240_000)]
    + [(t, 60_000) for t in (1303, 1410, 1520, 1630, 1740, 1850)],
)
A2 = _power(
    "a2",
    [(t, 180_000) for t in (-60, 50, 160, 270, 480, 590, 700, 810)]
    + [(t, 170_000) for t in (900, 1010, 1120, 1230, 1340, 1450, 1560, 1670, 1780, 1890)],
)
A3: list[Row] = [
    ("a3", t, None, 50_000, export)
    for t, export in (
        (-250, 20_000),
        (200, 21_000),
        (650, 22_500),
        (1100, 23_400),
        (1550, 24_000),
        (2000, 24_600),
    )
]
B1: list[Row] = [
    ("b1", t, p, wh, None)
    for t, p, wh in (
        (-300, 60_000, 1_000_000),
        (400, 250_000, 1_013_000),
        (1300, 60_000, 1_030_000),
        (2100, 60_000, 1_044_000),
    )
]
B2 = _power(
    "b2",
    [(t, 90_000) for t in (-10, 100, 210, 320, 430)]
    + [(450, 30_000), (451, 30_000)]
    + [(t, 90_000) for t in (455, 560, 670, 780, 890)]
    + [(t, 70_000) for t in range(1000, 1881, 110)],
)
B3 = _power(
    "b3", [(-30, 40_000), (60, 40_000)] + [(t, 40_000) for t in (600, 700, 800, 900, *range(1010, 1891, 110))]
)


def _values(rows: list[Row], start: Any) -> list[telemetry_pb2.MeterValue]:
    out = []
    for charger_id, offset, power, imported, exported in rows:
        value = telemetry_pb2.MeterValue(
            charger_id=charger_id,
            sample_time=ts(start + timedelta(seconds=offset)),
            status=resources_pb2.CHARGER_STATUS_CHARGING,
        )
        if power is not None:
            value.power_w = power
        if imported is not None:
            value.energy_register_wh = imported
        if exported is not None:
            value.export_energy_register_wh = exported
        out.append(value)
    return out


def _slots(evaluation: Any) -> list[tuple[int, str, str, str, str]]:
    return [
        (s.instructed_w, s.baseline_w.value, s.actual_w.value, s.response_w.value, s.rate.value)
        for s in evaluation.slots
    ]


async def test_irregular_charger_telemetry_is_evaluated_and_settled_to_the_hand_computed_fen(
    database_url: str, platform_factory: Any
) -> None:
    async with platform_factory(database_url, **scenario.SETTINGS) as platform:
        w = World(platform)
        await w.build(fee_ratio=scenario.dec("0.05"))
        await w.day_ahead(
            "dr-f2",
            [100_000, 60_000],
            {"agg-b": [(50_000, "0.40"), (40_000, "0.40")], "agg-a": [(60_000, "0.50"), (30_000, "0.60")]},
        )
        await w.telemetry["agg-a"].upsert_chargers(
            [
                charger("a1", "st-agg-a", rated_w=250_000),
                charger("a2", "st-agg-a", rated_w=250_000),
                charger("a3", "st-agg-a", v2g=True),
            ]
        )
        await w.telemetry["agg-b"].upsert_chargers(
            [charger(c, "st-agg-b", rated_w=250_000) for c in ("b1", "b2", "b3")]
        )
        start, _ = w.window()

        # Aggregator uploads, the readings of three chargers interleaved and split over two batches.
        for aggregator_id, rows in (("agg-a", A1 + A2), ("agg-b", B2 + B3)):
            values = sorted(_values(rows, start), key=lambda v: (v.sample_time.seconds, v.charger_id))
            half = len(values) // 2
            batches = [
                agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=part)
                for part in (values[half:], values[:half])
            ]
            acks = [a async for a in w.telemetry[aggregator_id].upload_telemetry(batches)]
            assert sum(a.stored_points for a in acks) == len(values)
        # The V2G pile uploads what it recorded offline; b1 reports on its device session.
        offline = DeviceTelemetryClient(platform.channel_for("vgi://device/a3", aggregator_id="agg-a"))
        assert (await offline.upload_meter_values(_values(A3, start))).stored_points == 6
        async with DeviceSession(platform.channel_for("vgi://device/b1", aggregator_id="agg-b"), "b1") as b1:
            assert (await b1.send_meter_values(_values(B1, start))).stored_points == 4

        await w.run_window()
        evaluated = await w.settlement.evaluate_event("events/dr-f2")

        by_name = {e.name: e for e in evaluated.evaluations}
        a = by_name["events/dr-f2/evaluations/agg-a"]
        assert _slots(a) == [
            (50_000, "308000", "270522.222222222", "37477.777777778", "0.749555556"),
            (20_000, "304000", "227266.666666667", "76733.333333333", "3.836666667"),
        ]
        assert (a.mean_rate.value, a.min_rate.value, a.energy_responded_wh.value, a.qualified) == (
            "2.293111111",
            "0.749555556",
            "28552.777777778",
            False,
        )
        b = by_name["events/dr-f2/evaluations/agg-b"]
        assert _slots(b) == [
            (50_000, "200000", "157158.73015873", "42841.26984127", "0.856825397"),
            (40_000, "200000", "177444.444444444", "22555.555555556", "0.563888889"),
        ]
        assert (b.mean_rate.value, b.min_rate.value, b.energy_responded_wh.value, b.qualified) == (
            "0.710357143",
            "0.563888889",
            "16349.206349206",
            False,
        )

        statements = {s.name: s for s in evaluated.statements}
        sa_, sb = statements["events/dr-f2/statements/agg-a"], statements["events/dr-f2/statements/agg-b"]
        assert money_lines(sa_) == [(d("4.68"), d("0")), (d("3.60"), d("0"))]
        assert figures(sa_) == {
            "total_compensation": d("8.28"),
            "total_penalty": d("0"),
            "total": d("8.28"),
            "fee": d("0.41"),
            "payable": d("7.87"),
        }
        assert money_lines(sb) == [(d("5.36"), d("0")), (d("3.38"), d("0"))]
        assert figures(sb) == {
            "total_compensation": d("8.74"),
            "total_penalty": d("0"),
            "total": d("8.74"),
            "fee": d("0.44"),
            "payable": d("8.30"),
        }
        grid = await w.settlement.get_grid_statement("events/dr-f2")
        assert (cny(grid.total), cny(grid.total_payable), cny(grid.total_fee)) == (
            d("17.02"),
            d("16.17"),
            d("0.85"),
        )
        assert cny(grid.total) == sum((cny(s.payable) + cny(s.fee) for s in (sa_, sb)), Decimal(0))
