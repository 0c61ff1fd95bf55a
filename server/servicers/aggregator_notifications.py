"""AggregatorService notification stream: StreamNotifications and AckNotifications (SPEC F4–F10, section 7).

Delivery is at least once, in sequence order, resumed after the client's
cursor; what the caller has acknowledged is never sent again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from vgi.aggregator.v1 import aggregator_service_pb2 as pb

from application import notifications
from application.uow import UnitOfWork
from domain.errors import PermissionDenied
from server.delivery import deliver
from server.servicers import Deps, caller, write_once
from store.outbox import Channel, OutboxItem
from wire import outbox as wire_outbox


def _aggregator_id() -> str:
    aggregator_id = caller().tenant()
    if aggregator_id is None:
        raise PermissionDenied("only an aggregator has a notification stream", reason="NOT_AN_AGGREGATOR")
    return aggregator_id


class AggregatorNotifications:
    deps: Deps

    async def StreamNotifications(
        self, request: pb.StreamNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> None:
        aggregator_id = _aggregator_id()

        async def write(item: OutboxItem) -> None:
            await context.write(
                pb.StreamNotificationsResponse(notification=wire_outbox.notification_from(item))
            )

        async with self.deps.dispatcher.subscription(
            Channel.NOTIFICATIONS, aggregator_id, request.after_sequence
        ) as subscription:
            await deliver(subscription, write, "notification")

    async def AckNotifications(
        self, request: pb.AckNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.AckNotificationsResponse:
        aggregator_id = _aggregator_id()

        def effect(uow: UnitOfWork) -> pb.AckNotificationsResponse:
            acked = notifications.ack(uow, aggregator_id, request.up_to_sequence)
            return pb.AckNotificationsResponse(acked_sequence=acked)

        return await write_once(
            self.deps.db, request, pb.AckNotificationsResponse, effect, now=datetime.now(UTC)
        )
