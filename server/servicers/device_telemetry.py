"""DeviceService telemetry group: the offline batch upload (UploadMeterValues).

The upload is the ``application.telemetry`` use case; the live Connect stream
(server/servicers/device_stream.py) stores its MeterValues through the same
store.telemetry functions.
"""

from __future__ import annotations

import grpc
from vgi.device.v1 import device_service_pb2 as pb

from application.telemetry import upload_meter_values
from application.uow import UnitOfWork
from domain.errors import InvalidArgument, PermissionDenied
from domain.telemetry import batch_id_reused
from infra.observability.metrics import METRICS
from server.servicers import Deps, caller, write_once
from store import idempotency
from store.db import after_commit
from wire import resources as convert


class DeviceTelemetry:
    """The telemetry group of vgi.device.v1.DeviceService."""

    deps: Deps

    async def UploadMeterValues(
        self, request: pb.UploadMeterValuesRequest, context: grpc.aio.ServicerContext
    ) -> pb.UploadMeterValuesResponse:
        """request_id is the batch id: a re-sent batch answers as the first time and stores nothing more;
        the id reused for other content is ALREADY_EXISTS ``BATCH_ID_REUSED``, as on the other paths."""
        if caller().charger_id is None:
            raise PermissionDenied("only devices upload meter values here", reason="NOT_A_DEVICE")
        readings = convert.readings(request.values)
        skew = self.deps.settings.max_skew()

        def effect(uow: UnitOfWork) -> pb.UploadMeterValuesResponse:
            result = upload_meter_values(
                uow, readings, request.request_id, max_skew=skew, content_digest=convert.batch_digest(request)
            )
            if not result.replayed:
                # Counted on commit, not on return: a retry answered from the idempotency record stores nothing.
                after_commit(uow.conn, lambda: METRICS.telemetry_points("device", result.stored_points))
            return pb.UploadMeterValuesResponse(
                stored_points=result.stored_points,
                duplicate_points=result.duplicate_points,
                corrected_points=result.corrected_points,
            )

        try:
            return await write_once(self.deps.db, request, pb.UploadMeterValuesResponse, effect)
        except InvalidArgument as error:
            if error.reason != idempotency.REQUEST_ID_REUSED:
                raise
            # The request_id is the batch id: refused as the device stream and the store refuse it.
            raise batch_id_reused(request.request_id) from None
