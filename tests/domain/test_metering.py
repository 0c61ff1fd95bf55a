"""SPEC F2 interval means (domain.metering): hand-computed fractions and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st
from telemetry.irregular_feed import EXPECTED, FEED

from domain.metering import (
    POWER,
    REGISTER,
    REGISTER_WENT_BACKWARDS,
    Metered,
    MeterSample,
    charger_means,
    charger_metered,
    register_falls,
    scope_coverage,
    scope_sum,
)

S = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
E = S + timedelta(minutes=15)
SLOT = [(S, E)]
TIMEOUT = timedelta(seconds=120)


def at(seconds: float) -> datetime:
    return S + timedelta(seconds=seconds)


def power(*points: tuple[float, int]) -> list[MeterSample]:
    return [MeterSample(at(t), power_w=p) for t, p in points]


def register(*points: tuple[float, int], export: tuple[int, ...] = ()) -> list[MeterSample]:
    return [
        MeterSample(at(t), import_wh=wh, export_wh=export[i] if export else None)
        for i, (t, wh) in enumerate(points)
    ]


def mean(samples: list[MeterSample], *, bidirectional: bool = False) -> Fraction | None:
    return charger_means(samples, SLOT, bidirectional=bidirectional, heartbeat_timeout=TIMEOUT).get(S)


def feed(charger_id: str) -> list[MeterSample]:
    return [MeterSample(at(t), p, i, e) for c, t, p, i, e in FEED if c == charger_id]


def test_bursty_sampling_is_time_weighted_not_a_mean_of_readings() -> None:
    readings = feed("ir-a")
    assert mean(readings) == Fraction(14570, 3)
    in_slot = [r.power_w for r in readings if S <= r.at < E and r.power_w is not None]
    assert Fraction(sum(in_slot), len(in_slot)) == 5030  # what a sample mean would have said


def test_a_gap_longer_than_the_timeout_holds_only_the_timeout_and_still_covers_ninety_percent() -> None:
    assert mean(feed("ir-b")) == Fraction(21250, 7)


def test_a_gap_shorter_than_the_timeout_is_held_to_the_next_sample() -> None:
    # 0–100 s at 1000 W, 100–219 s at 4000 W (119 s < timeout), then 219–900 s at 2000 W.
    samples = power((0, 1000), (100, 4000), (219, 2000), (339, 2000), (459, 2000), (579, 2000), (699, 2000))
    samples += power((819, 2000))
    assert mean(samples) == Fraction(1000 * 100 + 4000 * 119 + 2000 * 681, 900)


def test_a_gap_exactly_the_timeout_is_covered_and_one_second_longer_is_not() -> None:
    exact = power(*((t, 1200) for t in range(0, 900, 120)))
    assert mean(exact) == 1200
    # Every gap 121 s: each sample holds 120 of them, so 7 s of the slot are uncovered; 893 s still
    # make a value, over the covered part only.
    longer = power(*((t, 1200) for t in range(0, 1000, 121)))
    assert mean(longer) == 1200


def test_coverage_threshold_ninety_percent_inclusive() -> None:
    # One sample at 0 s held 120 s, then samples every 120 s from 210 s: the gap 120–210 s is uncovered.
    ninety = power((0, 900), *((t, 900) for t in range(210, 900, 120)))
    assert mean(ninety) == 900  # covered: 900 − 90 = 810 s = 90 % exactly
    under = power((0, 900), *((t, 900) for t in range(211, 900, 120)))
    assert mean(under) is None  # 809 s: just under 90 %


def test_coverage_is_the_covered_fraction_for_power_and_whole_for_a_register() -> None:
    ninety = power((0, 900), *((t, 900) for t in range(210, 900, 120)))
    assert charger_metered(ninety, SLOT, bidirectional=False, heartbeat_timeout=TIMEOUT) == {
        S: Metered(Fraction(900), POWER, Fraction(9, 10))
    }
    # 120–180 s uncovered: 840 of 900 s.
    gap = power((0, 3000), *((t, 1000) for t in range(180, 900, 120)))
    assert charger_metered(gap, SLOT, bidirectional=False, heartbeat_timeout=TIMEOUT)[S].coverage == Fraction(
        14, 15
    )
    # A register bracketing both boundaries meters the whole slot, even with power samples missing.
    both = register((-60, 1000), (450, 1500), (960, 2000)) + power((0, 4000))
    assert charger_metered(both, SLOT, bidirectional=False, heartbeat_timeout=TIMEOUT)[S].source == REGISTER
    assert charger_metered(both, SLOT, bidirectional=False, heartbeat_timeout=TIMEOUT)[S].coverage == 1


def test_a_sums_coverage_is_the_least_of_its_parts_and_a_reported_value_covers_the_slot() -> None:
    later = E
    parts = [{S: Fraction(9, 10), later: Fraction(1)}, {S: Fraction(1)}, {later: Fraction(14, 15)}]
    assert scope_coverage(parts) == {S: Fraction(9, 10), later: Fraction(14, 15)}
    assert scope_coverage(parts, [S]) == {S: 1, later: Fraction(14, 15)}
    assert scope_coverage([], [S]) == {S: 1}


def test_time_weighted_value_is_over_the_covered_part_only() -> None:
    # 0–120 s at 3000 W held, 120–180 s uncovered, 180–900 s at 1000 W (samples every 120 s).
    samples = power((0, 3000), *((t, 1000) for t in range(180, 900, 120)))
    assert mean(samples) == Fraction(3000 * 120 + 1000 * 720, 840)


def test_readings_exactly_on_the_boundaries() -> None:
    # A power sample at s starts the slot; one at e belongs to the next slot and does not cut this one short.
    samples = power((0, 5000), (100, 5000), (200, 5000), (300, 5000), (400, 5000), (500, 5000))
    samples += power((600, 5000), (700, 5000), (800, 5000), (900, 70000))
    assert mean(samples) == 5000
    # Register readings exactly at s and e: E(e) − E(s), nothing interpolated.
    assert mean(register((0, 1000), (900, 1451))) == 451 * 4
    # A register reading exactly 15 min from a boundary still brackets it; one second further does not.
    assert mean(register((-900, 100), (450, 1450), (1800, 2800))) == 3600
    assert mean(register((-901, 100), (450, 1450), (1800, 2800))) is None
    assert mean(register((-900, 100), (450, 1450), (1801, 2801))) is None


def test_register_interpolation_with_fractional_watt_hours_and_net_discharge() -> None:
    assert mean(feed("ir-v2g"), bidirectional=True) == Fraction(-455200, 77)
    # By hand once more on a smaller case: E(0) = 10 + 7·30/70 = 13 Wh, E(900) = 17 + 5·100/300 = 56/3 Wh,
    # mean = (56/3 − 13) Wh / 0.25 h = 68/3 W.
    assert mean(register((-30, 10), (40, 17), (800, 17), (1100, 22))) == Fraction(68, 3)


def test_a_bidirectional_reading_without_its_export_register_is_not_a_register_reading() -> None:
    readings = register((0, 500), (900, 600), export=(100, 400))
    assert mean(readings, bidirectional=True) == (200 - 400) * 4
    assert mean(register((0, 500), (900, 600)), bidirectional=True) is None


def test_the_register_is_preferred_over_power() -> None:
    readings = register((0, 1000), (900, 1500)) + power(*((t, 9999) for t in range(0, 900, 60)))
    assert mean(sorted(readings, key=lambda r: r.at)) == 2000


def test_a_register_that_goes_backwards_falls_back_to_power_and_is_reported() -> None:
    readings = register((0, 5000), (450, 12), (900, 300)) + power(*((t, 700) for t in range(0, 900, 100)))
    assert mean(readings) == 700
    [issue] = register_falls("c1", readings, bidirectional=False)
    assert (issue.charger_id, issue.at, issue.reason) == ("c1", at(450), REGISTER_WENT_BACKWARDS)
    assert "5000" in issue.detail and "12" in issue.detail
    assert (
        mean(register((0, 5000), (450, 12), (900, 300))) is None
    )  # no power either: no value, never negative
    falling_export = register((0, 10), (900, 10), export=(50, 40))
    assert [i.reason for i in register_falls("v", falling_export, bidirectional=True)] == [
        REGISTER_WENT_BACKWARDS
    ]
    assert mean(falling_export, bidirectional=True) is None


def test_no_readings_no_value_and_scope_sums() -> None:
    assert mean([]) is None
    a, b = {S: Fraction(1, 3)}, {S: Fraction(2, 3), E: Fraction(5)}
    assert scope_sum([a, b]) == {S: 1, E: 5}
    assert scope_sum([]) == {}
    assert scope_sum([a, b], {E: 7}) == {S: 1, E: 7}


def test_minute_intervals_follow_the_same_rules() -> None:
    minutes = [(at(60 * k), at(60 * k + 60)) for k in range(15)]
    readings = feed("ir-a")
    found = charger_means(readings, minutes, bidirectional=False, heartbeat_timeout=TIMEOUT)
    # Minute 1 [60, 120): 4000 W until 90 s, 6000 W 90–95, 6200 W 95–100, 6100 W 100–120.
    assert found[at(60)] == Fraction(4000 * 30 + 6000 * 5 + 6200 * 5 + 6100 * 20, 60)
    # Their time-weighted mean is the slot's.
    assert sum(found.values(), Fraction(0)) / 15 == Fraction(14570, 3)


# ---------------------------------------------------------------- properties

# Gaps in microseconds from 1 s up to the heartbeat timeout.
_gaps = st.lists(st.integers(min_value=1_000_000, max_value=120_000_000), min_size=1, max_size=40)


@settings(deadline=None)  # a loaded 2-core machine, not the code, sets the pace
@given(
    p=st.integers(min_value=-2_000_000, max_value=2_000_000),
    lead=st.integers(min_value=0, max_value=120_000_000),
    gaps=_gaps,
)
def test_constant_power_sampled_at_any_times_is_exactly_that_power(
    p: int, lead: int, gaps: list[int]
) -> None:
    # Sample times in microseconds: the first at or before s, then gaps of at most the timeout until past e.
    t = -lead
    times = [t]
    while t < 900_000_000:
        t += gaps[len(times) % len(gaps)]
        times.append(t)
    samples = [MeterSample(S + timedelta(microseconds=u), power_w=p) for u in times]
    assert mean(samples) == p


@settings(deadline=None)  # a loaded 2-core machine, not the code, sets the pace
@given(
    hundreds=st.integers(min_value=-20_000, max_value=20_000),
    offsets=st.lists(st.integers(min_value=-25, max_value=50), min_size=2, max_size=30, unique=True),
)
def test_a_register_rising_linearly_gives_exactly_its_power(hundreds: int, offsets: list[int]) -> None:
    # Readings every multiple of 36 s; the register gains P/100 Wh per 36 s (whole Wh), P = hundreds·100 W.
    p = hundreds * 100
    base = 10**9
    bidirectional = p < 0
    samples = [
        MeterSample(
            at(36 * k),
            import_wh=base + (hundreds * k if p >= 0 else 0),
            export_wh=base - hundreds * k if bidirectional else None,
        )
        for k in offsets
    ]
    found = mean(samples, bidirectional=bidirectional)
    times = sorted(36 * k for k in offsets)
    brackets = all(
        any(0 <= b - t <= 900 for t in times) and any(0 <= t - b <= 900 for t in times) for b in (0, 900)
    )
    assert found == (p if brackets else None)


@settings(deadline=None)  # a loaded 2-core machine, not the code, sets the pace
@given(data=st.data())
def test_the_result_does_not_depend_on_reading_order(data: st.DataObject) -> None:
    readings = [r for c in ("ir-a", "ir-b", "ir-v2g") for r in feed(c)]
    shuffled = data.draw(st.permutations(readings))
    for charger in ("ir-a", "ir-b", "ir-v2g"):
        own = [r for r in shuffled if r in feed(charger)]
        assert mean(own, bidirectional=charger == "ir-v2g") == EXPECTED[charger]
