"""Telemetry rules (SPEC F2): readings, clock skew, SOC storage, 15-minute slots.

Plain Python: the store and the servicers share these rules so a reading is
judged the same way whichever path (device stream, offline upload,
aggregator stream) it arrives by.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from domain.errors import AlreadyExists, FieldViolation, InvalidArgument

SLOT = timedelta(minutes=15)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

PPB = 1_000_000_000
"""SOC is stored as an integer in parts per billion so the F3 arithmetic stays exact and fast."""

FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"
FOREIGN_CHARGER = "CHARGER_NOT_ALLOWED"
NOT_ON_SLOT_BOUNDARY = "NOT_ON_SLOT_BOUNDARY"
BATCH_ID_REUSED = "BATCH_ID_REUSED"


class Reading(NamedTuple):
    """One meter reading of a charger (power W, positive = charging; SOC a fraction or None).

    Power and the import/export registers are None when the reading did not carry them.
    A NamedTuple rather than a frozen dataclass, equally immutable: a telemetry batch builds 1,000 to
    10,000 of these, and a frozen dataclass's ``__init__`` cost about three times as much per reading.
    """

    charger_id: str
    sample_time: datetime
    power_w: int | None
    energy_register_wh: int | None
    soc: Decimal | None
    status: int
    export_register_wh: int | None = None


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A 15-minute mean power reported by an aggregator; ``station_id`` is "" for the aggregator itself."""

    aggregator_id: str
    station_id: str
    slot_start: datetime
    mean_power_w: int


def to_ppb(fraction: float | Decimal) -> int:
    """A SOC fraction from the wire as parts per billion (``Decimal(str(x))`` keeps 0.8 exactly 0.8)."""
    value = fraction if isinstance(fraction, Decimal) else Decimal(str(fraction))
    return int((value * PPB).to_integral_value())


def from_ppb(ppb: int) -> float:
    return ppb / PPB


def slot_floor(instant: datetime) -> datetime:
    """The start of the 15-minute slot (UTC, aligned like the Asia/Shanghai slots) containing ``instant``."""
    return instant - (instant - _EPOCH) % SLOT


def check_not_future(times: Iterable[tuple[str, datetime]], now: datetime, max_skew: timedelta) -> None:
    """Reject any ``(field path, time)`` later than ``now + max_skew``: devices' clocks drift, not that far."""
    limit = now + max_skew
    violations = [
        FieldViolation(path, f"is more than {max_skew.total_seconds():g} s in the future")
        for path, at in times
        if at > limit
    ]
    if violations:
        raise InvalidArgument(
            "timestamps in the future beyond the allowed clock skew",
            reason=FUTURE_TIMESTAMP,
            violations=violations,
        )


def check_chargers(readings: Sequence[Reading], allowed: set[str], field: str) -> None:
    """Every reading must be of an allowed charger (the device's own, or one of the aggregator's)."""
    violations = [
        FieldViolation(f"{field}[{i}].charger_id", f"charger {r.charger_id} is not yours")
        for i, r in enumerate(readings)
        if r.charger_id not in allowed
    ]
    if violations:
        raise InvalidArgument(
            "meter values for chargers the caller may not report",
            reason=FOREIGN_CHARGER,
            violations=violations,
        )


def check_slot_aligned(aggregates: Sequence[Aggregate], field: str) -> None:
    violations = [
        FieldViolation(f"{field}[{i}].slot_start_time", "must be on a 15-minute boundary")
        for i, a in enumerate(aggregates)
        if slot_floor(a.slot_start) != a.slot_start
    ]
    if violations:
        raise InvalidArgument(
            "interval aggregates must start on a slot boundary",
            reason=NOT_ON_SLOT_BOUNDARY,
            violations=violations,
        )


def batch_digest(readings: Sequence[Reading], aggregates: Sequence[Aggregate]) -> str:
    """A fingerprint of a batch's content, in order (SHA-256, hex): a re-sent batch has the same one,
    a batch id reused for other content has another."""
    digest = hashlib.sha256()
    for r in readings:
        soc = None if r.soc is None else to_ppb(r.soc)
        at = r.sample_time.astimezone(UTC).isoformat()
        fields = ("r", r.charger_id, at, r.power_w, r.energy_register_wh, r.export_register_wh, soc, r.status)
        digest.update(repr(fields).encode())
    for a in aggregates:
        fields2 = (
            "a",
            a.aggregator_id,
            a.station_id,
            a.slot_start.astimezone(UTC).isoformat(),
            a.mean_power_w,
        )
        digest.update(repr(fields2).encode())
    return digest.hexdigest()


def batch_id_reused(batch_id: str) -> AlreadyExists:
    """A batch id already stored with other content: refused, nothing stored (a re-send is the same
    content again; new content needs a new batch id)."""
    return AlreadyExists(
        f"batch {batch_id} was already sent with other content",
        reason=BATCH_ID_REUSED,
        metadata={"batch_id": batch_id},
    )
