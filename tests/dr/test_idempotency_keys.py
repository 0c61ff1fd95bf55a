"""The servicers' idempotent writes (``server.servicers.write_once``) over a real server: what a key is made of.

A key is (the caller's principal URI, the full RPC name ``/package.Service/Method``,
request_id) — the same strings the servicers spelled out before the helper, so
keys stored by an earlier version still answer its retries after an upgrade.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from clients.errors import InvalidArgumentError
from clients.market import AggregatorMarketClient, GridMarketClient
from store.tables import IdempotencyKeyRow

from . import world
from .world import day_ahead_event, slots, tomorrow_at

pytestmark = pytest.mark.timeout(120)

KEYS = IdempotencyKeyRow.__table__  # type: ignore[attr-defined]
START = tomorrow_at(18)


async def test_keys_name_the_caller_and_the_rpc_and_a_reused_id_is_refused(platform: Any) -> None:
    await world.build(platform)
    grid = GridMarketClient(platform.grid)
    agg_a = AggregatorMarketClient(platform.channel_for("vgi://aggregator/agg-a"))
    published, bid = str(uuid.uuid4()), str(uuid.uuid4())

    first = await grid.publish_event(day_ahead_event("dr-1", START, [50_000]), request_id=published)
    await agg_a.submit_bid("events/dr-1", slots(START, [(40_000, "0.50")]), request_id=bid)

    rows = await platform.db.read(
        lambda conn: conn.execute(
            sa.select(KEYS.c.principal, KEYS.c.method).where(KEYS.c.request_id.in_([published, bid]))
        ).all()
    )
    assert sorted((r.principal, r.method) for r in rows) == [
        ("vgi://aggregator/agg-a", "/vgi.aggregator.v1.AggregatorService/SubmitBid"),
        ("vgi://grid/grid-1", "/vgi.dispatch.v1.DispatchService/PublishEvent"),
    ]

    # A retry answers the stored response; the same id with another body is refused, nothing written.
    assert await grid.publish_event(day_ahead_event("dr-1", START, [50_000]), request_id=published) == first
    with pytest.raises(InvalidArgumentError) as reused:
        await grid.publish_event(day_ahead_event("dr-2", START, [50_000]), request_id=published)
    assert reused.value.reason == "REQUEST_ID_REUSED"
    assert [e.event_id for e in (await grid.list_events()).events] == ["dr-1"]
    # The id is the caller's own: another principal may use it for its own call.
    agg_b = AggregatorMarketClient(platform.channel_for("vgi://aggregator/agg-b"))
    other = await agg_b.submit_bid("events/dr-1", slots(START, [(40_000, "0.60")]), request_id=bid)
    assert other.name == "events/dr-1/bids/agg-b"
