"""Typed async SDK for the market RPCs (SPEC F4–F6): the grid's side and the aggregator's side.

Same conventions as ``clients.sdk``: the caller owns the channel (mTLS and
token), every call has a deadline, mutating calls always carry a request_id
(pass your own to make your retries idempotent too), failures raise
``clients.errors`` exceptions with the unpacked details.
"""

from __future__ import annotations

from collections.abc import Sequence

from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as agg_grpc
from vgi.common.v1 import market_pb2, types_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as dispatch_grpc

from clients.sdk import _Client, request_id_or_new


class GridMarketClient(_Client):
    """The market part of vgi.dispatch.v1.DispatchService, for the grid dispatch and trading layer."""

    _STUB = dispatch_grpc.DispatchServiceStub

    async def publish_event(
        self, event: market_pb2.Event, *, request_id: str | None = None
    ) -> market_pb2.Event:
        """Publish an event; the aggregators serving its nodes are invited."""
        request = dispatch_pb.PublishEventRequest(request_id=request_id_or_new(request_id), event=event)
        response: dispatch_pb.PublishEventResponse = await self._unary(self._stub.PublishEvent, request, None)
        return response.event

    async def cancel_event(
        self, name: str, reason: str, *, request_id: str | None = None
    ) -> market_pb2.Event:
        request = dispatch_pb.CancelEventRequest(
            request_id=request_id_or_new(request_id), name=name, reason=reason
        )
        response: dispatch_pb.CancelEventResponse = await self._unary(self._stub.CancelEvent, request, None)
        return response.event

    async def get_event(self, name: str) -> market_pb2.Event:
        response: dispatch_pb.GetEventResponse = await self._unary(
            self._stub.GetEvent, dispatch_pb.GetEventRequest(name=name), None
        )
        return response.event

    async def list_events(
        self,
        *,
        state: market_pb2.EventState = market_pb2.EVENT_STATE_UNSPECIFIED,
        page_size: int = 0,
        page_token: str = "",
    ) -> dispatch_pb.ListEventsResponse:
        response: dispatch_pb.ListEventsResponse = await self._unary(
            self._stub.ListEvents,
            dispatch_pb.ListEventsRequest(state=state, page_size=page_size, page_token=page_token),
            None,
        )
        return response

    async def get_aggregated_bid(self, event: str) -> market_pb2.AggregatedBid:
        response: dispatch_pb.GetAggregatedBidResponse = await self._unary(
            self._stub.GetAggregatedBid, dispatch_pb.GetAggregatedBidRequest(event=event), None
        )
        return response.aggregated_bid

    async def submit_clearing_result(
        self, event: str, quantities: Sequence[market_pb2.ClearedQuantity], *, request_id: str | None = None
    ) -> dispatch_pb.SubmitClearingResultResponse:
        request = dispatch_pb.SubmitClearingResultRequest(
            request_id=request_id_or_new(request_id), event=event, quantities=quantities
        )
        response: dispatch_pb.SubmitClearingResultResponse = await self._unary(
            self._stub.SubmitClearingResult, request, None
        )
        return response

    async def clear_event(
        self, event: str, *, request_id: str | None = None
    ) -> dispatch_pb.ClearEventResponse:
        request = dispatch_pb.ClearEventRequest(request_id=request_id_or_new(request_id), event=event)
        response: dispatch_pb.ClearEventResponse = await self._unary(self._stub.ClearEvent, request, None)
        return response

    async def submit_dispatch_instruction(
        self,
        scope: str,
        direction: types_pb2.Direction,
        target: types_pb2.PowerCurve,
        validity: types_pb2.TimeWindow,
        *,
        event: str = "",
        request_id: str | None = None,
    ) -> dispatch_pb.SubmitDispatchInstructionResponse:
        """A real-time instruction for ``gridNodes/{id}`` (split over its aggregators) or ``aggregators/{id}``."""
        request = dispatch_pb.SubmitDispatchInstructionRequest(
            request_id=request_id_or_new(request_id),
            event=event,
            scope=scope,
            direction=direction,
            target=target,
            validity=validity,
        )
        response: dispatch_pb.SubmitDispatchInstructionResponse = await self._unary(
            self._stub.SubmitDispatchInstruction, request, None
        )
        return response

    async def list_instructions(
        self, *, event: str = "", active_only: bool = False, page_size: int = 0, page_token: str = ""
    ) -> dispatch_pb.ListInstructionsResponse:
        response: dispatch_pb.ListInstructionsResponse = await self._unary(
            self._stub.ListInstructions,
            dispatch_pb.ListInstructionsRequest(
                event=event, active_only=active_only, page_size=page_size, page_token=page_token
            ),
            None,
        )
        return response


class AggregatorMarketClient(_Client):
    """The market part of vgi.aggregator.v1.AggregatorService, for one aggregator."""

    _STUB = agg_grpc.AggregatorServiceStub

    async def list_events(self, *, page_size: int = 0, page_token: str = "") -> agg_pb.ListEventsResponse:
        """The events the caller is invited to, newest first."""
        response: agg_pb.ListEventsResponse = await self._unary(
            self._stub.ListEvents, agg_pb.ListEventsRequest(page_size=page_size, page_token=page_token), None
        )
        return response

    async def submit_bid(
        self, event: str, slots: Sequence[market_pb2.BidSlot], *, request_id: str | None = None
    ) -> market_pb2.Bid:
        """Submit or replace the caller's bid before the deadline."""
        request = agg_pb.SubmitBidRequest(
            request_id=request_id_or_new(request_id), parent=event, bid=market_pb2.Bid(slots=slots)
        )
        response: agg_pb.SubmitBidResponse = await self._unary(self._stub.SubmitBid, request, None)
        return response.bid

    async def withdraw_bid(self, name: str, *, request_id: str | None = None) -> market_pb2.Bid:
        request = agg_pb.WithdrawBidRequest(request_id=request_id_or_new(request_id), name=name)
        response: agg_pb.WithdrawBidResponse = await self._unary(self._stub.WithdrawBid, request, None)
        return response.bid

    async def get_bid(self, name: str) -> market_pb2.Bid:
        response: agg_pb.GetBidResponse = await self._unary(
            self._stub.GetBid, agg_pb.GetBidRequest(name=name), None
        )
        return response.bid

    async def list_instructions(
        self, *, event: str = "", active_only: bool = False, page_size: int = 0, page_token: str = ""
    ) -> agg_pb.ListInstructionsResponse:
        response: agg_pb.ListInstructionsResponse = await self._unary(
            self._stub.ListInstructions,
            agg_pb.ListInstructionsRequest(
                event=event, active_only=active_only, page_size=page_size, page_token=page_token
            ),
            None,
        )
        return response
