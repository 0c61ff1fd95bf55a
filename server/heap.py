"""Full garbage collections run by the server between deliveries, not by whichever allocation trips them.

CPython collects its oldest generation when enough young collections have
passed (and the objects promoted since the last full collection are a
quarter of those that survived it). A full collection walks every tracked
object of the process, and with 10,000 open device streams that is every
object those streams hold: it stopped the event loop for 2.8 s in the
benchmark on the loaded 2-core machine. A setpoint fan-out allocates exactly what trips it (one
item, one message and one write per stream), so the collection used to land
in the middle of the fan-out: measured in ``bench.fanout`` (gc callbacks
timed in the platform process), one full collection took 2.8 s of the 4.3 s
between the hand-off of the 10,000 setpoints and the last write.

``FullCollections`` therefore raises the oldest generation's threshold out
of reach (young generations are still collected by allocation, as before)
and runs the full collection itself from a task, when CPython would have —
at least as many young collections as its own threshold since the last full
one, and the oldest generation grown by a quarter since then (CPython's
proviso, counted here as the generation's length) — but no sooner than
``min_interval_s`` after the last one, and not while the dispatcher has items
handed to streams but not yet written, unless it has waited ``max_defer_s``
for that, so a server that is never quiet still collects. Garbage cycles
among long-lived objects live a few seconds longer; nothing else changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable

#: A threshold the oldest generation's count (young collections since the last full one) never reaches.
_NEVER = 2**31 - 1


class FullCollections:
    """The process's full collections, decided by ``due`` and run by ``collect`` (``start`` runs both every
    ``check_s``); ``busy`` tells whether a fan-out is being written right now."""

    def __init__(
        self,
        busy: Callable[[], bool],
        *,
        check_s: float = 1.0,
        min_interval_s: float = 10.0,
        max_defer_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if check_s <= 0 or min_interval_s < 0 or max_defer_s < min_interval_s:
            raise ValueError("check_s must be positive and max_defer_s at least min_interval_s")
        self._busy = busy
        self.check_s = check_s
        self.min_interval_s = min_interval_s
        self.max_defer_s = max_defer_s
        self._clock = clock
        self._saved: tuple[int, int, int] | None = None
        self._young = 10  # CPython's default third threshold; replaced by the one in force at install
        self._last = clock()
        self._survivors = 0  # the oldest generation's length after the last full collection
        self._walked = clock()  # when the oldest generation's length was last found short of a quarter more
        self._task: asyncio.Task[None] | None = None
        self.collections = 0

    def install(self) -> None:
        """Take the oldest generation out of the allocation-driven collections (idempotent)."""
        if self._saved is not None:
            return
        if gc.get_threshold()[2] == _NEVER:
            # Another one runs this process's full collections: two would restore each other's thresholds.
            raise RuntimeError("full collections are already run by another FullCollections")
        self._saved = gc.get_threshold()
        young0, young1, self._young = self._saved
        gc.set_threshold(young0, young1, _NEVER)
        self._last = self._walked = self._clock()
        self._survivors = len(gc.get_objects(generation=2))

    def uninstall(self) -> None:
        """Give the thresholds back as they were before ``install``."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def due(self) -> bool:
        """Whether a full collection should run now."""
        if gc.get_count()[2] < self._young:
            return False
        now = self._clock()
        waited = now - self._last
        if waited < self.min_interval_s or now - self._walked < self.min_interval_s:
            return False
        if waited < self.max_defer_s and self._busy():
            return False
        # Last, as it walks the generation's list (a few ms per million objects), at most once per
        # min_interval_s: a quarter more objects than survived the last full collection.
        if len(gc.get_objects(generation=2)) - self._survivors >= self._survivors // 4:
            return True
        self._walked = now
        return False

    def collect(self) -> None:
        gc.collect()
        self.collections += 1
        self._last = self._clock()
        self._survivors = len(gc.get_objects(generation=2))

    def step(self) -> bool:
        """Collect if due; whether it did."""
        if not self.due():
            return False
        self.collect()
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            self.step()

    def start(self) -> None:
        """Install, and check every ``check_s`` on the running loop until ``stop``."""
        self.install()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="vgi-full-collections")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.uninstall()
