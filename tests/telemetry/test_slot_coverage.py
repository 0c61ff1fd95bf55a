"""Each slot's coverage in the monitoring view (SPEC F2), on field-shaped telemetry (tests/fieldgen.py).

agg-1's station st-a at transformer area ta1 has chargers of different habits:
one metered by its register (with a gap shorter than the register's 15-minute
reach, so the slot keeps a value of coverage 1), two sending power only (with
gaps: slots partly covered, or under 90 % and so without a value), and a V2G
charger whose readings carry the import register only (so it is metered from
its discharging power). agg-2 has a power-only charger at ta1 too. The
readings start mid-slot (a partial first slot) and arrive late, duplicated,
in overlapping and re-sent batches.

The expected values and coverages are computed independently of the product,
from the SPEC F2 definition (``fieldgen.spec_slot_means``): a register value covers the whole slot
(1); a power value covers the seconds its held samples cover / 900 and needs
at least 90 %; a sum's coverage is the least among its parts (docs/MONITORING.md).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import fieldgen
import pytest
from registry.world import aggregator_client, charger, onboard, station, topology, ts
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import monitoring_pb2, telemetry_pb2

from clients.telemetry_view import Surface, TelemetryViewClient

pytestmark = pytest.mark.timeout(180)

SLOT = timedelta(minutes=15)
STATION = "aggregators/agg-1/stations/st-a"
CHARGER = STATION + "/chargers/{}"
# 9 decimal places when the fraction does not terminate (docs/MONITORING.md).
ROUNDING = Fraction(1, 2 * 10**9)

HABITS = (
    # charger, interval (s), V2G, sends its register
    ("rg-0", 60, False, True),
    ("pw-0", 30, False, False),
    ("pw-1", 90, False, False),
    ("v2g-0", 15, True, True),
)


def _fleet(
    prefix_habits: Sequence[tuple[str, int, bool, bool]], rng: random.Random
) -> list[fieldgen.FieldCharger]:
    return [
        fieldgen.FieldCharger(
            charger_id=cid,
            interval_s=interval,
            phase_s=rng.uniform(0, interval),
            jitter_s=interval * 0.15,
            rated_w=11_000,
            bidirectional=v2g,
        )
        for cid, interval, v2g, _ in prefix_habits
    ]


def _carve(
    samples: list[fieldgen.Sample], charger_id: str, start: datetime, end: datetime
) -> list[fieldgen.Sample]:
    """The charger goes quiet over [start, end)."""
    return [s for s in samples if not (s.charger_id == charger_id and start <= s.sample_time < end)]


def _wire(sample: fieldgen.Sample, registers: bool) -> telemetry_pb2.MeterValue:
    message = fieldgen.meter_value(sample)
    if not registers:
        message.ClearField("energy_register_wh")
    return message


async def _send(
    platform: Any, aggregator_id: str, batches: Sequence[fieldgen.Batch], registers: dict[str, bool]
) -> None:
    requests = [
        agg_pb.TelemetryBatch(
            batch_id=b.batch_id, meter_values=[_wire(s, registers[s.charger_id]) for s in b.samples]
        )
        for b in batches
    ]
    async for _ in aggregator_client(platform, aggregator_id).upload_telemetry(requests):
        pass


def _sum(
    parts: Sequence[dict[datetime, tuple[Fraction, Fraction]]],
) -> dict[datetime, tuple[Fraction, Fraction]]:
    out: dict[datetime, tuple[Fraction, Fraction]] = {}
    for part in parts:
        for at, (value, coverage) in part.items():
            if at in out:
                out[at] = (out[at][0] + value, min(out[at][1], coverage))
            else:
                out[at] = (value, coverage)
    return out


def _got(means: Sequence[monitoring_pb2.SlotMean]) -> dict[datetime, tuple[Fraction, Fraction]]:
    return {
        m.slot_start_time.ToDatetime(tzinfo=UTC): (
            Fraction(Decimal(m.mean_power_w.value)),
            Fraction(Decimal(m.coverage.value)),
        )
        for m in means
    }


def _matches(
    got: dict[datetime, tuple[Fraction, Fraction]],
    want: dict[datetime, tuple[Fraction, Fraction]],
    terms: int,
) -> bool:
    return got.keys() == want.keys() and all(
        abs(got[k][0] - want[k][0]) <= ROUNDING * terms and abs(got[k][1] - want[k][1]) <= ROUNDING
        for k in got
    )


async def test_every_scope_reports_each_slots_coverage_as_spec_f2_defines_it(platform: Any) -> None:
    await onboard(platform, "agg-1", "agg-2")
    await topology(platform)
    rng = random.Random(1515)
    fleet = _fleet(HABITS, rng)
    other = _fleet((("zc-0", 60, False, False),), rng)
    registers = {cid: sent for cid, _, _, sent in HABITS} | {"zc-0": False}
    one, two = aggregator_client(platform, "agg-1"), aggregator_client(platform, "agg-2")
    await one.upsert_stations([station("st-a", "ta1")])
    await one.upsert_chargers(
        [charger(c.charger_id, "st-a", v2g=c.bidirectional, rated_w=c.rated_w) for c in fleet]
    )
    await two.upsert_stations([station("st-z", "ta1")])
    await two.upsert_chargers([charger(c.charger_id, "st-z", rated_w=c.rated_w) for c in other])

    now = datetime.now(UTC)
    t0 = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0) - timedelta(hours=3)
    slots = [t0 + k * SLOT for k in range(6)]
    # The readings start 7 minutes into the first slot (a partial slot) and stop 5 minutes into the last.
    mine = fieldgen.readings(
        rng, fleet, t0 + timedelta(minutes=7), slots[-1] + timedelta(minutes=5), gap_chance=0.02
    )
    theirs = fieldgen.readings(rng, other, t0 + timedelta(minutes=7), slots[-1] + timedelta(minutes=5))
    # Gaps: 6 minutes of the register charger (within the register's reach, so its slot keeps a value),
    # 5 minutes of a power charger (that slot is under 90 % and has none), 2.5 minutes of another.
    mine = _carve(mine, "rg-0", slots[2] + timedelta(minutes=4), slots[2] + timedelta(minutes=10))
    mine = _carve(mine, "pw-0", slots[3] + timedelta(minutes=5), slots[3] + timedelta(minutes=10))
    mine = _carve(mine, "pw-1", slots[4] + timedelta(minutes=2), slots[4] + timedelta(minutes=4, seconds=30))
    await _send(platform, "agg-1", fieldgen.arrivals(rng, mine), registers)
    await _send(platform, "agg-2", fieldgen.arrivals(rng, theirs), registers)

    want = {
        c.charger_id: fieldgen.spec_slot_means(
            [s for s in mine + theirs if s.charger_id == c.charger_id],
            slots,
            registers=registers[c.charger_id] and not c.bidirectional,
        )
        for c in fleet + other
    }
    # The data exercises what coverage tells apart: register values (1), power values partly covered
    # (between 0.9 and 1), and slots where a charger has no value at all.
    coverages = {cov for per in want.values() for _, cov in per.values()}
    assert 1 in coverages and any(Fraction(9, 10) <= c < 1 for c in coverages)
    assert slots[2] in want["rg-0"] and want["rg-0"][slots[2]][1] == 1
    assert slots[3] not in want["pw-0"] and slots[0] not in want["pw-0"]
    assert any(v < 0 for v, _ in want["v2g-0"].values())  # discharge

    own = TelemetryViewClient(platform.channel_for("vgi://aggregator/agg-1"), Surface.AGGREGATOR, deadline=60)
    grid = TelemetryViewClient(platform.grid, Surface.DISPATCH, deadline=60)
    operator = TelemetryViewClient(platform.channel, Surface.OPERATOR, deadline=60)
    start, end = slots[0], slots[-1] + SLOT
    for c in fleet:
        got = _got(await own.all_slot_means(CHARGER.format(c.charger_id), start, end))
        assert _matches(got, want[c.charger_id], 1), c.charger_id
    station_want = _sum([want[c.charger_id] for c in fleet])
    assert _matches(_got(await own.all_slot_means(STATION, start, end)), station_want, len(fleet))
    assert _matches(
        _got(await grid.all_slot_means("aggregators/agg-1", start, end)), station_want, len(fleet)
    )
    node_want = _sum([want[c.charger_id] for c in fleet + other])
    assert _matches(
        _got(await operator.all_slot_means("gridNodes/ta1", start, end)), node_want, len(fleet) + 1
    )
    assert _matches(_got(await grid.all_slot_means("gridNodes/f1", start, end)), node_want, len(fleet) + 1)
    # The node as agg-1 sees it: its own chargers only.
    assert _matches(_got(await own.all_slot_means("gridNodes/ta1", start, end)), station_want, len(fleet))

    # An uploaded station value stands for the whole slot: coverage 1 for the station, and the node's
    # coverage is then the least of that and agg-2's charger.
    partial = min((s for s, (_, cov) in station_want.items() if cov < 1), default=None)
    assert partial is not None
    upload = agg_pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()),
        aggregates=[
            telemetry_pb2.IntervalAggregate(
                resource=STATION, slot_start_time=ts(partial), mean_power_w=50_000
            )
        ],
    )
    [ack] = [a async for a in one.upload_telemetry([upload])]
    assert ack.stored_points == 1
    [uploaded] = await own.all_slot_means(STATION, partial, partial + SLOT)
    assert uploaded.source == monitoring_pb2.SLOT_SOURCE_AGGREGATOR
    assert _got([uploaded]) == {partial: (Fraction(50_000), Fraction(1))}
    [node_slot] = await grid.all_slot_means("gridNodes/ta1", partial, partial + SLOT)
    theirs_there = want["zc-0"].get(partial)
    assert Fraction(Decimal(node_slot.coverage.value)) == (
        Fraction(1) if theirs_there is None else theirs_there[1]
    )
