"""The simulation report: what the parties saw, as a terminal table and a Markdown file.

Every figure comes from an answer of the platform (statistics, capacity,
aggregated bids, clearing results, evaluations, statements) except the
per-slot actual power outside evaluated slots, which is what the aggregators
uploaded (the same numbers the platform stored).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from clients.simulate.population import SHANGHAI

CENT = Decimal("0.01")


@dataclass(frozen=True)
class AggregatorRow:
    aggregator_id: str
    display_name: str
    stations: int
    chargers: int
    ac: int
    dc: int
    v2g: int
    managed: int
    rated_charge_w: int
    rated_discharge_w: int
    """Statistics as the platform counts them (GetStatistics)."""


@dataclass(frozen=True)
class CapacityRow:
    event_id: str
    scope: str
    declared_decrease_w: int
    """Day-ahead forecast at the window's first slot (from the declarations)."""
    realtime_decrease_w: int
    realtime_increase_w: int
    active_sessions: int


@dataclass(frozen=True)
class BidRow:
    event_id: str
    aggregator_id: str
    capacity_w: tuple[int, ...]
    price: Decimal


@dataclass(frozen=True)
class ClearedRow:
    event_id: str
    aggregator_id: str
    accepted_w: tuple[int, ...]
    prices: tuple[Decimal, ...]


@dataclass(frozen=True)
class SlotRow:
    slot_start: datetime
    instructed_w: int
    baseline_w: Decimal
    actual_w: Decimal
    response_w: Decimal
    rate: Decimal


@dataclass(frozen=True)
class EvaluationRow:
    event_id: str
    aggregator_id: str
    baseline_method: str
    baseline_days: int
    mean_rate: Decimal
    min_rate: Decimal
    energy_responded_wh: Decimal
    qualified: bool
    slots: tuple[SlotRow, ...]


@dataclass(frozen=True)
class DeviceRow:
    charger_id: str
    aggregator_id: str
    setpoints: int
    acked_sequence: int
    instructions: int


@dataclass(frozen=True)
class StatementRow:
    event_id: str
    name: str
    aggregator_id: str
    compensation: Decimal
    penalty: Decimal
    total: Decimal
    fee: Decimal
    payable: Decimal
    state: str


@dataclass(frozen=True)
class GridStatementRow:
    event_id: str
    statements: int
    total: Decimal
    payable: Decimal
    fee: Decimal


@dataclass(frozen=True)
class EventRow:
    event_id: str
    kind: str
    window_start: datetime
    window_end: datetime
    target_w: tuple[int, ...]
    clearing: str
    price_mode: str
    state: str
    shortfall_w: int = 0


@dataclass(frozen=True)
class Series:
    """One event's chart data: per slot from ``start``, summed over the event's instructed aggregators."""

    event_id: str
    kind: str
    aggregators: tuple[str, ...]
    start: datetime
    actual_w: tuple[float, ...]
    baseline_w: tuple[float | None, ...]
    """Per slot inside the window (None outside)."""
    target_w: tuple[float | None, ...]
    """Baseline minus the instructed response, inside the window."""
    window_start: datetime
    window_end: datetime


@dataclass
class Report:
    seed: int
    chargers: int
    aggregators: int
    event_day: str
    time_model: str
    platform: str
    timings: dict[str, float] = field(default_factory=dict)
    fleet: list[AggregatorRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    capacity: list[CapacityRow] = field(default_factory=list)
    bids: list[BidRow] = field(default_factory=list)
    cleared: list[ClearedRow] = field(default_factory=list)
    devices: list[DeviceRow] = field(default_factory=list)
    evaluations: list[EvaluationRow] = field(default_factory=list)
    statements: list[StatementRow] = field(default_factory=list)
    grid_statements: list[GridStatementRow] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    uploaded_w: dict[str, dict[datetime, int]] = field(default_factory=dict)
    """Mean power per aggregator per slot of the event day, as metered and uploaded."""
    notes: list[str] = field(default_factory=list)

    def settlement_totals(self) -> dict[str, Decimal]:
        """Σ over every statement of the report: compensation, penalty, total, fee, payable."""
        keys = ("compensation", "penalty", "total", "fee", "payable")
        return {k: sum((getattr(s, k) for s in self.statements), Decimal(0)) for k in keys}


# ---------------------------------------------------------------- rendering


def _kw(watts: float | Decimal) -> str:
    return f"{float(watts) / 1000:,.1f}"


def _cny(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):,}"


def _local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%H:%M")


def _window(start: datetime, end: datetime) -> str:
    return f"{start.astimezone(SHANGHAI):%Y-%m-%d} {_local(start)}–{_local(end)}"


def _rate(value: Decimal) -> str:
    return f"{float(value):.3f}"


Table = tuple[str, Sequence[str], list[Sequence[str]]]


