"""Typed async SDK for evaluation, settlement and program settings (SPEC F8–F10).

Same conventions as ``clients.sdk``: the caller owns the channel (mTLS and
token), every call has a deadline, mutating calls always carry a request_id
(pass your own to make your retries idempotent too), failures raise
``clients.errors`` exceptions with the unpacked details.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import field_mask_pb2
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as agg_grpc
from vgi.common.v1 import settlement_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as dispatch_grpc
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from clients.sdk import _Client, request_id_or_new


class GridSettlementClient(_Client):
    """Evaluation and settlement on vgi.dispatch.v1.DispatchService (the grid's side; operators may read)."""

    _STUB = dispatch_grpc.DispatchServiceStub

    async def evaluate_event(
        self, event: str, *, request_id: str | None = None, deadline: float | None = None
    ) -> dispatch_pb.EvaluateEventResponse:
        """Evaluate a COMPLETED ``events/{event}``: evaluations and DRAFT statements, one per instructed aggregator.

        It evaluates every slot of every instructed aggregator at once, so a large event may need a
        longer ``deadline`` (seconds) than the client's default."""
        request = dispatch_pb.EvaluateEventRequest(request_id=request_id_or_new(request_id), event=event)
        response: dispatch_pb.EvaluateEventResponse = await self._unary(
            self._stub.EvaluateEvent, request, deadline
        )
        return response

    async def list_evaluations(
        self, event: str, *, page_size: int = 0, page_token: str = ""
    ) -> dispatch_pb.ListEvaluationsResponse:
        response: dispatch_pb.ListEvaluationsResponse = await self._unary(
            self._stub.ListEvaluations,
            dispatch_pb.ListEvaluationsRequest(event=event, page_size=page_size, page_token=page_token),
            None,
        )
        return response

    async def list_statements(
        self, event: str, *, page_size: int = 0, page_token: str = ""
    ) -> dispatch_pb.ListStatementsResponse:
        response: dispatch_pb.ListStatementsResponse = await self._unary(
            self._stub.ListStatements,
            dispatch_pb.ListStatementsRequest(event=event, page_size=page_size, page_token=page_token),
            None,
        )
        return response

    async def get_grid_statement(self, event: str) -> settlement_pb2.GridStatement:
        response: dispatch_pb.GetGridStatementResponse = await self._unary(
            self._stub.GetGridStatement, dispatch_pb.GetGridStatementRequest(event=event), None
        )
        return response.grid_statement

    async def confirm_statement(
        self, name: str, *, request_id: str | None = None
    ) -> settlement_pb2.Statement:
        """The grid's confirmation of ``events/{event}/statements/{statement}``."""
        request = dispatch_pb.ConfirmStatementRequest(request_id=request_id_or_new(request_id), name=name)
        response: dispatch_pb.ConfirmStatementResponse = await self._unary(
            self._stub.ConfirmStatement, request, None
        )
        return response.statement

    async def create_adjustment_statement(
        self, statement: str, *, request_id: str | None = None
    ) -> settlement_pb2.Statement:
        """A DRAFT adjustment of a confirmed regular statement, from the data as it now stands."""
        request = dispatch_pb.CreateAdjustmentStatementRequest(
            request_id=request_id_or_new(request_id), statement=statement
        )
        response: dispatch_pb.CreateAdjustmentStatementResponse = await self._unary(
            self._stub.CreateAdjustmentStatement, request, None
        )
        return response.statement


class AggregatorSettlementClient(_Client):
    """The caller's evaluations and statements on vgi.aggregator.v1.AggregatorService."""

    _STUB = agg_grpc.AggregatorServiceStub

    async def get_evaluation(self, name: str) -> settlement_pb2.Evaluation:
        """``events/{event}/evaluations/{aggregator}`` — the caller's own."""
        response: agg_pb.GetEvaluationResponse = await self._unary(
            self._stub.GetEvaluation, agg_pb.GetEvaluationRequest(name=name), None
        )
        return response.evaluation

    async def list_statements(
        self, *, event: str = "", page_size: int = 0, page_token: str = ""
    ) -> agg_pb.ListStatementsResponse:
        """The caller's statements, newest first, optionally of one event."""
        response: agg_pb.ListStatementsResponse = await self._unary(
            self._stub.ListStatements,
            agg_pb.ListStatementsRequest(event=event, page_size=page_size, page_token=page_token),
            None,
        )
        return response

    async def confirm_statement(
        self, name: str, *, request_id: str | None = None
    ) -> settlement_pb2.Statement:
        request = agg_pb.ConfirmStatementRequest(request_id=request_id_or_new(request_id), name=name)
        response: agg_pb.ConfirmStatementResponse = await self._unary(
            self._stub.ConfirmStatement, request, None
        )
        return response.statement

    async def dispute_statement(
        self, name: str, reason: str, *, request_id: str | None = None
    ) -> settlement_pb2.Statement:
        request = agg_pb.DisputeStatementRequest(
            request_id=request_id_or_new(request_id), name=name, reason=reason
        )
        response: agg_pb.DisputeStatementResponse = await self._unary(
            self._stub.DisputeStatement, request, None
        )
        return response.statement


class ProgramClient(_Client):
    """Program settings on vgi.operator.v1.OperatorService (operators write; the grid may read)."""

    _STUB = operator_grpc.OperatorServiceStub

    async def get_program(self, name: str) -> operator_pb.Program:
        response: operator_pb.GetProgramResponse = await self._unary(
            self._stub.GetProgram, operator_pb.GetProgramRequest(name=name), None
        )
        return response.program

    async def list_programs(
        self, *, page_size: int = 0, page_token: str = ""
    ) -> operator_pb.ListProgramsResponse:
        response: operator_pb.ListProgramsResponse = await self._unary(
            self._stub.ListPrograms,
            operator_pb.ListProgramsRequest(page_size=page_size, page_token=page_token),
            None,
        )
        return response

    async def upsert_program(
        self, program: operator_pb.Program, paths: Sequence[str] = (), *, request_id: str | None = None
    ) -> operator_pb.Program:
        """Create ``program`` or change its settings named in ``paths`` — without paths, those set in
        ``program``; the others keep their stored values (SPEC defaults for a new program)."""
        request = operator_pb.UpsertProgramRequest(
            request_id=request_id_or_new(request_id),
            program=program,
            update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
        )
        response: operator_pb.UpsertProgramResponse = await self._unary(
            self._stub.UpsertProgram, request, None
        )
        return response.program
