"""AggregatorService evaluation and statement RPCs (SPEC F9, F10) — the caller's own only.

Another tenant's evaluation or statement answers NOT_FOUND, exactly like one
that does not exist. The aggregator's confirmation is one of the two a
statement needs (see ``application.settlement``); its dispute puts a DRAFT statement
to the grid, whose confirmation then settles it as issued.
"""

from __future__ import annotations

import grpc
from vgi.aggregator.v1 import aggregator_service_pb2 as pb

from application import settlement
from application.uow import UnitOfWork
from server.servicers import Deps, write_once
from server.servicers.aggregator_market import tenant
from store import settlement as store
from wire.settlement import evaluation_message, statement_key, statement_message


class AggregatorSettlement:
    """The evaluation and statement group of vgi.aggregator.v1.AggregatorService."""

    deps: Deps

    async def GetEvaluation(
        self, request: pb.GetEvaluationRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetEvaluationResponse:
        _, event_id, _, aggregator_id = request.name.split("/")
        own = tenant()
        record = await self.deps.db.read(
            lambda conn: store.get_evaluation(conn, event_id, aggregator_id, tenant=own)
        )
        return pb.GetEvaluationResponse(evaluation=evaluation_message(record))

    async def ListStatements(
        self, request: pb.ListStatementsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStatementsResponse:
        own = tenant()
        page = await self.deps.db.read(
            lambda conn: store.list_aggregator_statements(
                conn,
                own,
                event_id=request.event.removeprefix("events/"),
                page_size=request.page_size,
                page_token=request.page_token,
            )
        )
        return pb.ListStatementsResponse(
            statements=[statement_message(s) for s in page.statements], next_page_token=page.next_page_token
        )

    async def ConfirmStatement(
        self, request: pb.ConfirmStatementRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmStatementResponse:
        """The aggregator's confirmation of its DRAFT statement; CONFIRMED once the grid has confirmed too.

        FAILED_PRECONDITION STATEMENT_CONFIRMED once confirmed, STATEMENT_DISPUTED
        after the caller disputed it (the grid resolves a dispute).
        """
        event_id, statement_id = statement_key(request.name)
        own = tenant()

        def effect(uow: UnitOfWork) -> pb.ConfirmStatementResponse:
            record = settlement.confirm_statement(
                uow,
                event_id,
                statement_id,
                settlement.Party.AGGREGATOR,
                aggregator_id=own,
            )
            return pb.ConfirmStatementResponse(statement=statement_message(record))

        return await write_once(self.deps.db, request, pb.ConfirmStatementResponse, effect)

    async def DisputeStatement(
        self, request: pb.DisputeStatementRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisputeStatementResponse:
        """DRAFT → DISPUTED with the reason. FAILED_PRECONDITION STATEMENT_CONFIRMED or STATEMENT_DISPUTED."""
        event_id, statement_id = statement_key(request.name)
        own = tenant()

        def effect(uow: UnitOfWork) -> pb.DisputeStatementResponse:
            record = settlement.dispute_statement(uow, event_id, statement_id, own, request.reason)
            return pb.DisputeStatementResponse(statement=statement_message(record))

        return await write_once(self.deps.db, request, pb.DisputeStatementResponse, effect)
