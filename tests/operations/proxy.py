"""A fault-injecting TCP proxy for outage tests: the platform talks to PostgreSQL through it.

``cut()`` drops every open connection at once (as a dead network or a
crashed database would) and answers each new one by closing it, until
``restore()``. The proxy runs its own event loop on a thread, so a test's
loop being busy cannot delay it, and the shared PostgreSQL is never stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False
        self.port = 0

    def start(self) -> int:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self.port

    async def _listen(self) -> asyncio.AbstractServer:
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    def cut(self) -> None:
        """Drop every connection now; refuse new ones until ``restore``."""

        def drop() -> None:
            self._cut = True
            for writer in list(self._writers):
                writer.transport.abort()

        self._call(drop)

    def restore(self) -> None:
        def heal() -> None:
            self._cut = False

        self._call(heal)

    def _call(self, fn: Callable[[], None]) -> None:
        async def run() -> None:
            fn()

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def stop(self) -> None:
        self.cut()

        async def close() -> None:
            self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextlib.contextmanager
def fault_proxy(upstream_host: str = "127.0.0.1", upstream_port: int = 5432) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream_host, upstream_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
