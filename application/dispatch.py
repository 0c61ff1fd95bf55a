"""Dispatch use cases (SPEC F6): the grid's dispatch instructions and the setpoints they start.

``submit_dispatch_instruction`` is SubmitDispatchInstruction after its
signature check (which reads the signed request, so the servicer runs it
first, in the same unit of work); ``start_setpoints`` is the scheduler's
send-the-setpoints-of-an-instruction-whose-validity-has-started step.
"""

from __future__ import annotations

from datetime import timedelta

from application.uow import UnitOfWork
from domain.evaluation import Direction
from infra.observability.tracing import start_linked_span
from store import aggregators, instructions, registry
from store import events as event_store
from store.instructions import Dispatched, Instruction, Target

HEARTBEAT_TIMEOUT = timedelta(seconds=120)
"""How recent a meter value must be to count as a session's present power (SPEC F3 P0)."""


def check_target(target: Target) -> None:
    """The target's own shape (steps, validity), checked before any store read."""
    instructions.check_target(target)


def submit_dispatch_instruction(
    uow: UnitOfWork,
    *,
    event_id: str | None,
    grid_node: str | None,
    aggregator_id: str | None,
    direction: Direction,
    target: Target,
    heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT,
) -> Dispatched:
    """Instruct one aggregator, or split a node's target over the aggregators there (exactly one of
    ``grid_node`` / ``aggregator_id``), for an event or, without ``event_id``, outside any market.

    The event first takes its due transitions and must accept the instruction
    (state, direction, window: ``store.instructions.check_event_dispatch``);
    the node or aggregator must exist (NotFound). Instructions in force at the
    same place are revised (cancelled and reissued), each issued one notified.
    """
    check_target(target)
    event = None
    if event_id:
        event = event_store.advance(uow.conn, event_store.get(uow.conn, event_id), uow.now)
        instructions.check_event_dispatch(event, direction, target)
    if grid_node is not None:
        registry.get_grid_node(uow.conn, grid_node)
    else:
        if aggregator_id is None:
            raise ValueError("an instruction goes to a grid node or to an aggregator")
        aggregators.get(uow.conn, aggregator_id)
    return instructions.dispatch(
        uow.conn,
        event=event,
        grid_node=grid_node,
        aggregator_id=aggregator_id,
        direction=direction,
        target=target,
        now=uow.now,
        carrier=uow.carrier,
        heartbeat_timeout=heartbeat_timeout,
    )


def start_setpoints(
    uow: UnitOfWork, instruction: Instruction, heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT
) -> bool:
    """Send the setpoints of an instruction whose validity has started; False when another process did.

    The setpoints belong to the grid's call that caused the instruction (its
    stored trace carrier), not to the caller of this use case.
    """
    if not instructions.claim_setpoints(uow.conn, instruction, uow.now):
        return False
    carrier = instructions.carrier_of(uow.conn, instruction)
    with start_linked_span("vgi.market.setpoints", carrier):
        instructions.send_setpoints(uow.conn, instruction, uow.now, carrier, heartbeat_timeout)
    return True
