"""A published price curve (SPEC F1: time-of-use, real-time and subsidy prices from the grid)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class PriceCurve:
    """A curve: ``prices[i]`` (CNY per kWh, exact) holds from start_time + i·step_minutes."""

    price_curve_id: str
    kind: str
    grid_node_id: str
    start_time: datetime
    step_minutes: int
    prices: tuple[Decimal, ...]
    publish_time: datetime | None = None
