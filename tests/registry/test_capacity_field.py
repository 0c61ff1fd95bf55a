"""Adjustable capacity (F3) on field-shaped telemetry (tests/fieldgen.py), against SPEC F3 by hand.

A fleet of chargers with their own reporting habits (unsynchronised intervals,
jitter, bursts, gaps, V2G discharge) sends its readings late, duplicated, in
overlapping and re-sent batches. Each connected session has its own battery,
SOC, target, floor, limits and departure; some chargers went quiet longer than
the heartbeat timeout, one car plugged in after its charger's last (still
fresh) reading — that reading belongs to the previous car — and one charger has
no session at all.

The expected capacities are computed here from the per-session definition in
SPEC F3 with exact fractions at the platform's ``compute_time``, not with the
product's domain code: Pmax, D, Pmin, P0 (the latest reading within the
heartbeat timeout and after the plug-in, else Pmax, clamped), whole watts per
session toward zero, summed per aggregator and per node, a limited node's
increase capped by its headroom.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import fieldgen
import pytest
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import resources_pb2

from .world import aggregator_client, charger, now, onboard, station, topology, ts

pytestmark = pytest.mark.timeout(180)

DT = Fraction(1, 4)  # the slot, in hours
TIMEOUT = timedelta(seconds=120)  # the default heartbeat timeout
AREA_LIMIT_W = 60_000
AREA_BASE_LOAD_W = 20_000
V2G_RATED_DISCHARGE_W = 6_000  # what registry.world registers for a V2G charger


@dataclass(frozen=True)
class Connected:
    session_id: str
    charger: fieldgen.FieldCharger
    station_id: str
    plug_in: datetime
    departure: datetime
    battery_wh: int
    soc: Fraction
    target_soc: Fraction
    floor_soc: Fraction
    max_charge_w: int
    max_discharge_w: int
    bidirectional: bool

    def message(self) -> resources_pb2.EvSession:
        return resources_pb2.EvSession(
            session_id=self.session_id,
            charger_id=self.charger.charger_id,
            plug_in_time=ts(self.plug_in),
            expected_departure_time=ts(self.departure),
            battery_wh=self.battery_wh,
            soc=float(self.soc),
            target_soc=float(self.target_soc),
            v2g_floor_soc=float(self.floor_soc),
            max_charge_w=self.max_charge_w,
            max_discharge_w=self.max_discharge_w,
            bidirectional=self.bidirectional,
        )


@dataclass(frozen=True)
class Expected:
    decrease_w: int
    increase_w: int
    p0: Fraction
    kind: str  # where P0 came from: "metered", "before plug-in", "stale", "never"
    from_latest: Fraction | None  # the P0 the charger's latest reading would give, were it counted


def _percent(rng: random.Random, low: int, high: int) -> Fraction:
    return Fraction(rng.randint(low, high), 100)


def _spec_f3(s: Connected, samples: Sequence[fieldgen.Sample], at: datetime) -> Expected:
    """SPEC F3 for one session at ``at``, exact."""
    b = Fraction(s.battery_wh)
    e = (s.target_soc - s.soc) * b
    t = Fraction((s.departure - at) // timedelta(microseconds=1), 3_600_000_000)
    pc = Fraction(min(s.max_charge_w, s.charger.rated_w))
    pmax = min(pc, max(e, Fraction(0)) / DT)
    d = Fraction(0)
    if s.bidirectional and s.charger.bidirectional:
        pd = Fraction(min(s.max_discharge_w, V2G_RATED_DISCHARGE_W))
        d = min(pd, max(s.soc - s.floor_soc, Fraction(0)) * b / DT)
    pmin = max(-d, min((e - pc * max(t - DT, Fraction(0))) / DT, pmax))
    mine = [x for x in samples if x.charger_id == s.charger.charger_id]
    latest = max(mine, key=lambda x: x.sample_time, default=None)
    if latest is None:
        kind, p0 = "never", pmax
    elif latest.sample_time < s.plug_in:
        kind, p0 = "before plug-in", pmax
    elif at - latest.sample_time > TIMEOUT:
        kind, p0 = "stale", pmax
    else:
        kind, p0 = "metered", Fraction(latest.power_w)
    p0 = max(pmin, min(p0, pmax))
    from_latest = None if latest is None else max(pmin, min(Fraction(latest.power_w), pmax))
    return Expected(math.trunc(p0 - pmin), math.trunc(pmax - p0), p0, kind, from_latest)


async def test_capacity_on_field_telemetry_is_spec_f3_per_session_summed(platform: Any) -> None:
    await onboard(platform, "agg-1")
    grid = await topology(platform, area_limit_w=AREA_LIMIT_W, area_base_load_w=AREA_BASE_LOAD_W)
    client = aggregator_client(platform)
    rng = random.Random(3150)
    fleet = fieldgen.fleet(rng, "fc", 9, v2g_share=0.45)
    placed = {c.charger_id: ("st-a" if n < 6 else "st-b") for n, c in enumerate(fleet)}
    await client.upsert_stations([station("st-a", "ta1"), station("st-b", "ta2")])
    await client.upsert_chargers(
        [charger(c.charger_id, placed[c.charger_id], v2g=c.bidirectional, rated_w=c.rated_w) for c in fleet]
    )

    t = now()
    samples: list[fieldgen.Sample] = []
    sessions: list[Connected] = []
    for n, c in enumerate(fleet):
        if n == 0:  # fresh readings, but of the previous car: this one plugged in after them
            last, plug_in = t - timedelta(seconds=30), t - timedelta(seconds=10)
        elif n == 1:  # quiet for longer than the heartbeat timeout
            last, plug_in = t - timedelta(minutes=8), t - timedelta(minutes=40)
        else:  # reporting now; plugged in during the readings, so earlier ones were another car's
            last, plug_in = (
                t - timedelta(seconds=rng.randint(1, 20)),
                t - timedelta(minutes=rng.choice((5, 20, 35))),
            )
        samples += fieldgen.readings(rng, [c], t - timedelta(minutes=45), last, gap_chance=0.01)
        if n == len(fleet) - 1:
            continue  # a charger without a session counts nowhere
        # Mostly cars with time to spare (P0 then decides the split); a few that must charge flat out.
        hours_left = rng.choice((0.1, 0.3, 1, 2, 4, 6, 8, 8))
        connected = Connected(
            session_id=f"s-{n}",
            charger=c,
            station_id=placed[c.charger_id],
            plug_in=plug_in,
            departure=t + timedelta(hours=hours_left),
            battery_wh=rng.choice((40_000, 60_000, 75_000)),
            soc=_percent(rng, 10, 60),
            target_soc=_percent(rng, 55, 100),
            floor_soc=_percent(rng, 5, 30),
            max_charge_w=rng.choice((3_500, 7_000, 11_000, 22_000)),
            max_discharge_w=rng.choice((3_000, 7_000, 11_000)),
            bidirectional=c.bidirectional and rng.random() < 0.8,
        )
        if n < 2:  # the cars whose P0 must not come from the reading: flexible, so it would show
            connected = replace(
                connected,
                departure=t + timedelta(hours=8),
                soc=Fraction(3, 10),
                target_soc=Fraction(9, 10),
                max_charge_w=c.rated_w,
            )
        sessions.append(connected)
    await client.upsert_sessions([s.message() for s in sessions])
    requests = [
        agg_pb.TelemetryBatch(batch_id=b.batch_id, meter_values=[fieldgen.meter_value(x) for x in b.samples])
        for b in fieldgen.arrivals(rng, sorted(samples, key=lambda x: x.sample_time))
    ]
    async for _ in client.upload_telemetry(requests):
        pass

    own = (await client.get_adjustable_capacity()).capacity
    at = own.compute_time.ToDatetime(tzinfo=UTC)
    want = {s.session_id: _spec_f3(s, samples, at) for s in sessions}
    # The data exercises every source of P0, V2G sessions among them.
    kinds = {w.kind for w in want.values()}
    assert {"metered", "before plug-in", "stale"} <= kinds
    # ... and where the reading must not count, counting it would change the answer.
    assert (want["s-0"].kind, want["s-1"].kind) == ("before plug-in", "stale")
    assert want["s-0"].from_latest != want["s-0"].p0 and want["s-1"].from_latest != want["s-1"].p0, want
    assert sum(w.decrease_w > 0 and w.increase_w > 0 for w in want.values()) >= 3, want
    assert any(s.bidirectional for s in sessions)
    assert any(x.power_w < 0 for x in samples)
    assert (own.decrease_w, own.increase_w, own.present_power_w, own.active_sessions) == (
        sum(w.decrease_w for w in want.values()),
        sum(w.increase_w for w in want.values()),
        math.trunc(sum((w.p0 for w in want.values()), Fraction(0))),
        len(sessions),
    )

    area = (await grid.get_adjustable_capacity("gridNodes/ta1")).capacity
    at = area.compute_time.ToDatetime(tzinfo=UTC)
    in_area = [_spec_f3(s, samples, at) for s in sessions if s.station_id == "st-a"]
    p0 = sum((w.p0 for w in in_area), Fraction(0))
    headroom = max(math.floor(AREA_LIMIT_W - AREA_BASE_LOAD_W - p0), 0)
    assert (area.decrease_w, area.increase_w, area.present_power_w, area.active_sessions) == (
        sum(w.decrease_w for w in in_area),
        min(sum(w.increase_w for w in in_area), headroom),
        math.trunc(p0),
        len(in_area),
    )

    feeder = (await grid.get_adjustable_capacity("gridNodes/f1")).capacity
    at = feeder.compute_time.ToDatetime(tzinfo=UTC)
    by_station = {
        st: [_spec_f3(s, samples, at) for s in sessions if s.station_id == st] for st in ("st-a", "st-b")
    }
    area_p0 = sum((w.p0 for w in by_station["st-a"]), Fraction(0))
    area_increase = min(
        sum(w.increase_w for w in by_station["st-a"]),
        max(math.floor(AREA_LIMIT_W - AREA_BASE_LOAD_W - area_p0), 0),
    )
    everyone = by_station["st-a"] + by_station["st-b"]
    assert (feeder.decrease_w, feeder.increase_w, feeder.present_power_w, feeder.active_sessions) == (
        sum(w.decrease_w for w in everyone),
        area_increase + sum(w.increase_w for w in by_station["st-b"]),
        math.trunc(sum((w.p0 for w in everyone), Fraction(0))),
        len(everyone),
    )
