"""The one encoder of notices: ``domain.notices`` → Notification and Setpoint messages in the outbox.

Installed as the Database's publisher by the composition root
(``Database(url, publisher=wire.notices.publish)``): it runs in the
transaction that recorded the notices, before its COMMIT, so every
notification or setpoint exists exactly when the change it announces does.
One bulk enqueue per channel and trace carrier keeps a transaction's items in
the order they were recorded and its subscriber rows locked in one order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.engine import Connection
from vgi.common.v1 import market_pb2, notifications_pb2

from domain.notices import (
    AlarmRaised,
    ClearingPublished,
    EventStateChanged,
    InstructionCancelled,
    InstructionIssued,
    Invited,
    Notice,
    PriceCurvePublished,
    SetpointIssued,
    StatementReady,
)
from store.db import Recorded
from wire import market, outbox, resources


def publish(conn: Connection, recorded: Sequence[Recorded]) -> None:
    """Enqueue the recorded notices, in order, grouped by channel and carrier."""
    notifications: dict[str | None, list[tuple[str, notifications_pb2.Notification]]] = {}
    setpoints: dict[str | None, list[market_pb2.Setpoint]] = {}
    # A dispatch's thousands of setpoints share their valid_until: one Timestamp each distinct time.
    stamps: dict[datetime, Timestamp] = {}
    for notice, carrier in recorded:
        if isinstance(notice, SetpointIssued):
            stamp = stamps.get(notice.valid_until)
            if stamp is None:
                stamp = stamps[notice.valid_until] = market.timestamp(notice.valid_until)
            setpoints.setdefault(carrier, []).append(setpoint(notice, stamp))
        else:
            message = notification(notice)
            notifications.setdefault(carrier, []).extend((a, message) for a in audience(notice))
    for carrier, items in notifications.items():
        outbox.enqueue_notifications(conn, items, carrier)
    for carrier, messages in setpoints.items():
        outbox.enqueue_setpoints(conn, messages, carrier)


def audience(notice: Notice) -> Sequence[str]:
    """The aggregators a notification notice is for."""
    match notice:
        case Invited() | EventStateChanged() | PriceCurvePublished():
            return notice.aggregator_ids
        case ClearingPublished() | StatementReady():
            return (notice.aggregator_id,)
        case InstructionIssued() | InstructionCancelled():
            return (notice.instruction.aggregator_id,)
        case AlarmRaised():
            return (notice.alarm.aggregator_id,)
    raise TypeError(f"{type(notice).__name__} is not a notification")


def notification(notice: Notice) -> notifications_pb2.Notification:
    """The Notification a notice stands for (without id, sequence and time: the outbox assigns them)."""
    match notice:
        case Invited():
            return notifications_pb2.Notification(invitation=market.event_message(notice.event))
        case EventStateChanged():
            return notifications_pb2.Notification(
                event_state_changed=notifications_pb2.EventStateChanged(
                    event=market.event_message(notice.event)
                )
            )
        case ClearingPublished():
            return notifications_pb2.Notification(
                clearing=market.clearing_message(notice.clearing, notice.aggregator_id)
            )
        case InstructionIssued():
            return notifications_pb2.Notification(instruction=market.instruction_message(notice.instruction))
        case InstructionCancelled():
            return notifications_pb2.Notification(
                instruction_cancelled=notifications_pb2.InstructionCancelled(
                    instruction=market.instruction_message(notice.instruction),
                    reissued_version=notice.reissued_version,
                )
            )
        case AlarmRaised():
            return notifications_pb2.Notification(alarm=market.alarm_message(notice.alarm))
        case StatementReady():
            return notifications_pb2.Notification(
                statement_ready=notifications_pb2.StatementReady(statement=notice.statement)
            )
        case PriceCurvePublished():
            return notifications_pb2.Notification(price_curve=resources.price_curve_message(notice.curve))
    raise TypeError(f"{type(notice).__name__} is not a notification")


def setpoint(notice: SetpointIssued, valid_until: Timestamp | None = None) -> market_pb2.Setpoint:
    """The Setpoint a SetpointIssued notice stands for (``valid_until``: its time already converted)."""
    message = market_pb2.Setpoint(
        setpoint_id=notice.setpoint_id,
        charger_id=notice.charger_id,
        power_w=notice.power_w,
        valid_until=valid_until if valid_until is not None else market.timestamp(notice.valid_until),
        instruction=notice.instruction,
    )
    if notice.schedule is not None:
        steps = notice.schedule
        message.schedule.CopyFrom(market.curve(steps.start, steps.step_minutes, steps.values_w))
    return message
