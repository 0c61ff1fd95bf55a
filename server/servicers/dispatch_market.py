"""DispatchService market RPCs (SPEC F4–F6): events, the aggregated bid, clearing, instructions.

Thin: each RPC translates the request, runs a use case (``application.market``,
``application.dispatch``) in one write transaction, idempotent by request_id
(``write_once``), or a store read, and encodes the answer (``wire.market``).
"""

from __future__ import annotations

from datetime import datetime

import grpc
from sqlalchemy.engine import Connection
from vgi.dispatch.v1 import dispatch_service_pb2 as pb

from application import dispatch, market
from application.uow import UnitOfWork
from domain.clearing import ClearedQuantity
from domain.events import Publication
from server import clock
from server.servicers import Deps, instruction_signatures, write_once
from store import bids, instructions
from store import events as event_store
from store.instructions import Target
from wire import market as market_proto

_EVENT_TYPES = market_proto.reverse(market_proto.EVENT_TYPES)
_DIRECTIONS = market_proto.reverse(market_proto.DIRECTIONS)
_CLEARING_MODES = market_proto.reverse(market_proto.CLEARING_MODES)
_PRICE_MODES = market_proto.reverse(market_proto.PRICE_MODES)
_BASELINE_METHODS = market_proto.reverse(market_proto.BASELINE_METHODS)
_STATES = market_proto.reverse(market_proto.EVENT_STATES)


def now() -> datetime:
    return clock.now()


