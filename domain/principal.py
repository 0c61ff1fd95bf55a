"""The authenticated caller, as the domain sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """Mirrors vgi.common.v1.Role; the domain does not import generated code."""

    GRID = "grid"
    AGGREGATOR = "aggregator"
    DEVICE = "device"
    OPERATOR = "operator"
    INTERNAL = "internal"


@dataclass(frozen=True)
class Principal:
    """Who is calling.

    ``id`` is the segment after the role in the identity URI
    ``vgi://{role}/{id}``. An aggregator's ``aggregator_id`` equals its id; a
    device carries the aggregator that owns its charger.
    """

    role: Role
    id: str
    aggregator_id: str | None = None
    #: ``vgi://{role}/{id}``, made once: every call reads it several times (rate limit, log line, audit).
    uri: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "uri", f"vgi://{self.role.value}/{self.id}")

    @property
    def charger_id(self) -> str | None:
        return self.id if self.role is Role.DEVICE else None

    def tenant(self) -> str | None:
        """The aggregator this principal is confined to, or None for platform-wide roles."""
        if self.role in (Role.AGGREGATOR, Role.DEVICE):
            return self.aggregator_id
        return None
