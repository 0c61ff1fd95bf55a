"""Evaluation and settlement of events (SPEC F8–F10): inputs from the store, rules from the domain.

Inputs, per aggregator and event:

- history and actual power: ``store.telemetry.slot_mean_power`` (15-minute
  means per slot) from D−60 to the window end, one query;
- the baseline: ``store.baselines.scope_baseline`` over that history (the
  one implementation the execution monitor shares: event days skipped,
  per-local-day parts, PRE_EVENT), the program's fallback method, if any;
- C per slot: the sum over the aggregator's instructions of the event of the
  version in force at the END of the slot (created before the slot ended, not
  cancelled before it ended, validity covering its last instant), taking the
  value of that version's step covering the slot's last instant
  (``domain.in_force``, the monitor's rule for a minute);
- prices: UNIFORM — the slot's clearing price on the cleared quantities (the
  marginal accepted price, the highest); PAY_AS_BID — the aggregator's own
  cleared quantity price (its bid's), else its bid price for the slot;
  DIRECT_CONTROL — the event's announced price;
- settings: the event's program as it stands at evaluation time; the method
  is the event's (fixed at publication), the fallback the program's.

A window that crosses local midnight is evaluated per local day (each part
has its own D and candidate days), except PRE_EVENT, which holds the slot
before the event's start flat over the whole window.

Statements: the regular statement of an aggregator is ``events/{event}/statements/{aggregator}``;
adjustments are ``{aggregator}.adj-{n}``. The use cases that evaluate an
event and confirm, dispute and adjust its statements (and the confirmation
rule) are ``application.settlement``; this module keeps their inputs, the
stored evaluations and statements, and the reads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import baseline as shared
from domain import events as rules
from domain import settlement as money
from domain.baseline import BaselineMethod, WindowBaseline
from domain.calendar import SLOT_MINUTES, SlotWindow, slot_start
from domain.errors import FailedPrecondition, NotFound, PreconditionViolation
from domain.evaluation import Direction, Evaluation, SlotEvaluation
from domain.events import EventState
from domain.in_force import in_force_at, last_instant, target_at
from domain.settlement import (
    DeltaLine,
    EventPrices,
    PriceMode,
    Statement,
    StatementLine,
    StatementState,
)
from store import baselines, instructions, pagination, telemetry
from store import events as event_store
from store.events import Event
from store.market_tables import BidSlotRow, ClearedQuantityRow, InstructionRow
from store.programs import Program
from store.settlement_tables import EvaluationRow, StatementLineRow, StatementRow
from store.tables import table_of

evaluations = table_of(EvaluationRow)
statements = table_of(StatementRow)
lines = table_of(StatementLineRow)
_instructions = table_of(InstructionRow)
_cleared = table_of(ClearedQuantityRow)
_bid_slots = table_of(BidSlotRow)

EVALUATION_NOT_FOUND = "EVALUATION_NOT_FOUND"
STATEMENT_NOT_FOUND = "STATEMENT_NOT_FOUND"
EVENT_NOT_EVALUATED = "EVENT_NOT_EVALUATED"
ADJUSTMENT_PENDING = "ADJUSTMENT_PENDING"
NOT_A_REGULAR_STATEMENT = "NOT_A_REGULAR_STATEMENT"

REGULAR, ADJUSTMENT = "REGULAR", "ADJUSTMENT"
_SLOT = timedelta(minutes=SLOT_MINUTES)
_NANOS = Decimal(10**9)


# ---------------------------------------------------------------- records


Baseline = WindowBaseline
"""A scope's baseline over an event window (``domain.baseline.WindowBaseline``)."""


@dataclass(frozen=True)
class EvaluationRecord:
    """A stored evaluation; the domain Evaluation's slot numbers index ``slot_starts`` (the event window)."""

    event_id: str
    aggregator_id: str
    baseline_method: BaselineMethod
    requested_method: BaselineMethod
    baseline_days: tuple[date, ...]
    evaluation: Evaluation
    slot_starts: tuple[datetime, ...]
    create_time: datetime
    stale: bool = False


