"""The monitoring view's scopes and limits (SPEC F2 运行监测): what a query may look at.

A scope is a charger, a station, an aggregator or a grid node (with the nodes
below it). On the aggregator surface every scope is confined to the caller:
another aggregator's charger, station or aggregator answers NOT_FOUND like a
missing one, and a grid node shows only the caller's chargers there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.errors import FieldViolation, InvalidArgument, NotFound

MAX_RANGE = timedelta(days=62)
"""The longest time range one query covers (two months of 15-minute slots, 5,952 per scope)."""

_NAME = re.compile(
    r"^(?:gridNodes/(?P<node>[^/]+)"
    r"|aggregators/(?P<aggregator>[^/]+)(?:/stations/(?P<station>[^/]+)(?:/chargers/(?P<charger>[^/]+))?)?)$"
)


@dataclass(frozen=True, slots=True)
class Scope:
    """What a monitoring query covers: the filters set combine (a station or charger names its aggregator)."""

    aggregator_id: str | None = None
    station_id: str | None = None
    charger_id: str | None = None
    node_id: str | None = None

    @property
    def key(self) -> str:
        """A stable text of the scope (binds page tokens to their query)."""
        return "/".join(
            part or "" for part in (self.aggregator_id, self.station_id, self.charger_id, self.node_id)
        )


def parse_scope(name: str, field: str = "scope") -> Scope:
    """The scope named by a resource name (the proto validated its shape)."""
    found = _NAME.match(name)
    if found is None:
        raise InvalidArgument(
            f"{field} is not a charger, station, aggregator or grid node name",
            violations=[FieldViolation(field, "must name a charger, station, aggregator or grid node")],
        )
    return Scope(found["aggregator"], found["station"], found["charger"], found["node"])


def confine(scope: Scope, tenant: str | None, name: str) -> Scope:
    """The scope as ``tenant`` may see it (None: the grid and operators see everything)."""
    if tenant is None:
        return scope
    if scope.node_id is not None:
        return replace(scope, aggregator_id=tenant)
    if scope.aggregator_id != tenant:
        raise NotFound(f"{name} not found", reason="RESOURCE_NOT_FOUND", metadata={"resource": name})
    return scope


def check_range(start: datetime, end: datetime, field: str = "range") -> None:
    """[start, end) must be ordered (also a proto rule) and at most MAX_RANGE long."""
    if not start < end:
        raise InvalidArgument(
            "the range is empty", violations=[FieldViolation(f"{field}.end_time", "must be after start_time")]
        )
    if end - start > MAX_RANGE:
        raise InvalidArgument(
            f"the range is longer than {MAX_RANGE.days} days",
            reason="RANGE_TOO_LONG",
            violations=[
                FieldViolation(f"{field}.end_time", f"at most {MAX_RANGE.days} days after start_time")
            ],
        )
