"""Program settings (vgi.operator.v1.Program) on the market's ``programs`` table.

A program carries every configurable default of SPEC F5 and F7–F10: baseline
method and fallback, clearing and price mode, the settlement bands and
penalty factor, the qualified band, the platform fee, the holiday calendar
with its make-up working days (调休), the deviation trigger and the re-dispatch switch.
``programs/default`` is seeded by the market migration and always exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.baseline import BaselineMethod
from domain.calendar import WorkingCalendar
from domain.errors import FieldViolation, InvalidArgument, NotFound
from domain.evaluation import QualificationBounds
from domain.events import ClearingMode
from domain.settlement import PriceMode, SettlementSettings
from store import bulk, pagination
from store.market_tables import ProgramRow
from store.tables import table_of

programs = table_of(ProgramRow)

PROGRAM_NOT_FOUND = "PROGRAM_NOT_FOUND"
INVALID_PROGRAM = "INVALID_PROGRAM"
_COLLECTION = "programs"


@dataclass(frozen=True)
class Program:
    """One program's settings, typed (rates and ratios exact)."""

    program_id: str
    baseline_method: BaselineMethod
    fallback_baseline_method: BaselineMethod | None
    clearing_mode: ClearingMode
    price_mode: PriceMode
    penalty_threshold_rate: Decimal
    cap_rate: Decimal
    penalty_factor: Decimal
    qualified_min_rate: Decimal
    qualified_max_rate: Decimal
    fee_ratio: Decimal
    holidays: tuple[date, ...]
    make_up_working_days: tuple[date, ...]
    deviation_threshold: Decimal
    deviation_minutes: int
    redispatch_enabled: bool
    update_time: datetime
    require_instruction_signatures: bool = False

    @property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar.of(self.holidays, self.make_up_working_days)

    @property
    def settlement(self) -> SettlementSettings:
        return SettlementSettings(
            fee_ratio=self.fee_ratio,
            lower_rate=self.penalty_threshold_rate,
            upper_rate=self.cap_rate,
            penalty_factor=self.penalty_factor,
        )

    @property
    def qualification(self) -> QualificationBounds:
        return QualificationBounds(self.qualified_min_rate, self.qualified_max_rate)


@dataclass(frozen=True)
class ProgramPage:
    programs: list[Program]
    next_page_token: str


def not_found(program_id: str) -> NotFound:
    return NotFound(
        f"program {program_id} not found",
        reason=PROGRAM_NOT_FOUND,
        metadata={"program": f"programs/{program_id}"},
    )


def get(conn: Connection, program_id: str) -> Program:
    found = find(conn, program_id)
    if found is None:
        raise not_found(program_id)
    return found


def find(conn: Connection, program_id: str) -> Program | None:
    row = conn.execute(sa.select(programs).where(programs.c.program_id == program_id)).first()
    return None if row is None else _record(row)


def list_page(conn: Connection, *, page_size: int, page_token: str) -> ProgramPage:
    """Programs ordered by id (keyset)."""
    rows, token = pagination.keyset(
        conn,
        sa.select(programs),
        [pagination.Key(programs.c.program_id)],
        collection=_COLLECTION,
        page_size=page_size,
        page_token=page_token,
    )
    return ProgramPage([_record(row) for row in rows], token)


