"""DispatchService market RPCs (SPEC F4–F6): events, the aggregated bid, clearing, instructions.

Thin: each RPC translates the request, runs one store transaction (idempotent
by request_id for the mutating ones) and translates the answer back.
"""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.engine import Connection
from vgi.common.v1 import market_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as pb

from domain import events as rules
from domain.errors import Aborted, FieldViolation, InvalidArgument, NotFound
from domain.evaluation import Direction
from domain.events import EventState, EventType, Publication, TargetCurve
from domain.settlement import PriceMode
from infra.observability.tracing import link_from_current
from server import clock
from server.scheduler import HEARTBEAT_TIMEOUT
from server.servicers import Deps, caller, instruction_signatures
from store import aggregators, bids, idempotency, instructions, registry
from store import events as event_store
from store.idempotency import IdempotencyKey
from store.instructions import Target
from wire import market as market_proto

SERVICE = "/vgi.dispatch.v1.DispatchService/"

_EVENT_TYPES = market_proto.reverse(market_proto.EVENT_TYPES)
_DIRECTIONS = market_proto.reverse(market_proto.DIRECTIONS)
_CLEARING_MODES = market_proto.reverse(market_proto.CLEARING_MODES)
_PRICE_MODES = market_proto.reverse(market_proto.PRICE_MODES)
_BASELINE_METHODS = market_proto.reverse(market_proto.BASELINE_METHODS)
_STATES = market_proto.reverse(market_proto.EVENT_STATES)


def now() -> datetime:
    return clock.now()


