"""Notices: what a committed change tells the parties' streams, as plain data (SPEC section 7).

A use case records notices while it writes (``store.db.notify``); the one
encoder installed on the Database (``wire.notices``) turns them into outbox
rows in the SAME transaction, just before it commits — so an aggregator's
notification or a charger's setpoint exists exactly when the change it
announces does. Nothing here knows the wire form: the encoder does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.clearing import Clearing
from domain.dispatch import Instruction
from domain.events import Event
from domain.monitoring import Alarm
from domain.prices import PriceCurve


@dataclass(frozen=True, slots=True)
class Invited:
    """An event was published: each invited aggregator is told (a Notification.invitation)."""

    event: Event
    aggregator_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventStateChanged:
    """An event moved to a new state: each invited aggregator is told."""

    event: Event
    aggregator_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClearingPublished:
    """An event was cleared: the aggregator is told its share of the result."""

    clearing: Clearing
    aggregator_id: str


@dataclass(frozen=True, slots=True)
class InstructionIssued:
    """A dispatch instruction (or a new version of one) for its aggregator."""

    instruction: Instruction


@dataclass(frozen=True, slots=True)
class InstructionCancelled:
    """An instruction version was cancelled; ``reissued_version`` (0: none) replaces it."""

    instruction: Instruction
    reissued_version: int


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    """A monitoring alarm for the aggregator it names."""

    alarm: Alarm


@dataclass(frozen=True, slots=True)
class StatementReady:
    """A settlement statement (``statement``: its resource name) awaits the aggregator's confirmation."""

    aggregator_id: str
    statement: str


@dataclass(frozen=True, slots=True)
class PriceCurvePublished:
    """A price curve was published: the aggregators it concerns are told."""

    curve: PriceCurve
    aggregator_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetpointSchedule:
    """Watts per step from ``start`` (a setpoint that changes within its validity)."""

    start: datetime
    step_minutes: int
    values_w: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SetpointIssued:
    """A power setpoint for one charger, identified by ``setpoint_id`` (devices deduplicate by it).

    ``power_w`` 0 valid until now releases the charger (back to unmanaged).
    """

    setpoint_id: str
    charger_id: str
    power_w: int
    valid_until: datetime
    instruction: str
    schedule: SetpointSchedule | None = None


Notice = (
    Invited
    | EventStateChanged
    | ClearingPublished
    | InstructionIssued
    | InstructionCancelled
    | AlarmRaised
    | StatementReady
    | PriceCurvePublished
    | SetpointIssued
)
