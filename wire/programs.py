"""Program settings ⇄ vgi.operator.v1.Program (SPEC F5, F7–F10): the request's settings under AIP-134
field masks, with the SPEC defaults for what it leaves unset, and the stored record as the wire reads it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from google.type import date_pb2, decimal_pb2
from vgi.operator.v1 import operator_service_pb2 as pb

from application.programs import MUTABLE_FIELDS
from domain.baseline import DEFAULT_METHOD
from domain.errors import FieldViolation, InvalidArgument
from domain.events import ClearingMode
from domain.settlement import PriceMode
from store import programs
from wire import market as market_proto

_BASELINE_METHODS = market_proto.reverse(market_proto.BASELINE_METHODS)
_CLEARING_MODES = market_proto.reverse(market_proto.CLEARING_MODES)
_PRICE_MODES = market_proto.reverse(market_proto.PRICE_MODES)
_DECIMAL_DEFAULTS = {
    "penalty_threshold_rate": "0.5",
    "cap_rate": "1.2",
    "penalty_factor": "0.5",
    "qualified_min_rate": "0.8",
    "qualified_max_rate": "1.2",
    "fee_ratio": "0",
    "deviation_threshold": "0.1",
}
DEFAULT_DEVIATION_MINUTES = 2
# How large and how fine a program's rate or factor may be: a setting like "1e999999" or "1e-999999" is
# finite, but as an exact fraction every evaluation and statement would carry a million-digit integer.
MAX_INTEGER_DIGITS = 6
MAX_DECIMAL_PLACES = 18
MAX_DECIMAL_CHARS = 64
# google.type.Decimal's syntax as the contract's CEL rules match it: ASCII only (Python's Decimal would also
# read other scripts' digits, underscores and surrounding spaces).
_DECIMAL_SYNTAX = re.compile(r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


_REPEATED = ("holidays", "make_up_working_days")


def mask_of(request: pb.UpsertProgramRequest) -> frozenset[str] | None:
    """The fields the request changes by its mask, None without one; UPDATE_MASK_INVALID for others."""
    paths = list(request.update_mask.paths)
    unknown = [path for path in paths if path not in MUTABLE_FIELDS]
    if unknown:
        raise InvalidArgument(
            f"update_mask names fields that cannot be updated: {', '.join(unknown)}",
            reason="UPDATE_MASK_INVALID",
            violations=[
                FieldViolation("update_mask.paths", f"{path!r} is not one of {', '.join(MUTABLE_FIELDS)}")
                for path in unknown
            ],
        )
    return frozenset(paths) if paths else None


def _is_set(wire: pb.Program, name: str) -> bool:
    if name == "redispatch_enabled":
        return wire.HasField(name)
    if name in _DECIMAL_DEFAULTS:
        return bool(getattr(wire, name).value)
    if name in _REPEATED:
        return len(getattr(wire, name)) > 0
    return bool(getattr(wire, name))


def chosen_fields(wire: pb.Program, mask: frozenset[str] | None) -> frozenset[str]:
    """The settings an upsert changes: those the mask names, or without one those that are set."""
    return frozenset(
        name for name in MUTABLE_FIELDS if (name in mask if mask is not None else _is_set(wire, name))
    )


def program_of(wire: pb.Program, at: datetime, *, mask: frozenset[str] | None = None) -> programs.Program:
    """The settings the request gives: ``wire``'s fields chosen by ``mask`` (or those set), the defaults
    for the others (``application.programs.upsert_program`` keeps a stored program's values for those);
    InvalidArgument INVALID_PROGRAM naming every unreadable field."""
    chosen = chosen_fields(wire, mask)
    violations: list[FieldViolation] = []
    decimals: dict[str, Decimal] = {}
    for name, default in _DECIMAL_DEFAULTS.items():
        text = (getattr(wire, name).value if name in chosen else "") or default
        value = _decimal(text)
        if value is None:
            violations.append(
                FieldViolation(
                    f"program.{name}.value",
                    f"must be a decimal number of at most {MAX_DECIMAL_CHARS} characters: ASCII digits, an"
                    " optional sign, point and exponent, no spaces (google.type.Decimal)",
                )
            )
        elif not _in_scale(value):
            violations.append(
                FieldViolation(
                    f"program.{name}.value",
                    f"must have at most {MAX_INTEGER_DIGITS} digits before the decimal point"
                    f" and {MAX_DECIMAL_PLACES} after it",
                )
            )
        decimals[name] = _canonical(value) if value is not None and _in_scale(value) else Decimal("NaN")
    holidays = _dates(wire.holidays, "program.holidays", violations)
    makeup = _dates(wire.make_up_working_days, "program.make_up_working_days", violations)
    if violations:
        raise InvalidArgument(
            "invalid program settings", reason=programs.INVALID_PROGRAM, violations=violations
        )
    return programs.Program(
        program_id=wire.name.removeprefix("programs/"),
        baseline_method=_BASELINE_METHODS.get(wire.baseline_method, DEFAULT_METHOD),
        fallback_baseline_method=_BASELINE_METHODS.get(wire.fallback_baseline_method),
        clearing_mode=_CLEARING_MODES.get(wire.clearing_mode, ClearingMode.PLATFORM),
        price_mode=_PRICE_MODES.get(wire.price_mode, PriceMode.UNIFORM),
        holidays=holidays,
        make_up_working_days=makeup,
        # Named by the mask, 0 stays 0 and is refused; otherwise unset means the default.
        deviation_minutes=wire.deviation_minutes
        if mask is not None and "deviation_minutes" in mask
        else wire.deviation_minutes or DEFAULT_DEVIATION_MINUTES,
        redispatch_enabled=wire.redispatch_enabled if wire.HasField("redispatch_enabled") else True,
        require_instruction_signatures=wire.require_instruction_signatures,
        update_time=at,
        **decimals,
    )


def _decimal(text: str) -> Decimal | None:
    """``text`` as a finite Decimal when it is google.type.Decimal's syntax within MAX_DECIMAL_CHARS, else None."""
    if len(text) > MAX_DECIMAL_CHARS or _DECIMAL_SYNTAX.fullmatch(text) is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # an exponent past Decimal's own range
        return None


def _canonical(value: Decimal) -> Decimal:
    """One spelling per number, as stored and read back: plain notation, no trailing zeros, no negative
    zero ("1e5" → 100000, "1.50" → 1.5, "-0" → 0)."""
    if not value:
        return Decimal(0)
    return Decimal(format(value.normalize(), "f"))


def _in_scale(value: Decimal) -> bool:
    """Whether a finite ``value`` has at most MAX_INTEGER_DIGITS integer digits and MAX_DECIMAL_PLACES places
    (trailing zeros not counted: "1.50000" has two), read from its digits as written, unrounded."""
    if not value:
        return True
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # not finite
        return False
    zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return value.adjusted() < MAX_INTEGER_DIGITS and exponent + zeros >= -MAX_DECIMAL_PLACES


def _dates(values: Iterable[date_pb2.Date], field: str, violations: list[FieldViolation]) -> tuple[date, ...]:
    found = []
    for i, value in enumerate(values):
        try:
            found.append(date(value.year, value.month, value.day))
        except ValueError:
            violations.append(FieldViolation(f"{field}[{i}]", "must be a full calendar date"))
    return tuple(found)


def program_message(program: programs.Program) -> pb.Program:
    message = pb.Program(
        name=f"programs/{program.program_id}",
        baseline_method=market_proto.BASELINE_METHODS[program.baseline_method],
        clearing_mode=market_proto.CLEARING_MODES[program.clearing_mode],
        price_mode=market_proto.PRICE_MODES[program.price_mode],
        holidays=[date_pb2.Date(year=d.year, month=d.month, day=d.day) for d in program.holidays],
        make_up_working_days=[
            date_pb2.Date(year=d.year, month=d.month, day=d.day) for d in program.make_up_working_days
        ],
        deviation_minutes=program.deviation_minutes,
        require_instruction_signatures=program.require_instruction_signatures,
        redispatch_enabled=program.redispatch_enabled,
    )
    if program.fallback_baseline_method is not None:
        message.fallback_baseline_method = market_proto.BASELINE_METHODS[program.fallback_baseline_method]
    for name in _DECIMAL_DEFAULTS:
        getattr(message, name).CopyFrom(decimal_pb2.Decimal(value=format(getattr(program, name), "f")))
    return message
