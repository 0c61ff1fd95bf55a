"""The scenario: onboarding, registration, history, three events through settlement, and the report's data.

``simulate`` drives one run against a platform reached at ``Access.target``
(a separate ``vgi serve --simulated-clock`` process, or one in the test's
process started the same way). Each party (operator, grid, every
aggregator, every managed device) has its own channel with its own
certificate and token and uses only the public gRPC surfaces; time moves by
the operator's AdvanceClock (see ``clients.simulate.timeline``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import grpc
from tqdm import tqdm
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import (
    capacity_pb2,
    market_pb2,
    prices_pb2,
    resources_pb2,
    settlement_pb2,
    telemetry_pb2,
    types_pb2,
)

from clients.market import AggregatorMarketClient, GridMarketClient
from clients.registry import AggregatorRegistryClient, GridRegistryClient
from clients.settlement import AggregatorSettlementClient, GridSettlementClient
from clients.simulate import report as rpt
from clients.simulate.ocpp_station import OcppStation
from clients.simulate.parties import (
    Credentials,
    Device,
    Inbox,
    Operator,
    cancel_all,
    connect,
    decimal,
    instant,
    money,
    polite,
    power_curve,
    timestamp,
)
from clients.simulate.population import (
    SLOT,
    SLOTS_PER_DAY,
    Fleet,
    Kind,
    LiveSession,
    Population,
    Session,
    SlotOutcome,
    build_population,
    expected_baseline,
    local_midnight,
    sessions_for_days,
    unmanaged_load,
)
from clients.simulate.timeline import EventKind, EventPlan, plan
from clients.streams import NotificationSubscriber

T = TypeVar("T")

PRICE_CAP = Decimal("3.00")
ANNOUNCED_PRICE = Decimal("2.00")
DECLARED_SHARE = 0.9
"""Aggregators declare this share of their fleet's flexibility (a cautious forecast)."""
BID_SHARE = 0.8
"""…and bid this share of what they declared."""
CHART_CONTEXT = timedelta(hours=2)
BATCH_ITEMS = 10_000
SLOT_HOURS = SLOT.total_seconds() / 3600
CHARGER_METERED = frozenset({"city-charge"})
"""Aggregators that upload no 15-minute means inside event windows: the platform meters them from their chargers."""
OCPP_STATIONS = 2  # managed chargers that join through the OCPP gateway when the simulation is given one
#: EvaluateEvent's deadline: one call evaluates a whole event (3-10 s of work on a loaded 2-core machine).
EVALUATE_DEADLINE_SECONDS = 60.0
TOU_PRICES = (  # CNY/kWh by local hour: valley 23–07, peak 10–12 and 18–21, flat otherwise
    ("0.30",) * 7 + ("0.70",) * 3 + ("1.20",) * 2 + ("0.70",) * 6 + ("1.20",) * 3 + ("0.70",) * 2 + ("0.30",)
)


@dataclass(frozen=True)
class Config:
    seed: int = 7
    chargers: int = 1000
    aggregators: int = 3
    history_days: int = 60
    managed_per_aggregator: int = 2
    progress: bool = True


@dataclass(frozen=True)
class Access:
    """How to reach the platform: address, the CA that signed its certificate, the operator's credentials."""

    target: str
    ca_pem: bytes
    operator: Credentials
    description: str
    ocpp_target: str = ""
    """host:port of the platform's OCPP gateway: then OCPP_STATIONS managed chargers connect through it."""


@dataclass
class AggregatorParty:
    aggregator_id: str
    display_name: str
    bid_price: Decimal
    channel: grpc.aio.Channel
    registry: AggregatorRegistryClient
    market: AggregatorMarketClient
    settlement: AggregatorSettlementClient
    inbox: Inbox
    uplink: Uplink
    declared_decrease_w: list[int] = field(default_factory=list)


class Uplink:
    """One long-lived UploadTelemetry stream: ``send`` a batch, get its commit acknowledgement."""

    def __init__(self, client: AggregatorRegistryClient) -> None:
        self._queue: asyncio.Queue[agg_pb.TelemetryBatch | None] = asyncio.Queue()
        self._acks: asyncio.Queue[agg_pb.UploadTelemetryResponse] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump(client))

    async def _batches(self) -> Any:
        while (batch := await self._queue.get()) is not None:
            yield batch

    async def _pump(self, client: AggregatorRegistryClient) -> None:
        async for ack in client.upload_telemetry(self._batches()):
            await self._acks.put(ack)

    async def send(self, batch: agg_pb.TelemetryBatch) -> agg_pb.UploadTelemetryResponse:
        await self._queue.put(batch)
        waiter = asyncio.ensure_future(self._acks.get())
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            self._task.result()  # the stream failed: raise its error
            raise ConnectionError("the telemetry stream ended before acknowledging a batch")
        ack = waiter.result()
        if ack.batch_id != batch.batch_id:
            raise ConnectionError(f"acknowledged batch {ack.batch_id}, sent {batch.batch_id}")
        return ack

    async def close(self) -> None:
        await self._queue.put(None)
        await self._task


class PlatformClock:
    """The platform's simulated clock as the simulator moves it: AdvanceClock answers with the platform time."""

    def __init__(self, operator: Operator, now: datetime) -> None:
        self._operator = operator
        self.now = now

    async def advance(self, to: datetime) -> None:
        """Move the platform to ``to`` (nothing when it is there already); its scheduler and monitor catch up."""
        if to > self.now:
            self.now = await self._operator.advance_clock(to)


def _bar(progress: bool, total: int, desc: str, unit: str) -> tqdm[Any]:
    return tqdm(total=total, desc=desc, unit=unit, disable=not progress, file=sys.stderr, leave=True)


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for first in range(0, len(items), size):
        yield items[first : first + size]


async def _gather(calls: Iterable[Awaitable[T]]) -> list[T]:
    return list(await asyncio.gather(*calls))