@dataclass(frozen=True)
class StatementRecord:
    """A stored statement; the domain Statement's slot numbers index ``slot_starts`` (the event window)."""

    event_id: str
    statement: Statement
    slot_starts: tuple[datetime, ...]
    create_time: datetime
    confirm_time: datetime | None
    aggregator_confirm_time: datetime | None = None
    """When the aggregator confirmed (None: not yet); the grid's likewise."""
    grid_confirm_time: datetime | None = None

    @property
    def statement_id(self) -> str:
        return self.statement.statement_id

    @property
    def name(self) -> str:
        return f"events/{self.event_id}/statements/{self.statement_id}"


@dataclass(frozen=True)
class Evaluated:
    """What EvaluateEvent returns."""

    evaluations: list[EvaluationRecord]
    statements: list[StatementRecord]


@dataclass(frozen=True)
class EvaluationPage:
    evaluations: list[EvaluationRecord]
    next_page_token: str


@dataclass(frozen=True)
class StatementPage:
    statements: list[StatementRecord]
    next_page_token: str


@dataclass(frozen=True)
class GridStatement:
    """The grid's aggregate for an event: regular statements and confirmed adjustments."""

    event_id: str
    statement_names: list[str]
    aggregate: money.GridAggregate


# ---------------------------------------------------------------- inputs


def window_parts(event: Event) -> list[tuple[date, SlotWindow, int]]:
    """The event window cut at local midnights: (local day, its slot window, position of its first slot)."""
    return shared.window_parts(event.slot_starts)


event_days = baselines.event_days


def metered(
    conn: Connection, event: Event, *, aggregator_id: str | None = None, node_id: str | None = None
) -> dict[date, dict[int, Fraction]]:
    """15-minute mean power per local day and slot, from D−60 of the first window day to the window end."""
    return baselines.metered_history(conn, event, aggregator_id=aggregator_id, node_id=node_id)


def baseline(
    conn: Connection,
    event: Event,
    program: Program,
    *,
    aggregator_id: str | None = None,
    node_id: str | None = None,
    history: Mapping[date, Mapping[int, Fraction]] | None = None,
) -> Baseline:
    """The SPEC F8 baseline of an aggregator or a grid node (give exactly one) over the event window.

    FailedPrecondition INSUFFICIENT_BASELINE_DAYS when too few candidate days
    exist and the program names no fallback (metadata adds the scope).
    """
    return baselines.scope_baseline(
        conn,
        event,
        program.calendar,
        program.fallback_baseline_method,
        aggregator_id=aggregator_id,
        node_id=node_id,
        history=history,
    )


def instructed(conn: Connection, event: Event, aggregator_id: str) -> list[int]:
    """C per slot of the window: Σ over instructions of the version in force at the end of the slot
    (``domain.in_force``, the monitor's rule too)."""
    versions = instructions.event_versions(conn, event.event_id, aggregator_id)
    totals = []
    for start in event.slot_starts:
        last = last_instant(start + _SLOT)
        totals.append(sum(target_at(version, last) for version in in_force_at(versions, last)))
    return totals


