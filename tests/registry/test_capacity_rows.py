"""The capacity rows the store keeps (store.capacity_rows) stay what the registry says, SQLite and PostgreSQL.

Every step goes through the store's own writes (the application's use cases
where there is one): sessions started, replaced, moved to another charger,
ended by a stop and by a newer plug-in; readings, a late one and a
correction of the latest; chargers re-rated, moved between stations and
nodes, deleted and registered again; stations moved and deleted. After each
step two things must hold: the kept rows equal the rows recomputed from the
registry by the join they replace, and the F3 figures read from them (per
aggregator, per node) equal domain.capacity.session_capacity summed over the
registry's sessions (store.capacity.session_capacities: the join and the
exact per-session reference). A migration test seeds rows at 0017 and checks
0018's backfill the same way, and its downgrade.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from application import registry as use_cases
from application.uow import UnitOfWork
from domain.capacity_totals import Totals
from domain.telemetry import PPB, Reading
from store import aggregators, capacity, capacity_rows, migrate, registry, telemetry
from store.db import create_engine
from store.registry import Charger, GridNode, Session, Station

NOW = datetime.now(UTC).replace(microsecond=123_456)
TIMEOUT = timedelta(seconds=120)
CHARGING = 3
AGGREGATORS = ("agg-a", "agg-b")


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _uow(conn: Connection, at: datetime = NOW) -> UnitOfWork:
    return UnitOfWork(conn, at)


def _session(session_id: str, charger_id: str, plug_in: datetime, **changes: Any) -> Session:
    fields: dict[str, Any] = {
        "session_id": session_id,
        "charger_id": charger_id,
        "plug_in_time": plug_in,
        "expected_departure_time": NOW + timedelta(hours=2, microseconds=7),
        "battery_wh": 60_000,
        "soc_ppb": PPB // 4,
        "target_soc_ppb": 9 * PPB // 10,
        "v2g_floor_soc_ppb": PPB // 5,
        "max_charge_w": 11_000,
        "max_discharge_w": 9_000,
        "bidirectional": True,
    }
    fields.update(changes)
    return Session(**fields)


def _reading(charger_id: str, at: datetime, power_w: int) -> Reading:
    return Reading(charger_id, at, power_w, None, Decimal("0.5"), CHARGING)


def _ingest(conn: Connection, aggregator_id: str, batch: str, readings: list[Reading]) -> None:
    telemetry.ingest_batch(
        conn,
        charger_id=None,
        aggregator_id=aggregator_id,
        batch_id=batch,
        readings=readings,
        aggregates=(),
        now=NOW,
        max_skew=timedelta(days=1),
    )


def _kept(conn: Connection) -> list[tuple[Any, ...]]:
    return sorted(
        tuple(row)
        for row in conn.exec_driver_sql(
            f"SELECT {capacity_rows.COLUMNS} FROM capacity_sessions ORDER BY aggregator_id, session_id"
        )
    )


def _recomputed(conn: Connection) -> list[tuple[Any, ...]]:
    sql = capacity_rows.SOURCE.format(departure=capacity_rows.DEPARTURE_US[conn.dialect.name])
    return sorted(tuple(row) for row in conn.execute(sa.text(sql)))


def _check(conn: Connection, *, sessions: int) -> None:
    """The kept rows are the join's rows, and F3 read from them is the per-session definition summed."""
    assert _kept(conn) == _recomputed(conn)
    per_session = capacity.session_capacities(conn, NOW, TIMEOUT, node_id="root")
    assert len(per_session) == sessions
    by_aggregator = capacity.aggregator_capacities(conn, "root", NOW, TIMEOUT)
    for aggregator_id in AGGREGATORS:
        mine = [s.capacity for s in per_session if s.capacity.aggregator_id == aggregator_id]
        got = by_aggregator.get(aggregator_id, Totals())
        assert (got.decrease_w, got.increase_w, got.sessions, got.present_power_w) == (
            sum(c.decrease_w for c in mine),
            sum(c.increase_w for c in mine),
            len(mine),
            math.trunc(sum(c.p0 for c in mine)),
        )
        scope = capacity.realtime_capacity(conn, f"aggregators/{aggregator_id}", NOW, TIMEOUT)
        assert (scope.decrease_w, scope.increase_w, scope.active_sessions) == (
            got.decrease_w,
            got.increase_w,
            got.sessions,
        )
    for node in ("n1", "n2"):
        mine = [s.capacity for s in per_session if s.grid_node_id == node]
        figure = capacity.realtime_capacity(conn, f"gridNodes/{node}", NOW, TIMEOUT)
        assert (figure.decrease_w, figure.increase_w, figure.active_sessions) == (
            sum(c.decrease_w for c in mine),
            sum(c.increase_w for c in mine),
            len(mine),
        )


