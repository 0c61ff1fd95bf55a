"""The baseline server: bare grpcio asyncio, no interceptors, no store — run as its own process.

``python -m bench.bare [--pki DIR]`` serves, in plaintext or (with ``--pki``)
with the platform's mutual TLS (same server certificate, client certificates
required), and prints ``port N``:

* ``BenchEchoService/Echo`` — the same 100-byte echo the platform serves behind its chain;
* ``bench.Bare/Subscribe`` (server stream) and ``bench.Bare/Broadcast`` (unary):
  Broadcast returns once its message is queued to every open Subscribe stream,
  the shape of "the grid's call returns, then deliveries go out", with nothing
  stored and nothing acknowledged — the ceiling for the fan-out targets.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from bench import echo
from infra.security.pki import PkiLayout

BARE_SERVICE = "bench.Bare"
SUBSCRIBE = f"/{BARE_SERVICE}/Subscribe"
BROADCAST = f"/{BARE_SERVICE}/Broadcast"


class Fanout:
    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[bytes]] = set()

    async def subscribe(self, request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.queues.add(queue)
        try:
            yield b"subscribed"
            while True:
                yield await queue.get()
        finally:
            self.queues.discard(queue)

    async def broadcast(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        for queue in self.queues:
            queue.put_nowait(request)
        return len(self.queues).to_bytes(4, "big")

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            BARE_SERVICE,
            {
                "Subscribe": grpc.unary_stream_rpc_method_handler(self.subscribe),
                "Broadcast": grpc.unary_unary_rpc_method_handler(self.broadcast),
            },
        )


def mtls_credentials(pki: Path) -> grpc.ServerCredentials:
    """The dev PKI's server certificate, client certificates required (as the platform's mTLS)."""
    layout = PkiLayout(pki)
    return grpc.ssl_server_credentials(
        [(layout.server_key.read_bytes(), layout.server_cert.read_bytes())],
        root_certificates=layout.ca_cert.read_bytes(),
        require_client_auth=True,
    )


async def serve(pki: Path | None) -> None:
    server = grpc.aio.server(options=[("grpc.max_concurrent_streams", 1 << 20)])
    server.add_generic_rpc_handlers([echo.handler(), Fanout().handler()])
    if pki is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", mtls_credentials(pki))
    await server.start()
    print(f"port {port}", flush=True)
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pki", type=Path, help="serve mutual TLS with this dev PKI (else plaintext)")
    asyncio.run(serve(parser.parse_args().pki))


if __name__ == "__main__":
    main()
