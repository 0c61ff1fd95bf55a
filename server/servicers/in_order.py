"""A client stream's messages handled while the next ones arrive, their answers in arrival order.

``answered_in_order(requests, start, depth)`` starts ``start(request)`` for each
message as soon as it is read, with at most ``depth`` started and not yet
answered, and yields the answers in the order the messages came. With
``depth`` 1 the next message is started only once the previous one is
answered, as a plain ``async for`` does.

What this is for: UploadTelemetry on SQLite, whose writes go to one writer
thread in the order they were submitted (``store.db.Database.serial_writes``).
The next batch is decoded, converted and queued while the previous one is
written, so the writer need not wait for the event loop (and the two batches
may share one group commit); each acknowledgement still follows its own commit.

A started message runs to its end even when the stream stops (the client
cancelled, or an earlier message failed): a write that commits is also
audited. The first failure ends the stream, as it would have ended the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

Request = TypeVar("Request")
Answer = TypeVar("Answer")


async def answered_in_order(
    requests: AsyncIterator[Request], start: Callable[[Request], Awaitable[Answer]], depth: int
) -> AsyncIterator[Answer]:
    """``start(request)`` of each request as it arrives, at most ``depth`` unanswered; the answers in order."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    loop = asyncio.get_running_loop()
    window = asyncio.Semaphore(depth)
    # The started messages in arrival order; None once the requests end.
    started: asyncio.Queue[asyncio.Future[Answer] | None] = asyncio.Queue()

    async def read() -> None:
        try:
            async for request in requests:
                await window.acquire()
                # Tasks run their first step in creation order, so whatever ``start`` queues before its first
                # wait (a write to the serial writer) is queued in arrival order too.
                task = asyncio.ensure_future(start(request))
                task.add_done_callback(_retrieve)
                started.put_nowait(task)
        except Exception as exc:
            # The stream itself failed (e.g. the client's messages broke off): answered after the started ones.
            failed: asyncio.Future[Answer] = loop.create_future()
            failed.set_exception(exc)
            started.put_nowait(failed)
        finally:
            started.put_nowait(None)

    reader = asyncio.create_task(read(), name="vgi-stream-reader")
    try:
        while (task := await started.get()) is not None:
            # Shielded: a cancelled stream does not cut a started message short (its write and its audit).
            answer = await asyncio.shield(task)
            window.release()
            yield answer
    finally:
        reader.cancel()


def _retrieve(task: asyncio.Future[Any]) -> None:
    """A message whose answer nobody waits for any more (the stream stopped): its error is not lost in a warning."""
    if not task.cancelled():
        task.exception()
