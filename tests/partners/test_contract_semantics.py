"""Rules the contract comments state, held by the platform: the currency rule has its own reason."""

from __future__ import annotations

from typing import Any

import pytest
from dr import world
from google.type import money_pb2
from vgi.common.v1 import market_pb2

from clients.errors import InvalidArgumentError
from clients.market import AggregatorMarketClient, GridMarketClient

pytestmark = pytest.mark.timeout(60)


async def test_a_price_in_another_currency_answers_currency_not_cny(platform: Any) -> None:
    await world.build(platform)
    start = world.tomorrow_at(18)
    await GridMarketClient(platform.grid).publish_event(world.day_ahead_event("ev-usd", start, [100_000]))
    aggregator = AggregatorMarketClient(platform.channel_for("vgi://aggregator/agg-a"))
    usd = market_pb2.BidSlot(
        slot_start_time=world.ts(start),
        capacity_w=10_000,
        price=money_pb2.Money(currency_code="USD", units=0, nanos=500_000_000),
    )

    with pytest.raises(InvalidArgumentError) as refused:
        await aggregator.submit_bid("events/ev-usd", [usd])

    assert refused.value.reason == "CURRENCY_NOT_CNY"
    assert [v.field for v in refused.value.field_violations] == ["bid.slots[0].price.currency_code"]
    euro_cap = world.day_ahead_event("ev-eur", start, [100_000])
    euro_cap.price_cap.CopyFrom(money_pb2.Money(currency_code="EUR", units=1))
    with pytest.raises(InvalidArgumentError) as grid_refused:
        await GridMarketClient(platform.grid).publish_event(euro_cap)
    assert grid_refused.value.reason == "CURRENCY_NOT_CNY"
