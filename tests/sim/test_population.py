"""The simulator's EV model: deterministic by seed, and aggregators never push an EV below its F3 floor."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import numpy as np

from clients.simulate.population import (
    SLOT,
    Fleet,
    Kind,
    LiveSession,
    Session,
    build_population,
    expected_baseline,
    local_midnight,
    sessions_for_days,
    unmanaged_load,
)

DAYS = [date(2026, 3, 2) + timedelta(days=n) for n in range(3)]


def test_same_seed_same_sessions_other_seed_others() -> None:
    first = sessions_for_days(build_population(5, 30, 3), DAYS)
    again = sessions_for_days(build_population(5, 30, 3), DAYS)
    other = sessions_for_days(build_population(6, 30, 3), DAYS)
    assert first == again
    assert first != other
    for sessions in first.values():
        by_charger: dict[str, list[Session]] = {}
        for s in sessions:
            by_charger.setdefault(s.charger_id, []).append(s)
        for mine in by_charger.values():
            assert all(a.departure < b.arrival for a, b in itertools.pairwise(mine))


def test_population_mix_and_managed_devices() -> None:
    population = build_population(1, 1000, 3)
    assert len(population.chargers) == 1000
    kinds = {kind: sum(c.kind is kind for c in population.chargers) for kind in Kind}
    assert all(kinds.values())
    assert [
        sum(c.platform_managed for c in population.chargers_of(a.aggregator_id))
        for a in population.aggregators
    ] == [
        2,
        2,
        2,
    ]
    assert {s.grid_node for s in population.stations} <= set(population.areas)


def _session(**changes: object) -> Session:
    base = dict(
        session_id="s1",
        charger_id="c1",
        aggregator_id="agg",
        arrival=datetime(2026, 3, 2, 10, tzinfo=UTC),
        departure=datetime(2026, 3, 2, 20, tzinfo=UTC),
        battery_wh=60_000,
        soc=0.5,
        target_soc=0.9,
        v2g_floor_soc=0.0,
        max_charge_w=7_000,
        max_discharge_w=0,
        bidirectional=False,
        charge_w=7_000,
        discharge_w=0,
    )
    base.update(changes)
    return Session(**base)  # type: ignore[arg-type]


def test_closed_form_history_equals_stepping_without_instructions() -> None:
    session = _session(arrival=datetime(2026, 3, 2, 10, 5, tzinfo=UTC))
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    closed = unmanaged_load([session], start, 20, ["agg"])["agg"]
    fleet = Fleet(1, [LiveSession(session, 0.0, False)], ["agg"], {"agg": 1.0})
    stepped = [
        fleet.step(start + k * SLOT, instructed_w={}, baseline_w={}, setpoints_w={}).power_w["agg"]
        for k in range(20)
    ]
    assert np.allclose(closed, stepped)
    assert closed[0] == 7_000 * 10 / 15  # plugged in 5 minutes into the slot
    assert abs(sum(closed) * 0.25 - 24_000) < 1e-6  # 24 kWh to reach 90 %


def test_curtailment_stops_at_the_floor_and_v2g_discharges() -> None:
    at = datetime(2026, 3, 2, 18, tzinfo=UTC)
    tight = LiveSession(
        _session(session_id="tight", departure=at + timedelta(hours=3, minutes=30)), 0.0, False
    )
    v2g = LiveSession(
        _session(
            session_id="v2g",
            charger_id="c2",
            bidirectional=True,
            v2g_floor_soc=0.3,
            max_discharge_w=7_000,
            discharge_w=7_000,
            departure=at + timedelta(hours=12),
        ),
        0.0,
        False,
    )
    fleet = Fleet(1, [tight, v2g], ["agg"], {"agg": 1.0})
    floor = tight.floor_w(at)
    outcome = fleet.step(at, instructed_w={"agg": 1_000_000}, baseline_w={"agg": 14_000.0}, setpoints_w={})
    # 24 kWh in 3.5 h at 7 kW: after this slot 3.25 h at full power give 22.75 kWh, so this
    # slot must still bring 1.25 kWh (5 kW); the V2G session with 12 h to go discharges at its limit.
    assert floor == 5_000
    assert outcome.charger_w["c1"] == floor
    assert outcome.charger_w["c2"] == -7_000


def test_expected_baseline_takes_the_five_highest_of_ten_same_kind_days() -> None:
    days = [date(2026, 2, 1) + timedelta(days=n) for n in range(28)]  # 2026-02-01 is a Sunday
    history = np.zeros(len(days) * 96)
    for n in range(len(days)):
        history[n * 96 : (n + 1) * 96] = 100.0 * n
    event_day = date(2026, 3, 2)  # a Monday: candidates are working days from 02-27 back
    working = [n for n, d in enumerate(days) if d.weekday() < 5 and d <= event_day - timedelta(days=2)][-10:]
    assert expected_baseline(history, days, event_day, 76, 4) == [100.0 * sum(working[-5:]) / 5] * 4
    assert local_midnight(event_day).hour == 16  # Asia/Shanghai midnight is 16:00 UTC the day before
