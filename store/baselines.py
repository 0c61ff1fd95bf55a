"""A scope's SPEC F8 baseline over an event window: its inputs from the store, the rule from the domain.

The one implementation the evaluation (``store.settlement``) and the execution
monitor (``store.monitoring``) share, so that the progress stream's baseline
and the evaluation's agree for the same aggregator (or node), event and slot:

- history: ``store.telemetry.slot_mean_power`` (15-minute means per slot)
  from D−``MAX_LOOKBACK_DAYS`` of the window's first local day;
- event days skipped: every local day touched by the event's own window and
  by the windows of the scope's OTHER events, unless cancelled — for an aggregator the events it was
  invited to (its load there may be shaped by them, whether or not it was
  instructed), for a grid node the events targeting the node;
- the rule: ``domain.baseline.window_baseline`` (per local day of the
  window, PRE_EVENT flat from the slot before the start, one fallback for
  the whole window).

Callers differ only in policy: the fallback they pass (the evaluation the
program's, SPEC F8; the monitor the program's or else PRE_EVENT) and what
they do with a shortage.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.baseline import BaselineMethod, WindowBaseline, history_start_day, window_baseline
from domain.calendar import WorkingCalendar, local_day, slot_index, slot_start
from domain.errors import FailedPrecondition
from domain.events import EventState
from store import events as event_store
from store import metering, telemetry
from store.events import Event
from store.market_tables import EventTargetRow
from store.tables import table_of

_targets = table_of(EventTargetRow)
_EPSILON = timedelta(microseconds=1)

History = dict[date, dict[int, Fraction]]


def scope_name(aggregator_id: str | None, node_id: str | None) -> str:
    return f"aggregators/{aggregator_id}" if aggregator_id is not None else f"gridNodes/{node_id}"


def metered_history(
    conn: Connection,
    event: Event,
    *,
    aggregator_id: str | None = None,
    node_id: str | None = None,
    end: datetime | None = None,
    heartbeat_timeout: timedelta = metering.DEFAULT_HEARTBEAT_TIMEOUT,
) -> History:
    """15-minute mean power per local day and slot, from the lookback's first day to ``end`` (default: the
    window end, so that the same read serves the actual power of the window)."""
    found = telemetry.slot_mean_power(
        conn,
        start=slot_start(history_start_day(event.window_start), 0),
        end=event.window_end if end is None else end,
        aggregator_id=aggregator_id,
        node_id=node_id,
        heartbeat_timeout=heartbeat_timeout,
        record_falls=True,
    )
    history: History = {}
    for start, value in found.items():
        history.setdefault(local_day(start), {})[slot_index(start)] = value
    return history


def _days_of(start: datetime, end: datetime) -> set[date]:
    first, last = local_day(start), local_day(end - _EPSILON)
    return {first + timedelta(days=k) for k in range((last - first).days + 1)}


def event_days(
    conn: Connection, event: Event, *, aggregator_id: str | None, node_id: str | None
) -> set[date]:
    """Local days of the scope's other non-cancelled events (see the module docstring)."""
    ev = event_store.events
    if aggregator_id is not None:
        scoped = sa.select(event_store.invitations.c.event_id).where(
            event_store.invitations.c.aggregator_id == aggregator_id
        )
    else:
        scoped = sa.select(_targets.c.event_id).where(_targets.c.grid_node == node_id)
    rows = conn.execute(
        sa.select(ev.c.window_start, ev.c.window_end).where(
            ev.c.event_id.in_(scoped),
            ev.c.event_id != event.event_id,
            ev.c.state != EventState.CANCELLED.value,
        )
    )
    days: set[date] = set()
    for row in rows:
        days |= _days_of(row.window_start, row.window_end)
    return days


def scope_baseline(
    conn: Connection,
    event: Event,
    calendar: WorkingCalendar,
    fallback: BaselineMethod | None,
    *,
    aggregator_id: str | None = None,
    node_id: str | None = None,
    history: Mapping[date, Mapping[int, Fraction]] | None = None,
    heartbeat_timeout: timedelta = metering.DEFAULT_HEARTBEAT_TIMEOUT,
) -> WindowBaseline:
    """The SPEC F8 baseline of an aggregator or a grid node (give exactly one) over the event window, by the
    event's method, else ``fallback`` when too few candidate days exist.

    FailedPrecondition INSUFFICIENT_BASELINE_DAYS when even that fails (the
    message and metadata name the scope).
    """
    if history is None:
        history = metered_history(
            conn,
            event,
            aggregator_id=aggregator_id,
            node_id=node_id,
            end=event.window_start,
            heartbeat_timeout=heartbeat_timeout,
        )
    # The event's own days are event days too: only a window touching three or more local days reaches
    # one of them from a later part (candidates start at D−2), and then a history read to the window's
    # end (the evaluation's) and one to its start (the monitor's) must not differ.
    skipped = event_days(conn, event, aggregator_id=aggregator_id, node_id=node_id) | _days_of(
        event.window_start, event.window_end
    )
    try:
        return window_baseline(
            history,
            event.slot_starts,
            calendar,
            method=event.baseline_method,
            fallback=fallback,
            event_days=skipped,
        )
    except FailedPrecondition as shortage:
        scope = scope_name(aggregator_id, node_id)
        raise FailedPrecondition(
            f"{scope}: {shortage.message}",
            reason=shortage.reason,
            violations=shortage.violations,
            metadata={**shortage.metadata, "scope": scope},
        ) from None