def check(program: Program) -> None:
    """The semantic rules of a program; InvalidArgument INVALID_PROGRAM with ``program.*`` field paths.

    Rates, ratios and the deviation threshold are ≥ 0; the penalty threshold
    is at most the cap rate and the qualified minimum at most the maximum; the
    fee ratio is at most 1; no day is both a holiday and a make-up working day;
    the price mode is UNIFORM or PAY_AS_BID (the announced price belongs to
    direct-control events, which take it whatever the program says).
    """
    violations = [
        FieldViolation(f"program.{name}", "must not be negative")
        for name in (
            "penalty_threshold_rate",
            "cap_rate",
            "penalty_factor",
            "qualified_min_rate",
            "qualified_max_rate",
            "fee_ratio",
            "deviation_threshold",
        )
        if getattr(program, name) < 0
    ]
    # The contract's CEL rules refuse a request setting both ends of these ranges upside down; this check
    # is not a copy of them: it sees the settings merged with the stored ones, and compares exactly.
    if program.penalty_threshold_rate > program.cap_rate:
        violations.append(FieldViolation("program.penalty_threshold_rate", "must not exceed cap_rate"))
    if program.qualified_min_rate > program.qualified_max_rate:
        violations.append(FieldViolation("program.qualified_min_rate", "must not exceed qualified_max_rate"))
    if program.fee_ratio > 1:
        violations.append(FieldViolation("program.fee_ratio", "must be at most 1"))
    holidays = set(program.holidays)
    violations += [
        FieldViolation(f"program.make_up_working_days[{i}]", "is also a holiday")
        for i, day in enumerate(program.make_up_working_days)
        if day in holidays
    ]
    if not 1 <= program.deviation_minutes <= 60:
        violations.append(
            FieldViolation(
                "program.deviation_minutes",
                "must be from 1 to 60 (to stop re-dispatch, set redispatch_enabled to false)",
            )
        )
    if program.price_mode is PriceMode.DIRECT_CONTROL:
        violations.append(FieldViolation("program.price_mode", "must be UNIFORM or PAY_AS_BID"))
    if violations:
        raise InvalidArgument("invalid program settings", reason=INVALID_PROGRAM, violations=violations)


def upsert(conn: Connection, program: Program) -> Program:
    """Create or replace every setting of ``program`` (checked first); returns it as stored."""
    check(program)
    row = {
        "program_id": program.program_id,
        "baseline_method": program.baseline_method.value,
        "fallback_baseline_method": program.fallback_baseline_method.value
        if program.fallback_baseline_method
        else "",
        "clearing_mode": program.clearing_mode.value,
        "price_mode": program.price_mode.value,
        "penalty_threshold_rate": str(program.penalty_threshold_rate),
        "cap_rate": str(program.cap_rate),
        "penalty_factor": str(program.penalty_factor),
        "qualified_min_rate": str(program.qualified_min_rate),
        "qualified_max_rate": str(program.qualified_max_rate),
        "fee_ratio": str(program.fee_ratio),
        "holidays": _dates_json(program.holidays),
        "make_up_working_days": _dates_json(program.make_up_working_days),
        "deviation_threshold": str(program.deviation_threshold),
        "deviation_minutes": program.deviation_minutes,
        "require_instruction_signatures": program.require_instruction_signatures,
        "redispatch_enabled": program.redispatch_enabled,
        "update_time": program.update_time,
    }
    bulk.upsert(conn, programs, [row], ["program_id"], [k for k in row if k != "program_id"])
    return get(conn, program.program_id)


def _dates_json(days: tuple[date, ...]) -> str:
    return json.dumps(sorted({day.isoformat() for day in days}))


def _dates(text: str) -> tuple[date, ...]:
    return tuple(date.fromisoformat(day) for day in json.loads(text))


def _record(row: sa.Row[tuple[object, ...]]) -> Program:
    return Program(
        program_id=row.program_id,
        baseline_method=BaselineMethod(row.baseline_method),
        fallback_baseline_method=BaselineMethod(row.fallback_baseline_method)
        if row.fallback_baseline_method
        else None,
        clearing_mode=ClearingMode(row.clearing_mode),
        price_mode=PriceMode(row.price_mode),
        penalty_threshold_rate=Decimal(row.penalty_threshold_rate),
        cap_rate=Decimal(row.cap_rate),
        penalty_factor=Decimal(row.penalty_factor),
        qualified_min_rate=Decimal(row.qualified_min_rate),
        qualified_max_rate=Decimal(row.qualified_max_rate),
        fee_ratio=Decimal(row.fee_ratio),
        holidays=_dates(row.holidays),
        make_up_working_days=_dates(row.make_up_working_days),
        deviation_threshold=Decimal(row.deviation_threshold),
        deviation_minutes=row.deviation_minutes,
        redispatch_enabled=bool(row.redispatch_enabled),
        update_time=row.update_time,
        require_instruction_signatures=bool(row.require_instruction_signatures),
    )
