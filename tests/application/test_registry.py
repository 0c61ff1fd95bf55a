"""application.registry on a real store (SQLite and PostgreSQL), without gRPC: the batch upserts are checked
whole before anything is written, keep the memberships over time, and the deletes keep the tree whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from market_world import NOW, database, run

from application import registry as use_cases
from application.uow import UnitOfWork
from domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from store import aggregators, membership, registry
from store.db import Database
from store.registry import ACTIVE, ENDED, Charger, GridNode, Session, Station

LATER = NOW + timedelta(hours=1)


def _charger(charger_id: str, station_id: str) -> Charger:
    return Charger(charger_id, station_id, "AC", 7_000, 0, False, False)


def _session(session_id: str, charger_id: str, plug_in: timedelta) -> Session:
    return Session(
        session_id=session_id,
        charger_id=charger_id,
        plug_in_time=NOW + plug_in,
        expected_departure_time=NOW + plug_in + timedelta(hours=8),
        battery_wh=60_000,
        soc_ppb=500_000_000,
        target_soc_ppb=900_000_000,
        v2g_floor_soc_ppb=0,
        max_charge_w=7_000,
        max_discharge_w=0,
        bidirectional=False,
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """fd-1 (feeder) with ta-1 under it, and ta-2; aggregators agg-a and agg-b, agg-a's stations st-a at
    ta-1 and st-b at ta-2."""
    async with database(database_url) as opened:

        def seed(uow: UnitOfWork) -> None:
            use_cases.upsert_grid_nodes(
                uow,
                [
                    GridNode("fd-1", "FEEDER", None, "Feeder 1", 0, 0),
                    GridNode("ta-1", "TRANSFORMER_AREA", "fd-1", "Area 1", 0, 0),
                    GridNode("ta-2", "TRANSFORMER_AREA", None, "Area 2", 0, 0),
                ],
            )
            for aggregator_id in ("agg-a", "agg-b"):
                aggregators.create(
                    uow.conn,
                    aggregator_id=aggregator_id,
                    display_name=aggregator_id,
                    unified_social_credit_code="",
                    contact_email="",
                    now=NOW,
                )
            use_cases.upsert_stations(
                uow, "agg-a", [Station("st-a", "", "ta-1", 0, 0), Station("st-b", "", "ta-2", 0, 0)]
            )

        await run(opened, seed)
        yield opened


async def _charger_ids(db: Database) -> list[str]:
    return await db.read(
        lambda conn: list(
            conn.execute(sa.select(registry.chargers.c.charger_id).order_by("charger_id")).scalars()
        )
    )


async def _interval_rows(db: Database, charger_id: str) -> list[tuple[str, object, object]]:
    m = membership.charger_memberships
    return await db.read(
        lambda conn: [
            (row.station_id, row.valid_from, row.valid_to)
            for row in conn.execute(
                sa.select(m.c.station_id, m.c.valid_from, m.c.valid_to)
                .where(m.c.charger_id == charger_id)
                .order_by(m.c.seq)
            )
        ]
    )


async def _charger_intervals(db: Database, charger_id: str) -> list[tuple[str, object, object]]:
    """The charger's intervals as ``membership.placed_station`` reads them: a registered charger with no
    interval row is at its row's station since always."""
    rows = await _interval_rows(db, charger_id)
    if rows:
        return rows
    station = await db.read(
        lambda conn: conn.execute(
            sa.select(registry.chargers.c.station_id).where(registry.chargers.c.charger_id == charger_id)
        ).scalar()
    )
    return [] if station is None else [(station, None, None)]


async def test_a_batch_with_a_duplicate_id_is_refused_naming_the_field_and_writes_nothing(
    db: Database,
) -> None:
    batch = [_charger("c1", "st-a"), _charger("c2", "st-a"), _charger("c1", "st-b")]
    with pytest.raises(InvalidArgument) as refused:
        await run(db, lambda uow: use_cases.upsert_chargers(uow, "agg-a", batch))
    assert refused.value.reason == use_cases.DUPLICATE_ID
    assert [v.field for v in refused.value.violations] == ["chargers[2].charger_id"]
    assert await _charger_ids(db) == []
    assert await _charger_intervals(db, "c2") == []


async def test_one_unknown_station_refuses_the_whole_batch(db: Database) -> None:
    batch = [_charger("c1", "st-a"), _charger("c2", "nowhere")]
    with pytest.raises(InvalidArgument) as refused:
        await run(db, lambda uow: use_cases.upsert_chargers(uow, "agg-a", batch))
    assert refused.value.reason == use_cases.STATION_NOT_FOUND
    assert [v.field for v in refused.value.violations] == ["chargers[1].station_id"]
    assert await _charger_ids(db) == []