def _world(conn: Connection) -> None:
    """root → n1, n2 (unlimited); agg-a: st1 at n1 (c1, c2), st2 at n2 (c3); agg-b: st1 at n2 (c4)."""
    use_cases.upsert_grid_nodes(
        _uow(conn),
        [
            GridNode("root", "FEEDER", None, "", 0, 0),
            GridNode("n1", "TRANSFORMER_AREA", "root", "", 0, 0),
            GridNode("n2", "TRANSFORMER_AREA", "root", "", 0, 0),
        ],
    )
    for aggregator_id in AGGREGATORS:
        aggregators.create(
            conn,
            aggregator_id=aggregator_id,
            display_name=aggregator_id,
            unified_social_credit_code="",
            contact_email="",
            now=NOW,
        )
    use_cases.upsert_stations(
        _uow(conn), "agg-a", [Station("st1", "", "n1", 0, 0), Station("st2", "", "n2", 0, 0)]
    )
    use_cases.upsert_stations(_uow(conn), "agg-b", [Station("st1", "", "n2", 0, 0)])
    use_cases.upsert_chargers(
        _uow(conn),
        "agg-a",
        [
            Charger("c1", "st1", "DC", 60_000, 50_000, True, True),
            Charger("c2", "st1", "AC", 7_000, 0, False, True),
            Charger("c3", "st2", "DC", 30_000, 30_000, True, True),
        ],
    )
    use_cases.upsert_chargers(_uow(conn), "agg-b", [Charger("c4", "st1", "DC", 22_000, 22_000, True, True)])


