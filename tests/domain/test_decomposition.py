"""SPEC F6 instruction decomposition and F7 re-dispatch, worked by hand (whole watts)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.capacity import Charger, EvSession, MeterValue, SessionCapacity, session_capacity
from domain.capacity_totals import SplitCapacity
from domain.decomposition import (
    MinuteSample,
    Participant,
    SessionSetpoint,
    Split,
    _laxity_key,
    _laxity_keys,
    is_lagging,
    redispatch,
    split_over_sessions,
    split_target,
)
from domain.dispatch import ManagedSession, session_schedules
from domain.errors import InvalidArgument
from domain.evaluation import Direction

# ---------------------------------------------------------------- (a) node target over aggregators


def test_proportional_split_with_largest_remainder() -> None:
    # 10001 · (3000, 5000, 2000)/10000 = 3000.3, 5000.5, 2000.2 → floors 10000, 1 W left → b (0.5)
    split = split_target(
        10_001,
        [Participant("a", 3_000, 3_000), Participant("b", 5_000, 6_000), Participant("c", 2_000, 3_000)],
    )
    assert split == Split(shares_w={"a": 3_000, "b": 5_001, "c": 2_000}, shortfall_w=0)


def test_largest_remainder_tie_goes_to_the_smaller_aggregator_id() -> None:
    # 1001 · 1/2 = 500.5 each → floors 1000, 1 W left, tie → "agg-a" (listed last on purpose)
    split = split_target(1_001, [Participant("agg-b", 2, 1_000), Participant("agg-a", 2, 1_000)])
    assert split.shares_w == {"agg-a": 501, "agg-b": 500}


def test_capped_aggregator_excess_is_resplit() -> None:
    # weights = cleared (6000, 3000, 1000), caps = available now (6000, 1500, 1000), target 8000
    # λ = 8000/10000 = 0.8: b would get 2400 > 1500 → b frozen at 1500
    # 6500 left over a, c: λ = 6500/7000 = 13/14 → a 78000/14 = 5571 + 6/14, c 13000/14 = 928 + 8/14
    # floors 5571 + 1500 + 928 = 7999, 1 W left → c (8/14 > 6/14)
    split = split_target(
        8_000,
        [Participant("a", 6_000, 6_000), Participant("b", 3_000, 1_500), Participant("c", 1_000, 1_000)],
    )
    assert split == Split(shares_w={"a": 5_571, "b": 1_500, "c": 929}, shortfall_w=0)


def test_caps_below_target_give_everybody_its_cap_and_report_the_shortfall() -> None:
    # same as above with target 9000: caps sum to 6000 + 1500 + 1000 = 8500 → shortfall 500
    split = split_target(
        9_000,
        [Participant("a", 6_000, 6_000), Participant("b", 3_000, 1_500), Participant("c", 1_000, 1_000)],
    )
    assert split == Split(shares_w={"a": 6_000, "b": 1_500, "c": 1_000}, shortfall_w=500)


def test_transformer_area_limit_binds_and_the_rest_goes_elsewhere() -> None:
    # a, b in area T1 (limit 3000), c outside; target 6000, weights 4000, 4000, 2000
    # λ = 0.6: T1 would take 2400 + 2400 = 4800 > 3000 → T1 freezes at λ = 3000/8000: a 1500, b 1500
    # 3000 left over c: λ = 1.5 → c 3000 ≤ cap 5000
    split = split_target(
        6_000,
        [
            Participant("a", 4_000, 4_000, area_id="T1"),
            Participant("b", 4_000, 4_000, area_id="T1"),
            Participant("c", 2_000, 5_000),
        ],
        {"T1": 3_000},
    )
    assert split == Split(shares_w={"a": 1_500, "b": 1_500, "c": 3_000}, shortfall_w=0)


def test_area_rounding_never_exceeds_the_limit() -> None:
    # target 9, weights 7, 7, 6 (T1, limit 2) and 5, 5 (outside), all capped by weight
    # λ = 9/30: T1 would take 20·0.3 = 6 > 2 → T1 at λ = 2/20: 0.7, 0.7, 0.6
    # 7 left over d, e: λ = 0.7 → 3.5, 3.5; floors 0+0+0+3+3 = 6, 3 W left
    # remainder order: 0.7 (a), 0.7 (b), 0.6 (c), 0.5 (d), 0.5 (e): a and b fill T1 to 2, c is skipped,
    # the last watt goes to d → a 1, b 1, c 0, d 4, e 3
    split = split_target(
        9,
        [
            Participant("a", 7, 7, area_id="T1"),
            Participant("b", 7, 7, area_id="T1"),
            Participant("c", 6, 6, area_id="T1"),
            Participant("d", 5, 5),
            Participant("e", 5, 5),
        ],
        {"T1": 2},
    )
    assert split == Split(shares_w={"a": 1, "b": 1, "c": 0, "d": 4, "e": 3}, shortfall_w=0)


def test_zero_weight_gets_nothing() -> None:
    split = split_target(100, [Participant("a", 0, 1_000), Participant("b", 10, 1_000)])
    assert split.shares_w == {"a": 0, "b": 100}


def test_invalid_split_input() -> None:
    with pytest.raises(InvalidArgument) as raised:
        split_target(-1, [Participant("a", -1, 1), Participant("a", 1, 1)], {"T": -5})
    assert [v.field for v in raised.value.violations] == [
        "target_w",
        "participants",
        "participants[a]",
        "area_limits_w[T]",
    ]


# ---------------------------------------------------------------- (b) aggregator share over sessions

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
V2G = Charger("pile-1", rated_charge_w=11_000, rated_discharge_w=6_000, bidirectional=True)


def _cap(
    session_id: str,
    soc: str,
    target: str,
    minutes_left: int,
    meter_w: int | None,
    *,
    battery_wh: int = 60_000,
) -> SessionCapacity:
    session = EvSession(
        session_id=session_id,
        aggregator_id="agg",
        charger=V2G,
        battery_wh=battery_wh,
        soc=Fraction(soc),
        target_soc=Fraction(target),
        v2g_floor_soc=Fraction("0.3"),
        departure=NOW + timedelta(minutes=minutes_left),
        max_charge_w=7_000,
        max_discharge_w=7_000,
        bidirectional=True,
        meter=None if meter_w is None else MeterValue(meter_w, NOW),
    )
    return session_capacity(session, NOW, timedelta(minutes=2))


# A: E = 18000, T = 5 h → Pmin = −6000 (D), P0 = 5000: decrease 11000, increase 2000, laxity 17/7 ≈ 2.43 h
SA = _cap("A", "0.5", "0.8", 300, 5_000)
# B: E = 0.3·60000 = 18000, T = 3 h → Pmin = clamp((18000 − 7000·2.75)/0.25 = −5000, −6000, 7000) = −5000
#    P0 = 6000: decrease 11000, increase 1000, laxity 3 − 18/7 = 3/7 ≈ 0.43 h
SB = _cap("B", "0.5", "0.8", 180, 6_000)
# C: E = 30000, T = 4 h → Pmin = Pmax = 7000: no capacity, laxity 4 − 30/7 = −2/7 h
SC = _cap("C", "0.3", "0.8", 240, 7_000)
# D: E = 24000, T = 43/12 h → Pmin = 8000/3 = 2666.67, P0 = 5000: decrease 2333, increase 2000,
#    laxity 43/12 − 24/7 = 13/84 ≈ 0.15 h
SD = _cap("D", "0.4", "0.8", 215, 5_000)
SESSIONS = [SD, SC, SB, SA]


def test_session_capacities_used_below() -> None:
    assert [(s.decrease_w, s.increase_w) for s in (SA, SB, SC, SD)] == [
        (11_000, 2_000),
        (11_000, 1_000),
        (0, 0),
        (2_333, 2_000),
    ]
    assert [s.laxity_h for s in (SA, SB, SC, SD)] == [
        Fraction(17, 7),
        Fraction(3, 7),
        Fraction(-2, 7),
        Fraction(13, 84),
    ]


def test_decrease_goes_to_the_most_laxity_first() -> None:
    # order A, B, D, C; share 14000: A takes 11000 (to its floor −6000), B the other 3000 (6000 → 3000)
    split = split_over_sessions(14_000, SESSIONS, Direction.LOAD_DECREASE)
    assert split.setpoints == (
        SessionSetpoint("A", -6_000, 11_000),
        SessionSetpoint("B", 3_000, 3_000),
        SessionSetpoint("C", 7_000, 0),
        SessionSetpoint("D", 5_000, 0),
    )
    assert split.shortfall_w == 0


def _capacity(session_id: str, laxity: Fraction | None, p0: Fraction, room: int) -> SessionCapacity:
    return SessionCapacity(session_id, "agg", p0, p0 - room, p0, Fraction(0), laxity, room, 0)


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.fractions(min_value=-3, max_value=3, max_denominator=7)),
            st.fractions(min_value=0, max_value=7_000, max_denominator=9),
            st.integers(min_value=0, max_value=3_000),
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(min_value=0, max_value=40_000),
)
def test_greedy_order_and_whole_watts_follow_the_definition(
    drawn: list[tuple[Fraction | None, Fraction, int]], share: int
) -> None:
    # Ties (equal laxity, several unknown) by session id; ids listed out of order on purpose.
    sessions = [_capacity(f"s{(7 * i) % 13:02d}", lax, p0, room) for i, (lax, p0, room) in enumerate(drawn)]
    order = sorted(sessions, key=lambda s: (s.laxity_h is None, -(s.laxity_h or 0), s.session_id))
    left, assigned = share, {}
    for s in order:
        assigned[s.session_id] = min(s.decrease_w, left)
        left -= assigned[s.session_id]
    want = tuple(
        SessionSetpoint(
            s.session_id,
            max(min(math.ceil(s.p0 - assigned[s.session_id]), math.floor(s.pmax)), math.ceil(s.pmin)),
            assigned[s.session_id],
        )
        for s in sorted(sessions, key=lambda s: s.session_id)
    )
    split = split_over_sessions(share, sessions, Direction.LOAD_DECREASE)
    assert (split.setpoints, split.shortfall_w) == (want, left)


def test_laxities_beyond_a_common_denominator_are_ordered_as_fractions() -> None:
    # Two Mersenne primes as denominators: their product (> 2^1024) is too large a common denominator,
    # so the order falls back to comparing the Fractions; it is the same order.
    m521, m607 = 2**521 - 1, 2**607 - 1
    laxities = [
        Fraction(1, m521),
        Fraction(2, m607),
        Fraction(-1, m521),
        Fraction(1, 3),
        None,
        Fraction(2, m607),
    ]
    sessions = [_capacity(f"s{i}", lax, Fraction(5_000), 1_000) for i, lax in enumerate(laxities)]
    assert _laxity_keys(sessions) is _laxity_key
    split = split_over_sessions(3_500, sessions, Direction.LOAD_DECREASE)
    # 1/3 > 1/m521 > 2/m607 (s1 before s5: ties by id) > −1/m521 > unknown
    assert {p.session_id: p.assigned_w for p in split.setpoints} == {
        "s3": 1_000,
        "s0": 1_000,
        "s1": 1_000,
        "s5": 500,
        "s2": 0,
        "s4": 0,
    }
    # Small denominators: the int keys give the same order.
    small = [
        _capacity(f"s{i}", lax, Fraction(5_000), 1_000)
        for i, lax in enumerate(
            [Fraction(1, 5), Fraction(2, 7), Fraction(-1, 5), Fraction(1, 3), None, Fraction(2, 7)]
        )
    ]
    assert _laxity_keys(small) is not _laxity_key
    split = split_over_sessions(3_500, small, Direction.LOAD_DECREASE)
    assert {p.session_id: p.assigned_w for p in split.setpoints} == {
        "s3": 1_000,
        "s1": 1_000,
        "s5": 1_000,
        "s0": 500,
        "s2": 0,
        "s4": 0,
    }


def test_decrease_stops_at_the_floor() -> None:
    # share 30000 > 11000 + 11000 + 2333 + 0 = 24333 → shortfall 5667
    # D: 5000 − 2333 = 2667 ≥ Pmin 2666.67 (one watt more would break the floor)
    split = split_over_sessions(30_000, SESSIONS, Direction.LOAD_DECREASE)
    assert [(s.session_id, s.setpoint_w) for s in split.setpoints] == [
        ("A", -6_000),
        ("B", -5_000),
        ("C", 7_000),
        ("D", 2_667),
    ]
    assert split.shortfall_w == 5_667


def test_increase_respects_pmax() -> None:
    # order A, B, D, C; share 2500: A +2000 → 7000 (its Pmax), B +500 → 6500
    split = split_over_sessions(2_500, SESSIONS, Direction.LOAD_INCREASE)
    assert [(s.session_id, s.setpoint_w, s.assigned_w) for s in split.setpoints] == [
        ("A", 7_000, 2_000),
        ("B", 6_500, 500),
        ("C", 7_000, 0),
        ("D", 5_000, 0),
    ]


def test_equal_laxity_ties_go_to_the_smaller_session_id() -> None:
    twin_b = _cap("B2", "0.5", "0.8", 180, 6_000)
    split = split_over_sessions(1_000, [twin_b, SB], Direction.LOAD_DECREASE)
    assert [(s.session_id, s.assigned_w) for s in split.setpoints] == [("B", 1_000), ("B2", 0)]


def test_fractional_p0_setpoint_is_rounded_up_within_the_range() -> None:
    # B = 45001, soc 0.8 → 0.81: E = 450.01, no meter → P0 = Pmax = 1800.04, T = 1 h → Pmin = −D = −6000
    # decrease by 100: 1700.04 → 1701; unchanged: ⌈1800.04⌉ = 1801 > Pmax → ⌊Pmax⌋ = 1800
    fractional = _cap("F", "0.8", "0.81", 60, None, battery_wh=45_001)
    split = split_over_sessions(100, [fractional], Direction.LOAD_DECREASE)
    assert split.setpoints == (SessionSetpoint("F", 1_701, 100),)
    assert split_over_sessions(0, [fractional], Direction.LOAD_DECREASE).setpoints[0].setpoint_w == 1_800


def test_floor_wins_when_no_whole_watt_fits() -> None:
    # same need, departure in 15 min: Pmin = Pmax = 450.01/0.25 = 1800.04 → ⌈Pmin⌉ = 1801
    forced = _cap("F", "0.8", "0.81", 15, None, battery_wh=45_001)
    assert forced.pmin == forced.pmax == Fraction(180_004, 100)
    assert split_over_sessions(0, [forced], Direction.LOAD_INCREASE).setpoints[0].setpoint_w == 1_801


# ---------------------------------------------------------------- (c) F7 re-dispatch


def _minutes(instructed: int, *responses: int) -> list[MinuteSample]:
    return [MinuteSample(instructed, r) for r in responses]


def test_lagging_needs_more_than_ten_percent_for_two_minutes() -> None:
    assert is_lagging(_minutes(10_000, 8_900, 8_500))  # 11 %, 15 %
    assert not is_lagging(_minutes(10_000, 9_000, 8_000))  # exactly 10 % does not exceed
    assert not is_lagging(_minutes(10_000, 8_000, 9_500))  # the last minute recovered
    assert not is_lagging(_minutes(10_000, 8_000))  # one minute only
    assert not is_lagging(_minutes(0, -5, -5))  # nothing instructed
    assert is_lagging(_minutes(10_000, 9_000, 8_000, 7_000), threshold=Fraction(1, 5), consecutive=1)


def test_redispatch_moves_the_shortfall_to_aggregators_with_room() -> None:
    # a lags (11 %, 15 %): shortfall 10000 − 8500 = 1500. b deviated one minute only, c is on target.
    # takers b (1000 left), c (2000 left), d has none: λ = 1500/3000 → b 500, c 1000
    # revised: a 8500, b 5500, c 5000 (Σ 19000 unchanged)
    plan = redispatch(
        {
            "a": _minutes(10_000, 8_900, 8_500),
            "b": _minutes(5_000, 4_400, 5_000),
            "c": _minutes(4_000, 4_000, 4_100),
        },
        {"a": 0, "b": 1_000, "c": 2_000, "d": 0},
    )
    assert plan.shortfall_w == {"a": 1_500}
    assert plan.additions_w == {"b": 500, "c": 1_000}
    assert plan.instructed_w == {"a": 8_500, "b": 5_500, "c": 5_000}
    assert plan.unplaced_w == 0


def test_redispatch_hands_back_what_nobody_can_take() -> None:
    # a short 3000 (30 %), b short 1000 (20 %); only c has room, 1000 → placed 1000, unplaced 3000
    # handed back in proportion 3000 : 1000 → a 2250, b 750
    # revised: a 10000 − 3000 + 2250 = 9250, b 5000 − 1000 + 750 = 4750, c 4000 + 1000 = 5000
    plan = redispatch(
        {
            "a": _minutes(10_000, 7_000, 7_000),
            "b": _minutes(5_000, 4_000, 4_000),
            "c": _minutes(4_000, 4_000, 4_000),
        },
        {"c": 1_000},
    )
    assert plan.additions_w == {"c": 1_000}
    assert plan.unplaced_w == 3_000
    assert plan.instructed_w == {"a": 9_250, "b": 4_750, "c": 5_000}


# ---------------------------------------------------------------- properties

participants = st.lists(
    st.tuples(st.integers(1, 5_000), st.integers(0, 5_000), st.sampled_from([None, "T1", "T2"])),
    min_size=1,
    max_size=7,
)


@given(target=st.integers(0, 40_000), rows=participants)
def test_split_sums_to_min_of_target_and_caps(target: int, rows: list[tuple[int, int, str | None]]) -> None:
    split = split_target(target, [Participant(f"g{i}", w, cap) for i, (w, cap, _) in enumerate(rows)])
    assert sum(split.shares_w.values()) == min(target, sum(cap for _, cap, _ in rows))
    for i, (_, cap, _) in enumerate(rows):
        assert 0 <= split.shares_w[f"g{i}"] <= cap


@given(
    target=st.integers(0, 40_000),
    rows=participants,
    limits=st.fixed_dictionaries({"T1": st.integers(0, 8_000), "T2": st.integers(0, 8_000)}),
)
def test_split_respects_area_limits(
    target: int, rows: list[tuple[int, int, str | None]], limits: dict[str, int]
) -> None:
    people = [Participant(f"g{i}", w, cap, area) for i, (w, cap, area) in enumerate(rows)]
    split = split_target(target, people, limits)
    reachable = sum(p.cap_w for p in people if p.area_id is None) + sum(
        min(limit, sum(p.cap_w for p in people if p.area_id == area)) for area, limit in limits.items()
    )
    assert sum(split.shares_w.values()) == min(target, reachable)
    assert split.shortfall_w == target - sum(split.shares_w.values())
    for area, limit in limits.items():
        assert sum(split.shares_w[p.aggregator_id] for p in people if p.area_id == area) <= limit
    assert all(0 <= split.shares_w[p.aggregator_id] <= p.cap_w for p in people)


session_rows = st.lists(
    st.tuples(
        st.integers(0, 100),  # soc %
        st.integers(0, 100),  # target %
        st.integers(-30, 600),  # minutes to departure
        st.none() | st.integers(-8_000, 12_000),  # meter W
    ),
    min_size=1,
    max_size=6,
)


@given(share=st.integers(0, 60_000), rows=session_rows, direction=st.sampled_from(list(Direction)))
def test_sessions_stay_within_their_f3_range(
    share: int, rows: list[tuple[int, int, int, int | None]], direction: Direction
) -> None:
    caps = [
        _cap(f"s{i}", str(Fraction(soc, 100)), str(Fraction(target, 100)), minutes, meter)
        for i, (soc, target, minutes, meter) in enumerate(rows)
    ]
    split = split_over_sessions(share, caps, direction)
    by_id = {c.session_id: c for c in caps}
    assert sum(s.assigned_w for s in split.setpoints) + split.shortfall_w == share
    for point in split.setpoints:
        cap = by_id[point.session_id]
        assert point.setpoint_w >= cap.pmin
        assert point.setpoint_w <= max(math.floor(cap.pmax), math.ceil(cap.pmin))
        room = cap.decrease_w if direction is Direction.LOAD_DECREASE else cap.increase_w
        assert 0 <= point.assigned_w <= room


@given(
    share=st.integers(0, 60_000),
    rows=session_rows,
    direction=st.sampled_from(list(Direction)),
    headroom=st.none() | st.integers(-1_000, 30_000),
)
def test_the_whole_watt_view_splits_as_the_exact_capacities(
    share: int, rows: list[tuple[int, int, int, int | None]], direction: Direction, headroom: int | None
) -> None:
    # A dispatch splits over SplitCapacity (whole watts, store.capacity.managed_sessions); the setpoints,
    # the order and the area's headroom must come out exactly as over the exact SessionCapacity.
    caps = [
        _cap(f"s{(5 * i) % 7}", str(Fraction(soc, 100)), str(Fraction(target, 100)), minutes, meter)
        for i, (soc, target, minutes, meter) in enumerate(rows)
    ]
    views = [SplitCapacity.of(c) for c in caps]
    for view, cap in zip(views, caps, strict=True):
        assert (view.p0_ceil_w, view.pmax_floor_w, view.pmin_ceil_w) == (
            math.ceil(cap.p0),
            math.floor(cap.pmax),
            math.ceil(cap.pmin),
        )
    assert split_over_sessions(share, views, direction) == split_over_sessions(share, caps, direction)
    areas = {"ta": headroom} if headroom is not None else {}

    def schedules(capacities: list[Any]) -> Any:
        managed = [
            ManagedSession(f"ch-{c.session_id}", c, "ta" if i % 2 else None) for i, c in enumerate(capacities)
        ]
        return session_schedules([share, share // 2], managed, direction, area_headroom_w=areas)

    assert schedules(views) == schedules(caps)


@given(
    rows=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(-1_000, 12_000), st.integers(0, 5_000)),
        min_size=1,
        max_size=6,
    )
)
def test_redispatch_keeps_the_total_instructed(rows: list[tuple[int, int, int]]) -> None:
    minutes = {
        f"g{i}": _minutes(instructed, response, response) for i, (instructed, response, _) in enumerate(rows)
    }
    plan = redispatch(minutes, {f"g{i}": room for i, (_, _, room) in enumerate(rows)})
    assert sum(plan.instructed_w.values()) == sum(instructed for instructed, _, _ in rows)
    assert all(w >= 0 for w in plan.instructed_w.values())
    assert plan.unplaced_w == sum(plan.shortfall_w.values()) - sum(plan.additions_w.values())
