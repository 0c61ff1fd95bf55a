"""Settlement use cases (SPEC F8–F10): evaluate an event, confirm, dispute and adjust its statements.

Each is a function over a UnitOfWork; the store (``store.settlement``) gives
the inputs and keeps the evaluations and statements, the domain
(``domain.evaluation``, ``domain.settlement``) holds the rules. Every one
locks the event row first, so the writes of one event's settlement are
serialised (the last confirmation sees all the others and settles the event).

Confirmation needs both parties: the aggregator confirms (or disputes) its
DRAFT, the grid confirms on its side, and the statement is CONFIRMED —
immutable — once both have. A DISPUTED statement is resolved by the grid: its
confirmation confirms it as issued (corrections then go through an
adjustment). When every regular statement of an event is CONFIRMED the event
becomes SETTLED.
"""

from __future__ import annotations

from enum import StrEnum

from application import events
from application.uow import UnitOfWork
from domain import events as rules
from domain import settlement as money
from domain.calendar import local_day, slot_index
from domain.errors import Aborted, FailedPrecondition
from domain.evaluation import Evaluation, evaluate
from domain.events import Actor, Event, EventState
from domain.notices import StatementReady
from domain.settlement import StatementLine, StatementState, build_adjustment, build_statement
from store import events as event_store
from store import programs
from store import settlement as store
from store.programs import Program
from store.settlement import (
    ADJUSTMENT,
    NOT_A_REGULAR_STATEMENT,
    REGULAR,
    Baseline,
    Evaluated,
    EvaluationRecord,
    StatementRecord,
)


class Party(StrEnum):
    """Who confirms a statement."""

    AGGREGATOR = "AGGREGATOR"
    GRID = "GRID"


def evaluation_of(
    uow: UnitOfWork, event: Event, program: Program, aggregator_id: str
) -> tuple[Baseline, Evaluation]:
    """Baseline and SPEC F9 evaluation of one aggregator, from the data as it now stands."""
    conn = uow.conn
    history = store.metered(conn, event, aggregator_id=aggregator_id)
    found = store.baseline(conn, event, program, aggregator_id=aggregator_id, history=history)
    starts = event.slot_starts
    actual = {
        i: history[local_day(start)][slot_index(start)]
        for i, start in enumerate(starts)
        if slot_index(start) in history.get(local_day(start), {})
    }
    try:
        result = evaluate(
            event.direction,
            dict(enumerate(store.instructed(conn, event, aggregator_id))),
            {i: found.values[start] for i, start in enumerate(starts)},
            actual,
            bounds=program.qualification,
        )
    except FailedPrecondition as missing:
        slot = int(missing.metadata.get("slot", "0"))
        raise FailedPrecondition(
            f"aggregators/{aggregator_id}: {missing.message}",
            reason=missing.reason,
            metadata={
                **missing.metadata,
                "scope": f"aggregators/{aggregator_id}",
                "slot_start_time": starts[slot].isoformat(),
            },
        ) from None
    return found, result


def evaluate_event(uow: UnitOfWork, event_id: str, actor: Actor) -> Evaluated:
    """EvaluateEvent: COMPLETED → EVALUATED with one evaluation and one DRAFT statement per instructed aggregator.

    Each aggregator is notified StatementReady in the same transaction. An
    event nobody was instructed for has nothing to settle and is SETTLED at once.
    """
    conn, now = uow.conn, uow.now
    store.lock_event(conn, event_id)
    event = events.advance(uow, event_store.get(conn, event_id))
    rules.check_transition(event.event_id, event.event_type, event.state, EventState.EVALUATED, actor)
    program = programs.get(conn, event.program_id)
    starts = tuple(event.slot_starts)
    made_evaluations, made_statements = [], []
    for aggregator_id in store.instructed_aggregators(conn, event_id):
        found, result = evaluation_of(uow, event, program, aggregator_id)
        statement = build_statement(
            aggregator_id,
            event_id,
            aggregator_id,
            result,
            store.prices(conn, event, aggregator_id),
            program.settlement,
        )
        made_evaluations.append(
            EvaluationRecord(
                event_id, aggregator_id, found.method, found.requested, found.days, result, starts, now
            )
        )
        made_statements.append(StatementRecord(event_id, statement, starts, now, None))
    moved = events.transition(uow, event, EventState.EVALUATED, actor)
    if moved is None:
        raise Aborted(f"event {event_id} changed state while being evaluated; retry")
    for record in made_evaluations:
        store.insert_evaluation(conn, record)
    for made in made_statements:
        store.insert_statement(conn, made, kind=REGULAR, sequence=0)
        _announce(uow, made)
    if not made_statements:
        events.transition(uow, moved, EventState.SETTLED, Actor.PLATFORM)
    return Evaluated(made_evaluations, made_statements)


