"""A grid topology or a fleet of chargers loaded through the API is planned as it is (PostgreSQL
statistics, store.planner_stats).

Without statistics PostgreSQL planned the capacity query's recursive subtree of a freshly loaded
10,000-node tree as a nested loop over sequential scans (11 s; 10 ms analyzed). Autovacuum is off on
this machine's shared PostgreSQL, so nothing else refreshes them here.
"""

from __future__ import annotations

from typing import Any

import pytest
from vgi.common.v1 import resources_pb2

from store.capacity import _SUBTREE

from .world import aggregator_client, charger, node, onboard, station, topology

pytestmark = pytest.mark.timeout(120)

FEEDERS = 40
AREAS_PER_FEEDER = 50  # 2,000 areas: past autovacuum's rule (50 + 10 %) for a table of 5 nodes


def _planner_rows(platform: Any, table: str = "grid_nodes") -> float:
    with platform.db.engine.connect() as conn:
        return float(
            conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (table,)
            ).scalar_one()
        )


def _subtree_plan(platform: Any, node_id: str) -> str:
    with platform.db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "EXPLAIN " + _SUBTREE.replace("?", "%s") + "SELECT count(*) FROM subtree", (node_id,)
        ).fetchall()
    return "\n".join(row[0] for row in rows)


async def test_a_large_topology_batch_leaves_statistics_the_planner_can_use(
    platform: Any, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite plans the subtree from its indexes; it keeps no statistics to refresh")
    grid = await topology(platform)
    small = _planner_rows(platform)
    assert small < 50  # five nodes: below the rule, nothing analyzed yet (-1 = never)

    feeders = [node(f"fx{f}", resources_pb2.GRID_NODE_KIND_FEEDER, "s1") for f in range(FEEDERS)]
    areas = [
        node(f"fx{f}-ta{a}", resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA, f"fx{f}")
        for f in range(FEEDERS)
        for a in range(AREAS_PER_FEEDER)
    ]
    await grid.upsert_grid_nodes(feeders + areas)

    assert _planner_rows(platform) == 5 + FEEDERS + FEEDERS * AREAS_PER_FEEDER
    plan = _subtree_plan(platform, "r1")
    # Planned for ~2,000 children, not for a handful: the children are not found by comparing every
    # row of one side with every row of the other (a nested loop's Join Filter, 11 s at 10,000 nodes).
    assert "Join Filter" not in plan, plan


async def test_a_fleet_of_chargers_registered_in_one_batch_leaves_statistics(
    platform: Any, database_url: str
) -> None:
    """Each telemetry batch's latest-reading update finds its chargers among the aggregator's; planned
    without statistics as if the aggregator had one charger (a hash of every one of its rows per batch)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite keeps no statistics to refresh")
    await onboard(platform, "agg-1")
    await topology(platform)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1")])
    await client.upsert_chargers([charger("one", "st-a")])
    assert _planner_rows(platform, "chargers") < 50  # below the rule: nothing analyzed yet

    await client.upsert_chargers([charger(f"c{i:03d}", "st-a") for i in range(200)])

    assert _planner_rows(platform, "chargers") == 201