def prices(conn: Connection, event: Event, aggregator_id: str) -> EventPrices:
    """The prices of the aggregator's statement, keyed by slot position (see the module docstring)."""
    index = {start: i for i, start in enumerate(event.slot_starts)}
    if event.price_mode is PriceMode.DIRECT_CONTROL:
        return EventPrices(PriceMode.DIRECT_CONTROL, announced=event.announced_price)
    clearing: dict[int, Decimal] = {}
    own: dict[int, list[tuple[int, int]]] = {}
    for row in conn.execute(
        sa.select(
            _cleared.c.aggregator_id, _cleared.c.slot_start, _cleared.c.accepted_w, _cleared.c.price_nanos
        ).where(_cleared.c.event_id == event.event_id)
    ):
        position = index[row.slot_start]
        price = Decimal(row.price_nanos) / _NANOS
        clearing[position] = max(clearing.get(position, price), price)
        if row.aggregator_id == aggregator_id:
            own.setdefault(position, []).append((row.accepted_w, row.price_nanos))
    if event.price_mode is PriceMode.UNIFORM:
        return EventPrices(PriceMode.UNIFORM, clearing=clearing)
    bid = {
        index[row.slot_start]: Decimal(row.price_nanos) / _NANOS
        for row in conn.execute(
            sa.select(_bid_slots.c.slot_start, _bid_slots.c.price_nanos).where(
                _bid_slots.c.event_id == event.event_id, _bid_slots.c.aggregator_id == aggregator_id
            )
        )
        if row.slot_start in index
    }
    return EventPrices(PriceMode.PAY_AS_BID, own_bid=bid | {p: _weighted(q) for p, q in own.items()})


def _weighted(quantities: Sequence[tuple[int, int]]) -> Decimal:
    """One price for an aggregator's quantities at several nodes in a slot: accepted-weighted, at nano resolution.

    Quantities from one bid all carry the bid's price, so this is that price;
    only a grid-submitted result can give one aggregator different prices.
    """
    accepted = sum(w for w, _ in quantities)
    if accepted == 0:
        return Decimal(quantities[0][1]) / _NANOS
    weighted = Decimal(sum(w * p for w, p in quantities)) / Decimal(accepted)
    return weighted.quantize(Decimal(1), rounding=ROUND_HALF_UP) / _NANOS


def instructed_aggregators(conn: Connection, event_id: str) -> list[str]:
    """The aggregators instructed for the event (any instruction, cancelled or not), sorted."""
    return sorted(
        set(
            conn.execute(
                sa.select(_instructions.c.aggregator_id).where(_instructions.c.event_id == event_id)
            ).scalars()
        )
    )


def lock_event(conn: Connection, event_id: str) -> None:
    """Serialise settlement writes per event (PostgreSQL row lock; SQLite writers are serial anyway)."""
    ev = event_store.events
    found = conn.execute(sa.select(ev.c.event_id).where(ev.c.event_id == event_id).with_for_update()).first()
    if found is None:
        raise NotFound(
            f"event {event_id} not found",
            reason=event_store.EVENT_NOT_FOUND,
            metadata={"event": f"events/{event_id}"},
        )


def _exact(value: Fraction | None) -> str | None:
    return None if value is None else str(value)


def insert_evaluation(conn: Connection, record: EvaluationRecord) -> None:
    result = record.evaluation
    payload = {
        "evaluated": [
            {
                "slot_start": record.slot_starts[s.slot].isoformat(),
                "instructed_w": s.instructed_w,
                "baseline_w": str(s.baseline_w),
                "actual_w": str(s.actual_w),
                "response_w": str(s.response_w),
                "rate": str(s.rate),
            }
            for s in result.slots
        ],
        "skipped": [record.slot_starts[slot].isoformat() for slot in result.skipped_slots],
    }
    conn.execute(
        sa.insert(evaluations).values(
            event_id=record.event_id,
            aggregator_id=record.aggregator_id,
            direction=result.direction.value,
            baseline_method=record.baseline_method.value,
            requested_method=record.requested_method.value,
            baseline_days=json.dumps([day.isoformat() for day in record.baseline_days]),
            slots=json.dumps(payload),
            mean_rate=_exact(result.mean_rate),
            min_rate=_exact(result.min_rate),
            energy_responded_wh=str(result.energy_responded_wh),
            qualified=result.qualified,
            create_time=record.create_time,
        )
    )


def _nanos(amount: Decimal) -> int:
    return int(amount * _NANOS)


