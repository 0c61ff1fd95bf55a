"""The simulated day: when each event is published, bid on, cleared and executed.

The event day D is the local (Asia/Shanghai) day after the platform's today:
a day-ahead window must start on a later day than its publication (SPEC F4,
``domain.events.check_publication``), checked against the platform's
business clock. Bidding for the day-ahead event happens on D−1; the intraday
event is published on D at 10:00 and closes at 11:00; the real-time
direct-control event is announced at 21:45 for 22:00–22:30.

The platform runs on a simulated clock (``vgi serve --simulated-clock``) that
the simulator moves with OperatorService.AdvanceClock: slot by slot through
D, minute by minute inside the event windows; the platform's scheduler and
execution monitor do each minute's work before the call returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from clients.simulate.population import SHANGHAI, SLOT, local_midnight


class EventKind(StrEnum):
    DAY_AHEAD = "day-ahead"
    INTRADAY = "intraday"
    REAL_TIME = "real-time"


@dataclass(frozen=True)
class EventPlan:
    event_id: str
    kind: EventKind
    window_start: datetime
    window_end: datetime
    publish_at: datetime
    """Simulated instant the grid publishes (the scheduler has reached it)."""
    bid_deadline: datetime | None
    target_share: float
    """Share of the feeder's declared decrease capacity asked for."""

    @property
    def slots(self) -> list[datetime]:
        count = (self.window_end - self.window_start) // SLOT
        return [self.window_start + i * SLOT for i in range(count)]


@dataclass(frozen=True)
class Timeline:
    day: date
    day_start: datetime
    history_days: tuple[date, ...]
    """Days with uploaded 15-minute history, oldest first (D−61 … D−2 for 60 days)."""
    events: tuple[EventPlan, ...]

    def event(self, kind: EventKind) -> EventPlan:
        return next(e for e in self.events if e.kind is kind)


def plan(now: datetime, seed: int, *, history_days: int = 60) -> Timeline:
    """The timeline for a platform whose clock reads ``now``."""
    day = now.astimezone(SHANGHAI).date() + timedelta(days=1)
    start = local_midnight(day)

    def at(hours: float, offset: int = 0) -> datetime:
        return local_midnight(day + timedelta(days=offset)) + timedelta(minutes=round(hours * 60))

    # Bidding for D closes on D−1 at 22:00, or a little after `now` when the
    # simulation starts later than that (the deadline must lie ahead).
    da_deadline = max(at(22, -1), (now + timedelta(minutes=10)).replace(second=0, microsecond=0))
    tag = f"{day:%Y%m%d}-s{seed}"
    events = (
        EventPlan(f"da-{tag}", EventKind.DAY_AHEAD, at(19), at(20), now, da_deadline, 0.5),
        EventPlan(f"id-{tag}", EventKind.INTRADAY, at(20.5), at(21.5), at(10), at(11), 0.45),
        EventPlan(f"rt-{tag}", EventKind.REAL_TIME, at(22), at(22.5), at(21.75), None, 0.35),
    )
    # D−1 is the platform's today, still under way: baselines look back from D−2 (SPEC F8).
    history = tuple(day - timedelta(days=n) for n in range(history_days + 1, 1, -1))
    return Timeline(day, start, history, events)
