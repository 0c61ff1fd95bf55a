"""Finding 2: a device writes only for a charger its certificate's aggregator owns.

A certificate binding agg-b's charger to agg-a (mis-issued, or issued before
the charger moved) opens no session and uploads nothing; IssueCredentials
refuses to bind a charger to an aggregator that does not own it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from registry.world import aggregator_client, charger, meter, onboard, session, station, topology
from security.rpcs import call, contract_rpcs
from vgi.device.v1 import device_service_pb2 as device_pb
from vgi.operator.v1 import operator_service_pb2 as operator_pb

from store.registry_tables import EvSessionRow
from store.tables import table_of
from store.telemetry_tables import MeterValueRow

pytestmark = pytest.mark.timeout(120)

RPCS = {rpc.path: rpc for rpc in contract_rpcs()}
CONNECT = RPCS["/vgi.device.v1.DeviceService/Connect"]
UPLOAD = RPCS["/vgi.device.v1.DeviceService/UploadMeterValues"]
ISSUE = RPCS["/vgi.operator.v1.OperatorService/IssueCredentials"]


async def _two_tenants(platform: Any) -> None:
    await onboard(platform, "agg-a", "agg-b")
    await topology(platform)
    for tenant, charger_id in (("agg-a", "ca-1"), ("agg-b", "cb-1")):
        registry = aggregator_client(platform, tenant)
        await registry.upsert_stations([station(f"st-{tenant}", "ta1")])
        await registry.upsert_chargers([charger(charger_id, f"st-{tenant}")])


async def _rows(platform: Any, charger_id: str) -> tuple[int, int]:
    meters = table_of(MeterValueRow)
    sessions = table_of(EvSessionRow)

    def count(conn: sa.Connection) -> tuple[int, int]:
        return (
            conn.execute(sa.select(sa.func.count()).where(meters.c.charger_id == charger_id)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).where(sessions.c.charger_id == charger_id)).scalar_one(),
        )

    return await platform.db.read(count)


async def test_a_device_never_writes_for_a_charger_its_aggregator_does_not_own(platform: Any) -> None:
    await _two_tenants(platform)
    now = datetime.now(UTC).replace(microsecond=0)
    cases = [
        # agg-b's charger under a certificate bound to agg-a.
        ("cb-1", "agg-a", grpc.StatusCode.PERMISSION_DENIED, "CHARGER_NOT_OWNED"),
        # A charger nobody registered.
        ("ghost-1", "agg-a", grpc.StatusCode.NOT_FOUND, "CHARGER_NOT_FOUND"),
    ]
    for charger_id, bound_to, code, reason in cases:
        channel = platform.channel_for(f"vgi://device/{charger_id}", aggregator_id=bound_to)
        connect = await call(
            channel,
            CONNECT,
            [
                device_pb.ConnectRequest(hello=device_pb.Hello(charger_id=charger_id)),
                device_pb.ConnectRequest(
                    session_started=device_pb.SessionStarted(session=session("s-x", charger_id, now))
                ),
                device_pb.ConnectRequest(
                    meter_values=device_pb.MeterValues(
                        batch_id=str(uuid.uuid4()), values=[meter(charger_id, now, 7000)]
                    )
                ),
            ],
        )
        assert (connect.code, connect.reason) == (code, reason), connect
        upload = await call(
            channel,
            UPLOAD,
            device_pb.UploadMeterValuesRequest(
                request_id=str(uuid.uuid4()),
                values=[meter(charger_id, now - timedelta(minutes=m), 7000) for m in range(3)],
            ),
        )
        assert (upload.code, upload.reason) == (code, reason), upload
        assert await _rows(platform, charger_id) == (0, 0)

    # The rightful device still writes.
    own = platform.channel_for("vgi://device/cb-1", aggregator_id="agg-b")
    upload = await call(
        own,
        UPLOAD,
        device_pb.UploadMeterValuesRequest(request_id=str(uuid.uuid4()), values=[meter("cb-1", now, 7000)]),
    )
    assert upload.code is grpc.StatusCode.OK, upload
    assert await _rows(platform, "cb-1") == (1, 0)


async def test_device_credentials_are_issued_only_for_the_owning_aggregator(platform: Any) -> None:
    await _two_tenants(platform)

    def issue(principal: str, aggregator_id: str) -> operator_pb.IssueCredentialsRequest:
        return operator_pb.IssueCredentialsRequest(
            request_id=str(uuid.uuid4()),
            principal=principal,
            kind=operator_pb.CREDENTIAL_KIND_CERTIFICATE,
            aggregator_id=aggregator_id,
        )

    foreign = await call(platform.channel, ISSUE, issue("vgi://device/cb-1", "agg-a"))
    assert (foreign.code, foreign.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CHARGER_NOT_OWNED")
    unknown = await call(platform.channel, ISSUE, issue("vgi://device/ghost-1", "agg-a"))
    assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, "CHARGER_NOT_FOUND")
    owned = await call(platform.channel, ISSUE, issue("vgi://device/cb-1", "agg-b"))
    assert owned.code is grpc.StatusCode.OK, owned