def confirm_statement(
    uow: UnitOfWork, event_id: str, statement_id: str, party: Party, *, aggregator_id: str | None = None
) -> StatementRecord:
    """Record ``party``'s confirmation (see the module docstring for the rule); settles the event when it was the last.

    With ``aggregator_id``, only that aggregator's statement (another's answers
    NOT_FOUND). FailedPrecondition STATEMENT_CONFIRMED for a confirmed
    statement; STATEMENT_DISPUTED when the aggregator confirms a statement it disputed.
    """
    conn, now = uow.conn, uow.now
    store.lock_event(conn, event_id)
    current = store.get_statement(conn, event_id, statement_id, aggregator_id=aggregator_id)
    state = current.statement.state
    if state is StatementState.DISPUTED and party is Party.AGGREGATOR:
        raise FailedPrecondition(
            f"statement {statement_id} is disputed; the grid resolves it",
            reason=money.STATEMENT_DISPUTED,
            metadata={"statement_id": statement_id, "state": state.value},
        )
    confirmed = money.confirm(current.statement)
    aggregator_time = current.aggregator_confirm_time or (now if party is Party.AGGREGATOR else None)
    grid_time = current.grid_confirm_time or (now if party is Party.GRID else None)
    done = state is StatementState.DISPUTED or (aggregator_time is not None and grid_time is not None)
    store.record_confirmations(
        conn,
        event_id,
        statement_id,
        aggregator_time=aggregator_time,
        grid_time=grid_time,
        state=confirmed.state if done else state,
        confirm_time=now if done else None,
        now=now,
    )
    if done and current.statement.adjusts is None:
        _settle_if_complete(uow, event_id)
    return store.get_statement(conn, event_id, statement_id)


def _settle_if_complete(uow: UnitOfWork, event_id: str) -> None:
    if store.open_regular_statements(uow.conn, event_id) == 0:
        event = event_store.get(uow.conn, event_id)
        if event.state is EventState.EVALUATED:
            events.transition(uow, event, EventState.SETTLED, Actor.PLATFORM)


def dispute_statement(
    uow: UnitOfWork, event_id: str, statement_id: str, aggregator_id: str, reason: str
) -> StatementRecord:
    """The aggregator disputes its DRAFT statement (domain rules: not once confirmed, not twice)."""
    conn = uow.conn
    store.lock_event(conn, event_id)
    current = store.get_statement(conn, event_id, statement_id, aggregator_id=aggregator_id)
    disputed = money.dispute(current.statement, reason)
    store.record_dispute(conn, event_id, statement_id, disputed.state, reason, uow.now)
    return store.get_statement(conn, event_id, statement_id)


def create_adjustment(uow: UnitOfWork, event_id: str, statement_id: str) -> StatementRecord:
    """A DRAFT adjustment of a CONFIRMED regular statement, re-evaluated from the data as it now stands.

    Refused while an earlier adjustment of it is not confirmed
    (FailedPrecondition ADJUSTMENT_PENDING); the aggregator is notified StatementReady.
    """
    conn, now = uow.conn, uow.now
    store.lock_event(conn, event_id)
    original = store.get_statement(conn, event_id, statement_id)
    if original.statement.adjusts is not None:
        raise FailedPrecondition(
            f"statement {statement_id} is an adjustment; adjust its original {original.statement.adjusts}",
            reason=NOT_A_REGULAR_STATEMENT,
            metadata={
                "statement": f"events/{event_id}/statements/{statement_id}",
                "adjusts": original.statement.adjusts,
            },
        )
    prior = store.adjustments_of(conn, event_id, statement_id)
    pending = [p.statement_id for p in prior if p.statement.state is not StatementState.CONFIRMED]
    if pending:
        raise FailedPrecondition(
            f"adjustment {pending[0]} of {statement_id} is not confirmed yet",
            reason=store.ADJUSTMENT_PENDING,
            metadata={"statement": f"events/{event_id}/statements/{pending[0]}"},
        )
    event = event_store.get(conn, event_id)
    program = programs.get(conn, event.program_id)
    aggregator_id = original.statement.aggregator_id
    _, result = evaluation_of(uow, event, program, aggregator_id)
    corrected = build_statement(
        statement_id,
        event_id,
        aggregator_id,
        result,
        store.prices(conn, event, aggregator_id),
        program.settlement,
    )
    sequence = len(prior) + 1
    adjustment = build_adjustment(
        f"{aggregator_id}.adj-{sequence}",
        original.statement,
        [line for line in corrected.lines if isinstance(line, StatementLine)],
        program.settlement,
        prior=[p.statement for p in prior],
    )
    record = StatementRecord(event_id, adjustment, original.slot_starts, now, None)
    store.insert_statement(conn, record, kind=ADJUSTMENT, sequence=sequence)
    _announce(uow, record)
    return record


def _announce(uow: UnitOfWork, record: StatementRecord) -> None:
    uow.notify(StatementReady(record.statement.aggregator_id, record.name))