def insert_statement(conn: Connection, record: StatementRecord, *, kind: str, sequence: int) -> None:
    statement = record.statement
    conn.execute(
        sa.insert(statements).values(
            event_id=record.event_id,
            statement_id=statement.statement_id,
            aggregator_id=statement.aggregator_id,
            kind=kind,
            adjusts=statement.adjusts or "",
            sequence=sequence,
            compensation_nanos=_nanos(statement.compensation),
            penalty_nanos=_nanos(statement.penalty),
            fee_nanos=_nanos(statement.fee),
            state=statement.state.value,
            dispute_reason="",
            create_time=record.create_time,
            update_time=record.create_time,
        )
    )
    rows = []
    for line in statement.lines:
        settled = line.corrected if isinstance(line, DeltaLine) else line
        row = {
            "event_id": record.event_id,
            "statement_id": statement.statement_id,
            "slot_start": record.slot_starts[line.slot],
            "compensation_nanos": _nanos(line.compensation),
            "penalty_nanos": _nanos(line.penalty),
            "instructed_w": None,
            "baseline_w": None,
            "actual_w": None,
            "response_w": None,
            "rate": None,
            "price_nanos": None,
            "line_compensation_nanos": None,
            "line_penalty_nanos": None,
        }
        if settled is not None:
            row |= {
                "instructed_w": settled.instructed_w,
                "baseline_w": str(settled.baseline_w),
                "actual_w": str(settled.actual_w),
                "response_w": str(settled.response_w),
                "rate": str(settled.rate),
                "price_nanos": _nanos(settled.price),
                "line_compensation_nanos": _nanos(settled.compensation),
                "line_penalty_nanos": _nanos(settled.penalty),
            }
        rows.append(row)
    if rows:
        conn.execute(sa.insert(lines), rows)


# ---------------------------------------------------------------- read


def _slot_starts(conn: Connection, event_ids: Sequence[str]) -> dict[str, tuple[datetime, ...]]:
    ev = event_store.events
    return {
        row.event_id: tuple(rules.slot_starts(row.window_start, row.window_end))
        for row in conn.execute(
            sa.select(ev.c.event_id, ev.c.window_start, ev.c.window_end).where(
                ev.c.event_id.in_(list(event_ids))
            )
        )
    }


def _evaluation_record(row: sa.Row[tuple[object, ...]], starts: tuple[datetime, ...]) -> EvaluationRecord:
    payload = json.loads(row.slots)
    position = {start.isoformat(): i for i, start in enumerate(starts)}
    slots = tuple(
        SlotEvaluation(
            slot=position[s["slot_start"]],
            instructed_w=s["instructed_w"],
            baseline_w=Fraction(s["baseline_w"]),
            actual_w=Fraction(s["actual_w"]),
            response_w=Fraction(s["response_w"]),
            rate=Fraction(s["rate"]),
        )
        for s in payload["evaluated"]
    )
    return EvaluationRecord(
        event_id=row.event_id,
        aggregator_id=row.aggregator_id,
        baseline_method=BaselineMethod(row.baseline_method),
        requested_method=BaselineMethod(row.requested_method),
        baseline_days=tuple(date.fromisoformat(day) for day in json.loads(row.baseline_days)),
        evaluation=Evaluation(
            direction=Direction(row.direction),
            slots=slots,
            skipped_slots=tuple(position[s] for s in payload["skipped"]),
            mean_rate=None if row.mean_rate is None else Fraction(row.mean_rate),
            min_rate=None if row.min_rate is None else Fraction(row.min_rate),
            energy_responded_wh=Fraction(row.energy_responded_wh),
            qualified=row.qualified,
        ),
        slot_starts=starts,
        create_time=row.create_time,
    )


