"""Rules the contract states, held by the platform: the currency rule has its own reason; cross-field
rules are CEL message rules in the proto, enforced by the validation interceptor."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from dr import world
from google.type import decimal_pb2, money_pb2
from registry import world as registry_world
from vgi.common.v1 import market_pb2, resources_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb

from clients.errors import InvalidArgumentError
from clients.market import AggregatorMarketClient, GridMarketClient
from clients.registry import AggregatorRegistryClient
from clients.settlement import ProgramClient

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
    assert [(v.field, v.description, v.reason) for v in refused.value.field_violations] == [
        ("event.window", "end_time must be after start_time", "TIME_WINDOW_END_AFTER_START")
    ]


async def test_a_session_leaving_before_it_plugs_in_breaks_the_contract_rule(platform: Any) -> None:
    await world.build(platform, managed_sessions={"agg-a": [("s-1", 2.0)]})
    session = registry_world.session("s-2", "ch-s-1", registry_world.now())
    session.expected_departure_time.CopyFrom(world.ts(registry_world.now() - timedelta(hours=1)))
    registry = AggregatorRegistryClient(platform.channel_for("vgi://aggregator/agg-a"))

    with pytest.raises(InvalidArgumentError) as refused:
        await registry.upsert_sessions([session])

    assert refused.value.reason == "VALIDATION_FAILED"
    assert [(v.field, v.description, v.reason) for v in refused.value.field_violations] == [
        (
            "sessions[0]",
            "expected_departure_time must not be before plug_in_time",
            "EV_SESSION_DEPARTURE_NOT_BEFORE_PLUG_IN",
        )
    ]


def _broken_rules(refused: pytest.ExceptionInfo[InvalidArgumentError]) -> list[tuple[str, str]]:
    assert refused.value.reason == "VALIDATION_FAILED"
    return [(v.field, v.reason) for v in refused.value.field_violations]


async def test_a_bid_deadline_after_the_window_start_breaks_the_contract_rule(platform: Any) -> None:
    await world.build(platform)
    start = world.tomorrow_at(18)
    late = world.day_ahead_event("ev-late", start, [100_000], deadline=start + timedelta(minutes=15))
    grid = GridMarketClient(platform.grid)

    with pytest.raises(InvalidArgumentError) as refused:
        await grid.publish_event(late)

    assert _broken_rules(refused) == [("event", "EVENT_BID_DEADLINE_NOT_AFTER_WINDOW_START")]
    # At the window start is allowed.
    on_time = world.day_ahead_event("ev-on-time", start, [100_000], deadline=start)
    assert (await grid.publish_event(on_time)).event_id == "ev-on-time"


async def test_bid_slots_twice_or_off_the_slot_grid_break_the_contract_rules(platform: Any) -> None:
    await world.build(platform)
    start = world.tomorrow_at(18)
    await GridMarketClient(platform.grid).publish_event(world.day_ahead_event("ev-b", start, [100_000] * 2))
    aggregator = AggregatorMarketClient(platform.channel_for("vgi://aggregator/agg-a"))
    twice = world.slots(start, [(1_000, "0.50"), (1_000, "0.60")])
    twice[1].slot_start_time.CopyFrom(world.ts(start))
    off_grid = world.slots(start + timedelta(minutes=5), [(1_000, "0.50")])

    with pytest.raises(InvalidArgumentError) as duplicate:
        await aggregator.submit_bid("events/ev-b", twice)
    with pytest.raises(InvalidArgumentError) as misaligned:
        await aggregator.submit_bid("events/ev-b", off_grid)

    assert _broken_rules(duplicate) == [("bid", "BID_SLOTS_DISTINCT")]
    assert _broken_rules(misaligned) == [("bid.slots[0]", "BID_SLOT_START_ON_SLOT_BOUNDARY")]
    # Distinct slots on the grid, in any order, are a bid.
    reversed_slots = world.slots(start, [(1_000, "0.50"), (1_000, "0.60")])[::-1]
    submitted = await aggregator.submit_bid("events/ev-b", reversed_slots)
    assert len(submitted.slots) == 2


@pytest.mark.parametrize(
    ("low", "high", "rule"),
    [
        ("qualified_min_rate", "qualified_max_rate", "PROGRAM_QUALIFIED_MIN_NOT_ABOVE_MAX"),
        ("penalty_threshold_rate", "cap_rate", "PROGRAM_PENALTY_THRESHOLD_NOT_ABOVE_CAP"),
    ],
)
async def test_a_program_range_set_upside_down_breaks_the_contract_rule(
    platform: Any, low: str, high: str, rule: str
) -> None:
    programs = ProgramClient(platform.channel)
    upside_down = operator_pb.Program(name="programs/upside-down")
    getattr(upside_down, low).CopyFrom(decimal_pb2.Decimal(value="1.3"))
    getattr(upside_down, high).CopyFrom(decimal_pb2.Decimal(value="1.25"))

    with pytest.raises(InvalidArgumentError) as refused:
        await programs.upsert_program(upside_down)

    assert _broken_rules(refused) == [("program", rule)]
    # Equal ends are a range.
    getattr(upside_down, high).CopyFrom(decimal_pb2.Decimal(value="1.3"))
    stored = await programs.upsert_program(upside_down)
    assert (getattr(stored, low).value, getattr(stored, high).value) == ("1.3", "1.3")


async def test_a_bad_name_breaks_the_name_rule_declared_once(platform: Any) -> None:
    """Name patterns are predefined rules of vgi/common/v1/names.proto, each declared once and set on
    every field holding such a name; a field that may be empty skips them when empty."""
    await world.build(platform)
    registry = AggregatorRegistryClient(platform.channel_for("vgi://aggregator/agg-a"))

    with pytest.raises(InvalidArgumentError) as bad_charger:
        await registry.get_charger("aggregators/agg-a/chargers/ch-1")
    with pytest.raises(InvalidArgumentError) as bad_node:
        await registry.list_stations(grid_node="nodes/ta-1")
    with pytest.raises(InvalidArgumentError) as nested:
        await registry.upsert_stations([resources_pb2.Station(station_id="st-x", grid_node="nodes/ta-1")])

    assert [(v.field, v.reason, v.description) for v in bad_charger.value.field_violations] == [
        (
            "name",
            "STRING_CHARGER_NAME",
            "must be aggregators/{aggregator}/stations/{station}/chargers/{charger}",
        )
    ]
    assert _broken_rules(bad_node) == [("grid_node", "STRING_GRID_NODE_NAME")]
    assert _broken_rules(nested) == [("stations[0].grid_node", "STRING_GRID_NODE_NAME")]
    # Empty is "no filter" on an optional name.
    assert len((await registry.list_stations(grid_node="")).stations) > 0


async def test_business_refusals_name_their_own_reason_and_the_violations_theirs(platform: Any) -> None:
    """Outside-in finding: a past event window and a bid slot outside the window answered the generic
    ErrorInfo reason INVALID_ARGUMENT, so a partner decoding by reason could not tell them apart."""
    await world.build(platform)
    grid = GridMarketClient(platform.grid)
    past_start = world.tomorrow_at(18) - timedelta(days=3)
    with pytest.raises(InvalidArgumentError) as past:
        await grid.publish_event(world.day_ahead_event("ev-past", past_start, [100_000]))
    assert past.value.reason == "INVALID_EVENT"
    assert ("event.window.end_time", "WINDOW_ENDED") in [
        (v.field, v.reason) for v in past.value.field_violations
    ]

    start = world.tomorrow_at(18)
    await grid.publish_event(world.day_ahead_event("ev-slots", start, [100_000]))
    aggregator = AggregatorMarketClient(platform.channel_for("vgi://aggregator/agg-a"))
    after_window = market_pb2.BidSlot(
        slot_start_time=world.ts(start + timedelta(hours=3)),
        capacity_w=10_000,
        price=money_pb2.Money(currency_code="CNY", units=0, nanos=500_000_000),
    )
    with pytest.raises(InvalidArgumentError) as outside:
        await aggregator.submit_bid("events/ev-slots", [after_window])
    assert outside.value.reason == "INVALID_BID_SLOTS"
    assert [(v.field, v.reason) for v in outside.value.field_violations] == [
        ("bid.slots[0].slot_start_time", "SLOT_NOT_IN_WINDOW")
    ]
