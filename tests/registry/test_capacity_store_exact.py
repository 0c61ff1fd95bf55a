"""The store's set-based F3 (store.capacity over store.capacity_rows: times as epoch µs, limits and the
meter decision in SQL, domain.capacity_totals' integer loop) equals the per-session reference, SQLite and
PostgreSQL: the node and aggregator sums, and every field of the per-session capacities dispatch splits
instructions with (``store.capacity.session_capacities``).

Rows go straight into the registry tables with microsecond times placed on the
edges the SQL decides: a reading exactly at and one µs past the heartbeat
timeout, one µs before the plug-in (the previous car's), in the future; a
departure exactly at, one µs before and after now + Δt, and in the past. The
expected figures come from domain.capacity.session_capacity (exact fractions)
on the generated values, not from the store. Each example has its own ids, so
the examples share one migrated store.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import capacity as f3
from domain.capacity_totals import SplitCapacity
from domain.telemetry import PPB
from store import capacity, capacity_rows, migrate, registry
from store.db import create_engine

pytestmark = pytest.mark.timeout(600)

NOW = datetime(2026, 6, 1, 10, 0, 0, 123_457, tzinfo=UTC)
TIMEOUT = timedelta(seconds=120)
US = timedelta(microseconds=1)
SLOT = timedelta(minutes=15)

ppb = st.integers(min_value=0, max_value=PPB)
watts = st.integers(min_value=0, max_value=2_000_000)
offset = st.integers(min_value=-7_200_000_000, max_value=86_400_000_000).map(lambda us: us * US)


@dataclass(frozen=True)
class Generated:
    aggregator: int  # which of two aggregators
    area: int  # which of two areas under the example's feeder
    battery_wh: int
    soc_ppb: int
    target_soc_ppb: int
    floor_ppb: int
    max_charge_w: int
    max_discharge_w: int
    rated_charge_w: int
    rated_discharge_w: int
    bidirectional: bool
    charger_bidirectional: bool
    plug_in: datetime
    departure: datetime
    meter_w: int | None
    meter_time: datetime | None
    active: bool


@st.composite
def generated(draw: st.DrawFn) -> Generated:
    """Any session; half of them where the edges decide: charging needed, a departure close
    enough for the minimum to bind, a reading between the minimum and the maximum."""
    tight = draw(st.booleans())
    plug_in = NOW - draw(st.integers(min_value=0, max_value=7_200_000_000)) * US
    departure = draw(st.sampled_from([NOW + SLOT, NOW + SLOT - US, NOW + SLOT + US, NOW - US, None]))
    if departure is None:
        low, high = (0, 6 * 3_600_000_000) if tight else (-7_200_000_000, 86_400_000_000)
        departure = NOW + draw(st.integers(min_value=low, max_value=high)) * US
    meter_time = draw(
        st.sampled_from(
            [
                None,
                NOW - TIMEOUT,
                NOW - TIMEOUT - US,
                NOW - TIMEOUT + US,
                plug_in,
                plug_in - US,
                NOW + US,
                "any",
            ]
        )
    )
    if meter_time == "any":
        meter_time = NOW - draw(st.integers(min_value=0, max_value=300_000_000)) * US
    soc = draw(st.integers(min_value=0, max_value=PPB // 2) if tight else ppb)
    limit = st.integers(min_value=3_000, max_value=50_000) if tight else watts
    max_charge_w, rated_charge_w = draw(limit), draw(limit)
    meter_w = draw(
        st.integers(min_value=0, max_value=min(max_charge_w, rated_charge_w))
        if tight
        else st.integers(min_value=-2_000_000, max_value=2_000_000)
    )
    return Generated(
        aggregator=draw(st.integers(min_value=0, max_value=1)),
        area=draw(st.integers(min_value=0, max_value=1)),
        battery_wh=draw(
            st.integers(min_value=20_000, max_value=120_000) if tight else st.integers(1, 1_000_000)
        ),
        soc_ppb=soc,
        target_soc_ppb=draw(st.integers(min_value=soc, max_value=soc + 3 * PPB // 10) if tight else ppb),
        floor_ppb=draw(ppb),
        max_charge_w=max_charge_w,
        max_discharge_w=draw(watts),
        rated_charge_w=rated_charge_w,
        rated_discharge_w=draw(watts),
        bidirectional=draw(st.booleans()),
        charger_bidirectional=draw(st.booleans()),
        plug_in=plug_in,
        departure=departure,
        meter_w=None if meter_time is None else meter_w,
        meter_time=meter_time if isinstance(meter_time, datetime) else None,
        active=draw(st.integers(min_value=0, max_value=9)) > 0,
    )


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _seed(engine: sa.Engine, tag: str, items: list[Generated], area_limit_w: int) -> None:
    feeder, areas = f"f-{tag}", [f"a0-{tag}", f"a1-{tag}"]
    times = {"create_time": NOW, "update_time": NOW}
    with engine.begin() as conn:
        conn.execute(
            sa.insert(registry.grid_nodes),
            [
                {"node_id": feeder, "kind": "FEEDER", "parent_id": None, "display_name": "", **times}
                | {"capacity_limit_w": 0, "base_load_w": 0},
                *(
                    {
                        "node_id": area,
                        "kind": "TRANSFORMER_AREA",
                        "parent_id": feeder,
                        "display_name": "",
                        **times,
                    }
                    | {"capacity_limit_w": area_limit_w, "base_load_w": 1_000}
                    for area in areas
                ),
            ],
        )
        conn.execute(
            sa.insert(registry.stations),
            [
                {
                    "aggregator_id": f"g{g}-{tag}",
                    "station_id": f"s{a}",
                    "display_name": "",
                    "grid_node_id": areas[a],
                    "import_limit_w": 0,
                    "export_limit_w": 0,
                    **times,
                }
                for g in (0, 1)
                for a in (0, 1)
            ],
        )
        for i, s in enumerate(items):
            conn.execute(
                sa.insert(registry.chargers),
                {
                    "charger_id": f"c{i}-{tag}",
                    "aggregator_id": f"g{s.aggregator}-{tag}",
                    "station_id": f"s{s.area}",
                    "kind": "DC",
                    "rated_charge_w": s.rated_charge_w,
                    "rated_discharge_w": s.rated_discharge_w,
                    "bidirectional": s.charger_bidirectional,
                    "platform_managed": _managed(i),
                    "status": "CHARGING",
                    "last_power_w": s.meter_w,
                    "last_meter_time": s.meter_time,
                    **times,
                },
            )
            conn.execute(
                sa.insert(registry.sessions),
                {
                    "aggregator_id": f"g{s.aggregator}-{tag}",
                    "session_id": f"e{i}",
                    "charger_id": f"c{i}-{tag}",
                    "plug_in_time": s.plug_in,
                    "expected_departure_time": s.departure,
                    "battery_wh": s.battery_wh,
                    "soc_ppb": s.soc_ppb,
                    "target_soc_ppb": s.target_soc_ppb,
                    "v2g_floor_soc_ppb": s.floor_ppb,
                    "max_charge_w": s.max_charge_w,
                    "max_discharge_w": s.max_discharge_w,
                    "bidirectional": s.bidirectional,
                    "state": registry.ACTIVE if s.active else registry.ENDED,
                    "end_time": None if s.active else NOW,
                    **times,
                },
            )
        # The rows went in beside the store: derive its capacity rows as after any bulk load
        # (tests/registry/test_capacity_rows.py proves the store's writes keep them).
        capacity_rows.refresh_chargers(conn, [f"c{i}-{tag}" for i in range(len(items))])


def _reference(s: Generated) -> f3.SessionCapacity:
    fresh = s.meter_time is not None and s.meter_w is not None and s.meter_time >= s.plug_in
    return f3.session_capacity(
        f3.EvSession(
            session_id="e",
            aggregator_id=str(s.aggregator),
            charger=f3.Charger("c", s.rated_charge_w, s.rated_discharge_w, s.charger_bidirectional),
            battery_wh=s.battery_wh,
            soc=Fraction(s.soc_ppb, PPB),
            target_soc=Fraction(s.target_soc_ppb, PPB),
            v2g_floor_soc=Fraction(s.floor_ppb, PPB),
            departure=s.departure,
            max_charge_w=s.max_charge_w,
            max_discharge_w=s.max_discharge_w,
            bidirectional=s.bidirectional,
            meter=f3.MeterValue(s.meter_w, s.meter_time)
            if fresh and s.meter_w is not None and s.meter_time
            else None,
        ),
        NOW,
        TIMEOUT,
    )


def _edge(
    departure: datetime, meter_time: datetime | None, *, plug_in: datetime = NOW - 3_600 * 1_000_000 * US
) -> Generated:
    """12 kWh to charge at ≤ 10 kW, a 3 kW reading: the edges below move P0 or Pmin by whole watts."""
    return Generated(
        aggregator=0,
        area=0,
        battery_wh=60_000,
        soc_ppb=PPB // 5,
        target_soc_ppb=2 * PPB // 5,
        floor_ppb=0,
        max_charge_w=10_000,
        max_discharge_w=0,
        rated_charge_w=10_000,
        rated_discharge_w=0,
        bidirectional=False,
        charger_bidirectional=False,
        plug_in=plug_in,
        departure=departure,
        meter_w=None if meter_time is None else 3_000,
        meter_time=meter_time,
        active=True,
    )


LATE = NOW + timedelta(hours=2)
EDGES = {
    "reading at the timeout": _edge(LATE, NOW - TIMEOUT),
    "reading a µs past the timeout": _edge(LATE, NOW - TIMEOUT - US),
    "reading in the future": _edge(LATE, NOW + US),
    "reading at the plug-in": _edge(LATE, NOW - 60 * 1_000_000 * US, plug_in=NOW - 60 * 1_000_000 * US),
    "reading a µs before the plug-in": _edge(
        LATE, NOW - 60 * 1_000_000 * US - US, plug_in=NOW - 60 * 1_000_000 * US
    ),
    "departure with microseconds": _edge(NOW + timedelta(minutes=80, microseconds=999_999), None),
    "departure at now + Δt": _edge(NOW + SLOT, None),
    "departure a µs after now + Δt": _edge(NOW + SLOT + US, None),
    "departure in the past": _edge(NOW - US, None),
}


def _assert_sessions_equal_reference(conn: sa.Connection, tag: str, items: list[Generated]) -> None:
    """Every field of store.capacity.session_capacities (the integer path) equals session_capacity's."""
    want = {
        (f"g{s.aggregator}-{tag}", f"e{i}"): dataclasses.replace(
            _reference(s), session_id=f"e{i}", aggregator_id=f"g{s.aggregator}-{tag}"
        )
        for i, s in enumerate(items)
        if s.active
    }
    got = capacity.session_capacities(conn, NOW, TIMEOUT, node_id=f"f-{tag}")
    assert [(a.capacity.aggregator_id, a.capacity.session_id) for a in got] == sorted(want)
    for active in got:
        assert active.capacity == want[(active.capacity.aggregator_id, active.capacity.session_id)]
        assert active.charger_id == f"c{active.capacity.session_id[1:]}-{tag}"
        assert active.platform_managed is _managed(int(active.capacity.session_id[1:]))
    # What a dispatch splits over: the managed ones only, each as the whole-watt view of the reference.
    managed = [key for key in sorted(want) if _managed(int(key[1][1:]))]
    for aggregator in (None, f"g0-{tag}"):
        split = capacity.managed_sessions(conn, NOW, TIMEOUT, aggregator_id=aggregator, node_id=f"f-{tag}")
        expected = [key for key in managed if aggregator in (None, key[0])]
        assert [m.capacity.session_id for m in split] == [session_id for _, session_id in expected]
        for m, key in zip(split, expected, strict=True):
            assert m.capacity == SplitCapacity.of(want[key])
            assert m.charger_id == f"c{key[1][1:]}-{tag}"
            assert m.area_id == f"a{items[int(key[1][1:])].area}-{tag}"