def test_kept_rows_follow_every_registry_write(engine: sa.Engine) -> None:
    hour_ago = NOW - timedelta(hours=1)
    with engine.begin() as conn:
        _world(conn)
        _check(conn, sessions=0)
        use_cases.upsert_sessions(
            _uow(conn),
            "agg-a",
            [_session("s1", "c1", hour_ago), _session("s2", "c2", hour_ago), _session("s3", "c3", hour_ago)],
        )
        use_cases.upsert_sessions(_uow(conn), "agg-b", [_session("s4", "c4", hour_ago, max_charge_w=40_000)])
        _check(conn, sessions=4)

        # Readings: fresh ones are P0; a late (older) one changes nothing; a correction of the latest replaces it.
        _ingest(
            conn,
            "agg-a",
            "b1",
            [
                _reading("c1", NOW - timedelta(seconds=30), 8_000),
                _reading("c3", NOW - timedelta(seconds=10), -5_000),
            ],
        )
        _check(conn, sessions=4)
        _ingest(conn, "agg-a", "b2", [_reading("c1", NOW - timedelta(seconds=60), 1_000)])
        assert next(r for r in _kept(conn) if r[1] == "s1")[11] == 8_000
        _check(conn, sessions=4)
        _ingest(conn, "agg-a", "b3", [_reading("c1", NOW - timedelta(seconds=30), 9_500)])
        assert next(r for r in _kept(conn) if r[1] == "s1")[11] == 9_500
        _check(conn, sessions=4)
        # A reading older than the plug-in of the next session on the charger belongs to the previous car.
        _ingest(conn, "agg-b", "b4", [_reading("c4", hour_ago - timedelta(minutes=1), 20_000)])
        _check(conn, sessions=4)

        # A session replaced (new SOC, departure) and one moved to another charger of its aggregator.
        use_cases.upsert_sessions(
            _uow(conn),
            "agg-a",
            [
                _session(
                    "s2",
                    "c2",
                    hour_ago,
                    soc_ppb=PPB // 2,
                    expected_departure_time=NOW + timedelta(minutes=20),
                )
            ],
        )
        _check(conn, sessions=4)

        # Session end by a stop, then by a newer plug-in on the same charger.
        assert registry.end_session(conn, "agg-a", "s2", NOW - timedelta(minutes=5), NOW)
        _check(conn, sessions=3)
        use_cases.upsert_sessions(_uow(conn), "agg-a", [_session("s5", "c1", NOW - timedelta(minutes=2))])
        assert {r[1] for r in _kept(conn)} == {"s3", "s4", "s5"}
        _check(conn, sessions=3)
        # A late start of an older session on c1 never ends the newer one, nor becomes active.
        use_cases.upsert_sessions(_uow(conn), "agg-a", [_session("s0", "c1", hour_ago - timedelta(hours=1))])
        _check(conn, sessions=3)
        # An ended session re-sent as started stays ended.
        use_cases.upsert_sessions(_uow(conn), "agg-a", [_session("s2", "c2", hour_ago)])
        _check(conn, sessions=3)
        # A session moved to another charger.
        use_cases.upsert_sessions(_uow(conn), "agg-a", [_session("s3", "c2", hour_ago)])
        assert [r[2] for r in _kept(conn) if r[1] == "s3"] == ["c2"]
        _check(conn, sessions=3)
        use_cases.upsert_sessions(_uow(conn), "agg-a", [_session("s3", "c3", hour_ago)])
        _check(conn, sessions=3)

        # Charger re-rated, then moved from st2 (n2) to st1 (n1): its session moves node.
        use_cases.upsert_chargers(_uow(conn), "agg-a", [Charger("c3", "st2", "DC", 4_000, 2_000, True, True)])
        _check(conn, sessions=3)
        use_cases.upsert_chargers(
            _uow(conn), "agg-a", [Charger("c3", "st1", "DC", 4_000, 2_000, False, True)]
        )
        assert [r[3] for r in _kept(conn) if r[1] == "s3"] == ["n1"]
        _check(conn, sessions=3)

        # Station moved to another node: its chargers' sessions follow.
        use_cases.upsert_stations(_uow(conn), "agg-a", [Station("st1", "", "n2", 0, 0)])
        assert {r[3] for r in _kept(conn) if r[0] == "agg-a"} == {"n2"}
        _check(conn, sessions=3)

        # Charger deleted: its session leaves the capacity; registered again: back.
        use_cases.delete_charger(_uow(conn), "agg-b", "st1", "c4")
        _check(conn, sessions=2)
        use_cases.upsert_chargers(
            _uow(conn), "agg-b", [Charger("c4", "st1", "DC", 22_000, 22_000, True, True)]
        )
        _check(conn, sessions=3)

        # Station deleted with its chargers; registered again (chargers too).
        use_cases.delete_station(_uow(conn), "agg-a", "st1")
        _check(conn, sessions=1)
        use_cases.upsert_stations(_uow(conn), "agg-a", [Station("st1", "", "n1", 0, 0)])
        _check(conn, sessions=1)
        use_cases.upsert_chargers(
            _uow(conn),
            "agg-a",
            [
                Charger("c1", "st1", "DC", 60_000, 50_000, True, True),
                Charger("c3", "st1", "DC", 4_000, 2_000, True, True),
            ],
        )
        _check(conn, sessions=3)
        assert {r[1] for r in _kept(conn)} == {"s3", "s4", "s5"}


def test_rolled_back_writes_leave_the_rows_as_they_were(engine: sa.Engine) -> None:
    """The rows are written in the registry write's transaction: a rollback takes both back."""
    hour_ago = NOW - timedelta(hours=1)
    with engine.begin() as conn:
        _world(conn)
        use_cases.upsert_sessions(_uow(conn), "agg-a", [_session("s1", "c1", hour_ago)])
    with engine.connect() as conn:
        before = _kept(conn)
        conn.rollback()
        with conn.begin() as transaction:
            assert registry.end_session(conn, "agg-a", "s1", NOW, NOW)
            _ingest(conn, "agg-a", "b1", [_reading("c1", NOW - timedelta(seconds=5), 3_000)])
            assert _kept(conn) == []
            transaction.rollback()
        assert _kept(conn) == before
        _check(conn, sessions=1)