def stamp(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def target_of(curve: market_pb2.NodeTarget) -> TargetCurve:
    return TargetCurve(
        curve.grid_node.removeprefix("gridNodes/"),
        stamp(curve.target.start_time),
        curve.target.step_minutes,
        tuple(curve.target.values_w),
    )


class DispatchMarket:
    """The market group of vgi.dispatch.v1.DispatchService."""

    deps: Deps

    async def PublishEvent(
        self, request: pb.PublishEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.PublishEventResponse:
        wire = request.event
        event_type = _EVENT_TYPES[wire.type]
        publication = Publication(
            event_type=event_type,
            window_start=stamp(wire.window.start_time),
            window_end=stamp(wire.window.end_time),
            bid_deadline=stamp(wire.bid_deadline) if wire.HasField("bid_deadline") else None,
            targets=tuple(target_of(t) for t in wire.targets),
            price_cap=market_proto.decimal_of(wire.price_cap, "event.price_cap")
            if wire.HasField("price_cap")
            else None,
            announced_price=market_proto.decimal_of(wire.announced_price, "event.announced_price")
            if wire.HasField("announced_price")
            else None,
        )
        at, principal, carrier = now(), caller(), link_from_current()
        rules.check_publication(publication, at)
        price_mode = _PRICE_MODES.get(wire.price_mode)
        _check_price_mode(event_type, price_mode)

        def effect(conn: Connection) -> pb.PublishEventResponse:
            program = event_store.get_program(conn, wire.program.removeprefix("programs/") or "default")
            invitees: dict[str, list[str]] = {}
            missing = []
            for i, curve in enumerate(publication.targets):
                try:
                    registry.get_grid_node(conn, curve.grid_node)
                except NotFound:
                    missing.append(FieldViolation(f"event.targets[{i}].grid_node", "does not exist"))
                    continue
                for aggregator_id in registry.aggregators_at_node(conn, curve.grid_node):
                    invitees.setdefault(aggregator_id, []).append(curve.grid_node)
            if missing:
                raise InvalidArgument("unknown grid nodes", reason="GRID_NODE_NOT_FOUND", violations=missing)
            event = event_store.publish(
                conn,
                event_id=wire.event_id,
                publication=publication,
                direction=_DIRECTIONS[wire.direction],
                clearing_mode=_CLEARING_MODES.get(wire.clearing_mode, program.clearing_mode),
                price_mode=price_mode
                or (program.price_mode if event_type.has_bidding else PriceMode.DIRECT_CONTROL),
                baseline_method=_BASELINE_METHODS.get(wire.baseline_method, program.baseline_method),
                program_id=program.program_id,
                invitees=invitees,
                publisher=principal.uri,
                now=at,
                carrier=carrier,
            )
            return pb.PublishEventResponse(event=market_proto.event_message(event))

        key = IdempotencyKey(principal.uri, SERVICE + "PublishEvent", request.request_id)
        return await idempotency.write_once(self.deps.db, key, request, pb.PublishEventResponse, effect)

    async def CancelEvent(
        self, request: pb.CancelEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelEventResponse:
        event_id = request.name.removeprefix("events/")
        at, principal, carrier = now(), caller(), link_from_current()

        def effect(conn: Connection) -> pb.CancelEventResponse:
            event = event_store.advance(conn, event_store.get(conn, event_id), at)
            cancelled = event_store.transition(
                conn,
                event,
                EventState.CANCELLED,
                rules.Actor.GRID,
                at,
                reason=request.reason,
                carrier=carrier,
            )
            if cancelled is None:
                raise Aborted(f"event {event_id} changed state while being cancelled; retry")
            instructions.cancel_for_event(conn, event_id, at, f"event cancelled: {request.reason}", carrier)
            return pb.CancelEventResponse(event=market_proto.event_message(cancelled))

        key = IdempotencyKey(principal.uri, SERVICE + "CancelEvent", request.request_id)
        return await idempotency.write_once(self.deps.db, key, request, pb.CancelEventResponse, effect)

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
            live = bids.live(conn, event_id)
            starts = event.slot_starts
            return pb.GetAggregatedBidResponse(
                aggregated_bid=market_pb2.AggregatedBid(
                    event=request.event,
                    bid_count=len(live),
                    slots=[
                        market_pb2.AggregatedBidSlot(
                            slot_start_time=market_proto.timestamp(starts[c.slot]),
                            total_capacity_w=c.total_w,
                            steps=[
                                market_pb2.PriceStep(
                                    price=market_proto.money(s.price), capacity_w=s.capacity_w
                                )
                                for s in c.steps
                            ],
                        )
                        for c in bids.aggregated_curve(event, live)
                    ],
                )
            )

        return await self.deps.db.read(read)

    async def SubmitClearingResult(
        self, request: pb.SubmitClearingResultRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitClearingResultResponse:
        event_id = request.event.removeprefix("events/")
        submitted = [
            bids.ClearedQuantity(
                q.aggregator.removeprefix("aggregators/"),
                q.grid_node.removeprefix("gridNodes/"),
                stamp(q.slot_start_time),
                q.accepted_w,
                market_proto.decimal_of(q.price, f"quantities[{i}].price"),
            )
            for i, q in enumerate(request.quantities)
        ]
        at, principal, carrier = now(), caller(), link_from_current()

        def effect(conn: Connection) -> pb.SubmitClearingResultResponse:
            event = event_store.get(conn, event_id)
            result = bids.clear_by_grid(conn, event, submitted, at, carrier, HEARTBEAT_TIMEOUT)
            return pb.SubmitClearingResultResponse(
                clearing_result=market_proto.clearing_message(result.clearing),
                instructions=[market_proto.instruction_message(i) for i in result.instructions],
            )

        key = IdempotencyKey(principal.uri, SERVICE + "SubmitClearingResult", request.request_id)
        return await idempotency.write_once(
            self.deps.db, key, request, pb.SubmitClearingResultResponse, effect
        )

    async def ClearEvent(
        self, request: pb.ClearEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.ClearEventResponse:
        event_id = request.event.removeprefix("events/")
        at, principal, carrier = now(), caller(), link_from_current()

        def effect(conn: Connection) -> pb.ClearEventResponse:
            event = event_store.get(conn, event_id)
            result = bids.clear_by_platform(conn, event, at, carrier, HEARTBEAT_TIMEOUT)
            return pb.ClearEventResponse(
                clearing_result=market_proto.clearing_message(result.clearing),
                instructions=[market_proto.instruction_message(i) for i in result.instructions],
            )

        key = IdempotencyKey(principal.uri, SERVICE + "ClearEvent", request.request_id)
        return await idempotency.write_once(self.deps.db, key, request, pb.ClearEventResponse, effect)

    async def SubmitDispatchInstruction(
        self, request: pb.SubmitDispatchInstructionRequest, context: grpc.aio.ServicerContext
    ) -> pb.SubmitDispatchInstructionResponse:
        target = Target(
            start=stamp(request.target.start_time),
            step_minutes=request.target.step_minutes,
            values_w=tuple(request.target.values_w),
            validity_start=stamp(request.validity.start_time),
            validity_end=stamp(request.validity.end_time),
        )
        instructions.check_target(target)
        direction: Direction = _DIRECTIONS[request.direction]
        event_id = request.event.removeprefix("events/")
        node = request.scope.removeprefix("gridNodes/") if request.scope.startswith("gridNodes/") else None
        aggregator_id = None if node is not None else request.scope.removeprefix("aggregators/")
        at, principal, carrier = now(), caller(), link_from_current()

        def effect(conn: Connection) -> pb.SubmitDispatchInstructionResponse:
            instruction_signatures.check(conn, request, principal)
            event = None
            if event_id:
                event = event_store.advance(conn, event_store.get(conn, event_id), at)
                instructions.check_event_dispatch(event, direction, target)
            if node is not None:
                registry.get_grid_node(conn, node)
            else:
                assert aggregator_id is not None
                aggregators.get(conn, aggregator_id)
            result = instructions.dispatch(
                conn,
                event=event,
                grid_node=node,
                aggregator_id=aggregator_id,
                direction=direction,
                target=target,
                now=at,
                carrier=carrier,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
            )
            return pb.SubmitDispatchInstructionResponse(
                instructions=[market_proto.instruction_message(i) for i in result.instructions],
                shortfall_w=result.shortfall_w,
            )

        key = IdempotencyKey(principal.uri, SERVICE + "SubmitDispatchInstruction", request.request_id)
        return await idempotency.write_once(
            self.deps.db, key, request, pb.SubmitDispatchInstructionResponse, effect
        )

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


def _check_price_mode(event_type: EventType, price_mode: PriceMode | None) -> None:
    """Bids settle at a clearing price; direct control and price signals at the announced price."""
    if price_mode is None:
        return
    if event_type.has_bidding == (price_mode is PriceMode.DIRECT_CONTROL):
        raise InvalidArgument(
            f"an EVENT_TYPE_{event_type} event settles at "
            + (
                "its clearing price: price_mode PRICE_MODE_UNIFORM or PRICE_MODE_PAY_AS_BID"
                if event_type.has_bidding
                else "the announced price: price_mode PRICE_MODE_ANNOUNCED"
            ),
            violations=[
                FieldViolation(
                    "event.price_mode",
                    "UNIFORM or PAY_AS_BID with bidding, ANNOUNCED without",
                )
            ],
        )
