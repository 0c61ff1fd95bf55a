"""DispatchService evaluation and settlement RPCs (SPEC F8–F10), and the settlement records' wire form.

Thin: each RPC translates the request, runs one store transaction
(``store.settlement``; idempotent by request_id for the mutating ones) and
translates the answer. The confirmation rule (both parties; the grid
resolves a dispute) is documented in ``store.settlement``.

Exact values (B, A, R, r, energy) travel as google.type.Decimal strings:
exactly when they have a finite decimal expansion, else (a TRIMMED baseline's
thirds) rounded half-up to 9 decimal places — the platform keeps and settles
the exact value, which travels beside each as an ExactFraction (numerator /
denominator, domain.exact). Money is google.type.Money in CNY.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

import grpc
from google.type import decimal_pb2
from sqlalchemy.engine import Connection
from vgi.common.v1 import settlement_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as pb

from domain import exact
from domain.errors import PermissionDenied
from domain.evaluation import SlotEvaluation
from domain.events import Actor
from domain.principal import Role
from domain.settlement import DeltaLine, StatementLine, StatementState
from infra.observability.tracing import link_from_current
from server.servicers import Deps, caller
from server.servicers.dispatch_market import now
from store import idempotency
from store import settlement as store
from store.idempotency import IdempotencyKey
from wire import market as market_proto

SERVICE = "/vgi.dispatch.v1.DispatchService/"

_STATES = {
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
        slot_start_time=market_proto.timestamp(start),
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


def evaluation_message(record: store.EvaluationRecord) -> settlement_pb2.Evaluation:
    result = record.evaluation
    message = settlement_pb2.Evaluation(
        name=f"events/{record.event_id}/evaluations/{record.aggregator_id}",
        aggregator=f"aggregators/{record.aggregator_id}",
        baseline_method=market_proto.BASELINE_METHODS[record.baseline_method],
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
    message = settlement_pb2.StatementLine(
        compensation=market_proto.money(line.compensation), penalty=market_proto.money(line.penalty)
    )
    if settled is None:
        message.slot.slot_start_time.CopyFrom(market_proto.timestamp(start))
    else:
        message.slot.CopyFrom(_slot(start, settled))
        message.price.CopyFrom(market_proto.money(settled.price))
    return message


def statement_message(record: store.StatementRecord) -> settlement_pb2.Statement:
    statement = record.statement
    message = settlement_pb2.Statement(
        name=record.name,
        aggregator=f"aggregators/{statement.aggregator_id}",
        kind=settlement_pb2.STATEMENT_KIND_ADJUSTMENT
        if statement.adjusts
        else settlement_pb2.STATEMENT_KIND_REGULAR,
        adjusts=f"events/{record.event_id}/statements/{statement.adjusts}" if statement.adjusts else "",
        lines=[_line(record.slot_starts[line.slot], line) for line in statement.lines],
        total_compensation=market_proto.money(statement.compensation),
        total_penalty=market_proto.money(statement.penalty),
        total=market_proto.money(statement.total),
        fee=market_proto.money(statement.fee),
        payable=market_proto.money(statement.payable),
        state=_STATES[statement.state],
        dispute_reason=statement.dispute_reason or "",
        create_time=market_proto.timestamp(record.create_time),
    )
    if record.confirm_time is not None:
        message.confirm_time.CopyFrom(market_proto.timestamp(record.confirm_time))
    return message


def statement_key(name: str) -> tuple[str, str]:
    """``events/{event}/statements/{statement}`` → (event, statement); the proto checked the shape."""
    _, event_id, _, statement_id = name.split("/")
    return event_id, statement_id


def _actor() -> Actor:
    role = caller().role
    if role is Role.GRID:
        return Actor.GRID
    if role is Role.OPERATOR:
        return Actor.OPERATOR
    raise PermissionDenied("only the grid or an operator evaluates events", reason="ROLE_NOT_ALLOWED")


class DispatchSettlement:
    """The evaluation and settlement group of vgi.dispatch.v1.DispatchService."""

    deps: Deps

    async def EvaluateEvent(
        self, request: pb.EvaluateEventRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluateEventResponse:
        """COMPLETED → EVALUATED: evaluations and DRAFT statements, StatementReady to each aggregator.

        FAILED_PRECONDITION: INVALID_EVENT_TRANSITION (not COMPLETED, or evaluated
        already), INSUFFICIENT_BASELINE_DAYS (no fallback), MISSING_SLOT_DATA (no
        actual power for an instructed slot), PRICE_MISSING.
        """
        event_id = request.event.removeprefix("events/")
        at, actor, principal, carrier = now(), _actor(), caller(), link_from_current()

        def effect(conn: Connection) -> pb.EvaluateEventResponse:
            done = store.evaluate_event(conn, event_id, actor, at, carrier)
            return pb.EvaluateEventResponse(
                evaluations=[evaluation_message(e) for e in done.evaluations],
                statements=[statement_message(s) for s in done.statements],
            )

        key = IdempotencyKey(principal.uri, SERVICE + "EvaluateEvent", request.request_id)
        return await idempotency.write_once(self.deps.db, key, request, pb.EvaluateEventResponse, effect)

    async def ListEvaluations(
        self, request: pb.ListEvaluationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEvaluationsResponse:
        event_id = request.event.removeprefix("events/")
        page = await self.deps.db.read(
            lambda conn: store.list_evaluations(
                conn, event_id, page_size=request.page_size, page_token=request.page_token
            )
        )
        return pb.ListEvaluationsResponse(
            evaluations=[evaluation_message(e) for e in page.evaluations],
            next_page_token=page.next_page_token,
        )

    async def ListStatements(
        self, request: pb.ListStatementsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStatementsResponse:
        event_id = request.event.removeprefix("events/")
        page = await self.deps.db.read(
            lambda conn: store.list_event_statements(
                conn, event_id, page_size=request.page_size, page_token=request.page_token
            )
        )
        return pb.ListStatementsResponse(
            statements=[statement_message(s) for s in page.statements], next_page_token=page.next_page_token
        )

    async def GetGridStatement(
        self, request: pb.GetGridStatementRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetGridStatementResponse:
        event_id = request.event.removeprefix("events/")
        found = await self.deps.db.read(lambda conn: store.grid_statement(conn, event_id))
        aggregate = found.aggregate
        return pb.GetGridStatementResponse(
            grid_statement=settlement_pb2.GridStatement(
                event=request.event,
                statements=found.statement_names,
                total=market_proto.money(aggregate.total),
                total_payable=market_proto.money(aggregate.payable),
                total_fee=market_proto.money(aggregate.fee),
            )
        )

    async def ConfirmStatement(
        self, request: pb.ConfirmStatementRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmStatementResponse:
        """The grid's confirmation: CONFIRMED once the aggregator has confirmed too; a DISPUTED statement is
        confirmed as issued. FAILED_PRECONDITION STATEMENT_CONFIRMED once confirmed."""
        event_id, statement_id = statement_key(request.name)
        at, principal, carrier = now(), caller(), link_from_current()

        def effect(conn: Connection) -> pb.ConfirmStatementResponse:
            record = store.confirm(conn, event_id, statement_id, store.Party.GRID, at, carrier)
            return pb.ConfirmStatementResponse(statement=statement_message(record))

        key = IdempotencyKey(principal.uri, SERVICE + "ConfirmStatement", request.request_id)
        return await idempotency.write_once(self.deps.db, key, request, pb.ConfirmStatementResponse, effect)

    async def CreateAdjustmentStatement(
        self, request: pb.CreateAdjustmentStatementRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateAdjustmentStatementResponse:
        event_id, statement_id = statement_key(request.statement)
        at, principal, carrier = now(), caller(), link_from_current()

        def effect(conn: Connection) -> pb.CreateAdjustmentStatementResponse:
            record = store.create_adjustment(conn, event_id, statement_id, at, carrier)
            return pb.CreateAdjustmentStatementResponse(statement=statement_message(record))

        key = IdempotencyKey(principal.uri, SERVICE + "CreateAdjustmentStatement", request.request_id)
        return await idempotency.write_once(
            self.deps.db, key, request, pb.CreateAdjustmentStatementResponse, effect
        )
