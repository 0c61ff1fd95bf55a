"""The log output of a real ``vgi serve``: JSON lines tied to the call that wrote them, never a token.

The server runs as a subprocess at DEBUG (an access line per call at INFO) with a
head-sampling ratio of 0: only calls whose caller sends a sampled W3C
``traceparent`` are traced (parent-based), and those calls' lines carry that
trace id and the server span's id. Every call sends a real bearer token —
valid, expired, or naming someone else — and none of them may appear in
anything the process writes.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from conftest import GRID, OPERATOR, DevCredentials
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from sqlalchemy.engine import Connection
from vgi.common.v1 import aggregator_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from application import registry as use_cases
from application.uow import UnitOfWork
from clients.streams import DeviceSession
from infra.observability.grpc_client import client_interceptors
from store import aggregators
from store.db import Database
from store.registry import Charger, GridNode, Station
from wire import notices as wire_notices

from .conftest import MakeTracing
from .otlp_receiver import otlp_receiver
from .vgi_process import channel, vgi_serve

pytestmark = pytest.mark.timeout(120)

OPERATOR_SERVICE = "/vgi.operator.v1.OperatorService/"
AGGREGATOR = "vgi://aggregator/agg-1"
DEVICE = "vgi://device/charger-1"
CONNECT = "/vgi.device.v1.DeviceService/Connect"


async def _register_charger_1(database_url: str) -> None:
    """agg-1 owning charger-1, straight into the served store (a device writes only for its
    aggregator's charger); over gRPC it would add access-log lines this test counts."""
    now = datetime.now(UTC)

    def seed(conn: Connection) -> None:
        aggregators.create(
            conn,
            aggregator_id="agg-1",
            display_name="Agg 1",
            unified_social_credit_code="",
            contact_email="",
            now=now,
        )
        use_cases.upsert_grid_nodes(
            UnitOfWork(conn, now), [GridNode("ta1", "TRANSFORMER_AREA", None, "Area 1", 0, 0)]
        )
        use_cases.upsert_stations(UnitOfWork(conn, now), "agg-1", [Station("st-1", "", "ta1", 0, 0)])
        use_cases.upsert_chargers(
            UnitOfWork(conn, now), "agg-1", [Charger("charger-1", "st-1", "AC", 7_000, 0, False, True)]
        )

    db = Database(database_url, threads=1, publisher=wire_notices.publish)
    try:
        await db.write(seed)
    finally:
        await db.close()


def _client_span(spans: tuple[ReadableSpan, ...], method: str) -> ReadableSpan:
    [span] = [s for s in spans if s.name == method.removeprefix("/") and s.kind is SpanKind.CLIENT]
    return span


async def test_server_log_lines_carry_the_trace_and_caller_and_no_token(
    database_url: str, dev_credentials: DevCredentials, memory_tracing: MakeTracing
) -> None:
    provider, exporter = memory_tracing(1.0)
    traced = client_interceptors(provider)
    tokens = {
        "operator": dev_credentials.token(OPERATOR.uri),
        "expired": dev_credentials.token(AGGREGATOR, ttl=60, now=time.time() - 3600),
        "someone else's": dev_credentials.token(GRID.uri),
        "device": dev_credentials.token(DEVICE),
    }
    with otlp_receiver() as (receiver, endpoint):
        env = {
            "VGI_LOG_LEVEL": "DEBUG",
            "VGI_TRACE_SAMPLE_RATIO": "0",
            "VGI_ACCESS_LOG": "all",  # this test reads the access lines of OK calls too
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_METRICS_EXPORTER": "none",
        }
        async with vgi_serve(database_url, dev_credentials, env) as served:

            async def operator_call(method: str, request: Any, *, trace: bool) -> grpc.StatusCode:
                async with channel(
                    served,
                    dev_credentials,
                    OPERATOR.uri,
                    token=tokens["operator"],
                    interceptors=traced if trace else (),
                ) as operator:
                    try:
                        await getattr(operator_grpc.OperatorServiceStub(operator), method)(
                            request, timeout=10
                        )
                    except grpc.aio.AioRpcError as error:
                        return error.code()
                    return grpc.StatusCode.OK

            created = operator_pb.CreateAggregatorRequest(
                request_id="8c1b7a52-3f0e-4d0a-9a61-0b9d5f2e1c77",
                aggregator_id="acme",
                aggregator=aggregator_pb2.Aggregator(display_name="ACME Charging"),
            )
            assert await operator_call("CreateAggregator", created, trace=True) is grpc.StatusCode.OK
            missing = operator_pb.GetAggregatorRequest(name="aggregators/nobody")
            assert await operator_call("GetAggregator", missing, trace=True) is grpc.StatusCode.NOT_FOUND
            listed = operator_pb.ListAggregatorsRequest(page_size=10)
            assert await operator_call("ListAggregators", listed, trace=False) is grpc.StatusCode.OK
            # A method the server does not serve (a typo, a scan) has its access line too.
            async with channel(served, dev_credentials, OPERATOR.uri, token=tokens["operator"]) as operator:
                with pytest.raises(grpc.aio.AioRpcError) as unknown:
                    await operator.unary_unary(OPERATOR_SERVICE + "NoSuchMethod")(b"", timeout=10)
                assert unknown.value.code() is grpc.StatusCode.UNIMPLEMENTED
            for token in (tokens["expired"], tokens["someone else's"]):
                async with channel(
                    served, dev_credentials, AGGREGATOR, token=token, interceptors=traced
                ) as aggregator:
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await operator_grpc.OperatorServiceStub(aggregator).ListAggregators(
                            listed, timeout=10
                        )
                    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
            await _register_charger_1(database_url)
            async with (
                channel(
                    served,
                    dev_credentials,
                    DEVICE,
                    aggregator_id="agg-1",
                    token=tokens["device"],
                    interceptors=traced,
                ) as device,
                DeviceSession(device, "charger-1") as session,
            ):
                await session.heartbeat()
            # The server logs the call once it sees the device go; stopping first would end it UNAVAILABLE.
            await served.logged(CONNECT)
            assert await served.stop() == 0

    output = "\n".join([*served.stderr, *served.stdout])
    for name, token in tokens.items():
        for part in (token, *token.split(".")[1:]):
            assert part not in output, f"the {name} token leaked"

    # Every line the server logged is one JSON object.
    lines = [json.loads(line) for line in served.stderr if line]
    access = [line for line in lines if line["message"] == "rpc finished"]
    spans = exporter.get_finished_spans()
    server_spans = {
        span.parent_span_id: span for _, span in receiver.spans() if span.kind == span.SPAN_KIND_SERVER
    }

    def line_of(method: str, code: str) -> dict[str, Any]:
        [line] = [a for a in access if a["method"] == method and a["code"] == code]
        assert line["level"] == "INFO" and isinstance(line["duration_ms"], float)
        return line

    def assert_traced(line: dict[str, Any], method: str, nth: int = 0) -> None:
        client = [s for s in spans if s.name == method.removeprefix("/") and s.kind is SpanKind.CLIENT][nth]
        server = server_spans[client.context.span_id.to_bytes(8, "big")]
        assert line["trace_id"] == f"{client.context.trace_id:032x}" == server.trace_id.hex()
        assert line["span_id"] == server.span_id.hex()

    created_line = line_of(OPERATOR_SERVICE + "CreateAggregator", "OK")
    assert created_line["principal"] == OPERATOR.uri
    assert_traced(created_line, OPERATOR_SERVICE + "CreateAggregator")
    missing_line = line_of(OPERATOR_SERVICE + "GetAggregator", "NOT_FOUND")
    assert missing_line["principal"] == OPERATOR.uri
    assert_traced(missing_line, OPERATOR_SERVICE + "GetAggregator")
    # Sampled out at the root (ratio 0, no traceparent): no trace to point at.
    untraced = line_of(OPERATOR_SERVICE + "ListAggregators", "OK")
    assert (untraced["principal"], untraced["trace_id"], untraced["span_id"]) == (OPERATOR.uri, None, None)
    refusals = [a for a in access if a["code"] == "UNAUTHENTICATED"]
    assert len(refusals) == 2
    for nth, line in enumerate(refusals):
        assert line["method"] == OPERATOR_SERVICE + "ListAggregators"
        assert line["principal"] == AGGREGATOR  # the certificate's; the token was refused
        assert_traced(line, OPERATOR_SERVICE + "ListAggregators", nth)
    unknown_line = line_of(OPERATOR_SERVICE + "NoSuchMethod", "UNIMPLEMENTED")
    assert unknown_line["principal"] is None  # no stage ran: the caller was not identified
    session_line = line_of(CONNECT, "CANCELLED")
    assert session_line["principal"] == DEVICE
    assert_traced(session_line, CONNECT)