def _with_staleness(conn: Connection, record: EvaluationRecord) -> EvaluationRecord:
    """The record marked stale when readings of its window were corrected after it (SPEC F2) and
    after the aggregator's latest adjustment in the event (which re-evaluated them)."""
    if not record.slot_starts:
        return record
    adjusted = conn.execute(
        sa.select(sa.func.max(statements.c.create_time)).where(
            statements.c.event_id == record.event_id,
            statements.c.aggregator_id == record.aggregator_id,
            statements.c.kind == ADJUSTMENT,
        )
    ).scalar_one_or_none()
    since = record.create_time if adjusted is None else max(record.create_time, adjusted)
    stale = telemetry.corrected_since(
        conn,
        record.aggregator_id,
        record.slot_starts[0],
        record.slot_starts[-1] + _SLOT,
        since,
    )
    return dataclasses.replace(record, stale=stale)


def get_evaluation(
    conn: Connection, event_id: str, aggregator_id: str, *, tenant: str | None = None
) -> EvaluationRecord:
    """One aggregator's evaluation; with ``tenant``, another aggregator's answers NOT_FOUND like a missing one."""
    row = conn.execute(
        sa.select(evaluations).where(
            evaluations.c.event_id == event_id, evaluations.c.aggregator_id == aggregator_id
        )
    ).first()
    if row is None or (tenant is not None and tenant != aggregator_id):
        raise NotFound(
            f"no evaluation of {aggregator_id} for event {event_id}",
            reason=EVALUATION_NOT_FOUND,
            metadata={"evaluation": f"events/{event_id}/evaluations/{aggregator_id}"},
        )
    return _with_staleness(conn, _evaluation_record(row, _slot_starts(conn, [event_id])[event_id]))


def list_evaluations(conn: Connection, event_id: str, *, page_size: int, page_token: str) -> EvaluationPage:
    """The evaluations of an event ordered by aggregator (NOT_FOUND for an unknown event)."""
    event_store.get(conn, event_id)
    collection = f"evaluations?event={event_id}"
    rows, token = pagination.keyset(
        conn,
        sa.select(evaluations).where(evaluations.c.event_id == event_id),
        [pagination.Key(evaluations.c.aggregator_id)],
        collection=collection,
        page_size=page_size,
        page_token=page_token,
    )
    starts = _slot_starts(conn, [event_id])[event_id]
    return EvaluationPage([_with_staleness(conn, _evaluation_record(row, starts)) for row in rows], token)


def _load_statements(conn: Connection, rows: Sequence[sa.Row[tuple[object, ...]]]) -> list[StatementRecord]:
    if not rows:
        return []
    starts = _slot_starts(conn, sorted({row.event_id for row in rows}))
    found: dict[tuple[str, str], list[sa.Row[tuple[object, ...]]]] = {}
    keys = [(row.event_id, row.statement_id) for row in rows]
    for line in conn.execute(
        sa.select(lines)
        .where(sa.tuple_(lines.c.event_id, lines.c.statement_id).in_(keys))
        .order_by(lines.c.slot_start)
    ):
        found.setdefault((line.event_id, line.statement_id), []).append(line)
    return [
        _statement_record(row, found.get((row.event_id, row.statement_id), []), starts[row.event_id])
        for row in rows
    ]


def _money(nanos: int) -> Decimal:
    return (Decimal(nanos) / _NANOS).quantize(Decimal("0.01"))


def _statement_record(
    row: sa.Row[tuple[object, ...]],
    line_rows: Sequence[sa.Row[tuple[object, ...]]],
    starts: tuple[datetime, ...],
) -> StatementRecord:
    position = {start: i for i, start in enumerate(starts)}
    built: list[StatementLine | DeltaLine] = []
    for line in line_rows:
        slot = position[line.slot_start]
        settled = None
        if line.instructed_w is not None:
            settled = StatementLine(
                slot=slot,
                instructed_w=line.instructed_w,
                baseline_w=Fraction(line.baseline_w),
                actual_w=Fraction(line.actual_w),
                response_w=Fraction(line.response_w),
                rate=Fraction(line.rate),
                price=Decimal(line.price_nanos) / _NANOS,
                compensation=_money(line.line_compensation_nanos),
                penalty=_money(line.line_penalty_nanos),
            )
        if row.kind == ADJUSTMENT:
            built.append(
                DeltaLine(slot, _money(line.compensation_nanos), _money(line.penalty_nanos), settled)
            )
        elif settled is not None:
            built.append(settled)
    statement = Statement(
        statement_id=row.statement_id,
        event_id=row.event_id,
        aggregator_id=row.aggregator_id,
        lines=tuple(built),
        fee=_money(row.fee_nanos),
        state=StatementState(row.state),
        dispute_reason=row.dispute_reason or None,
        adjusts=row.adjusts or None,
    )
    return StatementRecord(
        row.event_id,
        statement,
        starts,
        row.create_time,
        row.confirm_time,
        row.aggregator_confirm_time,
        row.grid_confirm_time,
    )


