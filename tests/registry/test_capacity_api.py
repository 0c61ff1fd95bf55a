"""Adjustable capacity (F3), statistics (F12) and prices (F11) over the real server and store."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from google.type import money_pb2
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import capacity_pb2, prices_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from clients.errors import InvalidArgumentError, NotFoundError
from clients.registry import GridRegistryClient
from domain import capacity as f3
from store import pagination
from store.outbox_tables import OutboxNotificationRow
from store.tables import table_of

from .world import aggregator_client, charger, meter, now, onboard, session, station, topology, ts

pytestmark = pytest.mark.timeout(120)

AREA_LIMIT_W = 30_000
AREA_BASE_LOAD_W = 12_000

# (session, charger, charger is V2G, rated charge W, session kwargs, metered power W or None)
FLEET = [
    ("s1", "a1", "st-a", True, 11_000, {"v2g": True}, 3_000),
    (
        "s2",
        "a2",
        "st-a",
        False,
        7_400,
        {"soc": 0.2, "target_soc": 0.9, "battery_wh": 50_000, "max_charge_w": 11_000, "hours_left": 8},
        5_000,
    ),
    ("s3", "a3", "st-a", False, 7_000, {}, None),
    ("s4", "a4", "st-a", True, 11_000, {"v2g": True, "soc": 0.9, "floor_soc": 0.2}, -2_000),
    ("s5", "b1", "st-b", False, 7_000, {}, 1_000),
]


async def _world(platform: Any) -> tuple[GridRegistryClient, Any]:
    await onboard(platform, "agg-1", "agg-2")
    grid = await topology(platform, area_limit_w=AREA_LIMIT_W, area_base_load_w=AREA_BASE_LOAD_W)
    client = aggregator_client(platform)
    await client.upsert_stations([station("st-a", "ta1"), station("st-b", "ta2")])
    await client.upsert_chargers(
        [charger(c, st, v2g=v2g, rated_w=rated) for _, c, st, v2g, rated, _, _ in FLEET]
    )
    t = now()
    await client.upsert_sessions([session(s, c, t, **kwargs) for s, c, _, _, _, kwargs, _ in FLEET])
    readings = [
        meter(c, t - timedelta(seconds=5), power) for _, c, _, _, _, _, power in FLEET if power is not None
    ]
    acks = [
        ack
        async for ack in client.upload_telemetry(
            [agg_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=readings)]
        )
    ]
    assert acks[0].stored_points == 4
    return grid, client


def _independent(station_ids: set[str], platform_now: Any) -> list[f3.SessionCapacity]:
    """F3 per registered session by the reference formulas, from the same inputs the test registered."""
    out = []
    for s, c, st, v2g, rated, kwargs, power in FLEET:
        if st not in station_ids:
            continue
        proto = session(s, c, platform_now, **kwargs)
        out.append(
            f3.session_capacity(
                f3.EvSession(
                    session_id=s,
                    aggregator_id="agg-1",
                    charger=f3.Charger(c, rated, 6_000 if v2g else 0, v2g),
                    battery_wh=proto.battery_wh,
                    soc=Decimal(str(proto.soc)),
                    target_soc=Decimal(str(proto.target_soc)),
                    v2g_floor_soc=Decimal(str(proto.v2g_floor_soc)),
                    departure=proto.expected_departure_time.ToDatetime().replace(tzinfo=platform_now.tzinfo),
                    max_charge_w=proto.max_charge_w,
                    max_discharge_w=proto.max_discharge_w,
                    bidirectional=proto.bidirectional,
                    meter=None if power is None else f3.MeterValue(power, platform_now),
                ),
                platform_now,
                timedelta(seconds=120),
            )
        )
    return out


async def test_node_capacity_is_the_independent_sum_with_a_binding_area_cap(platform: Any) -> None:
    grid, client = await _world(platform)
    t = now()

    area = (await grid.get_adjustable_capacity("gridNodes/ta1")).capacity
    want = f3.node_capacity(_independent({"st-a"}, t), limit_w=AREA_LIMIT_W, base_load_w=AREA_BASE_LOAD_W)
    uncapped = f3.sum_capacity(_independent({"st-a"}, t))
    # Worked by hand: decrease 9,000 + 5,000 + 7,000 + 4,000; increase 4,000 + 2,400 + 0 + 2,000 = 8,400,
    # capped by 30,000 − 12,000 − (3,000 + 5,000 + 7,000 − 2,000) = 5,000.
    assert (uncapped.decrease_w, uncapped.increase_w) == (25_000, 8_400)
    assert (want.decrease_w, want.increase_w, want.present_load_w - AREA_BASE_LOAD_W) == (
        25_000,
        5_000,
        13_000,
    )
    assert (area.scope, area.decrease_w, area.increase_w, area.present_power_w, area.active_sessions) == (
        "gridNodes/ta1",
        want.decrease_w,
        want.increase_w,
        13_000,
        4,
    )

    feeder = (await grid.get_adjustable_capacity("gridNodes/f1")).capacity
    other = f3.sum_capacity(_independent({"st-b"}, t))
    assert (other.decrease_w, other.increase_w) == (1_000, 6_000)
    assert (feeder.decrease_w, feeder.increase_w, feeder.present_power_w, feeder.active_sessions) == (
        26_000,
        5_000 + 6_000,
        14_000,
        5,
    )

    own = (await client.get_adjustable_capacity()).capacity
    assert (own.scope, own.decrease_w, own.increase_w, own.active_sessions) == (
        "aggregators/agg-1",
        26_000,
        14_400,
        5,
    )
    assert (await grid.get_adjustable_capacity("aggregators/agg-1")).capacity.increase_w == 14_400

    updates = grid.stream_adjustable_capacity("gridNodes/ta1", interval_seconds=1)
    first = await anext(updates)
    await updates.aclose()
    assert (first.decrease_w, first.increase_w) == (25_000, 5_000)

    with pytest.raises(NotFoundError) as caught:
        await grid.get_adjustable_capacity("gridNodes/nope")
    assert caught.value.reason == "GRID_NODE_NOT_FOUND"


async def test_statistics_per_node_aggregator_and_platform(platform: Any) -> None:
    grid, _ = await _world(platform)

    area = await grid.get_statistics("gridNodes/ta1")
    assert (area.stations, area.chargers, area.v2g_chargers, area.online_chargers, area.active_sessions) == (
        1,
        4,
        2,
        3,
        4,
    )
    assert (area.rated_charge_w, area.rated_discharge_w, area.decrease_w, area.increase_w) == (
        36_400,
        12_000,
        25_000,
        5_000,
    )

    operator = operator_grpc.OperatorServiceStub(platform.channel)
    response = await operator.GetStatistics(
        operator_pb.GetStatisticsRequest(scope="aggregators/agg-1"), timeout=10
    )
    mine = response.statistics
    assert (mine.scope, mine.stations, mine.chargers, mine.online_chargers, mine.active_sessions) == (
        "aggregators/agg-1",
        2,
        5,
        4,
        5,
    )
    assert (mine.decrease_w, mine.increase_w) == (26_000, 14_400)

    everything = await grid.get_statistics()
    assert (everything.chargers, everything.rated_charge_w, everything.increase_w) == (5, 43_400, 14_400)
    empty = await grid.get_statistics("aggregators/agg-2")
    assert (empty.stations, empty.chargers, empty.decrease_w) == (0, 0, 0)
    with pytest.raises(NotFoundError):
        await grid.get_statistics("aggregators/nobody")


async def test_declaration_overrides_the_history_forecast(platform: Any) -> None:
    grid, client = await _world(platform)
    day = (now() + timedelta(days=2)).replace(hour=16, minute=0, second=0)  # midnight in Shanghai
    declared = capacity_pb2.CapacityDeclaration(
        day_start_time=ts(day),
        decrease_w=[1_000 + k for k in range(96)],
        increase_w=[2_000 + k for k in range(96)],
        decrease_price=money_pb2.Money(currency_code="CNY", units=1, nanos=500_000_000),
    )
    assert await client.declare_capacity(declared) == declared

    forecast = (await client.get_adjustable_capacity(forecast_day_start=ts(day))).forecast
    assert forecast.source == capacity_pb2.CAPACITY_FORECAST_SOURCE_DECLARATION
    assert list(forecast.decrease_w) == [1_000 + k for k in range(96)]
    assert list(forecast.increase_w) == [2_000 + k for k in range(96)]

    node = (await grid.get_adjustable_capacity("gridNodes/ta1", forecast_day_start=ts(day))).forecast
    assert node.source == capacity_pb2.CAPACITY_FORECAST_SOURCE_HISTORY
    assert list(node.decrease_w) == [0] * 96  # no history recorded four weeks back

    with pytest.raises(InvalidArgumentError) as caught:
        await client.get_adjustable_capacity(forecast_day_start=ts(day + timedelta(hours=1)))
    assert caught.value.reason == "NOT_LOCAL_MIDNIGHT"
    assert [v.field for v in caught.value.field_violations] == ["forecast_day_start_time"]


def _curve(curve_id: str, kind: int, prices: list[str], grid_node: str = "") -> prices_pb2.PriceCurve:
    def money(value: str) -> money_pb2.Money:
        amount = Decimal(value)
        units = int(amount)
        return money_pb2.Money(currency_code="CNY", units=units, nanos=int((amount - units) * 10**9))

    return prices_pb2.PriceCurve(
        price_curve_id=curve_id,
        kind=kind,  # type: ignore[arg-type]
        grid_node=grid_node,
        start_time=ts(now().replace(minute=0, second=0)),
        step_minutes=60,
        prices=[money(p) for p in prices],
    )


async def test_price_curves_keep_history_and_notify_the_aggregators_concerned(platform: Any) -> None:
    grid, _ = await _world(platform)
    await onboard(platform, "agg-3")
    tou = prices_pb2.PRICE_CURVE_KIND_TIME_OF_USE
    first = await grid.publish_price_curve(_curve("tou", tou, ["0.3120", "0.3120", "1.0450"]))
    second = await grid.publish_price_curve(_curve("tou", tou, ["0.3000", "0.9000"]))
    local = await grid.publish_price_curve(
        _curve("dr-ta1", prices_pb2.PRICE_CURVE_KIND_INCENTIVE, ["3.5"], grid_node="gridNodes/ta1")
    )
    assert first.name == "priceCurves/tou" and first.publish_time.seconds > 0
    assert [(p.units, p.nanos) for p in first.prices] == [(0, 312_000_000), (0, 312_000_000), (1, 45_000_000)]

    listed = await grid.list_price_curves(page_size=2)
    assert [c.price_curve_id for c in listed.price_curves] == ["dr-ta1", "tou"]
    assert listed.price_curves[1] == second
    rest = await grid.list_price_curves(page_size=2, page_token=listed.next_page_token)
    assert rest.price_curves == [first] and rest.next_page_token == ""
    # A token of this List whose key is not a publication id is refused, not an internal error.
    with pytest.raises(InvalidArgumentError) as forged:
        await grid.list_price_curves(page_token=pagination.encode("priceCurves?kind=&node=", ["x"]))
    assert forged.value.reason == "INVALID_PAGE_TOKEN"
    only_tou = await grid.list_price_curves(kind=tou)
    assert [len(c.prices) for c in only_tou.price_curves] == [2, 3]
    assert [
        c.price_curve_id for c in (await grid.list_price_curves(grid_node="gridNodes/ta1")).price_curves
    ] == ["dr-ta1"]
    assert local.grid_node == "gridNodes/ta1"

    table = table_of(OutboxNotificationRow)
    rows = await platform.db.read(
        lambda conn: conn.execute(
            sa.select(table.c.aggregator_id, table.c.kind).order_by(table.c.aggregator_id)
        ).all()
    )
    per_aggregator: dict[str, int] = {}
    for row in rows:
        per_aggregator[row.aggregator_id] = per_aggregator.get(row.aggregator_id, 0) + 1
    # Region-wide curves reach every aggregator; the ta1 incentive only agg-1, the one with a station there.
    assert per_aggregator == {"agg-1": 3, "agg-2": 2, "agg-3": 2}

    with pytest.raises(InvalidArgumentError) as caught:
        await grid.publish_price_curve(_curve("bad", tou, ["1"], grid_node="gridNodes/nowhere"))
    assert caught.value.reason == "GRID_NODE_NOT_FOUND"
    assert [v.field for v in caught.value.field_violations] == ["price_curve.grid_node"]
    usd = _curve("usd", tou, ["1"])
    usd.prices[0].currency_code = "USD"
    with pytest.raises(InvalidArgumentError) as caught:
        await grid.publish_price_curve(usd)
    assert caught.value.reason == "CURRENCY_NOT_CNY"
    assert [v.field for v in caught.value.field_violations] == ["price_curve.prices[0].currency_code"]
