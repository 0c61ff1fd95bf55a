"""The platform's business clock: what time it is for events, bids, telemetry, capacity and records.

``now()`` is the system clock unless this process serves with the
``simulated_clock`` setting (``vgi serve --simulated-clock``): then it is a
simulated instant that starts at the wall-clock time of the start and moves
only forward, only when an operator calls ``OperatorService.AdvanceClock``,
which also runs the scheduler and the monitor for every minute it passes
(``advance``). That lets a simulation play a day-ahead market and its event
day in seconds against a separately running platform.

Security never reads this clock: token exp/nbf, certificate validity and
rate limiting stay on the real one, so a simulated platform cannot be made to
accept an expired credential.

The simulated clock is process-wide (one platform per process may use it),
so it is refused with several worker processes, whose clocks would diverge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from domain.errors import FailedPrecondition, PreconditionViolation

log = logging.getLogger(__name__)

SIMULATED_CLOCK_DISABLED = "SIMULATED_CLOCK_DISABLED"
CLOCK_NOT_MONOTONIC = "CLOCK_NOT_MONOTONIC"
MINUTE = timedelta(minutes=1)


class SimulatedClock:
    """A clock that reads a stored instant; ``advance`` moves it forward."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        # One advance at a time: the minutes must be worked through in order.
        self.lock = asyncio.Lock()

    def now(self) -> datetime:
        return self._now

    async def advance(
        self,
        to: datetime,
        first_due: Callable[[Sequence[datetime]], Awaitable[datetime | None]],
        step: Callable[[datetime], Awaitable[object]],
    ) -> datetime:
        """Move to ``to`` through each minute boundary on the way (and ``to``), awaiting ``step(at)`` at those
        where ``first_due`` finds work due; refuses to go back.

        ``step`` runs the time-driven work due at ``at`` (scheduler, monitor)
        while the clock reads ``at``. ``first_due`` returns the first of
        several instants with work due (or None): asking for a batch at once
        lets a quiet simulated day pass in a few store reads, while every
        minute that has work is still stepped on, in order.
        """
        async with self.lock:
            if to < self._now:
                raise FailedPrecondition(
                    f"the platform clock reads {self._now.isoformat()}; it does not go back to {to.isoformat()}",
                    reason=CLOCK_NOT_MONOTONIC,
                    violations=[
                        PreconditionViolation(
                            "CLOCK", "advance_to", f"must not be earlier than {self._now.isoformat()}"
                        )
                    ],
                    metadata={"now": self._now.isoformat()},
                )
            instants: list[datetime] = []
            at = self._now.replace(second=0, microsecond=0) + MINUTE
            while at < to:
                instants.append(at)
                at += MINUTE
            if to > self._now:
                instants.append(to)
            while instants:
                batch = instants[:_BATCH]
                due = await first_due(batch)
                if due is None:
                    self._now = batch[-1]
                    del instants[: len(batch)]
                    continue
                self._now = due
                await step(due)
                del instants[: batch.index(due) + 1]
            return self._now


_BATCH = 240
"""Instants checked per store read (four simulated hours)."""

_simulated: SimulatedClock | None = None


def now() -> datetime:
    """The platform's business time (UTC): the system clock, or the simulated one when enabled."""
    clock = _simulated
    return clock.now() if clock is not None else datetime.now(UTC)


def simulated() -> SimulatedClock:
    """The simulated clock; FAILED_PRECONDITION (SIMULATED_CLOCK_DISABLED) when this platform runs on real time."""
    if _simulated is None:
        raise FailedPrecondition(
            "the platform runs on the real clock (start it with --simulated-clock to advance time)",
            reason=SIMULATED_CLOCK_DISABLED,
            violations=[PreconditionViolation("SETTING", "simulated_clock", "is off")],
        )
    return _simulated


def start_simulated(start: datetime | None = None) -> SimulatedClock:
    """Switch this process to a simulated clock reading ``start`` (default: the wall clock now)."""
    global _simulated
    if _simulated is not None:
        raise RuntimeError("a simulated clock is already running in this process")
    _simulated = SimulatedClock(start or datetime.now(UTC))
    log.warning(
        "SIMULATED CLOCK: business time is %s and moves only by OperatorService.AdvanceClock "
        "(simulation and demo use only; security keeps the real clock)",
        _simulated.now().isoformat(),
    )
    return _simulated


def stop_simulated() -> None:
    """Back to the system clock."""
    global _simulated
    _simulated = None
