"""Execution monitoring use case (SPEC F7): one claimed minute of an executing event, and what it sets off.

``run_minute`` claims the (event, minute) row (of several processes, one
computes and corrects it), measures it (``store.monitoring``: target, actual
and baseline per aggregator and node), then acts: an aggregator whose
deviation exceeds the program's ``deviation_threshold`` for
``deviation_minutes`` consecutive minutes is alarmed (DEVIATION, to the
grid's progress stream and to the aggregator's notification stream) and,
when the program re-dispatches, per node it holds instructions at, its
shortfall is moved (``domain.decomposition.redispatch``) to the other
aggregators invited to the event at that node with capacity left (real-time
F3 capacity in the event's direction): every instruction that changes is
cancelled and reissued as its next version, and every aggregator concerned
gets a REDISPATCH alarm. All of it in the unit of work's one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from application import dispatch
from application.uow import UnitOfWork
from domain import monitoring as rules
from domain.decomposition import MinuteSample, is_lagging, redispatch
from domain.evaluation import Direction
from domain.events import Event
from domain.monitoring import DEVIATION, MINUTE, REDISPATCH, Alarm
from domain.notices import AlarmRaised
from store import aggregators, capacity
from store import events as event_store
from store import monitoring as store
from store.instructions import Instruction, Target
from store.monitoring import Deviation, ProgressMinute


def run_minute(
    uow: UnitOfWork, event_id: str, minute: datetime, heartbeat_timeout: timedelta
) -> ProgressMinute | None:
    """Measure, act on and record one minute of an event; None when it is not monitored or already claimed."""
    event = event_store.get(uow.conn, event_id)
    if not store.is_monitored(event, minute) or not store.claim_minute(uow.conn, event, minute, uow.now):
        return None
    measured = store.measure_minute(uow.conn, event, minute, uow.now, heartbeat_timeout)
    acting = _Acting(uow, event, minute, heartbeat_timeout)
    settings, recent = measured.settings, measured.recent
    lagging = [
        f.scope
        for f in measured.aggregators
        if is_lagging(
            [MinuteSample(m.target_w, m.response_w) for m in recent[f.scope]],
            threshold=settings.threshold,
            consecutive=settings.consecutive,
        )
    ]
    for aid in lagging:
        acting.deviation_alarm(aid, recent[aid], settings)
    for node in sorted(
        {n for aid in lagging for n in measured.node_targets[aid]} if settings.redispatch else ()
    ):
        # A version revised since the minute (a late run) is no longer the one to revise: the node waits
        # for a minute judged against the current versions.
        if all(i.active for i in measured.in_force if i.grid_node == node):
            acting.redispatch(node, measured.in_force, recent, settings)
    return store.record_minute(uow.conn, event, minute, measured, acting.alarms, acting.reset)


class _Acting:
    """What a minute sets off: its alarms (each told to its aggregator) and re-dispatches."""

    def __init__(self, uow: UnitOfWork, event: Event, minute: datetime, heartbeat_timeout: timedelta) -> None:
        self.uow = uow
        self.event = event
        self.minute = minute
        self.end = minute + MINUTE
        self.timeout = heartbeat_timeout
        self.alarms: list[Alarm] = []
        self.reset: set[str] = set()

    def deviation_alarm(
        self, aggregator_id: str, recent: Sequence[rules.PastMinute], settings: Deviation
    ) -> None:
        latest = recent[-1]
        deviation = Fraction(latest.target_w - latest.response_w, latest.target_w)
        self._alarm(
            DEVIATION,
            aggregator_id,
            f"aggregators/{aggregator_id} responded {latest.response_w} W of {latest.target_w} W instructed "
            f"(deviation {_percent(deviation)}) for {settings.consecutive} consecutive minutes, "
            f"above the {_percent(settings.threshold)} allowed",
        )
        self.reset.add(aggregator_id)

    def redispatch(
        self,
        node: str,
        in_force: Sequence[Instruction],
        recent: Mapping[str, Sequence[rules.PastMinute]],
        settings: Deviation,
    ) -> None:
        """Move the lagging aggregators' shortfall at ``node`` to the others with capacity left."""
        held = {i.aggregator_id: i for i in in_force if i.grid_node == node}
        samples = {aid: rules.node_samples(recent[aid], node) for aid in held}
        plan = redispatch(
            samples,
            self._capacity_left(node, held),
            threshold=settings.threshold,
            consecutive=settings.consecutive,
        )
        current = {aid: s[-1].instructed_w for aid, s in samples.items()}
        deltas = {aid: plan.instructed_w[aid] - current.get(aid, 0) for aid in plan.instructed_w}
        if not any(deltas.values()):
            return
        template = held[min(plan.shortfall_w)]
        curves = {
            aid: store.curve(held[aid])
            if aid in held
            else rules.Curve(template.target_start, template.step_minutes, (0,) * len(template.target_w))
            for aid in deltas
        }
        # Nothing to revise when the instructions have no step left after this minute (the event's last).
        revised = {
            aid: values
            for aid, values in rules.revise_curves(curves, deltas, self.end).items()
            if values != curves[aid].values_w
        }
        if not revised:
            return
        for aid, values in revised.items():
            base = held.get(aid, template)
            dispatch.issue(
                self.uow,
                event_id=self.event.event_id,
                aggregator_id=aid,
                grid_node=node,
                direction=self.event.direction,
                target=Target(
                    base.target_start, base.step_minutes, values, base.validity_start, base.validity_end
                ),
                heartbeat_timeout=self.timeout,
                replacing=held.get(aid),
            )
        place = f"gridNodes/{node}" if node else "its aggregator-level instructions"
        shortfall = sum(plan.shortfall_w.values())
        summary = (
            f"shortfall of {shortfall} W at {place} re-dispatched: "
            + ", ".join(f"aggregators/{aid} {deltas[aid]:+d} W" for aid in sorted(revised))
            + (f"; {plan.unplaced_w} W found no capacity left" if plan.unplaced_w else "")
        )
        for aid in sorted(revised):
            self._alarm(
                REDISPATCH, aid, f"{summary}; your instruction is now version {_next_version(held.get(aid))}"
            )
            self.reset.add(aid)

    def _capacity_left(self, node: str, held: Mapping[str, Instruction]) -> dict[str, int]:
        """Real-time F3 capacity in the event's direction of the aggregators that may take more at ``node``
        (a SUSPENDED aggregator takes none: it receives no new dispatch)."""
        decrease = self.event.direction is Direction.LOAD_DECREASE
        suspended = aggregators.suspended_ids(self.uow.conn)
        if not node:
            figures = {
                aid: capacity.realtime_capacity(self.uow.conn, f"aggregators/{aid}", self.end, self.timeout)
                for aid in held
                if aid not in suspended
            }
            return {aid: f.decrease_w if decrease else f.increase_w for aid, f in figures.items()}
        invited = store.invited_at_node(self.uow.conn, self.event.event_id, node)
        totals = capacity.aggregator_capacities(self.uow.conn, node, self.end, self.timeout)
        return {
            aid: t.decrease_w if decrease else t.increase_w
            for aid, t in totals.items()
            if (aid in invited or aid in held) and aid not in suspended
        }

    def _alarm(self, kind: str, aggregator_id: str, message: str) -> None:
        alarm = Alarm(str(uuid.uuid4()), kind, self.event.event_id, aggregator_id, message, self.uow.now)
        self.alarms.append(alarm)
        self.uow.notify(AlarmRaised(alarm))


def _percent(value: Fraction) -> str:
    return f"{Decimal(value.numerator) / Decimal(value.denominator) * 100:.1f}%"


def _next_version(instruction: Instruction | None) -> int:
    return instruction.version + 1 if instruction else 1