def _statement_not_found(event_id: str, statement_id: str) -> NotFound:
    return NotFound(
        f"statement {statement_id} of event {event_id} not found",
        reason=STATEMENT_NOT_FOUND,
        metadata={"statement": f"events/{event_id}/statements/{statement_id}"},
    )


def _statement_row(
    conn: Connection, event_id: str, statement_id: str, aggregator_id: str | None
) -> sa.Row[tuple[object, ...]]:
    query = sa.select(statements).where(
        statements.c.event_id == event_id, statements.c.statement_id == statement_id
    )
    if aggregator_id is not None:
        query = query.where(statements.c.aggregator_id == aggregator_id)
    row = conn.execute(query).first()
    if row is None:
        raise _statement_not_found(event_id, statement_id)
    return row


def get_statement(
    conn: Connection, event_id: str, statement_id: str, *, aggregator_id: str | None = None
) -> StatementRecord:
    """One statement; with ``aggregator_id``, only that aggregator's (another's answers NOT_FOUND)."""
    return _load_statements(conn, [_statement_row(conn, event_id, statement_id, aggregator_id)])[0]


def list_event_statements(
    conn: Connection, event_id: str, *, page_size: int, page_token: str
) -> StatementPage:
    """An event's statements ordered by id: each aggregator's regular statement, then its adjustments."""
    event_store.get(conn, event_id)
    collection = f"statements?event={event_id}"
    rows, token = pagination.keyset(
        conn,
        sa.select(statements).where(statements.c.event_id == event_id),
        [pagination.Key(statements.c.statement_id)],
        collection=collection,
        page_size=page_size,
        page_token=page_token,
    )
    return StatementPage(_load_statements(conn, rows), token)


def list_aggregator_statements(
    conn: Connection, aggregator_id: str, *, event_id: str = "", page_size: int, page_token: str
) -> StatementPage:
    """An aggregator's statements, newest first (keyset on create_time, event, statement)."""
    collection = f"statements?aggregator={aggregator_id}&event={event_id}"
    c = statements.c
    query = sa.select(statements).where(c.aggregator_id == aggregator_id)
    if event_id:
        query = query.where(c.event_id == event_id)
    rows, token = pagination.keyset(
        conn,
        query,
        [
            pagination.Key(c.create_time, datetime.fromisoformat, descending=True),
            pagination.Key(c.event_id, descending=True),
            pagination.Key(c.statement_id, descending=True),
        ],
        collection=collection,
        page_size=page_size,
        page_token=page_token,
    )
    return StatementPage(_load_statements(conn, rows), token)


