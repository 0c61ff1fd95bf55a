"""DispatchService evaluation and settlement RPCs (SPEC F8–F10).

Thin: each RPC translates the request, runs one transaction (a use case of
``application.settlement``, idempotent by request_id, for the mutating ones;
a ``store.settlement`` read otherwise) and translates the answer
(``wire.settlement``). The confirmation rule (both parties; the grid resolves
a dispute) is documented in ``application.settlement``.
"""

from __future__ import annotations

import grpc
from vgi.dispatch.v1 import dispatch_service_pb2 as pb

from application import settlement
from application.uow import UnitOfWork
from domain.errors import PermissionDenied
from domain.events import Actor
from domain.principal import Role
from server.servicers import Deps, caller, write_once
from store import settlement as store
from wire.settlement import evaluation_message, grid_statement_message, statement_key, statement_message


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
        actor = _actor()

        def effect(uow: UnitOfWork) -> pb.EvaluateEventResponse:
            done = settlement.evaluate_event(uow, event_id, actor)
            return pb.EvaluateEventResponse(
                evaluations=[evaluation_message(e) for e in done.evaluations],
                statements=[statement_message(s) for s in done.statements],
            )

        return await write_once(self.deps.db, request, pb.EvaluateEventResponse, effect)

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
        return pb.GetGridStatementResponse(grid_statement=grid_statement_message(found))

    async def ConfirmStatement(
        self, request: pb.ConfirmStatementRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmStatementResponse:
        """The grid's confirmation: CONFIRMED once the aggregator has confirmed too; a DISPUTED statement is
        confirmed as issued. FAILED_PRECONDITION STATEMENT_CONFIRMED once confirmed."""
        event_id, statement_id = statement_key(request.name)

        def effect(uow: UnitOfWork) -> pb.ConfirmStatementResponse:
            record = settlement.confirm_statement(uow, event_id, statement_id, settlement.Party.GRID)
            return pb.ConfirmStatementResponse(statement=statement_message(record))

        return await write_once(self.deps.db, request, pb.ConfirmStatementResponse, effect)

    async def CreateAdjustmentStatement(
        self, request: pb.CreateAdjustmentStatementRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateAdjustmentStatementResponse:
        event_id, statement_id = statement_key(request.statement)

        def effect(uow: UnitOfWork) -> pb.CreateAdjustmentStatementResponse:
            record = settlement.create_adjustment(uow, event_id, statement_id)
            return pb.CreateAdjustmentStatementResponse(statement=statement_message(record))

        return await write_once(self.deps.db, request, pb.CreateAdjustmentStatementResponse, effect)
