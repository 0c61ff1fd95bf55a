"""A Node.js aggregator client (@grpc/grpc-js + @grpc/proto-loader) built from the partner kit alone.

examples/partners/node/scenario.js runs against a live platform over mutual
TLS; the platform's store then shows what the client did.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from store.market_tables import BidRow
from store.registry_tables import ChargerRow

from .harness import RATE_LIMITS, ROOT, prepare, run

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def platform(database_url: str, platform_factory: Any) -> Any:
    async with platform_factory(database_url, rate_limits=RATE_LIMITS) as running:
        yield running


async def test_node_aggregator_scenario(platform: Any) -> None:
    scenario = await prepare(platform, "agg-a")

    out = await run(["node", str(ROOT / "examples/partners/node/scenario.js")], scenario.env)

    assert re.search(r"node scenario: (\d+) steps passed", out), out
    assert "fields request_id" in out and "retry after" in out, out

    def stored(conn: sa.Connection) -> tuple[list[str], list[str]]:
        chargers = conn.execute(
            sa.select(ChargerRow.charger_id).where(ChargerRow.aggregator_id == "agg-a")  # type: ignore[arg-type]
        )
        bids = conn.execute(sa.select(BidRow.event_id).where(BidRow.aggregator_id == "agg-a"))  # type: ignore[arg-type]
        return sorted(c for (c,) in chargers), [b for (b,) in bids]

    chargers, bids = await platform.db.read(stored)
    assert chargers == ["node-ch-1", "node-ch-2"]
    assert bids == ["ev-partner-1"]
