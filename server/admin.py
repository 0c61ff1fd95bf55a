"""The admin listeners: what probes, load balancers and scrapers reach without a client certificate.

* HTTP (``admin_listen``): ``GET /healthz`` 200 while the process runs;
  ``GET /readyz`` 200 while the store answers (its schema was checked at start),
  503 otherwise; ``GET /metrics`` the Prometheus exposition when metrics are on.
  Served by the standard library's WSGI server on a thread of its own, so a
  busy event loop cannot make a probe time out, with prometheus_client's WSGI
  app for /metrics.
* gRPC (``admin_grpc_listen``): plaintext, serving only grpc.health.v1 (and
  reflection of it) from the platform's own HealthServicer (Kubernetes gRPC probes cannot present
  TLS client certificates).

Neither carries business data, which is why they may listen beyond loopback
without TLS; both default to loopback.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, make_wsgi_app

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes arrive every few seconds; one line each would drown the log."""


class _Server(WSGIServer):
    address_family = socket.AF_INET


class _Server6(WSGIServer):
    address_family = socket.AF_INET6


class HttpAdmin:
    """``/healthz``, ``/readyz`` and ``/metrics`` over plain HTTP; ``start`` returns the bound port."""

    def __init__(
        self, address: str, *, ready: Callable[[], bool], registry: CollectorRegistry | None
    ) -> None:
        self._address = address
        self._ready = ready
        self._metrics = make_wsgi_app(registry) if registry is not None else None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        host, port = split_address(self._address)
        server_class = _Server6 if ":" in host else _Server
        self._server = make_server(
            host, port, self._app, server_class=server_class, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="vgi-admin-http", daemon=True)
        self._thread.start()
        return int(self._server.server_port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok\n")
        if path == "/readyz":
            if self._ready():
                return _text(start_response, "200 OK", "ready\n")
            return _text(start_response, "503 Service Unavailable", "not ready: the store does not answer\n")
        if path == "/metrics" and self._metrics is not None:
            return self._metrics(environ, start_response)  # type: ignore[no-any-return]
        return _text(start_response, "404 Not Found", "not found: /healthz, /readyz, /metrics\n")


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))]
    )
    return [data]


async def start_grpc_health(address: str, health: HealthServicer) -> tuple[grpc.aio.Server, int]:
    """A plaintext gRPC server answering only grpc.health.v1 from ``health``."""
    # No SO_REUSEPORT (grpc's default): a second process must fail to bind the probe port rather than
    # share it, or a readiness probe could reach the wrong process.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    # Reflection of health alone, so grpcurl finds it as on the main port.
    reflection.enable_server_reflection(
        [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(address)
    if (
        port == 0
    ):  # some grpc versions answer 0 instead of raising; a server that was never started leaks nothing
        raise RuntimeError(f"could not listen on {address}")
    await server.start()
    return server, port
