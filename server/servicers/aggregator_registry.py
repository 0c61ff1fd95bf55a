"""AggregatorService registry group: resources (F1), capacity declaration and real time (F3), telemetry (F2).

Every RPC is confined to the caller's aggregator: names of another tenant's
resources answer NOT_FOUND, as do ids it does not own. The resource writes are
``application.registry`` use cases (``write_once``, idempotent by request_id).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from operator import attrgetter

import grpc
from sqlalchemy.engine import Connection
from vgi.aggregator.v1 import aggregator_service_pb2 as pb

from application import capacity as capacity_cases
from application import registry as use_cases
from application import telemetry as telemetry_cases
from application.uow import UnitOfWork
from domain.errors import AlreadyExists, DomainError, InvalidArgument, NotFound
from domain.principal import Principal
from domain.telemetry import Reading
from infra.observability.metrics import METRICS
from interceptors.errors import status_for
from interceptors.validation import Rejected
from server import clock
from server.servicers import Deps, caller, write_once
from server.servicers.batch_audit import audit_batch
from store import capacity, registry, telemetry
from store.idempotency import Encoded
from wire import resources as convert

SERVICE = "/vgi.aggregator.v1.AggregatorService/"
# Batches of one UploadTelemetry stream stored at once (each in its own transaction; see UploadTelemetry).
# 6, not 3: with 3 a sustained stream left ~20 % of the 2-core bench machine idle between round trips
# (docs/PERFORMANCE.md); fewer than the store's 8 threads, so the audit writer's group still finds one.
STREAM_BATCHES_IN_FLIGHT = 6

log = logging.getLogger(__name__)
_BATCH_ID = "batch_id"
_AGGREGATES = ("aggregates",)
_CHARGER_ID = attrgetter("charger_id")


class AggregatorRegistry:
    """The registry group of vgi.aggregator.v1.AggregatorService."""

    deps: Deps

    async def BatchUpsertStations(
        self, request: pb.BatchUpsertStationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchUpsertStationsResponse:
        tenant = convert.tenant_of(caller())
        items = [convert.station_from(s) for s in request.stations]

        def effect(uow: UnitOfWork) -> pb.BatchUpsertStationsResponse:
            stored = use_cases.upsert_stations(uow, tenant, items)
            return pb.BatchUpsertStationsResponse(
                upserted_count=len(stored), stations=[convert.station_to(s) for s in stored]
            )

        return await write_once(self.deps.db, request, pb.BatchUpsertStationsResponse, effect)

    async def ListStations(
        self, request: pb.ListStationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStationsResponse:
        tenant = convert.tenant_of(caller())
        page = await self.deps.db.read(
            lambda conn: registry.list_stations(
                conn,
                tenant,
                page_size=request.page_size,
                page_token=request.page_token,
                grid_node_id=convert.node_id(request.grid_node),
            )
        )
        return pb.ListStationsResponse(
            stations=[convert.station_to(s) for s in page.items], next_page_token=page.next_page_token
        )

    async def DeleteStation(
        self, request: pb.DeleteStationRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteStationResponse:
        tenant = convert.tenant_of(caller())
        station_id = convert.parse_station_name(request.name, tenant)

        def effect(uow: UnitOfWork) -> pb.DeleteStationResponse:
            station = use_cases.delete_station(uow, tenant, station_id)
            return pb.DeleteStationResponse(station=convert.station_to(station))

        return await write_once(self.deps.db, request, pb.DeleteStationResponse, effect)

    async def BatchUpsertChargers(
        self, request: pb.BatchUpsertChargersRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchUpsertChargersResponse:
        tenant = convert.tenant_of(caller())
        items = convert.chargers_from(request.chargers)
        timeout = self.deps.settings.heartbeat_timeout()

        def effect(uow: UnitOfWork) -> Encoded[pb.BatchUpsertChargersResponse]:
            stored = use_cases.upsert_chargers(uow, tenant, items, timeout)
            # The answer's bytes are assembled once, stored as the idempotency record as they are.
            return Encoded(*convert.chargers_answer_encoded(request, stored))

        return await write_once(self.deps.db, request, pb.BatchUpsertChargersResponse, effect)

    async def GetCharger(
        self, request: pb.GetChargerRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetChargerResponse:
        tenant = convert.tenant_of(caller())
        station_id, charger_id = convert.parse_charger_name(request.name, tenant)
        timeout = self.deps.settings.heartbeat_timeout()
        now = clock.now()
        record = await self.deps.db.read(
            lambda conn: registry.get_charger(conn, tenant, station_id, charger_id, now, timeout)
        )
        return pb.GetChargerResponse(charger=convert.charger_to(record))

    async def ListChargers(
        self, request: pb.ListChargersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListChargersResponse:
        tenant = convert.tenant_of(caller())
        timeout = self.deps.settings.heartbeat_timeout()
        now = clock.now()
        page = await self.deps.db.read(
            lambda conn: registry.list_chargers(
                conn,
                tenant,
                page_size=request.page_size,
                page_token=request.page_token,
                now=now,
                timeout=timeout,
                station_id=request.station_id,
                online_only=request.online_only,
            )
        )
        return pb.ListChargersResponse(
            chargers=[convert.charger_to(c) for c in page.items], next_page_token=page.next_page_token
        )

    async def DeleteCharger(
        self, request: pb.DeleteChargerRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteChargerResponse:
        tenant = convert.tenant_of(caller())
        station_id, charger_id = convert.parse_charger_name(request.name, tenant)
        timeout = self.deps.settings.heartbeat_timeout()

        def effect(uow: UnitOfWork) -> pb.DeleteChargerResponse:
            charger = use_cases.delete_charger(uow, tenant, station_id, charger_id, timeout)
            return pb.DeleteChargerResponse(charger=convert.charger_to(charger))

        return await write_once(self.deps.db, request, pb.DeleteChargerResponse, effect)

    async def BatchUpsertSessions(
        self, request: pb.BatchUpsertSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchUpsertSessionsResponse:
        tenant = convert.tenant_of(caller())
        items = [convert.session_from(s) for s in request.sessions]

        def effect(uow: UnitOfWork) -> pb.BatchUpsertSessionsResponse:
            stored = use_cases.upsert_sessions(uow, tenant, items)
            response = pb.BatchUpsertSessionsResponse(upserted_count=len(stored))
            convert.sessions_to(stored, response.sessions)
            return response

        return await write_once(self.deps.db, request, pb.BatchUpsertSessionsResponse, effect)

    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionsResponse:
        tenant = convert.tenant_of(caller())
        page = await self.deps.db.read(
            lambda conn: registry.list_sessions(
                conn,
                tenant,
                page_size=request.page_size,
                page_token=request.page_token,
                active_only=request.active_only,
            )
        )
        return pb.ListSessionsResponse(
            sessions=[convert.session_to(s) for s in page.items], next_page_token=page.next_page_token
        )

    async def DeclareCapacity(
        self, request: pb.DeclareCapacityRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeclareCapacityResponse:
        principal = caller()
        tenant = convert.tenant_of(principal)
        message = request.declaration
        declaration = capacity.Declaration(
            day_start_time=convert.to_datetime(message.day_start_time),
            decrease_w=tuple(message.decrease_w),
            increase_w=tuple(message.increase_w),
            decrease_price=str(convert.money_to_decimal(message.decrease_price, "declaration.decrease_price"))
            if message.HasField("decrease_price")
            else "",
            increase_price=str(convert.money_to_decimal(message.increase_price, "declaration.increase_price"))
            if message.HasField("increase_price")
            else "",
        )
        now = clock.now()

        def effect(uow: UnitOfWork) -> pb.DeclareCapacityResponse:
            capacity_cases.declare(uow, tenant, declaration)
            return pb.DeclareCapacityResponse(declaration=message)

        return await write_once(self.deps.db, request, pb.DeclareCapacityResponse, effect, now=now)

    async def GetAdjustableCapacity(
        self, request: pb.GetAdjustableCapacityRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAdjustableCapacityResponse:
        scope = convert.AGGREGATOR_PREFIX + convert.tenant_of(caller())
        timeout = self.deps.settings.heartbeat_timeout()
        now = clock.now()
        want_forecast = request.HasField("forecast_day_start_time")
        day_start = convert.to_datetime(request.forecast_day_start_time)

        def read(conn: Connection) -> pb.GetAdjustableCapacityResponse:
            response = pb.GetAdjustableCapacityResponse(
                capacity=convert.capacity_to(capacity.realtime_capacity(conn, scope, now, timeout))
            )
            if want_forecast:
                response.forecast.CopyFrom(convert.forecast_to(capacity.forecast(conn, scope, day_start)))
            return response

        return await self.deps.db.read(read)

    async def UploadTelemetry(
        self, request_iterator: AsyncIterator[pb.UploadTelemetryRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.UploadTelemetryResponse]:
        """Each batch is committed, then acknowledged: what was acked survives a broken stream.

        A batch refused by the contract (``Rejected`` from the validation
        interceptor) or by the store's checks is answered REJECTED with its
        status and the stream goes on; an outage still ends the call.

        On a store that commits concurrently (PostgreSQL), up to ``STREAM_BATCHES_IN_FLIGHT`` batches
        of the stream are stored at once, each in its own transaction, while the next requests are read
        and checked: a batch that shares a charger (or its batch id, or interval aggregates) with one
        still in flight waits for it, so batches in flight touch no row in common and the stored rows
        and counts are those of storing them one after another (the later arrival wins). Answers go
        out in request order. SQLite stores one batch at a time.
        """
        principal = caller()
        tenant = convert.tenant_of(principal)
        skew = self.deps.settings.max_skew()
        answers: asyncio.Queue[asyncio.Future[pb.UploadTelemetryResponse] | None] = asyncio.Queue()
        # SQLite has one writer: batches in flight would only queue behind it, and checking the next
        # request while the writer runs Python costs both threads their turns at the GIL.
        limit = STREAM_BATCHES_IN_FLIGHT if self.deps.db.concurrent_writes else 1
        window = asyncio.Semaphore(limit)
        # What each batch in flight touches (ids of its chargers, its batch id, its aggregates), by task.
        in_flight: dict[asyncio.Future[pb.UploadTelemetryResponse], frozenset[object]] = {}

        async def store(
            request: pb.UploadTelemetryRequest, readings: list[Reading]
        ) -> pb.UploadTelemetryResponse:
            batch = request.batch
            digest = convert.batch_digest(batch)
            aggregates = convert.aggregates(batch.aggregates)
            ingest = functools.partial(
                telemetry_cases.ingest_batch,
                aggregator_id=tenant,
                batch_id=batch.batch_id,
                readings=readings,
                aggregates=aggregates,
                max_skew=skew,
                field="batch.meter_values",
                aggregates_field="batch.aggregates",
                content_digest=digest,
            )
            try:
                result = await self.deps.db.write(_in_unit(ingest, clock.now(), principal))
            except (InvalidArgument, NotFound, AlreadyExists) as error:
                return _rejected(batch.batch_id, error)
            if not result.replayed:
                METRICS.telemetry_points("aggregator", result.stored_points)
            await audit_batch(
                self.deps.audit,
                principal,
                SERVICE + "UploadTelemetry",
                batch.batch_id,
                digest,
                stored=result.stored_points,
                sent=len(batch.meter_values) + len(batch.aggregates),
                duplicate=result.duplicate,
            )
            return pb.UploadTelemetryResponse(
                batch_id=batch.batch_id,
                stored_points=result.stored_points,
                duplicate=result.duplicate,
                duplicate_points=result.duplicate_points,
                corrected_points=result.corrected_points,
                result=pb.TELEMETRY_BATCH_RESULT_DUPLICATE
                if result.duplicate
                else pb.TELEMETRY_BATCH_RESULT_ACCEPTED,
            )

        async def read() -> None:
            loop = asyncio.get_running_loop()
            requests = aiter(request_iterator)
            try:
                while True:
                    # A slot is taken before a request is read and freed once its answer is sent: a
                    # client that does not read its answers stops the reading of its requests, and with
                    # one slot the next request is read once the answer before it is sent.
                    await window.acquire()
                    try:
                        request = await anext(requests)
                    except StopAsyncIteration:
                        break
                    if isinstance(request, Rejected):
                        refused = loop.create_future()
                        refused.set_result(_rejected(request.request.batch.batch_id, request.error))
                        await answers.put(refused)
                        continue
                    batch = request.batch
                    # Converted here: the chargers it touches are read off the readings (a tuple field each,
                    # where the messages' would be read again).
                    readings = convert.readings(batch.meter_values)
                    touches = (
                        frozenset(
                            (
                                *set(map(_CHARGER_ID, readings)),
                                (_BATCH_ID, batch.batch_id),
                                *((_AGGREGATES,) if len(batch.aggregates) else ()),
                            )
                        )
                        if limit > 1
                        else frozenset()  # one slot: the batch before has been answered
                    )
                    while blocking := [
                        task for task, other in in_flight.items() if not touches.isdisjoint(other)
                    ]:
                        await asyncio.wait(blocking)
                    task = asyncio.ensure_future(store(request, readings))
                    in_flight[task] = touches
                    task.add_done_callback(in_flight.pop)
                    await answers.put(task)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # the stream broke or was refused: its answer ends the call
                failed = loop.create_future()
                failed.set_exception(exc)
                await answers.put(failed)
            else:
                await answers.put(None)

        reader = asyncio.ensure_future(read())
        try:
            while (answer := await answers.get()) is not None:
                # Shielded: the call being cancelled must not cancel the batch it waits for (below).
                yield await asyncio.shield(answer)
                window.release()
        finally:
            reader.cancel()
            # Batches already handed to the store run to their end, audit row included: their
            # transaction may commit on the store's thread whatever happens to this call, and a
            # committed batch must not lack its audit row. Their answers are not sent (the call is over).
            for task in in_flight:
                _finish_unanswered(task)


#: Batches still being stored when their stream ended, kept referenced until they finish.
_unanswered: set[asyncio.Future[pb.UploadTelemetryResponse]] = set()


def _finish_unanswered(task: asyncio.Future[pb.UploadTelemetryResponse]) -> None:
    _unanswered.add(task)
    task.add_done_callback(_unanswered.discard)
    task.add_done_callback(_log_unanswered)


def _log_unanswered(task: asyncio.Future[pb.UploadTelemetryResponse]) -> None:
    if task.cancelled():
        return
    if (error := task.exception()) is not None:  # an outage ended the call too; said once there
        log.info("a telemetry batch of an ended stream was not stored: %s", error)


def _in_unit(
    use_case: Callable[[UnitOfWork], telemetry.BatchResult], now: datetime, principal: Principal
) -> Callable[[Connection], telemetry.BatchResult]:
    return lambda conn: use_case(UnitOfWork(conn, now, principal))


def _rejected(batch_id: str, error: DomainError) -> pb.UploadTelemetryResponse:
    return pb.UploadTelemetryResponse(
        batch_id=batch_id, result=pb.TELEMETRY_BATCH_RESULT_REJECTED, error=status_for(error)
    )
