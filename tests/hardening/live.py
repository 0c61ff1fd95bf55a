"""A real platform on an event loop of its own thread, for synchronous hypothesis tests.

Hypothesis drives a synchronous test function; the platform (and every gRPC
channel to it) lives on a loop in a background thread, and each example
submits its calls there and waits (``LoopThread.run``). ``World`` starts the
platform with rate limits out of the way (these suites are about answers,
not throttling) and a small world: aggregators agg-1 and agg-2, the test
topology, station st-1 and charger charger-1 of agg-1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import grpc
from conftest import PlatformFactory, RunningPlatform
from registry.world import aggregator_client, charger, onboard, station, topology
from security.rpcs import Outcome, Rpc, _status

from domain.principal import Principal

T = TypeVar("T")
#: Generous: a loaded 2-core machine, a store on the other side.
CALL_TIMEOUT_S = 30.0
#: How long a server stream may stay open before the case counts as admitted and is cancelled.
SETTLE_S = 0.2
#: How grpc's asyncio client reports a status it lost (grpc/grpc#36066), not the server's answer.
CLIENT_ARTIFACT = "Internal error from Core"
UNLIMITED = (
    "read=1000000/1000000",
    "write=1000000/1000000",
    "bulk=1000000/1000000",
    "stream=1000000/1000000",
)


class LoopThread:
    """An event loop on its own thread; ``run`` submits a coroutine to it and waits for the result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="hardening-platform", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT_S * 4) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


class World:
    """A started platform with a little world in it, living on ``thread``'s loop."""

    def __init__(self, thread: LoopThread, factory: PlatformFactory, database_url: str) -> None:
        self.thread = thread
        self._factory = factory
        self._url = database_url
        self._context: Any = None
        self.running: RunningPlatform | None = None

    async def start(self) -> None:
        self._context = self._factory(
            self._url, rate_limits=UNLIMITED, max_streams_per_principal=1000, grace_seconds=1.0
        )
        self.running = running = await self._context.__aenter__()
        await onboard(running, "agg-1", "agg-2")
        await topology(running)
        registry = aggregator_client(running, "agg-1")
        await registry.upsert_stations([station("st-1", "ta1")])
        await registry.upsert_chargers([charger("charger-1", "st-1")])

    async def stop(self) -> None:
        if self._context is not None:
            await self._context.__aexit__(None, None, None)

    @property
    def platform(self) -> RunningPlatform:
        assert self.running is not None, "the world is not started"
        return self.running

    def channel(self, principal: Principal) -> grpc.aio.Channel:
        """Call on the world's loop only (channels belong to the loop they are made on)."""
        return self.platform.channel_for(principal)


async def send(world: World, principal: Principal, rpc: Rpc, messages: list[bytes]) -> tuple[Outcome, bytes]:
    """Send raw request bytes as ``principal``: the outcome and every response's bytes, concatenated.

    A server stream still open after SETTLE_S counts as admitted (code None) and is cancelled.
    """
    channel = world.channel(principal)
    kwargs: dict[str, Any] = {"request_serializer": None, "response_deserializer": None}
    options: dict[str, Any] = {"timeout": CALL_TIMEOUT_S}

    async def requests() -> AsyncIterator[bytes]:
        for message in messages:
            yield message

    if rpc.client_streaming and rpc.server_streaming:
        call: Any = channel.stream_stream(rpc.path, **kwargs)(requests(), **options)
    elif rpc.client_streaming:
        call = channel.stream_unary(rpc.path, **kwargs)(requests(), **options)
    elif rpc.server_streaming:
        call = channel.unary_stream(rpc.path, **kwargs)(messages[0], **options)
    else:
        call = channel.unary_unary(rpc.path, **kwargs)(messages[0], **options)
    received: list[bytes] = []

    async def drain() -> None:
        if rpc.server_streaming:
            async for response in call:
                received.append(response)
        else:
            received.append(await call)

    try:
        async with asyncio.timeout(SETTLE_S if rpc.server_streaming else None):
            with contextlib.suppress(grpc.aio.AioRpcError):  # the status is read below
                await drain()
            code = await call.code()
    except TimeoutError:
        call.cancel()
        return Outcome(None), b"".join(received)
    details = await call.details()
    if rpc.client_streaming and code is grpc.StatusCode.INTERNAL and details == CLIENT_ARTIFACT:
        # grpc/grpc#36066: a server that ends a client stream before the client half-closes gets
        # its status replaced, on the client only, by this INTERNAL. What the server answered is
        # checked from its own records instead (ServerErrors).
        return Outcome(None, CLIENT_ARTIFACT), b"".join(received)
    return Outcome(code, details, _status(await call.trailing_metadata())), b"".join(received)


class ServerErrors(logging.Handler):
    """What the server itself records as a server error: a call that ended INTERNAL or UNKNOWN
    (the access log), or an exception the error stage had to map to INTERNAL."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        code = getattr(record, "code", None)
        if record.name == "vgi.access" and code in ("INTERNAL", "UNKNOWN"):
            self.found.append(f"{getattr(record, 'method', '?')} ended {code}")
        elif record.name == "interceptors.errors" and record.levelno >= logging.ERROR:
            self.found.append(record.getMessage())

    @contextlib.contextmanager
    def installed(self) -> Iterator[ServerErrors]:
        loggers = [logging.getLogger("vgi.access"), logging.getLogger("interceptors.errors")]
        for logger in loggers:
            logger.addHandler(self)
        try:
            yield self
        finally:
            for logger in loggers:
                logger.removeHandler(self)
