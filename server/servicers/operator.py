"""vgi.operator.v1.OperatorService: aggregator onboarding (other RPCs land as the contract grows)."""

from __future__ import annotations

import grpc
from vgi.operator.v1 import operator_service_pb2 as pb
from vgi.operator.v1 import operator_service_pb2_grpc as pb_grpc

from application import aggregators as aggregator_cases
from application.uow import UnitOfWork
from domain.errors import FieldViolation, InvalidArgument
from server import clock
from server.servicers import Deps, write_once
from server.servicers.operator_clock import OperatorClock
from server.servicers.operator_programs import OperatorPrograms
from server.servicers.operator_security import OperatorSecurity
from server.servicers.telemetry_view import TelemetryView
from store import aggregators, statistics
from wire import resources as resources_proto

_NAME_PREFIX = "aggregators/"


class OperatorService(
    OperatorSecurity, OperatorPrograms, OperatorClock, TelemetryView, pb_grpc.OperatorServiceServicer
):
    _view_pb = pb

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._db = deps.db

    async def CreateAggregator(
        self, request: pb.CreateAggregatorRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateAggregatorResponse:
        fields = request.aggregator

        def effect(uow: UnitOfWork) -> pb.CreateAggregatorResponse:
            record = aggregator_cases.create(
                uow,
                request.aggregator_id,
                display_name=fields.display_name,
                unified_social_credit_code=fields.unified_social_credit_code,
                contact_email=fields.contact_email,
            )
            return pb.CreateAggregatorResponse(aggregator=resources_proto.aggregator_message(record))

        response = await write_once(self._db, request, pb.CreateAggregatorResponse, effect)
        # Committed: this process's tenant gate admits the new aggregator's calls from now on.
        self.deps.tenants.forget(request.aggregator_id)
        return response

    async def UpdateAggregator(
        self, request: pb.UpdateAggregatorRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateAggregatorResponse:
        paths = aggregator_cases.update_paths(request.update_mask.paths)
        if not request.aggregator.name.startswith(_NAME_PREFIX):
            raise InvalidArgument(
                "aggregator.name must be aggregators/{aggregator}",
                violations=[FieldViolation("aggregator.name", "must be aggregators/{aggregator}")],
            )
        aggregator_id = request.aggregator.name.removeprefix(_NAME_PREFIX)
        changes = {path: getattr(request.aggregator, path) for path in paths}
        state = resources_proto.AGGREGATOR_STATE_OF.get(request.state)

        def effect(uow: UnitOfWork) -> pb.UpdateAggregatorResponse:
            record = aggregator_cases.update(uow, aggregator_id, changes=changes, state=state)
            return pb.UpdateAggregatorResponse(aggregator=resources_proto.aggregator_message(record))

        response = await write_once(self._db, request, pb.UpdateAggregatorResponse, effect)
        # Committed: a new state (SUSPENDED, ACTIVE again) holds in this process from the next call.
        self.deps.tenants.forget(aggregator_id)
        return response

    async def GetAggregator(
        self, request: pb.GetAggregatorRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAggregatorResponse:
        aggregator_id = request.name.removeprefix(_NAME_PREFIX)
        record = await self._db.read(lambda conn: aggregators.get(conn, aggregator_id))
        return pb.GetAggregatorResponse(aggregator=resources_proto.aggregator_message(record))

    async def ListAggregators(
        self, request: pb.ListAggregatorsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAggregatorsResponse:
        page = await self._db.read(
            lambda conn: aggregators.list_page(
                conn, page_size=request.page_size, page_token=request.page_token
            )
        )
        return pb.ListAggregatorsResponse(
            aggregators=[resources_proto.aggregator_message(record) for record in page.aggregators],
            next_page_token=page.next_page_token,
        )

    async def GetStatistics(
        self, request: pb.GetStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetStatisticsResponse:
        timeout = self.deps.settings.heartbeat_timeout()
        now = clock.now()
        figures = await self._db.read(lambda conn: statistics.statistics(conn, request.scope, now, timeout))
        return pb.GetStatisticsResponse(statistics=resources_proto.statistics_to(figures))