class Scenario:
    def __init__(self, config: Config, access: Access) -> None:
        self.config = config
        self.access = access
        self.population: Population = build_population(
            config.seed,
            config.chargers,
            config.aggregators,
            managed_per_aggregator=config.managed_per_aggregator,
        )
        self._channels: list[grpc.aio.Channel] = []
        self.operator = Operator(self._open(access.operator))
        self._tasks: list[asyncio.Task[Any]] = []
        self.aggregators: dict[str, AggregatorParty] = {}
        self.devices: dict[str, Device | OcppStation] = {}
        self.outcomes: list[SlotOutcome] = []
        self._registered: set[str] = set()
        self._register_wh: dict[str, float] = {}
        self._export_wh: dict[str, float] = {}
        self._kind = {c.charger_id: c.kind for c in self.population.chargers}
        # Meters report a little late and now and then twice in a row: their own jitter, seeded.
        self._jitter = random.Random(f"meter-jitter-{config.seed}")
        self._instructions: dict[str, list[market_pb2.Instruction]] = {}
        self._shortfall: dict[str, int] = {}
        self._targets: dict[str, list[int]] = {}
        self._baselines: dict[tuple[str, datetime, datetime], list[float]] = {}

    # ------------------------------------------------------------ lifecycle

    def _open(self, credentials: Credentials) -> grpc.aio.Channel:
        channel = connect(self.access.target, self.access.ca_pem, credentials)
        self._channels.append(channel)
        return channel

    async def close(self) -> None:
        for party in self.aggregators.values():
            with contextlib.suppress(Exception):
                await party.uplink.close()
        await cancel_all(self._tasks)
        for device in self.devices.values():
            await device.session.close()
        for channel in self._channels:
            await channel.close(None)

    async def _phase(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        started = time.perf_counter()
        await work()
        self.report.timings[name] = time.perf_counter() - started

    async def _start(self) -> None:
        """Read the platform's time (moving it to ours when it is behind) and plan the run from it."""
        now = await self.operator.advance_clock(datetime.now(UTC))
        self.clock = PlatformClock(self.operator, now)
        self.timeline = timeline = plan(now, self.config.seed, history_days=self.config.history_days)
        self.monitored = {at for e in timeline.events for at in e.slots}
        self.report = rpt.Report(
            seed=self.config.seed,
            chargers=self.config.chargers,
            aggregators=self.config.aggregators,
            event_day=timeline.day.isoformat(),
            time_model=TIME_MODEL,
            platform=self.access.description,
        )
        self.uploaded = self.report.uploaded_w

    async def run(self) -> rpt.Report:
        await self._start()
        await self._phase("onboarding", self._onboard)
        await self._phase("registration", self._register)
        await self._phase("history upload", self._history)
        await self._phase("day-ahead market", self._day_ahead)
        await self._phase("event day", self._event_day)
        await self._phase("settlement", self._settle)
        self._series()
        return self.report

    # ------------------------------------------------------------ onboarding and registration

    async def _onboard(self) -> None:
        operator = self.operator
        for aggregator in self.population.aggregators:
            await operator.create_aggregator(
                aggregator.aggregator_id,
                aggregator.profile.display_name,
                f"dispatch@{aggregator.aggregator_id}.example",
            )
        issued = await _gather(
            [
                operator.issue("vgi://grid/grid-1"),
                *(operator.issue(f"vgi://aggregator/{a.aggregator_id}") for a in self.population.aggregators),
            ]
        )
        self._grid_credentials = issued[0]
        self._aggregator_credentials = issued[1:]

    async def _register(self) -> None:
        grid_channel = self._open(self._grid_credentials)
        self.grid_registry = GridRegistryClient(grid_channel)
        self.grid_market = GridMarketClient(grid_channel)
        self.grid_settlement = GridSettlementClient(grid_channel)
        population = self.population
        rated: dict[str, int] = {}
        for charger in population.chargers:
            area = next(s.grid_node for s in population.stations if s.station_id == charger.station_id)
            rated[area] = rated.get(area, 0) + charger.rated_charge_w
        nodes = [
            resources_pb2.GridNode(
                node_id="east", kind=resources_pb2.GRID_NODE_KIND_REGION, display_name="East region"
            ),
            resources_pb2.GridNode(
                node_id="ss-1",
                kind=resources_pb2.GRID_NODE_KIND_SUBSTATION,
                parent="gridNodes/east",
                display_name="Substation 1",
            ),
            resources_pb2.GridNode(
                node_id=population.feeder,
                kind=resources_pb2.GRID_NODE_KIND_FEEDER,
                parent="gridNodes/ss-1",
                display_name="Feeder 1",
            ),
            *(
                resources_pb2.GridNode(
                    node_id=area,
                    kind=resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA,
                    parent=f"gridNodes/{population.feeder}",
                    display_name=f"Transformer area {area}",
                    # Transformers are sized below the sum of the piles behind them (diversity).
                    capacity_limit_w=max(int(rated.get(area, 0) * 0.8), 100_000),
                    base_load_w=max(int(rated.get(area, 0) * 0.2), 20_000),
                )
                for area in population.areas
            ),
        ]
        await self.grid_registry.upsert_grid_nodes(nodes)
        day_start = self.timeline.day_start
        await self.grid_registry.publish_price_curve(
            prices_pb2.PriceCurve(
                price_curve_id=f"tou-{self.timeline.day:%Y%m%d}-s{self.config.seed}",
                kind=prices_pb2.PRICE_CURVE_KIND_TIME_OF_USE,
                grid_node=f"gridNodes/{population.feeder}",
                start_time=timestamp(day_start),
                step_minutes=60,
                prices=[money(p) for p in TOU_PRICES],
            )
        )
        for aggregator, credentials in zip(population.aggregators, self._aggregator_credentials, strict=True):
            channel = self._open(credentials)
            registry = AggregatorRegistryClient(channel)
            inbox = Inbox(NotificationSubscriber(channel))
            self._tasks.append(asyncio.create_task(inbox.run(), name=f"inbox-{aggregator.aggregator_id}"))
            self.aggregators[aggregator.aggregator_id] = AggregatorParty(
                aggregator.aggregator_id,
                aggregator.profile.display_name,
                Decimal(aggregator.profile.bid_price),
                channel,
                registry,
                AggregatorMarketClient(channel),
                AggregatorSettlementClient(channel),
                inbox,
                Uplink(registry),
            )
        await _gather(self._register_resources(party) for party in self.aggregators.values())
        # Device credentials only once the chargers are registered: the platform binds a device
        # to the aggregator that owns its charger, and refuses to for a charger it does not know.
        managed = [c for c in self.population.chargers if c.platform_managed]
        device_credentials = await _gather(
            self.operator.issue(f"vgi://device/{c.charger_id}", aggregator_id=c.aggregator_id)
            for c in managed
        )
        managed_ids = [c.charger_id for c in managed]
        through_ocpp = set(sorted(managed_ids)[:OCPP_STATIONS]) if self.access.ocpp_target else set()
        for charger_id, credentials in zip(managed_ids, device_credentials, strict=True):
            device: Device | OcppStation
            if charger_id in through_ocpp:
                device = OcppStation(self.access.ocpp_target, self.access.ca_pem, credentials, charger_id)
            else:
                device = Device(self._open(credentials), charger_id)
            await device.session.__aenter__()
            self.devices[charger_id] = device
            self._tasks.append(asyncio.create_task(device.run(), name=f"device-{charger_id}"))
        for aggregator in population.aggregators:
            statistics = await self.grid_registry.get_statistics(f"aggregators/{aggregator.aggregator_id}")
            mine = population.chargers_of(aggregator.aggregator_id)
            self.report.fleet.append(
                rpt.AggregatorRow(
                    aggregator.aggregator_id,
                    aggregator.profile.display_name,
                    int(statistics.stations),
                    int(statistics.chargers),
                    sum(c.kind is Kind.AC for c in mine),
                    sum(c.kind is Kind.DC for c in mine),
                    int(statistics.v2g_chargers),
                    sum(c.platform_managed for c in mine),
                    int(statistics.rated_charge_w),
                    int(statistics.rated_discharge_w),
                )
            )

    async def _register_resources(self, party: AggregatorParty) -> None:
        population = self.population
        await party.registry.upsert_stations(
            [
                resources_pb2.Station(
                    station_id=s.station_id,
                    display_name=f"{s.site.value} site {s.station_id}",
                    grid_node=f"gridNodes/{s.grid_node}",
                )
                for s in population.stations_of(party.aggregator_id)
            ]
        )
        kinds = {
            Kind.AC: resources_pb2.CHARGER_KIND_AC,
            Kind.DC: resources_pb2.CHARGER_KIND_DC,
            Kind.V2G: resources_pb2.CHARGER_KIND_V2G,
        }
        for chunk in _chunks(population.chargers_of(party.aggregator_id), BATCH_ITEMS):
            await party.registry.upsert_chargers(
                [
                    resources_pb2.Charger(
                        charger_id=c.charger_id,
                        station_id=c.station_id,
                        kind=kinds[c.kind],
                        rated_charge_w=c.rated_charge_w,
                        rated_discharge_w=c.rated_discharge_w,
                        bidirectional=c.kind is Kind.V2G,
                        platform_managed=c.platform_managed,
                    )
                    for c in chunk
                ]
            )

    # ------------------------------------------------------------ history

    async def _history(self) -> None:
        timeline = self.timeline
        days = [
            timeline.history_days[0] - timedelta(days=1),
            *timeline.history_days,
            timeline.day - timedelta(days=1),
            timeline.day,
        ]
        self.sessions = sessions_for_days(self.population, days)
        start = local_midnight(timeline.history_days[0])
        slots = len(timeline.history_days) * SLOTS_PER_DAY
        self.history_w = load = unmanaged_load(
            (s for day in days[:-2] for s in self.sessions[day]),
            start,
            slots,
            list(self.aggregators),
        )
        batches = {
            aggregator_id: [
                agg_pb.TelemetryBatch(
                    batch_id=str(uuid.uuid4()),
                    aggregates=[
                        telemetry_pb2.IntervalAggregate(
                            resource=f"aggregators/{aggregator_id}",
                            slot_start_time=timestamp(start + i * SLOT),
                            mean_power_w=round(float(values[i])),
                        )
                        for i in chunk
                    ],
                )
                for chunk in _chunks(range(slots), BATCH_ITEMS)
            ]
            for aggregator_id, values in load.items()
        }
        with _bar(self.config.progress, slots * len(batches), "history (15-min aggregates)", "pt") as bar:

            async def upload(party: AggregatorParty) -> None:
                for batch in batches[party.aggregator_id]:
                    await party.uplink.send(batch)
                    bar.update(len(batch.aggregates))

            await _gather(upload(p) for p in self.aggregators.values())
        # Aggregators declare their flexibility for D from their bookings (a dry run of the day).
        preview = Fleet.starting(self.population, self._day_sessions(), timeline.day_start)
        decrease: dict[str, list[int]] = {a: [] for a in self.aggregators}
        increase: dict[str, list[int]] = {a: [] for a in self.aggregators}
        for k in range(SLOTS_PER_DAY):
            at = timeline.day_start + k * SLOT
            for aggregator_id, (down, up) in preview.flexibility(at).items():
                decrease[aggregator_id].append(max(int(down * DECLARED_SHARE), 0))
                increase[aggregator_id].append(max(int(up * DECLARED_SHARE), 0))
            preview.step(at, instructed_w={}, baseline_w={}, setpoints_w={})
        for party in self.aggregators.values():
            party.declared_decrease_w = decrease[party.aggregator_id]
            await party.registry.declare_capacity(
                capacity_pb2.CapacityDeclaration(
                    day_start_time=timestamp(timeline.day_start),
                    decrease_w=decrease[party.aggregator_id],
                    increase_w=increase[party.aggregator_id],
                    decrease_price=money(party.bid_price),
                    increase_price=money(party.bid_price / 2),
                )
            )

    def _day_sessions(self) -> list[Session]:
        day = self.timeline.day
        return [*self.sessions[day - timedelta(days=1)], *self.sessions[day]]

    # ------------------------------------------------------------ events

    async def _capacity_snapshot(self, plan_: EventPlan) -> list[int]:
        """Record the capacity the grid sees; return the aggregators' declared decrease per window slot, summed.

        The feeder's own forecast comes from capacity history, which a fresh
        platform has none of; the aggregators' declarations are what they offer.
        """
        day_slot = (plan_.window_start - self.timeline.day_start) // SLOT
        count = len(plan_.slots)
        declared = [0] * count
        for scope in (f"gridNodes/{self.population.feeder}", *(f"aggregators/{a}" for a in self.aggregators)):
            answer = await self.grid_registry.get_adjustable_capacity(
                scope, forecast_day_start=timestamp(self.timeline.day_start)
            )
            values = list(answer.forecast.decrease_w) or [0] * SLOTS_PER_DAY
            if scope.startswith("aggregators/"):
                declared = [d + v for d, v in zip(declared, values[day_slot : day_slot + count], strict=True)]
            self.report.capacity.append(
                rpt.CapacityRow(
                    plan_.event_id,
                    scope,
                    values[day_slot],
                    int(answer.capacity.decrease_w),
                    int(answer.capacity.increase_w),
                    int(answer.capacity.active_sessions),
                )
            )
        return declared

    async def _publish(self, plan_: EventPlan) -> market_pb2.Event:
        declared = await self._capacity_snapshot(plan_)
        targets = [int(w * plan_.target_share) for w in declared]
        self._targets[plan_.event_id] = targets
        window = types_pb2.TimeWindow(
            start_time=timestamp(plan_.window_start), end_time=timestamp(plan_.window_end)
        )
        event = market_pb2.Event(
            event_id=plan_.event_id,
            direction=types_pb2.DIRECTION_LOAD_DECREASE,
            window=window,
            targets=[
                market_pb2.NodeTarget(
                    grid_node=f"gridNodes/{self.population.feeder}",
                    target=power_curve(plan_.window_start, targets),
                )
            ],
        )
        if plan_.kind is EventKind.REAL_TIME:
            event.type = market_pb2.EVENT_TYPE_REAL_TIME
            event.announced_price.CopyFrom(money(ANNOUNCED_PRICE))
            event.price_mode = market_pb2.PRICE_MODE_ANNOUNCED
        else:
            assert plan_.bid_deadline is not None
            event.type = (
                market_pb2.EVENT_TYPE_DAY_AHEAD
                if plan_.kind is EventKind.DAY_AHEAD
                else market_pb2.EVENT_TYPE_INTRADAY
            )
            event.bid_deadline.CopyFrom(timestamp(plan_.bid_deadline))
            event.price_cap.CopyFrom(money(PRICE_CAP))
            event.clearing_mode = market_pb2.CLEARING_MODE_PLATFORM
            event.price_mode = (
                market_pb2.PRICE_MODE_UNIFORM
                if plan_.kind is EventKind.DAY_AHEAD
                else market_pb2.PRICE_MODE_PAY_AS_BID
            )
        return await self.grid_market.publish_event(event)

    async def _bid(self, party: AggregatorParty, plan_: EventPlan) -> rpt.BidRow | None:
        name = f"events/{plan_.event_id}"
        await party.inbox.wait_for(
            lambda n: n.WhichOneof("payload") == "invitation" and n.invitation.name == name,
            f"invitation to {name}",
        )
        first = (plan_.window_start - self.timeline.day_start) // SLOT
        offers = [int(w * BID_SHARE) for w in party.declared_decrease_w[first : first + len(plan_.slots)]]
        if not any(offers):
            return None
        await party.market.submit_bid(
            name,
            [
                market_pb2.BidSlot(slot_start_time=timestamp(at), capacity_w=w, price=money(party.bid_price))
                for at, w in zip(plan_.slots, offers, strict=True)
            ],
        )
        return rpt.BidRow(plan_.event_id, party.aggregator_id, tuple(offers), party.bid_price)

    async def _await_instructions(self, instructions: Sequence[market_pb2.Instruction]) -> None:
        """Each instructed aggregator has received its instruction on its notification stream."""

        async def received(instruction: market_pb2.Instruction) -> None:
            party = self.aggregators[instruction.aggregator.removeprefix("aggregators/")]
            await party.inbox.wait_for(
                lambda n: (
                    n.WhichOneof("payload") == "instruction"
                    and n.instruction.name == instruction.name
                    and n.instruction.version == instruction.version
                ),
                f"instruction {instruction.name} v{instruction.version}",
            )

        await _gather(received(i) for i in instructions)

    async def _market_event(self, plan_: EventPlan) -> None:
        """Publish, collect bids, close bidding (the clock reaches the deadline), let the platform clear."""
        await self._publish(plan_)
        bids = await _gather(self._bid(party, plan_) for party in self.aggregators.values())
        # In aggregator order, whichever answered first: same seed, same report.
        self.report.bids += [bid for bid in bids if bid is not None]
        assert plan_.bid_deadline is not None
        await self.clock.advance(plan_.bid_deadline)
        cleared = await self.grid_market.clear_event(f"events/{plan_.event_id}")
        by_aggregator: dict[str, dict[datetime, tuple[int, Decimal]]] = {}
        for q in cleared.clearing_result.quantities:
            by_aggregator.setdefault(q.aggregator.removeprefix("aggregators/"), {})[
                instant(q.slot_start_time)
            ] = (
                q.accepted_w,
                decimal(q.price),
            )
        for aggregator_id in self.aggregators:
            accepted = by_aggregator.get(aggregator_id, {})
            self.report.cleared.append(
                rpt.ClearedRow(
                    plan_.event_id,
                    aggregator_id,
                    tuple(accepted.get(at, (0, Decimal(0)))[0] for at in plan_.slots),
                    tuple(accepted[at][1].normalize() for at in plan_.slots if at in accepted),
                )
            )
        self._instructions[plan_.event_id] = list(cleared.instructions)
        await self._await_instructions(cleared.instructions)

    async def _real_time_event(self, plan_: EventPlan) -> None:
        """Direct control: the grid publishes and at once instructs the feeder; the platform splits it."""
        event = await self._publish(plan_)
        await _gather(
            party.inbox.wait_for(
                lambda n: n.WhichOneof("payload") == "invitation" and n.invitation.name == event.name,
                f"invitation to {event.name}",
            )
            for party in self.aggregators.values()
        )
        answer = await self.grid_market.submit_dispatch_instruction(
            f"gridNodes/{self.population.feeder}",
            types_pb2.DIRECTION_LOAD_DECREASE,
            power_curve(plan_.window_start, self._targets[plan_.event_id]),
            types_pb2.TimeWindow(
                start_time=timestamp(plan_.window_start), end_time=timestamp(plan_.window_end)
            ),
            event=event.name,
        )
        self._shortfall[plan_.event_id] = int(answer.shortfall_w)
        for aggregator_id in self.aggregators:
            mine = [i for i in answer.instructions if i.aggregator == f"aggregators/{aggregator_id}"]
            values = [sum(i.target.values_w[k] for i in mine) for k in range(len(plan_.slots))]
            self.report.cleared.append(
                rpt.ClearedRow(
                    plan_.event_id, aggregator_id, tuple(values), (ANNOUNCED_PRICE,) if any(values) else ()
                )
            )
        self._instructions[plan_.event_id] = list(answer.instructions)
        await self._await_instructions(answer.instructions)

    async def _day_ahead(self) -> None:
        await self._market_event(self.timeline.event(EventKind.DAY_AHEAD))

    # ------------------------------------------------------------ the event day

    async def _event_day(self) -> None:
        timeline = self.timeline
        self.fleet = Fleet.starting(self.population, self._day_sessions(), timeline.day_start)
        hooks: dict[datetime, Callable[[], Awaitable[None]]] = {}
        intraday = timeline.event(EventKind.INTRADAY)
        real_time = timeline.event(EventKind.REAL_TIME)
        assert intraday.bid_deadline is not None
        hooks[intraday.publish_at] = lambda: self._market_event(intraday)
        hooks[real_time.publish_at] = lambda: self._real_time_event(real_time)
        previous = timeline.day_start - SLOT
        with _bar(self.config.progress, SLOTS_PER_DAY, f"event day {timeline.day}", "slot") as bar:
            for k in range(SLOTS_PER_DAY):
                at = timeline.day_start + k * SLOT
                await self._update_sessions(previous, at)
                await self.clock.advance(at)
                hook = hooks.get(at)
                if hook is not None:
                    await hook()
                await self._sync_instructions()
                await self._await_setpoints(at)
                outcome = self.fleet.step(
                    at,
                    instructed_w={a: p.inbox.instructed_w(at) for a, p in self.aggregators.items()},
                    baseline_w={a: self._expected_baseline(p, at) for a, p in self.aggregators.items()},
                    setpoints_w={
                        charger_id: held
                        for charger_id, device in self.devices.items()
                        if (held := device.held_w(at)) is not None
                    },
                )
                self.outcomes.append(outcome)
                # Inside an event window the platform monitors every minute
                # (SPEC F7, each minute metered per F2): chargers report about
                # each minute there, else once a slot; in the slot after a
                # window also on its start, the end of the window's last slot.
                for minute in self._report_minutes(at):
                    await self.clock.advance(at + timedelta(minutes=minute))
                    await self._report_minute(outcome, minute)
                previous = at
                bar.update(1)
        await self.clock.advance(timeline.day_start + SLOTS_PER_DAY * SLOT)

    async def _sync_instructions(self) -> None:
        """Each aggregator asks for its instructions in force and waits until its stream has brought them all.

        The execution monitor may have re-dispatched (cancelled and reissued
        instructions) in any minute passed; the stream is the way they
        arrive, the list makes the simulation not depend on how fast.
        """

        # An earlier run against the same platform left instructions of its own events in force, whose
        # notifications that run acknowledged: this run waits only for its own.
        ours = {f"events/{event.event_id}" for event in self.timeline.events}

        async def sync(party: AggregatorParty) -> None:
            listed: dict[str, int] = {}
            token = ""
            while True:
                page = await party.market.list_instructions(
                    active_only=True, page_size=1000, page_token=token
                )
                listed |= {i.instruction_id: i.version for i in page.instructions if i.event in ours}
                token = page.next_page_token
                if not token:
                    break
            await party.inbox.wait_until(
                lambda: all(
                    (held := party.inbox.instructions.get(instruction_id)) is not None
                    and held.version == version
                    for instruction_id, version in listed.items()
                ),
                f"instructions {sorted(listed.items())} of {party.aggregator_id}",
            )

        await _gather(sync(party) for party in self.aggregators.values())

    def _expected_baseline(self, party: AggregatorParty, at: datetime) -> float:
        """The baseline the aggregator expects at ``at`` for the window of the instructions in force then."""
        windows = {
            (instant(i.validity.start_time), instant(i.validity.end_time))
            for i in party.inbox.instructions.values()
            if instant(i.validity.start_time) <= at < instant(i.validity.end_time)
        }
        if not windows:
            return 0.0
        start, end = min(windows)
        key = (party.aggregator_id, start, end)
        if key not in self._baselines:
            first = (start - self.timeline.day_start) // SLOT
            self._baselines[key] = expected_baseline(
                self.history_w[party.aggregator_id],
                self.timeline.history_days,
                self.timeline.day,
                first,
                (end - start) // SLOT,
            )
        return self._baselines[key][(at - start) // SLOT]

    async def _update_sessions(self, previous: datetime, at: datetime) -> None:
        """Tell the platform which EVs are plugged in at ``at``: aggregators in batches, managed devices themselves."""
        arrived = [s for s in self.fleet.sessions if previous < s.spec.arrival <= at < s.spec.departure]
        left = [
            s
            for s in self.fleet.sessions
            if previous < s.spec.departure <= at and s.spec.session_id in self._registered
        ]
        per_aggregator: dict[str, list[resources_pb2.EvSession]] = {}
        device_work = []
        for s in arrived:
            self._registered.add(s.spec.session_id)
            if s.managed:
                device_work.append(self._device_plug_in(s))
            else:
                per_aggregator.setdefault(s.spec.aggregator_id, []).append(_session_message(s))
        for s in left:
            self._registered.discard(s.spec.session_id)
            if s.managed:
                device = self.devices[s.spec.charger_id]
                device_work.append(device.session.session_stopped(s.spec.session_id, s.spec.departure))
            else:
                per_aggregator.setdefault(s.spec.aggregator_id, []).append(_session_message(s, ended=True))
        await _gather(
            [
                *device_work,
                *(
                    self._upsert_sessions(self.aggregators[aggregator_id], chunk)
                    for aggregator_id, messages in per_aggregator.items()
                    for chunk in _chunks(messages, BATCH_ITEMS)
                ),
            ]
        )

    @staticmethod
    async def _upsert_sessions(party: AggregatorParty, sessions: Sequence[resources_pb2.EvSession]) -> None:
        request_id = str(uuid.uuid4())
        await polite(lambda: party.registry.upsert_sessions(sessions, request_id=request_id))

    async def _device_plug_in(self, s: LiveSession) -> None:
        device = self.devices[s.spec.charger_id]
        await device.session.session_started(_session_message(s))
        # The meter value is acknowledged once committed, and the device's
        # messages commit in order: the session is stored when this returns.
        await device.session.send_meter_values(
            [self._meter_value(s.spec.charger_id, s.spec.arrival, 0.0, s.soc)]
        )

    async def _await_setpoints(self, at: datetime) -> None:
        """Managed devices with an EV plugged in receive the setpoints of every instruction starting now."""
        waits = []
        for aggregator_id, party in self.aggregators.items():
            starting = [i for i in party.inbox.instructions.values() if instant(i.validity.start_time) == at]
            for instruction in starting:
                for s in self.fleet.plugged_in(at):
                    if s.managed and s.spec.aggregator_id == aggregator_id:
                        waits.append(self.devices[s.spec.charger_id].wait_for_instruction(instruction.name))
        await _gather(waits)

    def _report_minutes(self, at: datetime) -> Sequence[int]:
        if at in self.monitored:
            return range(15)
        return (0, 14) if at - SLOT in self.monitored else (14,)

    def _meter_value(
        self,
        charger_id: str,
        at: datetime,
        power_w: float,
        soc: float | None,
        *,
        into_slot: timedelta = timedelta(0),
    ) -> telemetry_pb2.MeterValue:
        """A reading at ``at``, ``into_slot`` after the slot began. DC and V2G meters also read their
        registers (whole Wh, counting the energy taken, or for V2G fed back, up to ``at``); AC ones only power."""
        status = (
            resources_pb2.CHARGER_STATUS_CHARGING
            if power_w > 0
            else resources_pb2.CHARGER_STATUS_DISCHARGING
            if power_w < 0
            else resources_pb2.CHARGER_STATUS_OCCUPIED
        )
        value = telemetry_pb2.MeterValue(
            charger_id=charger_id, sample_time=timestamp(at), power_w=round(power_w), status=status
        )
        if soc is not None:
            value.soc = round(soc, 4)
        kind = self._kind.get(charger_id)
        if kind in (Kind.DC, Kind.V2G):
            hours = into_slot.total_seconds() / 3600
            value.energy_register_wh = int(self._register_wh.get(charger_id, 0.0) + max(power_w, 0.0) * hours)
            if kind is Kind.V2G:
                value.export_energy_register_wh = int(
                    self._export_wh.get(charger_id, 0.0) + max(-power_w, 0.0) * hours
                )
        return value

    def _metered_w(self, charger_id: str, power_w: float) -> int:
        """What F2 makes of this slot's readings: power ones at a constant power cover the slot (a reading
        on each boundary, gaps under the heartbeat timeout) → that power; DC and V2G ones carry registers
        read on both boundaries → (E(e) − E(s)) / 0.25 h, net of export for V2G, in whole Wh as sent."""
        kind = self._kind.get(charger_id)
        if kind not in (Kind.DC, Kind.V2G):
            return round(power_w)
        imported = self._register_wh.get(charger_id, 0.0)
        exported = self._export_wh.get(charger_id, 0.0)
        delta = int(imported + max(power_w, 0.0) * SLOT_HOURS) - int(imported)
        if kind is Kind.V2G:
            delta -= int(exported + max(-power_w, 0.0) * SLOT_HOURS) - int(exported)
        return 4 * delta

    def _sample_times(self, slot_start: datetime, minute: int) -> list[datetime]:
        """When a meter reports in ``minute`` of the slot: on the slot's start, else up to 20 s late,
        sometimes twice a few seconds apart (a transient re-read)."""
        sample = slot_start + timedelta(minutes=minute)
        if minute == 0:
            return [sample]
        sample += timedelta(seconds=self._jitter.randint(0, 20))
        if self._jitter.random() < 0.1:
            return [sample, sample + timedelta(seconds=self._jitter.randint(1, 3))]
        return [sample]

    async def _report_minute(self, outcome: SlotOutcome, minute: int) -> None:
        """Meter values sampled ``minute`` minutes into the slot; with the last one, the slot's 15-minute means."""
        at = outcome.slot_start
        last = minute == 14
        managed = {c.charger_id for c in self.population.chargers if c.platform_managed}
        readings: dict[str, list[telemetry_pb2.MeterValue]] = {a: [] for a in self.aggregators}
        device_work = []
        owner = {c.charger_id: c.aggregator_id for c in self.population.chargers}
        # Around event windows every meter reports, 0 W without an EV, so each window slot has
        # register readings on both its boundaries; elsewhere only the chargers in use.
        reporting = (
            {c.charger_id: outcome.charger_w.get(c.charger_id, 0.0) for c in self.population.chargers}
            if at in self.monitored or at - SLOT in self.monitored
            else outcome.charger_w
        )
        for charger_id, power in reporting.items():
            values = [
                self._meter_value(
                    charger_id, sample, power, outcome.charger_soc.get(charger_id), into_slot=sample - at
                )
                for sample in self._sample_times(at, minute)
            ]
            if charger_id in managed:
                device = self.devices[charger_id]
                device_work.append(self._device_report(device, values))
            else:
                readings[owner[charger_id]] += values
        metered_here = at in self.monitored
        if last:
            for aggregator_id, power in outcome.power_w.items():
                if metered_here and aggregator_id in CHARGER_METERED:
                    power = sum(
                        self._metered_w(charger_id, charger_power)
                        for charger_id, charger_power in outcome.charger_w.items()
                        if owner[charger_id] == aggregator_id
                    )
                self.uploaded.setdefault(aggregator_id, {})[at] = round(power)
            for charger_id, power in outcome.charger_w.items():
                self._register_wh[charger_id] = (
                    self._register_wh.get(charger_id, 0.0) + max(power, 0.0) * SLOT_HOURS
                )
                self._export_wh[charger_id] = (
                    self._export_wh.get(charger_id, 0.0) + max(-power, 0.0) * SLOT_HOURS
                )

        async def send(party: AggregatorParty) -> None:
            values = readings[party.aggregator_id]
            aggregates = (
                [
                    telemetry_pb2.IntervalAggregate(
                        resource=f"aggregators/{party.aggregator_id}",
                        slot_start_time=timestamp(at),
                        mean_power_w=self.uploaded[party.aggregator_id][at],
                    )
                ]
                if last and not (metered_here and party.aggregator_id in CHARGER_METERED)
                else []
            )
            if not values and not aggregates:
                return
            for n, chunk in enumerate(_chunks(values, BATCH_ITEMS) if values else [[]]):
                await party.uplink.send(
                    agg_pb.TelemetryBatch(
                        batch_id=str(uuid.uuid4()),
                        meter_values=chunk,
                        aggregates=aggregates if n == 0 else [],
                    )
                )

        await _gather([*device_work, *(send(p) for p in self.aggregators.values())])

    @staticmethod
    async def _device_report(
        device: Device | OcppStation, values: Sequence[telemetry_pb2.MeterValue]
    ) -> None:
        await device.session.heartbeat()
        await device.session.send_meter_values(values)

    # ------------------------------------------------------------ settlement

    async def _settle(self) -> None:
        for party in self.aggregators.values():
            await party.uplink.close()
        owner = {c.charger_id: c.aggregator_id for c in self.population.chargers}
        self.report.devices = [
            rpt.DeviceRow(
                f"{charger_id} (OCPP 2.0.1)" if isinstance(device, OcppStation) else charger_id,
                owner[charger_id],
                len(device.received),
                device.acked_sequence,
                len({s.setpoint.instruction for s in device.received}),
            )
            for charger_id, device in self.devices.items()
        ]
        self.report.notes.append(self._monitoring_note())
        through_ocpp = [d for d in self.devices.values() if isinstance(d, OcppStation)]
        if through_ocpp:
            self.report.notes.append(
                "OCPP gateway: "
                + "; ".join(
                    f"{d.charger_id} received {len(d.received)} charging profiles "
                    f"(limits {min(s.setpoint.power_w for s in d.received)}–"
                    f"{max(s.setpoint.power_w for s in d.received)} W), all Accepted"
                    if d.received
                    else f"{d.charger_id} received no charging profile"
                    for d in through_ocpp
                )
            )
        for plan_ in self.timeline.events:
            name = f"events/{plan_.event_id}"
            # One call evaluates the whole event: seconds of work on a loaded machine, over the SDK's default.
            evaluated = await self.grid_settlement.evaluate_event(name, deadline=EVALUATE_DEADLINE_SECONDS)
            await _gather(self._confirm(statement) for statement in evaluated.statements)
            for evaluation in evaluated.evaluations:
                self.report.evaluations.append(_evaluation_row(plan_.event_id, evaluation))
        for plan_ in self.timeline.events:
            name = f"events/{plan_.event_id}"
            statements = await self._all_statements(name)
            self.report.statements += [_statement_row(plan_.event_id, s) for s in statements]
            grid = await self.grid_settlement.get_grid_statement(name)
            self.report.grid_statements.append(
                rpt.GridStatementRow(
                    plan_.event_id,
                    len(grid.statements),
                    decimal(grid.total),
                    decimal(grid.total_payable),
                    decimal(grid.total_fee),
                )
            )
            event = await self.grid_market.get_event(name)
            self.report.events.append(
                rpt.EventRow(
                    plan_.event_id,
                    plan_.kind.value,
                    plan_.window_start,
                    plan_.window_end,
                    tuple(self._targets[plan_.event_id]),
                    market_pb2.ClearingMode.Name(event.clearing_mode).removeprefix("CLEARING_MODE_")
                    if plan_.kind is not EventKind.REAL_TIME
                    else "direct control",
                    market_pb2.PriceMode.Name(event.price_mode).removeprefix("PRICE_MODE_"),
                    market_pb2.EventState.Name(event.state).removeprefix("EVENT_STATE_"),
                    self._shortfall.get(plan_.event_id, 0),
                )
            )

    def _monitoring_note(self) -> str:
        """What the platform's per-minute execution monitoring told the aggregators on their streams."""
        received = [n for party in self.aggregators.values() for n in party.inbox.items]
        alarms = [
            market_pb2.AlarmKind.Name(n.alarm.kind) for n in received if n.WhichOneof("payload") == "alarm"
        ]
        reissued = [
            n for n in received if n.WhichOneof("payload") == "instruction" and n.instruction.version > 1
        ]
        return (
            f"Execution monitoring (every minute of each window, on the platform's clock): "
            f"{alarms.count('ALARM_KIND_DEVIATION')} deviation and {alarms.count('ALARM_KIND_REDISPATCH')} "
            f"re-dispatch alarms reached the aggregators; {len(reissued)} instruction versions were reissued."
        )

    async def _confirm(self, statement: settlement_pb2.Statement) -> None:
        """The aggregator hears of its statement on its stream and confirms it; then the grid confirms it too."""
        party = self.aggregators[statement.aggregator.removeprefix("aggregators/")]
        await party.inbox.wait_for(
            lambda n: (
                n.WhichOneof("payload") == "statement_ready" and n.statement_ready.statement == statement.name
            ),
            f"statement {statement.name}",
        )
        await party.settlement.confirm_statement(statement.name)
        await self.grid_settlement.confirm_statement(statement.name)

    async def _all_statements(self, event: str) -> list[settlement_pb2.Statement]:
        out: list[settlement_pb2.Statement] = []
        token = ""
        while True:
            page = await self.grid_settlement.list_statements(event, page_token=token)
            out += page.statements
            token = page.next_page_token
            if not token:
                return out

    # ------------------------------------------------------------ chart data

    def _series(self) -> None:
        day_start = self.timeline.day_start
        for plan_ in self.timeline.events:
            evaluations = [e for e in self.report.evaluations if e.event_id == plan_.event_id]
            members = [e.aggregator_id for e in evaluations]
            first = max(plan_.window_start - CHART_CONTEXT, day_start)
            last = min(plan_.window_end + CHART_CONTEXT, day_start + SLOTS_PER_DAY * SLOT)
            times = [first + i * SLOT for i in range((last - first) // SLOT)]
            by_slot = {(e.aggregator_id, s.slot_start): s for e in evaluations for s in e.slots}
            actual: list[float] = []
            baseline: list[float | None] = []
            target: list[float | None] = []
            for at in times:
                actual.append(float(sum(self.uploaded[a][at] for a in members)))
                if not plan_.window_start <= at < plan_.window_end:
                    baseline.append(None)
                    target.append(None)
                    continue
                # An aggregator without an instruction in a slot counts at its actual power.
                b = sum(
                    float(by_slot[(a, at)].baseline_w) if (a, at) in by_slot else self.uploaded[a][at]
                    for a in members
                )
                c = sum(by_slot[(a, at)].instructed_w for a in members if (a, at) in by_slot)
                baseline.append(b)
                target.append(b - c)
            self.report.series.append(
                rpt.Series(
                    plan_.event_id,
                    plan_.kind.value,
                    tuple(members),
                    first,
                    tuple(actual),
                    tuple(baseline),
                    tuple(target),
                    plan_.window_start,
                    plan_.window_end,
                )
            )


def _session_message(s: LiveSession, *, ended: bool = False) -> resources_pb2.EvSession:
    spec = s.spec
    message = resources_pb2.EvSession(
        session_id=spec.session_id,
        charger_id=spec.charger_id,
        plug_in_time=timestamp(spec.arrival),
        expected_departure_time=timestamp(spec.departure),
        battery_wh=spec.battery_wh,
        soc=round(s.soc, 4),
        target_soc=spec.target_soc,
        v2g_floor_soc=spec.v2g_floor_soc,
        max_charge_w=spec.max_charge_w,
        max_discharge_w=spec.max_discharge_w,
        bidirectional=spec.bidirectional,
    )
    if ended:
        message.end_time.CopyFrom(timestamp(spec.departure))
    return message


def _exact(value: Any) -> Decimal:
    return Decimal(value.value) if value.value else Decimal(0)


def _evaluation_row(event_id: str, evaluation: settlement_pb2.Evaluation) -> rpt.EvaluationRow:
    return rpt.EvaluationRow(
        event_id,
        evaluation.aggregator.removeprefix("aggregators/"),
        market_pb2.BaselineMethod.Name(evaluation.baseline_method).removeprefix("BASELINE_METHOD_"),
        len(evaluation.baseline_days),
        _exact(evaluation.mean_rate),
        _exact(evaluation.min_rate),
        _exact(evaluation.energy_responded_wh),
        evaluation.qualified,
        tuple(
            rpt.SlotRow(
                instant(s.slot_start_time),
                int(s.instructed_w),
                _exact(s.baseline_w),
                _exact(s.actual_w),
                _exact(s.response_w),
                _exact(s.rate),
            )
            for s in evaluation.slots
        ),
    )


def _statement_row(event_id: str, s: settlement_pb2.Statement) -> rpt.StatementRow:
    return rpt.StatementRow(
        event_id,
        s.name,
        s.aggregator.removeprefix("aggregators/"),
        decimal(s.total_compensation),
        decimal(s.total_penalty),
        decimal(s.total),
        decimal(s.fee),
        decimal(s.payable),
        settlement_pb2.StatementState.Name(s.state).removeprefix("STATEMENT_STATE_"),
    )


TIME_MODEL = (
    "the platform runs on a simulated clock (vgi serve --simulated-clock): its business time (event and bid "
    "deadlines, telemetry timestamps, capacity, record times) stands still until the operator calls "
    "OperatorService.AdvanceClock, and before that call returns the platform's scheduler and execution monitor "
    "have done every minute passed (bidding closes, events execute and complete, managed devices get "
    "setpoints, each minute of an event is monitored and may be re-dispatched). The simulator starts at the "
    "platform's time, plays D−1 until the day-ahead bidding closes, then D slot by slot, minute by minute inside "
    "the event windows (chargers report every minute there, once a slot elsewhere), so the day plays in "
    "seconds; D is the platform's tomorrow (a day-ahead window must start on a later day than its publication). "
    "Tokens, certificates and rate limits keep the real clock. Meters report irregularly (up to 20 s late, now and "
    "then twice in a row); DC and V2G ones read their energy registers too. Actual power is what the aggregators "
    "metered and uploaded as 15-minute means, except city-charge inside event windows: it uploads none there, so "
    "the platform meters it from its chargers' readings (SPEC F2), as the simulator's own meter does; baseline, "
    "instructed quantity and rates are the platform's evaluation."
)


async def simulate(config: Config, access: Access) -> rpt.Report:
    """One full run against the platform ``access`` reaches, which must run with a simulated clock."""
    scenario = Scenario(config, access)
    try:
        return await scenario.run()
    finally:
        await scenario.close()
