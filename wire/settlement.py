"""Settlement records ⇄ vgi.common.v1 settlement messages: evaluations, statements, the grid statement.

Shared by the dispatch (grid) and aggregator servicers, so both read the same
Evaluation and Statement.

Exact values (B, A, R, r, energy) travel as google.type.Decimal strings:
exactly when they have a finite decimal expansion, else (a TRIMMED baseline's
thirds) rounded half-up to 9 decimal places — the platform keeps and settles
the exact value, which travels beside each as an ExactFraction (numerator /
denominator, domain.exact). Money is google.type.Money in CNY.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from google.type import decimal_pb2
from vgi.common.v1 import settlement_pb2

from domain import exact
from domain.evaluation import SlotEvaluation
from domain.settlement import DeltaLine, StatementLine, StatementState
from store.settlement import EvaluationRecord, GridStatement, StatementRecord
from wire.market import BASELINE_METHODS, money
from wire.timestamps import timestamp

STATES = {
    StatementState.DRAFT: settlement_pb2.STATEMENT_STATE_DRAFT,
    StatementState.CONFIRMED: settlement_pb2.STATEMENT_STATE_CONFIRMED,
    StatementState.DISPUTED: settlement_pb2.STATEMENT_STATE_DISPUTED,
}


def decimal(value: Fraction) -> decimal_pb2.Decimal:
    """An exact value as google.type.Decimal (see the module docstring for non-terminating ones)."""
    return decimal_pb2.Decimal(value=exact.decimal_text(value))


def fraction(value: Fraction) -> settlement_pb2.ExactFraction:
    """An exact value as numerator / denominator in lowest terms."""
    return settlement_pb2.ExactFraction(numerator=str(value.numerator), denominator=str(value.denominator))


def _slot(start: datetime, line: SlotEvaluation | StatementLine) -> settlement_pb2.SlotEvaluation:
    return settlement_pb2.SlotEvaluation(
        slot_start_time=timestamp(start),
        instructed_w=line.instructed_w,
        baseline_w=decimal(line.baseline_w),
        actual_w=decimal(line.actual_w),
        response_w=decimal(line.response_w),
        rate=decimal(line.rate),
        baseline_w_exact=fraction(line.baseline_w),
        actual_w_exact=fraction(line.actual_w),
        response_w_exact=fraction(line.response_w),
        rate_exact=fraction(line.rate),
    )


def evaluation_message(record: EvaluationRecord) -> settlement_pb2.Evaluation:
    result = record.evaluation
    message = settlement_pb2.Evaluation(
        name=f"events/{record.event_id}/evaluations/{record.aggregator_id}",
        aggregator=f"aggregators/{record.aggregator_id}",
        baseline_method=BASELINE_METHODS[record.baseline_method],
        baseline_days=[day.isoformat() for day in record.baseline_days],
        slots=[_slot(record.slot_starts[s.slot], s) for s in result.slots],
        energy_responded_wh=decimal(result.energy_responded_wh),
        energy_responded_wh_exact=fraction(result.energy_responded_wh),
        qualified=result.qualified,
        stale=record.stale,
    )
    if result.mean_rate is not None:
        message.mean_rate.CopyFrom(decimal(result.mean_rate))
        message.mean_rate_exact.CopyFrom(fraction(result.mean_rate))
    if result.min_rate is not None:
        message.min_rate.CopyFrom(decimal(result.min_rate))
        message.min_rate_exact.CopyFrom(fraction(result.min_rate))
    return message


def _line(start: datetime, line: StatementLine | DeltaLine) -> settlement_pb2.StatementLine:
    settled = line.corrected if isinstance(line, DeltaLine) else line
    message = settlement_pb2.StatementLine(compensation=money(line.compensation), penalty=money(line.penalty))
    if settled is None:
        message.slot.slot_start_time.CopyFrom(timestamp(start))
    else:
        message.slot.CopyFrom(_slot(start, settled))
        message.price.CopyFrom(money(settled.price))
    return message


def statement_message(record: StatementRecord) -> settlement_pb2.Statement:
    statement = record.statement
    message = settlement_pb2.Statement(
        name=record.name,
        aggregator=f"aggregators/{statement.aggregator_id}",
        kind=settlement_pb2.STATEMENT_KIND_ADJUSTMENT
        if statement.adjusts
        else settlement_pb2.STATEMENT_KIND_REGULAR,
        adjusts=f"events/{record.event_id}/statements/{statement.adjusts}" if statement.adjusts else "",
        lines=[_line(record.slot_starts[line.slot], line) for line in statement.lines],
        total_compensation=money(statement.compensation),
        total_penalty=money(statement.penalty),
        total=money(statement.total),
        fee=money(statement.fee),
        payable=money(statement.payable),
        state=STATES[statement.state],
        dispute_reason=statement.dispute_reason or "",
        create_time=timestamp(record.create_time),
    )
    if record.confirm_time is not None:
        message.confirm_time.CopyFrom(timestamp(record.confirm_time))
    return message


def grid_statement_message(found: GridStatement) -> settlement_pb2.GridStatement:
    aggregate = found.aggregate
    return settlement_pb2.GridStatement(
        event=f"events/{found.event_id}",
        statements=found.statement_names,
        total=money(aggregate.total),
        total_payable=money(aggregate.payable),
        total_fee=money(aggregate.fee),
    )


def statement_key(name: str) -> tuple[str, str]:
    """``events/{event}/statements/{statement}`` → (event, statement); the proto checked the shape."""
    _, event_id, _, statement_id = name.split("/")
    return event_id, statement_id
