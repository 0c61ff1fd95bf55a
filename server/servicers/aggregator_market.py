"""AggregatorService market RPCs (SPEC F4–F6): invitations, bids, instructions — the caller's own only.

Another tenant's event, bid or instruction answers NOT_FOUND, exactly like
one that does not exist.
"""

from __future__ import annotations

import grpc
from vgi.aggregator.v1 import aggregator_service_pb2 as pb

from application import market
from application.uow import UnitOfWork
from domain.errors import PermissionDenied
from server.servicers import Deps, caller, write_once
from store import bids, instructions
from store import events as event_store
from wire import market as market_proto

SERVICE = "/vgi.aggregator.v1.AggregatorService/"


def tenant() -> str:
    """The calling aggregator's id (the proto lets only aggregators in)."""
    aggregator_id = caller().tenant()
    if aggregator_id is None:
        raise PermissionDenied("only an aggregator has bids and instructions", reason="NOT_AN_AGGREGATOR")
    return aggregator_id


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
                market_proto.to_datetime(s.slot_start_time),
                s.capacity_w,
                market_proto.decimal_of(s.price, f"bid.slots[{i}].price"),
            )
            for i, s in enumerate(request.bid.slots)
        ]

        def effect(uow: UnitOfWork) -> pb.SubmitBidResponse:
            return pb.SubmitBidResponse(
                bid=market_proto.bid_message(market.submit_bid(uow, aggregator_id, event_id, slots))
            )

        return await write_once(self.deps.db, request, pb.SubmitBidResponse, effect)

    async def WithdrawBid(
        self, request: pb.WithdrawBidRequest, context: grpc.aio.ServicerContext
    ) -> pb.WithdrawBidResponse:
        aggregator_id = tenant()
        event_id, owner = _bid_name(request.name)

        def effect(uow: UnitOfWork) -> pb.WithdrawBidResponse:
            return pb.WithdrawBidResponse(
                bid=market_proto.bid_message(market.withdraw_bid(uow, aggregator_id, event_id, owner))
            )

        return await write_once(self.deps.db, request, pb.WithdrawBidResponse, effect)

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