class DispatchMarket:
    """The market group of vgi.dispatch.v1.DispatchService."""

    deps: Deps

    async def PublishEvent(
        self, request: pb.PublishEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.PublishEventResponse:
        wire = request.event
        publication = Publication(
            event_type=_EVENT_TYPES[wire.type],
            window_start=market_proto.to_datetime(wire.window.start_time),
            window_end=market_proto.to_datetime(wire.window.end_time),
            bid_deadline=market_proto.to_datetime(wire.bid_deadline)
            if wire.HasField("bid_deadline")
            else None,
            targets=tuple(market_proto.target_curve(t) for t in wire.targets),
            price_cap=market_proto.decimal_of(wire.price_cap, "event.price_cap")
            if wire.HasField("price_cap")
            else None,
            announced_price=market_proto.decimal_of(wire.announced_price, "event.announced_price")
            if wire.HasField("announced_price")
            else None,
        )
        price_mode = _PRICE_MODES.get(wire.price_mode)
        at = now()
        market.check_publication(publication, price_mode, at)  # bad input fails before the store

        def effect(uow: UnitOfWork) -> pb.PublishEventResponse:
            event = market.publish_event(
                uow,
                event_id=wire.event_id,
                publication=publication,
                direction=_DIRECTIONS[wire.direction],
                program_id=wire.program.removeprefix("programs/") or None,
                clearing_mode=_CLEARING_MODES.get(wire.clearing_mode),
                price_mode=price_mode,
                baseline_method=_BASELINE_METHODS.get(wire.baseline_method),
            )
            return pb.PublishEventResponse(event=market_proto.event_message(event))

        return await write_once(self.deps.db, request, pb.PublishEventResponse, effect, now=at)

    async def CancelEvent(
        self, request: pb.CancelEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelEventResponse:
        event_id = request.name.removeprefix("events/")

        def effect(uow: UnitOfWork) -> pb.CancelEventResponse:
            cancelled = market.cancel_event(uow, event_id, request.reason)
            return pb.CancelEventResponse(event=market_proto.event_message(cancelled))

        return await write_once(self.deps.db, request, pb.CancelEventResponse, effect)

    async def GetEvent(
        self, request: pb.GetEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetEventResponse:
        event_id = request.name.removeprefix("events/")
        event = await self.deps.db.read(lambda conn: event_store.get(conn, event_id))
        return pb.GetEventResponse(event=market_proto.event_message(event))

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEventsResponse:
        page = await self.deps.db.read(
            lambda conn: event_store.list_page(
                conn,
                page_size=request.page_size,
                page_token=request.page_token,
                state=_STATES.get(request.state),
            )
        )
        return pb.ListEventsResponse(
            events=[market_proto.event_message(e) for e in page.events], next_page_token=page.next_page_token
        )

    async def GetAggregatedBid(
        self, request: pb.GetAggregatedBidRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAggregatedBidResponse:
        event_id = request.event.removeprefix("events/")

        def read(conn: Connection) -> pb.GetAggregatedBidResponse:
            event = event_store.get(conn, event_id)
            live = market.clearable_bids(conn, event_id)
            curve = bids.aggregated_curve(event, live)
            return pb.GetAggregatedBidResponse(
                aggregated_bid=market_proto.aggregated_bid_message(event, len(live), curve)
            )

        return await self.deps.db.read(read)

    async def SubmitClearingResult(
        self, request: pb.SubmitClearingResultRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitClearingResultResponse:
        event_id = request.event.removeprefix("events/")
        submitted = [
            ClearedQuantity(
                q.aggregator.removeprefix("aggregators/"),
                q.grid_node.removeprefix("gridNodes/"),
                market_proto.to_datetime(q.slot_start_time),
                q.accepted_w,
                market_proto.decimal_of(q.price, f"quantities[{i}].price"),
            )
            for i, q in enumerate(request.quantities)
        ]

        def effect(uow: UnitOfWork) -> pb.SubmitClearingResultResponse:
            result = market.submit_clearing_result(uow, event_id, submitted)
            return pb.SubmitClearingResultResponse(
                clearing_result=market_proto.clearing_message(result.clearing),
                instructions=[market_proto.instruction_message(i) for i in result.instructions],
            )

        return await write_once(self.deps.db, request, pb.SubmitClearingResultResponse, effect)

    async def ClearEvent(
        self, request: pb.ClearEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.ClearEventResponse:
        event_id = request.event.removeprefix("events/")

        def effect(uow: UnitOfWork) -> pb.ClearEventResponse:
            result = market.clear_event(uow, event_id)
            return pb.ClearEventResponse(
                clearing_result=market_proto.clearing_message(result.clearing),
                instructions=[market_proto.instruction_message(i) for i in result.instructions],
            )

        return await write_once(self.deps.db, request, pb.ClearEventResponse, effect)

    async def SubmitDispatchInstruction(
        self, request: pb.SubmitDispatchInstructionRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitDispatchInstructionResponse:
        target = Target(
            start=market_proto.to_datetime(request.target.start_time),
            step_minutes=request.target.step_minutes,
            values_w=tuple(request.target.values_w),
            validity_start=market_proto.to_datetime(request.validity.start_time),
            validity_end=market_proto.to_datetime(request.validity.end_time),
        )
        dispatch.check_target(target)  # bad input fails before the store
        node = request.scope.removeprefix("gridNodes/") if request.scope.startswith("gridNodes/") else None

        def effect(uow: UnitOfWork) -> pb.SubmitDispatchInstructionResponse:
            assert uow.principal is not None
            # The signature covers the request as sent, so it is checked here, first, in the same transaction.
            instruction_signatures.check(uow.conn, request, uow.principal)
            result = dispatch.submit_dispatch_instruction(
                uow,
                event_id=request.event.removeprefix("events/") or None,
                grid_node=node,
                aggregator_id=None if node is not None else request.scope.removeprefix("aggregators/"),
                direction=_DIRECTIONS[request.direction],
                target=target,
            )
            return pb.SubmitDispatchInstructionResponse(
                instructions=[market_proto.instruction_message(i) for i in result.instructions],
                shortfall_w=result.shortfall_w,
            )

        return await write_once(self.deps.db, request, pb.SubmitDispatchInstructionResponse, effect)

    async def ListInstructions(
        self, request: pb.ListInstructionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListInstructionsResponse:
        page = await self.deps.db.read(
            lambda conn: instructions.list_page(
                conn,
                page_size=request.page_size,
                page_token=request.page_token,
                event_id=request.event.removeprefix("events/"),
                active_only=request.active_only,
            )
        )
        return pb.ListInstructionsResponse(
            instructions=[market_proto.instruction_message(i) for i in page.instructions],
            next_page_token=page.next_page_token,
        )
