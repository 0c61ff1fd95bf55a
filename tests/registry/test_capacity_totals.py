"""The integer F3 fast path (domain.capacity_totals) agrees with the reference domain.capacity, watt for watt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import capacity as f3
from domain.capacity_totals import NodeLimits, SessionInputs, Totals, capped_subtree, totals_by_group
from domain.telemetry import PPB

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=120)

ppb = st.integers(min_value=0, max_value=PPB)
watts = st.integers(min_value=0, max_value=2_000_000)


@st.composite
def sessions(draw: st.DrawFn) -> SessionInputs:
    meter_age = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=300)))
    return SessionInputs(
        group=draw(st.sampled_from(["a", "b"])),
        battery_wh=draw(st.integers(min_value=1, max_value=1_000_000)),
        soc_ppb=draw(ppb),
        target_soc_ppb=draw(ppb),
        v2g_floor_soc_ppb=draw(ppb),
        departure=NOW
        + timedelta(microseconds=draw(st.integers(min_value=-3_600_000_000, max_value=86_400_000_000))),
        max_charge_w=draw(watts),
        max_discharge_w=draw(watts),
        bidirectional=draw(st.booleans()),
        rated_charge_w=draw(watts),
        rated_discharge_w=draw(watts),
        charger_bidirectional=draw(st.booleans()),
        meter_power_w=None
        if meter_age is None
        else draw(st.integers(min_value=-2_000_000, max_value=2_000_000)),
        meter_time=None if meter_age is None else NOW - timedelta(seconds=meter_age),
    )


def reference(s: SessionInputs) -> f3.SessionCapacity:
    meter = (
        None
        if s.meter_power_w is None or s.meter_time is None
        else f3.MeterValue(s.meter_power_w, s.meter_time)
    )
    return f3.session_capacity(
        f3.EvSession(
            session_id="s",
            aggregator_id=s.group,
            charger=f3.Charger("c", s.rated_charge_w, s.rated_discharge_w, s.charger_bidirectional),
            battery_wh=s.battery_wh,
            soc=Fraction(s.soc_ppb, PPB),
            target_soc=Fraction(s.target_soc_ppb, PPB),
            v2g_floor_soc=Fraction(s.v2g_floor_soc_ppb, PPB),
            departure=s.departure,
            max_charge_w=s.max_charge_w,
            max_discharge_w=s.max_discharge_w,
            bidirectional=s.bidirectional,
            meter=meter,
        ),
        NOW,
        TIMEOUT,
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(sessions(), max_size=12),
    st.one_of(st.none(), st.integers(min_value=0, max_value=5_000_000)),
    st.integers(min_value=0, max_value=1_000_000),
)
def test_fast_sums_equal_the_reference(items: list[SessionInputs], limit: int | None, base_load: int) -> None:
    fast = totals_by_group(items, NOW, TIMEOUT)
    capacities = [reference(s) for s in items]
    for group, sums in f3.capacity_by_aggregator(capacities).items():
        assert (fast[group].decrease_w, fast[group].increase_w, fast[group].sessions) == (
            sums.decrease_w,
            sums.increase_w,
            sums.sessions,
        )
    merged = Totals()
    for totals in fast.values():
        merged.add(totals)
    node = capped_subtree("n", {}, {"n": merged}, {"n": NodeLimits(limit, base_load)})
    want = f3.node_capacity(capacities, limit_w=limit, base_load_w=base_load)
    assert (node.decrease_w, node.increase_w, node.sessions, node.headroom_w) == (
        want.decrease_w,
        want.increase_w,
        want.sessions,
        want.headroom_w,
    )
    assert node.present_power_w == int(sum((c.p0 for c in capacities), Fraction(0)))


def test_nested_nodes_cap_what_passes_through_them() -> None:
    """ta1 (limit 10 kW, base 4 kW) and ta2 (no limit) under f1 (limit 30 kW, base 21 kW)."""
    direct = {
        "ta1": Totals(decrease_w=5_000, increase_w=9_000, p0_scaled=3_000 * 9 * 10**17, sessions=2),
        "ta2": Totals(decrease_w=1_000, increase_w=7_000, p0_scaled=1_000 * 9 * 10**17, sessions=1),
    }
    limits = {"ta1": NodeLimits(10_000, 4_000), "ta2": NodeLimits(None, 0), "f1": NodeLimits(30_000, 21_000)}
    tree = {"f1": ["ta1", "ta2"]}

    ta1 = capped_subtree("ta1", tree, direct, limits)
    assert (ta1.increase_w, ta1.headroom_w) == (3_000, 3_000)  # 10,000 − 4,000 − 3,000
    f1 = capped_subtree("f1", tree, direct, limits)
    # 3,000 (ta1 capped) + 7,000 (ta2) = 10,000, capped by 30,000 − 21,000 − 4,000 = 5,000.
    assert (f1.decrease_w, f1.increase_w, f1.present_power_w, f1.sessions, f1.headroom_w) == (
        6_000,
        5_000,
        4_000,
        3,
        5_000,
    )
