"""Typed async SDK for execution monitoring (SPEC F7): the grid's (or an operator's) event progress stream.

    progress = ProgressClient(channel)
    async for minute in progress.stream_event_progress("events/e-1"):
        plot(minute.minute_time, minute.target_w, minute.actual_w, minute.baseline_w)
        for alarm in minute.alarms:
            page_someone(alarm)

The stream replays every monitored minute of the event from its first, then
sends each new minute as it is monitored, and ends once the event has
finished executing. Failures raise ``clients.errors`` exceptions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as dispatch_grpc

from clients.errors import from_grpc_error
from clients.sdk import _Client


class ProgressClient(_Client):
    """The monitoring part of vgi.dispatch.v1.DispatchService (roles grid and operator)."""

    _STUB = dispatch_grpc.DispatchServiceStub

    async def stream_event_progress(
        self, event: str
    ) -> AsyncIterator[dispatch_pb.StreamEventProgressResponse]:
        """Each monitored minute of ``events/{id}``, oldest first (no deadline: the stream lasts the event)."""
        call = self._stub.StreamEventProgress(
            dispatch_pb.StreamEventProgressRequest(event=event), metadata=self._metadata
        )
        try:
            async for minute in call:
                yield minute
        except grpc.aio.AioRpcError as exc:
            raise from_grpc_error(exc) from exc
        finally:
            call.cancel()
