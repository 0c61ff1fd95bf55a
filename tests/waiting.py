"""Waiting in tests: for an event, never for a fixed time (the rules are in docs/TESTING.md).

A test that needs something to have happened — a row committed, a span
ended, a stream closed, health flipped — polls for exactly that with
``until`` or ``eventually``, bounded by one generous overall timeout
(``WAIT_S``). On a quiet machine the wait ends within milliseconds; on a
loaded 2-core machine it simply takes longer, and only a condition that never
comes true fails, with a message saying what was awaited and what was last seen.

``VGI_TEST_WAIT_SCALE`` multiplies every bound (e.g. 3 under valgrind-like
slowness); nothing else about the suite depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: The one overall bound for waiting on an event in the suite (seconds).
WAIT_S = 30.0 * float(os.environ.get("VGI_TEST_WAIT_SCALE", "1"))
#: How often a condition is polled; short, since polling is cheap and events are often quick.
POLL_S = 0.01


async def _value(probe: Callable[[], Any]) -> Any:
    value = probe()
    if inspect.isawaitable(value):
        value = await value
    return value


async def until(
    condition: Callable[[], bool | Awaitable[bool]], *, what: str = "", limit_s: float = WAIT_S
) -> None:
    """Poll ``condition`` (sync or async) until it is true; fail naming ``what`` after ``limit_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not await _value(condition):
        if loop.time() >= deadline:
            raise AssertionError(f"waited {limit_s:.0f} s for {what or condition!r}; it never happened")
        await asyncio.sleep(POLL_S)


async def eventually(probe: Callable[[], T | Awaitable[T]], expected: Any, *, limit_s: float = WAIT_S) -> T:
    """Poll ``probe`` until it returns ``expected``; fail with the last value seen after ``limit_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while (value := await _value(probe)) != expected:
        if loop.time() >= deadline:
            raise AssertionError(f"after {limit_s:.0f} s still {value!r}, wanted {expected!r}")
        await asyncio.sleep(POLL_S)
    return value  # type: ignore[no-any-return]


async def within(awaitable: Awaitable[T], *, what: str = "", limit_s: float = WAIT_S) -> T:
    """Await ``awaitable`` (a read, a status, a task) for at most ``limit_s``; fail naming ``what``."""
    try:
        async with asyncio.timeout(limit_s):
            return await awaitable
    except TimeoutError:
        raise AssertionError(f"waited {limit_s:.0f} s for {what or awaitable!r}; it never came") from None


def waiting_on_a_lock(engine: Any, pid: int) -> Callable[[], bool]:
    """A probe for ``until``: whether PostgreSQL backend ``pid`` waits for a lock (``pg_stat_activity``)."""

    def probe() -> bool:
        with engine.connect() as conn:
            state = conn.exec_driver_sql(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %(pid)s", {"pid": pid}
            ).scalar_one_or_none()
        return bool(state == "Lock")

    return probe
