"""The admin listeners (issue 17 finding 4): probes and scrapers need no client certificate."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from domain.principal import Principal, Role
from infra.security.pki import PkiLayout, init_pki

OPERATOR = Principal(Role.OPERATOR, "op-1")

pytestmark = pytest.mark.timeout(180)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def test_http_probes_and_grpc_health_without_client_certificate(platform: Any) -> None:
    base = f"http://127.0.0.1:{platform.platform.admin_port}"
    assert await asyncio.to_thread(get, f"{base}/healthz") == (200, "ok\n")
    assert await asyncio.to_thread(get, f"{base}/readyz") == (200, "ready\n")
    status, _ = await asyncio.to_thread(get, f"{base}/nothing")
    assert status == 404

    # A plaintext channel, no certificate, no token: what a Kubernetes gRPC probe sends.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.platform.grpc_health_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        # Only health is there: the business surfaces are not reachable without TLS.
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await channel.unary_unary("/vgi.operator.v1.OperatorService/ListAggregators")(b"", timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED

    await platform.platform.stop(grace=0)
    with pytest.raises(OSError):
        await asyncio.to_thread(get, f"{base}/healthz")


async def test_vgi_serve_exposes_metrics_and_names_the_admin_address(tmp_path: Path) -> None:
    init_pki(tmp_path / "pki")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("VGI_", "OTEL_"))}
    environ["VGI_ACCESS_LOG"] = "all"  # the test finds the OK health check's access line
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("vgi")),
        "serve",
        "--pki",
        "pki",
        "--listen",
        "127.0.0.1:0",
        "--database",
        f"sqlite:///{tmp_path / 'vgi.db'}",
        cwd=tmp_path,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(120):
            while not (line := (await process.stdout.readline()).decode()).startswith("vgi: serving"):
                assert line, "vgi serve exited before serving"
        assert "mutual TLS" in line and f"store sqlite:///{tmp_path / 'vgi.db'}" in line, line
        assert "vgi 0." in line, line
        admin = re.search(r"admin (http://127\.0\.0\.1:\d+)", line)
        assert admin is not None, line
        port = line.rsplit(" ", 1)[1]
        layout = PkiLayout(tmp_path / "pki")
        credentials = grpc.ssl_channel_credentials(
            root_certificates=layout.ca_cert.read_bytes(),
            private_key=layout.client_key(OPERATOR).read_bytes(),
            certificate_chain=layout.client_cert(OPERATOR).read_bytes(),
        )
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
        status, body = await asyncio.to_thread(get, f"{admin.group(1)}/metrics")
        assert status == 200
        assert "# TYPE" in body and "vgi_" in body, body[:500]
        assert await asyncio.to_thread(get, f"{admin.group(1)}/readyz") == (200, "ready\n")
        # Plain HTTP at the TLS port: gRPC core would print a plain-text "Handshake failed" line.
        _, writer = await asyncio.open_connection("127.0.0.1", int(port))
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        writer.close()
    finally:
        process.terminate()
        async with asyncio.timeout(60):
            assert process.stderr is not None
            err = (await process.stderr.read()).decode()
            await process.wait()
    lines = [json.loads(line) for line in err.splitlines()]  # every line is one JSON object
    access = [line for line in lines if line["logger"] == "vgi.access"]
    assert any(
        line["level"] == "INFO"
        and line["method"] == "/grpc.health.v1.Health/Check"
        and line["code"] == "OK"
        and line["peer"].startswith("ipv4:127.0.0.1:")
        and "duration_ms" in line
        for line in access
    ), access