def tables(report: Report) -> list[Table]:
    """The report's sections as (title, header, rows)."""
    out: list[Table] = []
    out.append(
        (
            "Registered capacity (GetStatistics per aggregator)",
            (
                "aggregator",
                "stations",
                "chargers",
                "AC",
                "DC",
                "V2G",
                "managed",
                "rated charge kW",
                "rated discharge kW",
            ),
            [
                (
                    a.aggregator_id,
                    str(a.stations),
                    str(a.chargers),
                    str(a.ac),
                    str(a.dc),
                    str(a.v2g),
                    str(a.managed),
                    _kw(a.rated_charge_w),
                    _kw(a.rated_discharge_w),
                )
                for a in report.fleet
            ],
        )
    )
    out.append(
        (
            "Events",
            (
                "event",
                "kind",
                "window (local)",
                "target kW per slot",
                "clearing",
                "price",
                "state",
                "shortfall kW",
            ),
            [
                (
                    e.event_id,
                    e.kind,
                    _window(e.window_start, e.window_end),
                    " / ".join(_kw(w) for w in e.target_w),
                    e.clearing,
                    e.price_mode,
                    e.state,
                    _kw(e.shortfall_w),
                )
                for e in report.events
            ],
        )
    )
    out.append(
        (
            "Adjustable capacity when each event was published (GetAdjustableCapacity)",
            (
                "event",
                "scope",
                "declared decrease kW",
                "real-time decrease kW",
                "real-time increase kW",
                "sessions",
            ),
            [
                (
                    c.event_id,
                    c.scope,
                    _kw(c.declared_decrease_w),
                    _kw(c.realtime_decrease_w),
                    _kw(c.realtime_increase_w),
                    str(c.active_sessions),
                )
                for c in report.capacity
            ],
        )
    )
    out.append(
        (
            "Bids (SubmitBid)",
            ("event", "aggregator", "capacity kW per slot", "price CNY/kWh"),
            [
                (b.event_id, b.aggregator_id, " / ".join(_kw(w) for w in b.capacity_w), str(b.price))
                for b in report.bids
            ],
        )
    )
    out.append(
        (
            "Clearing and instructions (accepted kW per slot @ CNY/kWh)",
            ("event", "aggregator", "accepted kW per slot", "prices"),
            [
                (
                    c.event_id,
                    c.aggregator_id,
                    " / ".join(_kw(w) for w in c.accepted_w),
                    " / ".join(str(p) for p in c.prices) or "-",
                )
                for c in report.cleared
            ],
        )
    )
    out.append(
        (
            "Platform-managed devices (DeviceService.Connect: setpoints received and acknowledged)",
            ("charger", "aggregator", "setpoints", "acked up to", "instructions"),
            [
                (d.charger_id, d.aggregator_id, str(d.setpoints), str(d.acked_sequence), str(d.instructions))
                for d in report.devices
            ],
        )
    )
    out.append(
        (
            "Per-aggregator response (EvaluateEvent: instructed C, baseline B, actual A, response R, rate r per slot)",
            ("event", "aggregator", "slot", "C kW", "B kW", "A kW", "R kW", "r"),
            [
                (
                    e.event_id,
                    e.aggregator_id,
                    _local(s.slot_start),
                    _kw(s.instructed_w),
                    _kw(s.baseline_w),
                    _kw(s.actual_w),
                    _kw(s.response_w),
                    _rate(s.rate),
                )
                for e in report.evaluations
                for s in e.slots
            ],
        )
    )
    out.append(
        (
            "KPIs",
            ("event", "aggregator", "baseline", "days", "mean rate", "min rate", "energy kWh", "qualified"),
            [
                (
                    e.event_id,
                    e.aggregator_id,
                    e.baseline_method,
                    str(e.baseline_days),
                    _rate(e.mean_rate),
                    _rate(e.min_rate),
                    f"{float(e.energy_responded_wh) / 1000:,.1f}",
                    "yes" if e.qualified else "no",
                )
                for e in report.evaluations
            ],
        )
    )
    out.append(
        (
            "Statements (CNY)",
            ("event", "aggregator", "compensation", "penalty", "total", "fee", "payable", "state"),
            [
                (
                    s.event_id,
                    s.aggregator_id,
                    _cny(s.compensation),
                    _cny(s.penalty),
                    _cny(s.total),
                    _cny(s.fee),
                    _cny(s.payable),
                    s.state,
                )
                for s in report.statements
            ],
        )
    )
    totals = report.settlement_totals()
    out.append(
        (
            "Grid statements (GetGridStatement) and totals",
            ("event", "statements", "total", "payable", "fee"),
            [
                *(
                    (g.event_id, str(g.statements), _cny(g.total), _cny(g.payable), _cny(g.fee))
                    for g in report.grid_statements
                ),
                (
                    "all statements",
                    str(len(report.statements)),
                    _cny(totals["total"]),
                    _cny(totals["payable"]),
                    _cny(totals["fee"]),
                ),
            ],
        )
    )
    return out


def _header_lines(report: Report) -> list[str]:
    timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.timings.items())
    return [
        f"Seed {report.seed}: {report.chargers} chargers, {report.aggregators} aggregators, "
        f"event day {report.event_day} (Asia/Shanghai).",
        f"Platform: {report.platform}.",
        f"Time: {report.time_model}",
        f"Run time: {timings}.",
        *report.notes,
    ]


def to_text(report: Report) -> str:
    """Aligned plain-text tables for the terminal."""
    lines = ["VGI simulation report", "=" * 21, *_header_lines(report), ""]
    for title, header, rows in tables(report):
        widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
        lines.append(title)
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
        lines.append("")
    return "\n".join(lines)


def to_markdown(report: Report, chart_file: str | None) -> str:
    lines = ["# VGI simulation report", "", *(f"- {line}" for line in _header_lines(report)), ""]
    if chart_file:
        lines += [f"![target vs baseline vs actual]({chart_file})", ""]
    for title, header, rows in tables(report):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)