def test_the_migration_backfills_the_rows_and_its_downgrade_drops_them(database_url: str) -> None:
    """Registry rows written at 0017 (raw: the store's writes need 0018) get their capacity rows at 0018."""
    migrate.upgrade(database_url, "0017_charger_membership")
    engine = create_engine(database_url)
    hour_ago = NOW - timedelta(hours=1)
    times = {"create_time": NOW, "update_time": NOW}
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(registry.grid_nodes),
                [
                    {"node_id": "root", "kind": "FEEDER", "parent_id": None, "display_name": ""}
                    | {"capacity_limit_w": 0, "base_load_w": 0, **times},
                    *(
                        {"node_id": n, "kind": "TRANSFORMER_AREA", "parent_id": "root", "display_name": ""}
                        | {"capacity_limit_w": 0, "base_load_w": 0, **times}
                        for n in ("n1", "n2")
                    ),
                ],
            )
            conn.execute(
                sa.insert(registry.stations),
                [
                    {"aggregator_id": "agg-a", "station_id": "st1", "display_name": "", "grid_node_id": "n1"}
                    | {"import_limit_w": 0, "export_limit_w": 0, "delete_time": None, **times},
                    {"aggregator_id": "agg-b", "station_id": "st1", "display_name": "", "grid_node_id": "n2"}
                    | {"import_limit_w": 0, "export_limit_w": 0, "delete_time": None, **times},
                    {"aggregator_id": "agg-b", "station_id": "gone", "display_name": "", "grid_node_id": "n2"}
                    | {"import_limit_w": 0, "export_limit_w": 0, "delete_time": NOW, **times},
                ],
            )
            chargers = [
                ("c1", "agg-a", "st1", 60_000, 50_000, True, 8_000, NOW - timedelta(seconds=30), None),
                ("c2", "agg-a", "st1", 7_000, 0, False, 4_000, NOW - timedelta(hours=2), None),
                ("c3", "agg-b", "st1", 22_000, 22_000, True, None, None, None),
                ("c4", "agg-b", "st1", 22_000, 22_000, True, None, None, NOW),
                ("c5", "agg-b", "gone", 22_000, 22_000, True, None, None, None),
            ]
            conn.execute(
                sa.insert(registry.chargers),
                [
                    {
                        "charger_id": c,
                        "aggregator_id": a,
                        "station_id": st,
                        "kind": "DC",
                        "rated_charge_w": rc,
                        "rated_discharge_w": rd,
                        "bidirectional": bi,
                        "platform_managed": True,
                        "status": "CHARGING",
                        "last_power_w": p,
                        "last_meter_time": t,
                        "delete_time": deleted,
                        **times,
                    }
                    for c, a, st, rc, rd, bi, p, t, deleted in chargers
                ],
            )
            conn.execute(
                sa.insert(registry.sessions),
                [
                    {
                        "aggregator_id": a,
                        "session_id": s,
                        "charger_id": c,
                        "plug_in_time": hour_ago,
                        "expected_departure_time": NOW + timedelta(minutes=40, microseconds=3),
                        "battery_wh": 60_000,
                        "soc_ppb": PPB // 3,
                        "target_soc_ppb": 9 * PPB // 10,
                        "v2g_floor_soc_ppb": PPB // 5,
                        "max_charge_w": 11_000,
                        "max_discharge_w": 11_000,
                        "bidirectional": True,
                        "state": state,
                        "end_time": None if state == registry.ACTIVE else NOW,
                        **times,
                    }
                    for a, s, c, state in [
                        ("agg-a", "s1", "c1", registry.ACTIVE),
                        ("agg-a", "s2", "c2", registry.ACTIVE),
                        ("agg-a", "s0", "c2", registry.ENDED),
                        ("agg-b", "s3", "c3", registry.ACTIVE),
                        ("agg-b", "s4", "c4", registry.ACTIVE),
                        ("agg-b", "s5", "c5", registry.ACTIVE),
                    ]
                ],
            )
        migrate.upgrade(database_url)
        with engine.connect() as conn:
            assert {(r[0], r[1]) for r in _kept(conn)} == {("agg-a", "s1"), ("agg-a", "s2"), ("agg-b", "s3")}
            _check(conn, sessions=3)
        migrate.downgrade(database_url, "0017_charger_membership")
        with engine.connect() as conn:
            assert "capacity_sessions" not in sa.inspect(conn).get_table_names()
        migrate.upgrade(database_url)
        with engine.connect() as conn:
            _check(conn, sessions=3)
    finally:
        engine.dispose()
