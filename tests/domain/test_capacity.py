"""SPEC F3 adjustable capacity, worked by hand (Δt = 0.25 h, powers in W, energy in Wh)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.capacity import (
    CapacitySample,
    CapacitySum,
    Charger,
    EvSession,
    MeterValue,
    NodeCapacity,
    SessionCapacity,
    SlotCapacity,
    capacity_by_aggregator,
    day_ahead_forecast,
    node_capacity,
    session_capacity,
    sum_capacity,
)
from domain.errors import InvalidArgument

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=120)
V2G_PILE = Charger("pile-v2g", rated_charge_w=11_000, rated_discharge_w=6_000, bidirectional=True)
AC_PILE = Charger("pile-ac", rated_charge_w=7_400, rated_discharge_w=0, bidirectional=False)


def _session(
    session_id: str = "s",
    *,
    aggregator_id: str = "agg-1",
    charger: Charger = AC_PILE,
    battery_wh: int = 60_000,
    soc: str = "0.5",
    target_soc: str = "0.8",
    floor_soc: str = "0.3",
    hours_left: Fraction = Fraction(5),
    max_charge_w: int = 7_000,
    max_discharge_w: int = 7_000,
    bidirectional: bool = False,
    meter: MeterValue | None = None,
) -> EvSession:
    return EvSession(
        session_id=session_id,
        aggregator_id=aggregator_id,
        charger=charger,
        battery_wh=battery_wh,
        soc=Decimal(soc),
        target_soc=Decimal(target_soc),
        v2g_floor_soc=Decimal(floor_soc),
        departure=NOW + timedelta(seconds=float(hours_left * 3600)),
        max_charge_w=max_charge_w,
        max_discharge_w=max_discharge_w,
        bidirectional=bidirectional,
        meter=meter,
    )


def _meter(power_w: int, age_s: int) -> MeterValue:
    return MeterValue(power_w=power_w, at=NOW - timedelta(seconds=age_s))


# A: V2G session on a V2G pile.
#   E = (0.8 − 0.5)·60000 = 18000 Wh, T = 5 h, Pc = min(7000, 11000) = 7000, Pd = min(7000, 6000) = 6000
#   Pmax = min(7000, 18000/0.25 = 72000) = 7000
#   D = min(6000, (0.5 − 0.3)·60000/0.25 = 48000) = 6000
#   Pmin = clamp((18000 − 7000·4.75)/0.25 = −61000, −6000, 7000) = −6000
#   P0 = 5000 (metered 30 s ago); decrease = 5000 + 6000 = 11000; increase = 7000 − 5000 = 2000
#   laxity = 5 − 18000/7000 = 17/7 h
SESSION_A = _session("A", charger=V2G_PILE, bidirectional=True, meter=_meter(5_000, 30))

# B: charge-only session on an AC pile that limits it.
#   E = (0.9 − 0.35)·40000 = 22000, T = 3.5 h, Pc = min(11000, 7400) = 7400, D = 0 (not bidirectional)
#   Pmax = min(7400, 88000) = 7400; Pmin = clamp((22000 − 7400·3.25)/0.25 = −8200, 0, 7400) = 0
#   P0 = 6999; decrease = 6999; increase = 401; laxity = 3.5 − 22000/7400 = 39/74 h
SESSION_B = _session(
    "B",
    battery_wh=40_000,
    soc="0.35",
    target_soc="0.9",
    hours_left=Fraction(7, 2),
    max_charge_w=11_000,
    meter=_meter(6_999, 60),
)

# D: a fractional floor, meter exactly at the heartbeat timeout (still fresh).
#   E = 0.4·60000 = 24000, T = 3 h 35 min = 43/12 h, T − Δt = 10/3 h, Pc = 7000
#   Pmin = (24000 − 7000·10/3)/0.25 = (2000/3)·4 = 8000/3 = 2666.67; Pmax = 7000
#   P0 = 5000; decrease = trunc(5000 − 2666.67 = 2333.33) = 2333; increase = 2000
#   laxity = 43/12 − 24/7 = 13/84 h
SESSION_D = _session(
    "D",
    aggregator_id="agg-2",
    soc="0.4",
    target_soc="0.8",
    hours_left=Fraction(43, 12),
    meter=_meter(5_000, 120),
)


def test_v2g_session() -> None:
    cap = session_capacity(SESSION_A, NOW, TIMEOUT)
    assert (cap.pmax, cap.pmin, cap.p0) == (7_000, -6_000, 5_000)
    assert cap.discharge_allowance == 6_000
    assert (cap.decrease_w, cap.increase_w) == (11_000, 2_000)
    assert cap.laxity_h == Fraction(17, 7)


def test_charge_only_session_limited_by_the_charger() -> None:
    cap = session_capacity(SESSION_B, NOW, TIMEOUT)
    assert (cap.pmax, cap.pmin, cap.p0, cap.discharge_allowance) == (7_400, 0, 6_999, 0)
    assert (cap.decrease_w, cap.increase_w) == (6_999, 401)
    assert cap.laxity_h == Fraction(39, 74)


def test_fractional_floor_is_truncated_toward_zero() -> None:
    cap = session_capacity(SESSION_D, NOW, TIMEOUT)
    assert cap.pmin == Fraction(8_000, 3)
    assert (cap.decrease_w, cap.increase_w) == (2_333, 2_000)
    assert cap.laxity_h == Fraction(13, 84)


def test_session_that_must_charge_at_full_power_now_has_no_capacity() -> None:
    # E = 0.6·50000 = 30000, T = 4 h, Pc = 7000
    # Pmin = clamp((30000 − 7000·3.75)/0.25 = 15000, 0, 7000) = 7000 = Pmax
    # P0 = clamp(3000, 7000, 7000) = 7000; laxity = 4 − 30/7 = −2/7 h
    session = _session(battery_wh=50_000, soc="0.2", hours_left=Fraction(4), meter=_meter(3_000, 10))
    cap = session_capacity(session, NOW, TIMEOUT)
    assert (cap.pmax, cap.pmin, cap.p0) == (7_000, 7_000, 7_000)
    assert (cap.decrease_w, cap.increase_w) == (0, 0)
    assert cap.laxity_h == Fraction(-2, 7)


def test_session_at_its_v2g_floor_has_no_discharge_allowance() -> None:
    # soc = floor = 0.3 → D = min(6000, 0·60000/0.25) = 0 although session and pile are bidirectional
    # E = 0.5·60000 = 30000, T = 8 h: Pmin = clamp((30000 − 7000·7.75)/0.25 < 0, 0, 7000) = 0
    # P0 = clamp(−3000, 0, 7000) = 0 (a stale discharge reading would be outside the range anyway)
    session = _session(
        charger=V2G_PILE, soc="0.3", hours_left=Fraction(8), bidirectional=True, meter=_meter(-3_000, 5)
    )
    cap = session_capacity(session, NOW, TIMEOUT)
    assert (cap.discharge_allowance, cap.pmin, cap.p0) == (0, 0, 0)
    assert (cap.decrease_w, cap.increase_w) == (0, 7_000)


def test_bidirectional_session_on_a_charge_only_pile_cannot_discharge() -> None:
    # As SESSION_A but on a pile flagged charge-only: D = 0 → Pmin = clamp(−61000, 0, 7000) = 0
    pile = Charger("pile-uni", rated_charge_w=11_000, rated_discharge_w=6_000, bidirectional=False)
    session = _session(charger=pile, bidirectional=True, meter=_meter(5_000, 30))
    cap = session_capacity(session, NOW, TIMEOUT)
    assert (cap.discharge_allowance, cap.pmin) == (0, 0)
    assert cap.decrease_w == 5_000


@pytest.mark.parametrize("meter", [None, _meter(1_000, 121)], ids=["no meter", "stale meter"])
def test_without_a_recent_meter_value_p0_is_the_unmanaged_pmax(meter: MeterValue | None) -> None:
    # B = 45001, E = 0.01·45001 = 450.01 Wh → Pmax = min(7000, 1800.04) = 1800.04, T = 1 h → Pmin = 0
    # P0 = Pmax → decrease = trunc(1800.04) = 1800, increase = 0
    session = _session(battery_wh=45_001, soc="0.8", target_soc="0.81", hours_left=Fraction(1), meter=meter)
    cap = session_capacity(session, NOW, TIMEOUT)
    assert cap.pmax == Fraction(180_004, 100)
    assert cap.p0 == cap.pmax
    assert (cap.decrease_w, cap.increase_w) == (1_800, 0)


def test_fresh_meter_against_a_fractional_ceiling_truncates_increase() -> None:
    # Same as above with a fresh 1000 W reading: increase = trunc(1800.04 − 1000) = 800
    session = _session(
        battery_wh=45_001, soc="0.8", target_soc="0.81", hours_left=Fraction(1), meter=_meter(1_000, 0)
    )
    cap = session_capacity(session, NOW, TIMEOUT)
    assert (cap.decrease_w, cap.increase_w) == (1_000, 800)


def test_already_at_target_only_discharge_and_return_to_zero_are_offered() -> None:
    # E = (0.8 − 0.9)·60000 = −6000 ≤ 0 → Pmax = min(7000, 0) = 0
    # D = min(6000, 0.6·60000/0.25) = 6000; Pmin = clamp((−6000 − 7000·1.75)/0.25, −6000, 0) = −6000
    # P0 = −2000 (discharging): decrease = −2000 + 6000 = 4000, increase = 0 + 2000 = 2000; laxity = T = 2
    session = _session(
        charger=V2G_PILE,
        soc="0.9",
        hours_left=Fraction(2),
        bidirectional=True,
        meter=_meter(-2_000, 1),
    )
    cap = session_capacity(session, NOW, TIMEOUT)
    assert (cap.pmax, cap.pmin, cap.p0) == (0, -6_000, -2_000)
    assert (cap.decrease_w, cap.increase_w) == (4_000, 2_000)
    assert cap.laxity_h == 2


def test_unreachable_target_has_no_laxity_and_no_capacity() -> None:
    session = _session(max_charge_w=0, meter=_meter(0, 1))
    cap = session_capacity(session, NOW, TIMEOUT)
    assert cap.laxity_h is None
    assert (cap.pmax, cap.pmin, cap.decrease_w, cap.increase_w) == (0, 0, 0, 0)


def test_invalid_session_reports_each_field() -> None:
    with pytest.raises(InvalidArgument) as raised:
        _session(soc="1.2", battery_wh=0, max_charge_w=-1)
    assert {v.field for v in raised.value.violations} == {"soc", "battery_wh", "max_charge_w"}


def _abd() -> list[SessionCapacity]:
    return [session_capacity(s, NOW, TIMEOUT) for s in (SESSION_A, SESSION_B, SESSION_D)]


def test_sums_per_aggregator() -> None:
    # agg-1 = A + B: decrease 11000 + 6999 = 17999, increase 2000 + 401 = 2401; agg-2 = D
    assert capacity_by_aggregator(_abd()) == {
        "agg-1": CapacitySum(decrease_w=17_999, increase_w=2_401, sessions=2),
        "agg-2": CapacitySum(decrease_w=2_333, increase_w=2_000, sessions=1),
    }
    assert sum_capacity(_abd()) == CapacitySum(decrease_w=20_332, increase_w=4_401, sessions=3)


def test_node_headroom_caps_increase() -> None:
    # present load = 5000 + 6999 + 5000 + 30000 base = 46999; headroom = 48000 − 46999 = 1001
    # increase = min(2000 + 401 + 2000 = 4401, 1001) = 1001; decrease is not capped: 20332
    assert node_capacity(_abd(), limit_w=48_000, base_load_w=30_000) == NodeCapacity(
        decrease_w=20_332, increase_w=1_001, present_load_w=46_999, headroom_w=1_001, sessions=3
    )


def test_overloaded_node_has_no_headroom_and_unlimited_node_is_not_capped() -> None:
    assert node_capacity(_abd(), limit_w=40_000, base_load_w=30_000).increase_w == 0
    assert node_capacity(_abd(), limit_w=None).increase_w == 4_401


def test_node_headroom_over_a_fractional_present_load_is_truncated() -> None:
    # P0 = Pmax = 1800.04 (no meter); headroom = trunc(2000 − 1800.04) = 199
    session = _session(battery_wh=45_001, soc="0.8", target_soc="0.81", hours_left=Fraction(1))
    node = node_capacity([session_capacity(session, NOW, TIMEOUT)], limit_w=2_000)
    assert (node.present_load_w, node.headroom_w) == (1_800, 199)


# 2026-06-08 is a Monday; the reference days are 06-01, 05-25, 05-18, 05-11.
DAY = date(2026, 6, 8)


def test_forecast_averages_same_weekday_of_recent_weeks() -> None:
    history = [
        # slot 0 over four weeks: up (1000 + 2000 + 3000 + 3001)/4 = 2250.25 → 2250,
        #                         down (10 + 11 + 12 + 12)/4 = 11.25 → 11
        CapacitySample(date(2026, 6, 1), 0, 1_000, 10),
        CapacitySample(date(2026, 5, 25), 0, 2_000, 11),
        CapacitySample(date(2026, 5, 18), 0, 3_000, 12),
        CapacitySample(date(2026, 5, 11), 0, 3_001, 12),
        # ignored: five weeks back, the forecast day itself, and a Sunday
        CapacitySample(date(2026, 5, 4), 0, 90_000, 90_000),
        CapacitySample(DAY, 0, 90_000, 90_000),
        CapacitySample(date(2026, 6, 7), 0, 90_000, 90_000),
        # slot 1 seen in two weeks only: (5 + 6)/2 = 5.5 → 5
        CapacitySample(date(2026, 6, 1), 1, 5, 7),
        CapacitySample(date(2026, 5, 18), 1, 6, 8),
    ]
    forecast = day_ahead_forecast(DAY, history)
    assert len(forecast) == 96
    assert forecast[0] == SlotCapacity(up_w=2_250, down_w=11)
    assert forecast[1] == SlotCapacity(up_w=5, down_w=7)
    assert forecast[2] == SlotCapacity(up_w=0, down_w=0)


def test_forecast_weeks_parameter() -> None:
    history = [CapacitySample(date(2026, 6, 1), 0, 100, 0), CapacitySample(date(2026, 5, 25), 0, 301, 0)]
    assert day_ahead_forecast(DAY, history, weeks=1)[0].up_w == 100
    assert day_ahead_forecast(DAY, history, weeks=2)[0].up_w == 200


def test_declaration_overrides_history() -> None:
    declared = [SlotCapacity(up_w=slot, down_w=2 * slot) for slot in range(96)]
    history = [CapacitySample(date(2026, 6, 1), 5, 1_000, 1_000)]
    assert day_ahead_forecast(DAY, history, declaration=declared) == tuple(declared)


def test_declaration_must_have_96_points() -> None:
    with pytest.raises(InvalidArgument):
        day_ahead_forecast(DAY, [], declaration=[SlotCapacity(0, 0)] * 95)


@given(
    battery_wh=st.integers(1, 120_000),
    soc=st.integers(0, 100),
    target=st.integers(0, 100),
    floor=st.integers(0, 100),
    minutes_left=st.integers(-60, 24 * 60),
    pc=st.integers(0, 22_000),
    pd=st.integers(0, 22_000),
    bidirectional=st.booleans(),
    meter_w=st.none() | st.integers(-30_000, 30_000),
)
def test_capacity_is_ordered_and_not_negative(
    battery_wh: int,
    soc: int,
    target: int,
    floor: int,
    minutes_left: int,
    pc: int,
    pd: int,
    bidirectional: bool,
    meter_w: int | None,
) -> None:
    session = EvSession(
        session_id="s",
        aggregator_id="a",
        charger=V2G_PILE,
        battery_wh=battery_wh,
        soc=Fraction(soc, 100),
        target_soc=Fraction(target, 100),
        v2g_floor_soc=Fraction(floor, 100),
        departure=NOW + timedelta(minutes=minutes_left),
        max_charge_w=pc,
        max_discharge_w=pd,
        bidirectional=bidirectional,
        meter=None if meter_w is None else _meter(meter_w, 0),
    )
    cap = session_capacity(session, NOW, TIMEOUT)
    assert -cap.discharge_allowance <= cap.pmin <= cap.p0 <= cap.pmax <= min(pc, V2G_PILE.rated_charge_w)
    assert 0 <= cap.decrease_w <= cap.p0 - cap.pmin < cap.decrease_w + 1
    assert 0 <= cap.increase_w <= cap.pmax - cap.p0 < cap.increase_w + 1