def grid_statement(conn: Connection, event_id: str) -> GridStatement:
    """Σ over the event's regular statements and confirmed adjustments (a draft or disputed
    adjustment is a proposal, counted once agreed). FailedPrecondition EVENT_NOT_EVALUATED before evaluation."""
    event = event_store.get(conn, event_id)
    if event.state not in (EventState.EVALUATED, EventState.SETTLED):
        raise FailedPrecondition(
            f"event {event_id} has not been evaluated",
            reason=EVENT_NOT_EVALUATED,
            violations=[
                PreconditionViolation("STATE", f"events/{event_id}", f"event in state {event.state}")
            ],
            metadata={"event": f"events/{event_id}", "state": event.state.value},
        )
    rows = conn.execute(
        sa.select(statements)
        .where(
            statements.c.event_id == event_id,
            sa.or_(statements.c.kind == REGULAR, statements.c.state == StatementState.CONFIRMED.value),
        )
        .order_by(statements.c.statement_id)
    ).all()
    records = _load_statements(conn, rows)
    stored = {
        row.statement_id: money.StoredAmounts(
            _money(row.compensation_nanos), _money(row.penalty_nanos), _money(row.fee_nanos)
        )
        for row in rows
    }
    return GridStatement(
        event_id,
        [record.name for record in records],
        money.aggregate_event(event_id, [record.statement for record in records], stored),
    )


# ---------------------------------------------------------------- confirm, dispute, adjust (writes)


def record_confirmations(
    conn: Connection,
    event_id: str,
    statement_id: str,
    *,
    aggregator_time: datetime | None,
    grid_time: datetime | None,
    state: StatementState,
    confirm_time: datetime | None,
    now: datetime,
) -> None:
    """Store each party's confirmation time, the state and (once confirmed) the confirmation time."""
    conn.execute(
        sa.update(statements)
        .where(statements.c.event_id == event_id, statements.c.statement_id == statement_id)
        .values(
            aggregator_confirm_time=aggregator_time,
            grid_confirm_time=grid_time,
            state=state.value,
            confirm_time=confirm_time,
            update_time=now,
        )
    )


def open_regular_statements(conn: Connection, event_id: str) -> int:
    """How many regular statements of the event are not CONFIRMED yet."""
    count: int = conn.execute(
        sa.select(sa.func.count())
        .select_from(statements)
        .where(
            statements.c.event_id == event_id,
            statements.c.kind == REGULAR,
            statements.c.state != StatementState.CONFIRMED.value,
        )
    ).scalar_one()
    return count


def record_dispute(
    conn: Connection, event_id: str, statement_id: str, state: StatementState, reason: str, now: datetime
) -> None:
    """Store the disputed state and the aggregator's reason."""
    conn.execute(
        sa.update(statements)
        .where(statements.c.event_id == event_id, statements.c.statement_id == statement_id)
        .values(state=state.value, dispute_reason=reason, update_time=now)
    )


def adjustments_of(conn: Connection, event_id: str, statement_id: str) -> list[StatementRecord]:
    """The adjustments of a regular statement, in the order they were made."""
    return _load_statements(
        conn,
        conn.execute(
            sa.select(statements)
            .where(statements.c.event_id == event_id, statements.c.adjusts == statement_id)
            .order_by(statements.c.sequence)
        ).all(),
    )


def statements_for_export(
    conn: Connection,
    *,
    event_ids: Sequence[str] = (),
    first_day: date | None = None,
    last_day: date | None = None,
) -> list[StatementRecord]:
    """The statements of the named events, or of the events whose window starts on a local day in
    [first_day, last_day] (both inclusive), for the finance export: events by window start, then
    each event's statements by id (a regular statement, then its adjustments). A named event that
    does not exist answers NotFound."""
    for event_id in event_ids:
        event_store.get(conn, event_id)
    event = event_store.events
    query = sa.select(event.c.event_id, event.c.window_start)
    if event_ids:
        query = query.where(event.c.event_id.in_(event_ids))
    if first_day is not None:
        query = query.where(event.c.window_start >= slot_start(first_day, 0))
    if last_day is not None:
        query = query.where(event.c.window_start < slot_start(last_day + timedelta(days=1), 0))
    chosen = query.subquery()
    rows = conn.execute(
        sa.select(statements)
        .join(chosen, chosen.c.event_id == statements.c.event_id)
        .order_by(chosen.c.window_start, statements.c.event_id, statements.c.statement_id)
    ).all()
    return _load_statements(conn, rows)
