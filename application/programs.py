"""Program use cases (settings of SPEC F5, F7–F10): create a program or change some of its settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from application.uow import UnitOfWork
from store import programs
from store.programs import Program

MUTABLE_FIELDS = (
    "baseline_method",
    "fallback_baseline_method",
    "clearing_mode",
    "price_mode",
    "penalty_threshold_rate",
    "cap_rate",
    "penalty_factor",
    "qualified_min_rate",
    "qualified_max_rate",
    "fee_ratio",
    "deviation_threshold",
    "holidays",
    "make_up_working_days",
    "deviation_minutes",
    "redispatch_enabled",
    "require_instruction_signatures",
)
"""The settings an upsert may change (``update_mask`` paths)."""


def upsert_program(uow: UnitOfWork, program: Program, changed: Collection[str]) -> Program:
    """Create ``program``, or of the stored one change only the ``changed`` settings (the rest keep
    their stored values); InvalidArgument INVALID_PROGRAM when the result is not a valid program."""
    stored = programs.find(uow.conn, program.program_id)
    if stored is not None:
        kept = {name: getattr(stored, name) for name in MUTABLE_FIELDS if name not in changed}
        program = dataclasses.replace(program, **kept)
    return programs.upsert(uow.conn, program)