def _managed(i: int) -> bool:
    """Whether the example's i-th charger is platform-managed (every fourth is not)."""
    return i % 4 != 3


@pytest.mark.parametrize("edge", list(EDGES))
def test_store_f3_on_the_edges(engine: sa.Engine, edge: str) -> None:
    tag = uuid.uuid4().hex[:10]
    session = EDGES[edge]
    _seed(engine, tag, [session], 0)
    want = _reference(session)
    with engine.connect() as conn:
        got = capacity.realtime_capacity(conn, f"gridNodes/a0-{tag}", NOW, TIMEOUT)
    assert (got.decrease_w, got.increase_w, got.present_power_w, got.active_sessions) == (
        want.decrease_w,
        want.increase_w,
        int(want.p0),
        1,
    )
    with engine.connect() as conn:
        _assert_sessions_equal_reference(conn, tag, [session])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    items=st.lists(generated(), min_size=1, max_size=10),
    area_limit_w=st.sampled_from([0, 5_000, 40_000, 2_000_000]),
)
def test_store_f3_equals_the_per_session_reference(
    engine: sa.Engine, items: list[Generated], area_limit_w: int
) -> None:
    tag = uuid.uuid4().hex[:10]
    _seed(engine, tag, items, area_limit_w)
    live = [(s, _reference(s)) for s in items if s.active]
    limit = area_limit_w or None
    with engine.connect() as conn:
        areas = []
        for a in (0, 1):
            got = capacity.realtime_capacity(conn, f"gridNodes/a{a}-{tag}", NOW, TIMEOUT)
            want = f3.node_capacity([c for s, c in live if s.area == a], limit_w=limit, base_load_w=1_000)
            assert (got.decrease_w, got.increase_w, got.active_sessions, got.headroom_w) == (
                want.decrease_w,
                want.increase_w,
                want.sessions,
                want.headroom_w,
            )
            assert got.present_power_w == int(sum((c.p0 for s, c in live if s.area == a), Fraction(0)))
            areas.append(want)
        feeder = capacity.realtime_capacity(conn, f"gridNodes/f-{tag}", NOW, TIMEOUT)
        assert (feeder.decrease_w, feeder.increase_w, feeder.active_sessions, feeder.headroom_w) == (
            sum(a.decrease_w for a in areas),
            sum(a.increase_w for a in areas),
            len(live),
            None,
        )
        assert feeder.present_power_w == int(sum((c.p0 for _, c in live), Fraction(0)))
        per_aggregator = capacity.aggregator_capacities(conn, f"f-{tag}", NOW, TIMEOUT)
        for g in (0, 1):
            want_sum = f3.sum_capacity([c for s, c in live if s.aggregator == g])
            got_scope = capacity.realtime_capacity(conn, f"aggregators/g{g}-{tag}", NOW, TIMEOUT)
            got_totals = per_aggregator.get(f"g{g}-{tag}")
            assert (got_scope.decrease_w, got_scope.increase_w, got_scope.active_sessions) == (
                want_sum.decrease_w,
                want_sum.increase_w,
                want_sum.sessions,
            )
            assert got_scope.present_power_w == int(
                sum((c.p0 for s, c in live if s.aggregator == g), Fraction(0))
            )
            if want_sum.sessions:
                assert got_totals is not None
                assert (got_totals.decrease_w, got_totals.increase_w, got_totals.sessions) == (
                    want_sum.decrease_w,
                    want_sum.increase_w,
                    want_sum.sessions,
                )
            else:
                assert got_totals is None
        _assert_sessions_equal_reference(conn, tag, items)