async def test_moving_a_charger_to_another_station_closes_its_membership_and_answers_as_stored(
    db: Database,
) -> None:
    first = await run(db, lambda uow: use_cases.upsert_chargers(uow, "agg-a", [_charger("c1", "st-a")]))
    assert [(c.charger_id, c.station_id, c.aggregator_id, c.online) for c in first] == [
        ("c1", "st-a", "agg-a", False)
    ]

    moved = await run(
        db, lambda uow: use_cases.upsert_chargers(uow, "agg-a", [_charger("c1", "st-b")]), at=LATER
    )

    assert [(c.charger_id, c.station_id, c.update_time) for c in moved] == [("c1", "st-b", LATER)]
    assert await _charger_intervals(db, "c1") == [("st-a", None, LATER), ("st-b", LATER, None)]
    assert await _interval_rows(db, "c1") == [("st-a", None, LATER), ("st-b", LATER, None)]


async def test_a_new_charger_writes_its_membership_row_only_on_postgresql_and_a_move_writes_both(
    db: Database, database_url: str
) -> None:
    """On SQLite a charger is registered without an interval row (it is at its row's station since
    always) and a re-sent unchanged charger writes none either; its first move writes [−∞, move) at the
    station it leaves and [move, ∞) at the new one. PostgreSQL keeps opening the first interval."""
    batch = [_charger("c1", "st-a"), _charger("c2", "st-a")]
    await run(db, lambda uow: use_cases.upsert_chargers(uow, "agg-a", batch))
    await run(db, lambda uow: use_cases.upsert_chargers(uow, "agg-a", batch), at=LATER)
    on_postgresql = database_url.startswith("postgresql")
    assert await _interval_rows(db, "c1") == ([("st-a", None, None)] if on_postgresql else [])

    moved_at = LATER + timedelta(hours=1)
    await run(db, lambda uow: use_cases.upsert_chargers(uow, "agg-a", [_charger("c1", "st-b")]), at=moved_at)

    assert await _interval_rows(db, "c1") == [("st-a", None, moved_at), ("st-b", moved_at, None)]
    assert await _charger_intervals(db, "c2") == [("st-a", None, None)]


async def test_a_charger_id_another_tenant_holds_is_taken_without_naming_the_holder(db: Database) -> None:
    await run(db, lambda uow: use_cases.upsert_chargers(uow, "agg-a", [_charger("shared", "st-a")]))
    await run(db, lambda uow: use_cases.upsert_stations(uow, "agg-b", [Station("st-z", "", "ta-1", 0, 0)]))

    with pytest.raises(AlreadyExists) as taken:
        await run(db, lambda uow: use_cases.upsert_chargers(uow, "agg-b", [_charger("shared", "st-z")]))

    assert taken.value.reason == use_cases.CHARGER_ID_TAKEN
    assert taken.value.metadata == {"charger_id": "shared", "taken_count": "1"}
    assert "agg-a" not in str(taken.value)
    assert await _charger_intervals(db, "shared") == [("st-a", None, None)]


async def test_deleting_a_grid_node_with_children_or_stations_is_refused(db: Database) -> None:
    with pytest.raises(FailedPrecondition) as has_child:
        await run(db, lambda uow: use_cases.delete_grid_node(uow, "fd-1"))
    with pytest.raises(FailedPrecondition) as has_station:
        await run(db, lambda uow: use_cases.delete_grid_node(uow, "ta-1"))
    assert has_child.value.reason == has_station.value.reason == use_cases.GRID_NODE_IN_USE
    assert await db.read(lambda conn: registry.get_grid_node(conn, "fd-1").node_id) == "fd-1"

    await run(
        db,
        lambda uow: use_cases.upsert_grid_nodes(
            uow, [GridNode("ta-3", "TRANSFORMER_AREA", "fd-1", "", 0, 0)]
        ),
    )
    deleted = await run(db, lambda uow: use_cases.delete_grid_node(uow, "ta-3"), at=LATER)
    assert deleted.node_id == "ta-3"
    with pytest.raises(NotFound):
        await db.read(lambda conn: registry.get_grid_node(conn, "ta-3"))


async def test_grid_node_parents_come_in_the_batch_or_exist_already(db: Database) -> None:
    stored = await run(
        db,
        lambda uow: use_cases.upsert_grid_nodes(
            uow,
            [
                GridNode("ta-9", "TRANSFORMER_AREA", "fd-9", "", 0, 0),
                GridNode("fd-9", "FEEDER", None, "", 0, 0),
            ],
        ),
    )
    assert [(n.node_id, n.parent_id) for n in stored] == [("ta-9", "fd-9"), ("fd-9", None)]

    with pytest.raises(InvalidArgument) as refused:
        await run(
            db,
            lambda uow: use_cases.upsert_grid_nodes(
                uow,
                [GridNode("x-1", "FEEDER", None, "", 0, 0), GridNode("x-2", "FEEDER", "nowhere", "", 0, 0)],
            ),
        )
    assert refused.value.reason == use_cases.GRID_NODE_NOT_FOUND
    assert [v.field for v in refused.value.violations] == ["nodes[1].parent"]
    assert await db.read(lambda conn: registry.grid_nodes_by_id(conn, ["x-1", "x-2"])) == []


