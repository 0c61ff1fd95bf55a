"""AggregatorService market RPCs (SPEC F4–F6): invitations, bids, instructions — the caller's own only.

Another tenant's event, bid or instruction answers NOT_FOUND, exactly like
one that does not exist.
"""

from __future__ import annotations

from datetime import datetime

import grpc
from sqlalchemy.engine import Connection
from vgi.aggregator.v1 import aggregator_service_pb2 as pb

from domain.calendar import local_day, slot_index, slot_start
from domain.clearing import CapacitySource, SlotCapacity
from domain.errors import PermissionDenied
from domain.evaluation import Direction
from server.scheduler import HEARTBEAT_TIMEOUT
from server.servicers import Deps, caller
from server.servicers.dispatch_market import now, stamp
from store import bids, capacity, idempotency, instructions
from store import events as event_store
from store.events import Event
from store.idempotency import IdempotencyKey
from wire import market as market_proto

SERVICE = "/vgi.aggregator.v1.AggregatorService/"


def tenant() -> str:
    """The calling aggregator's id (the proto lets only aggregators in)."""
    aggregator_id = caller().tenant()
    if aggregator_id is None:
        raise PermissionDenied("only an aggregator has bids and instructions", reason="NOT_AN_AGGREGATOR")
    return aggregator_id


def bid_capacity(
    conn: Connection, event: Event, aggregator_id: str, at: datetime
) -> dict[datetime, SlotCapacity]:
    """Per slot of the window: the declared capacity of its day when declared, else what is available now.

    Available = the aggregator's real-time F3 capacity, in the event's
    direction, at the event nodes it serves (docs/SETTLEMENT.md, "Bids need capacity").
    """
    decrease = event.direction is Direction.LOAD_DECREASE
    served = event_store.invitees(conn, event.event_id).get(aggregator_id, [])
    available = 0
    for node in served:
        totals = capacity.aggregator_capacities(conn, node, at, HEARTBEAT_TIMEOUT).get(aggregator_id)
        if totals is not None:
            available += totals.decrease_w if decrease else totals.increase_w
    result = {}
    declared: dict[datetime, capacity.Declaration | None] = {}
    for start in event.slot_starts:
        day_start = slot_start(local_day(start), 0)
        if day_start not in declared:
            declared[day_start] = capacity.declarations_for(conn, day_start, [aggregator_id]).get(
                aggregator_id
            )
        declaration = declared[day_start]
        if declaration is None:
            result[start] = SlotCapacity(available, CapacitySource.REAL_TIME)
        else:
            values = declaration.decrease_w if decrease else declaration.increase_w
            result[start] = SlotCapacity(values[slot_index(start)], CapacitySource.DECLARED)
    return result


class AggregatorMarket:
    """The market group of vgi.aggregator.v1.AggregatorService."""

    deps: Deps

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEventsResponse:
        aggregator_id = tenant()
        page = await self.deps.db.read(
            lambda conn: event_store.list_page(
                conn, page_size=request.page_size, page_token=request.page_token, aggregator_id=aggregator_id
            )
        )
        return pb.ListEventsResponse(
            events=[market_proto.event_message(e) for e in page.events], next_page_token=page.next_page_token
        )

    async def SubmitBid(
        self, request: pb.SubmitBidRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitBidResponse:
        aggregator_id = tenant()
        event_id = request.parent.removeprefix("events/")
        slots = [
            bids.BidSlot(
                stamp(s.slot_start_time),
                s.capacity_w,
                market_proto.decimal_of(s.price, f"bid.slots[{i}].price"),
            )
            for i, s in enumerate(request.bid.slots)
        ]
        at = now()

        def effect(conn: Connection) -> pb.SubmitBidResponse:
            event = event_store.get(conn, event_id, aggregator_id=aggregator_id)
            bid = bids.submit(
                conn, event, aggregator_id, slots, bid_capacity(conn, event, aggregator_id, at), at
            )
            return pb.SubmitBidResponse(bid=market_proto.bid_message(bid))

        key = IdempotencyKey(caller().uri, SERVICE + "SubmitBid", request.request_id)
        return await idempotency.write_once(self.deps.db, key, request, pb.SubmitBidResponse, effect)

    async def WithdrawBid(
        self, request: pb.WithdrawBidRequest, context: grpc.aio.ServicerContext
    ) -> pb.WithdrawBidResponse:
        aggregator_id = tenant()
        event_id, owner = _bid_name(request.name)
        at = now()

        def effect(conn: Connection) -> pb.WithdrawBidResponse:
            if owner != aggregator_id:
                raise bids.bid_not_found(event_id, owner)
            event = event_store.get(conn, event_id, aggregator_id=aggregator_id)
            return pb.WithdrawBidResponse(
                bid=market_proto.bid_message(bids.withdraw(conn, event, aggregator_id, at))
            )

        key = IdempotencyKey(caller().uri, SERVICE + "WithdrawBid", request.request_id)
        return await idempotency.write_once(self.deps.db, key, request, pb.WithdrawBidResponse, effect)

    async def GetBid(self, request: pb.GetBidRequest, context: grpc.aio.ServicerContext) -> pb.GetBidResponse:
        aggregator_id = tenant()
        event_id, owner = _bid_name(request.name)
        if owner != aggregator_id:
            raise bids.bid_not_found(event_id, owner)
        bid = await self.deps.db.read(lambda conn: bids.get(conn, event_id, aggregator_id))
        return pb.GetBidResponse(bid=market_proto.bid_message(bid))

    async def ListInstructions(
        self, request: pb.ListInstructionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInstructionsResponse:
        aggregator_id = tenant()
        page = await self.deps.db.read(
            lambda conn: instructions.list_page(
                conn,
                page_size=request.page_size,
                page_token=request.page_token,
                event_id=request.event.removeprefix("events/"),
                active_only=request.active_only,
                aggregator_id=aggregator_id,
            )
        )
        return pb.ListInstructionsResponse(
            instructions=[market_proto.instruction_message(i) for i in page.instructions],
            next_page_token=page.next_page_token,
        )


def _bid_name(name: str) -> tuple[str, str]:
    """``events/{event}/bids/{aggregator}`` → (event, aggregator); the proto pattern guarantees the shape."""
    _, event_id, _, aggregator_id = name.split("/")
    return event_id, aggregator_id
