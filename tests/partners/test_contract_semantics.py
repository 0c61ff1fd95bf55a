"""Rules the contract states, held by the platform: the currency rule has its own reason; cross-field
rules are CEL message rules in the proto, enforced by the validation interceptor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from dr import world
from google.type import money_pb2
from registry import world as registry_world
from vgi.common.v1 import market_pb2

from clients.errors import InvalidArgumentError
from clients.market import AggregatorMarketClient, GridMarketClient
from clients.registry import AggregatorRegistryClient

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


async def test_a_window_that_does_not_end_after_it_starts_breaks_the_contract_rule(platform: Any) -> None:
    await world.build(platform)
    start = world.tomorrow_at(18)
    empty = world.day_ahead_event("ev-empty", start, [100_000])
    empty.window.end_time.CopyFrom(world.ts(start))

    with pytest.raises(InvalidArgumentError) as refused:
        await GridMarketClient(platform.grid).publish_event(empty)

    assert refused.value.reason == "VALIDATION_FAILED"
    assert [(v.field, v.description) for v in refused.value.field_violations] == [
        ("event.window", "end_time must be after start_time")
    ]


async def test_a_session_leaving_before_it_plugs_in_breaks_the_contract_rule(platform: Any) -> None:
    await world.build(platform, managed_sessions={"agg-a": [("s-1", 2.0)]})
    session = registry_world.session("s-2", "ch-s-1", registry_world.now())
    session.expected_departure_time.CopyFrom(world.ts(registry_world.now() - timedelta(hours=1)))
    registry = AggregatorRegistryClient(platform.channel_for("vgi://aggregator/agg-a"))

    with pytest.raises(InvalidArgumentError) as refused:
        await registry.upsert_sessions([session])

    assert refused.value.reason == "VALIDATION_FAILED"
    assert [(v.field, v.description) for v in refused.value.field_violations] == [
        ("sessions[0]", "expected_departure_time must not be before plug_in_time")
    ]