async def test_a_batch_that_would_make_a_grid_node_its_own_ancestor_is_refused_whole(db: Database) -> None:
    before = await db.read(lambda conn: registry.grid_nodes_by_id(conn, ["fd-1", "ta-1"]))
    refusals = []
    for batch in (
        # two new nodes, each the other's parent
        [GridNode("c-1", "FEEDER", "c-2", "", 0, 0), GridNode("c-2", "FEEDER", "c-1", "", 0, 0)],
        # a stored node moved under its own stored child (fd-1 is ta-1's parent)
        [GridNode("fd-1", "FEEDER", "ta-1", "", 0, 0)],
        # a node its own parent
        [GridNode("c-3", "FEEDER", "c-3", "", 0, 0)],
    ):
        with pytest.raises(InvalidArgument) as refused:
            await run(db, lambda uow, batch=batch: use_cases.upsert_grid_nodes(uow, batch))
        refusals.append(refused.value)
    assert [r.reason for r in refusals] == [use_cases.GRID_NODE_CYCLE] * 3
    assert [[(v.field, v.reason) for v in r.violations] for r in refusals] == [
        [("nodes[0].parent", "GRID_NODE_CYCLE"), ("nodes[1].parent", "GRID_NODE_CYCLE")],
        [("nodes[0].parent", "GRID_NODE_CYCLE")],
        [("nodes[0].parent", "GRID_NODE_CYCLE")],
    ]
    assert await db.read(lambda conn: registry.grid_nodes_by_id(conn, ["c-1", "c-2", "c-3"])) == []
    assert await db.read(lambda conn: registry.grid_nodes_by_id(conn, ["fd-1", "ta-1"])) == before

    # Turning the tree over in one batch is no cycle: ta-1 becomes the root above fd-1.
    moved = await run(
        db,
        lambda uow: use_cases.upsert_grid_nodes(
            uow,
            [
                GridNode("ta-1", "TRANSFORMER_AREA", None, "", 0, 0),
                GridNode("fd-1", "FEEDER", "ta-1", "", 0, 0),
            ],
        ),
    )
    assert [(n.node_id, n.parent_id) for n in moved] == [("ta-1", None), ("fd-1", "ta-1")]


async def test_deleting_a_station_deletes_its_chargers_and_closes_its_membership(db: Database) -> None:
    await run(db, lambda uow: use_cases.upsert_chargers(uow, "agg-a", [_charger("c1", "st-a")]))

    deleted = await run(db, lambda uow: use_cases.delete_station(uow, "agg-a", "st-a"), at=LATER)

    assert (deleted.station_id, deleted.grid_node_id) == ("st-a", "ta-1")
    with pytest.raises(NotFound):
        await db.read(
            lambda conn: registry.get_charger(conn, "agg-a", "st-a", "c1", LATER, timedelta(minutes=2))
        )
    m = membership.memberships
    intervals = await db.read(
        lambda conn: conn.execute(
            sa.select(m.c.grid_node_id, m.c.valid_to).where(
                m.c.aggregator_id == "agg-a", m.c.station_id == "st-a"
            )
        ).all()
    )
    assert [tuple(row) for row in intervals] == [("ta-1", LATER)]
    with pytest.raises(NotFound):
        await run(db, lambda uow: use_cases.delete_station(uow, "agg-a", "st-a"))


async def test_a_new_plug_in_ends_the_chargers_earlier_session_and_unknown_chargers_are_refused(
    db: Database,
) -> None:
    await run(db, lambda uow: use_cases.upsert_chargers(uow, "agg-a", [_charger("c1", "st-a")]))
    await run(db, lambda uow: use_cases.upsert_sessions(uow, "agg-a", [_session("s1", "c1", timedelta(0))]))

    answered = await run(
        db,
        lambda uow: use_cases.upsert_sessions(uow, "agg-a", [_session("s2", "c1", timedelta(hours=1))]),
        at=LATER,
    )

    assert [(s.session_id, s.state) for s in answered] == [("s2", ACTIVE)]
    [earlier] = await db.read(lambda conn: registry.sessions_by_id(conn, "agg-a", ["s1"]))
    assert (earlier.state, earlier.end_time) == (ENDED, NOW + timedelta(hours=1))

    with pytest.raises(InvalidArgument) as refused:
        await run(
            db, lambda uow: use_cases.upsert_sessions(uow, "agg-b", [_session("s9", "c1", timedelta(0))])
        )
    assert refused.value.reason == use_cases.INVALID_SESSION
    assert [v.field for v in refused.value.violations] == ["sessions[0].charger_id"]
    assert await db.read(lambda conn: registry.sessions_by_id(conn, "agg-b", ["s9"])) == []
