"""A batch's items checked by the proto's ``buf.validate`` rules compiled once per message type.

protovalidate walks every element of a repeated field message by message (about 6 µs a MeterValue,
9 µs a Charger): for a batch of 1,000 readings or 10,000 chargers that was a tenth of the call.
``compile_rules`` reads a message type's rules from its descriptor — the field rules, and the
standard rules' ids and message templates from ``buf/validate/validate.proto``'s own predefined
rules — and builds two checks over a list of items:

* ``clean(items)``: whether every item passes, field by field over the whole list (one attribute
  read per item and field, then C-level min/max, set and regex checks);
* ``violations(items, prefix)``: the violations protovalidate reports for those items, in its order
  (per item: the message-level rules, then the fields in declaration order, each field's rules in
  protovalidate's order), with its paths (``batch.meter_values[3].power_w``; a message-level rule
  names the item), rule ids and messages.

Only a subset is compiled — ``string.pattern`` (anchored, character classes and bounded repeats,
nothing RE2 and Python read differently), ``required`` on a message field, ``int64`` bounds (``gt``
/ ``gte`` with ``lt`` / ``lte``, not the exclusive forms), ``double`` ``gte`` / ``lte``, ``enum``
``defined_only`` / ``not_in``, and a message-level CEL rule of the form ``!has(this.a) ||
has(this.b)``. A type carrying any other rule (a custom predefined rule, CEL over values, a nested
message with rules of its own, an ``ignore`` option) is not compiled (None) and stays with
protovalidate. tests/contracts/test_item_rules.py holds the compiled checks to protovalidate's
answers on generated items of every compiled type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter, methodcaller
from typing import Any

from buf.validate import validate_pb2
from google.protobuf.descriptor import FieldDescriptor

from domain.errors import FieldViolation

REQUIRED = ("required", "value is required")
DEFINED_ONLY = ("enum.defined_only", "value must be one of the defined enum values")
"""protovalidate's ids and messages for the two rules validate.proto gives no predefined CEL (they are
built into protovalidate); tests/contracts/test_item_rules.py holds them to its answers."""

# An anchored pattern of ASCII literals, character classes without escapes (Python's ``\d`` and
# ``\w`` are Unicode, RE2's ASCII) and bounded repeats only: RE2 (CEL's ``matches``) and Python's re
# read it alike once the final ``$`` is ``\Z`` (Python's ``$`` also matches before a trailing newline).
_SAFE_PATTERN = re.compile(r"\^(?:\[[A-Za-z0-9._-]+\]|[A-Za-z0-9_]|\{\d+(?:,\d+)?\}|[?*+])*\$")
_IMPLIES = re.compile(r"!has\(this\.(\w+)\) \|\| has\(this\.(\w+)\)")
_TEMPLATE = re.compile(r"'([^']*)'\.format\(\[([^\]]*)\]\)")


@dataclass(frozen=True, slots=True)
class _Rule:
    """One standard rule of a scalar field: its test, and whether the field's zero value passes it."""

    ok: Callable[[Any], bool]
    column_ok: Callable[[list[Any]], bool]
    rule_id: str
    message: str
    zero_ok: bool


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    presence: bool
    required: bool
    rules: tuple[_Rule, ...]


@dataclass(frozen=True, slots=True)
class _Implies:
    """A message-level rule ``!has(this.first) || has(this.second)``."""

    first: str
    second: str
    rule_id: str
    message: str


class ItemRules:
    """The compiled rules of one message type (``compile_rules``)."""

    def __init__(self, implies: tuple[_Implies, ...], fields: tuple[_Field, ...]) -> None:
        self._implies = implies
        self._fields = fields

    def clean(self, items: Sequence[Any]) -> bool:
        """Whether no item breaks a rule (the common case, checked without building a path)."""
        items = list(items)  # a list is walked faster than a repeated field, once per rule
        for rule in self._implies:
            has_first = list(map(methodcaller("HasField", rule.first), items))
            if any(has_first):
                second = methodcaller("HasField", rule.second)
                if not all(second(item) for item, has in zip(items, has_first, strict=True) if has):
                    return False
        for field in self._fields:
            if field.required:
                if not all(map(methodcaller("HasField", field.name), items)):
                    return False
                continue
            if field.presence and not all(rule.zero_ok for rule in field.rules):
                has = methodcaller("HasField", field.name)
                values = [getattr(item, field.name) for item in items if has(item)]
            else:
                # An unset field reads as its zero value, which passes every rule here: no presence check.
                values = list(map(attrgetter(field.name), items))
            if values and not all(rule.column_ok(values) for rule in field.rules):
                return False
        return True

    def violations(self, items: Sequence[Any], prefix: str) -> list[FieldViolation]:
        """Every violation of every item, as protovalidate reports them; ``prefix`` is the list's path."""
        found: list[FieldViolation] = []
        for index, item in enumerate(items):
            path = f"{prefix}[{index}]"
            for implies in self._implies:
                if item.HasField(implies.first) and not item.HasField(implies.second):
                    found.append(_violation(path, implies.rule_id, implies.message))
            for field in self._fields:
                where = f"{path}.{field.name}"
                if field.required:
                    if not item.HasField(field.name):
                        found.append(_violation(where, *REQUIRED))
                    continue
                if field.presence and not item.HasField(field.name):
                    continue
                value = getattr(item, field.name)
                found.extend(
                    _violation(where, rule.rule_id, rule.message)
                    for rule in field.rules
                    if not rule.ok(value)
                )
        return found


def _violation(path: str, rule_id: str, message: str) -> FieldViolation:
    return FieldViolation(path, message, rule_reason(rule_id))


def rule_reason(rule_id: str) -> str:
    """A protovalidate rule id as a FieldViolation reason (AIP-193: UPPER_SNAKE): ``bid.slots_distinct`` →
    ``BID_SLOTS_DISTINCT``, ``string.pattern`` → ``STRING_PATTERN``."""
    return re.sub(r"[^A-Z0-9]+", "_", rule_id.upper()).strip("_")


class _NotCompiled(Exception):
    """A rule outside the compiled subset: the type stays with protovalidate."""


def compile_rules(descriptor: Any) -> ItemRules | None:
    """The type's rules compiled, or None when any of them is outside the subset (see the module)."""
    try:
        implies = _message_rules(descriptor)
        fields = tuple(_field(field) for field in descriptor.fields)
    except _NotCompiled:
        return None
    return ItemRules(implies, tuple(f for f in fields if f is not None))


def _message_rules(descriptor: Any) -> tuple[_Implies, ...]:
    rules = rules_of(descriptor.GetOptions(), validate_pb2.message)
    if rules is None:
        return ()
    if rules.oneof or rules.cel_expression:
        raise _NotCompiled
    out = []
    for cel in rules.cel:
        shape = _IMPLIES.fullmatch(cel.expression)
        if shape is None or not cel.message:
            raise _NotCompiled
        for name in shape.groups():
            field = descriptor.fields_by_name.get(name)
            if field is None or not field.has_presence:
                raise _NotCompiled
        out.append(_Implies(shape[1], shape[2], cel.id, cel.message))
    return tuple(out)


def _field(field: FieldDescriptor) -> _Field | None:
    rules = rules_of(field.GetOptions(), validate_pb2.field)
    if field.message_type is not None:
        if field.is_repeated or has_rules(field.message_type, set()):
            raise _NotCompiled
        if rules is None:
            return None
        if rules.ListFields() != [(rules.DESCRIPTOR.fields_by_name["required"], True)]:
            raise _NotCompiled
        return _Field(field.name, True, True, ())
    if rules is None:
        return None
    if field.is_repeated:
        raise _NotCompiled
    kind = rules.WhichOneof("type")
    rest = [f.name for f, _ in rules.ListFields() if f.name != kind]
    if rest or kind is None:  # required on a scalar, ignore, cel, …
        raise _NotCompiled
    typed = getattr(rules, kind)
    compiled: tuple[_Rule, ...]
    if kind == "string":
        compiled = (_pattern(typed),)
    elif kind == "int64" and field.type == FieldDescriptor.TYPE_INT64:
        compiled = _bounds(typed, "int64", validate_pb2.Int64Rules.DESCRIPTOR, str, is_double=False)
    elif kind == "double" and field.type == FieldDescriptor.TYPE_DOUBLE:
        compiled = _bounds(typed, "double", validate_pb2.DoubleRules.DESCRIPTOR, _cel_double, is_double=True)
    elif kind == "enum":
        compiled = _enum(typed, field)
    else:
        raise _NotCompiled
    return _Field(field.name, field.has_presence, False, compiled)


def _template(rules_type: Any, rule_field: str, rule_id: str) -> tuple[str, list[str]]:
    """The message template of standard rule ``rule_id`` and the rule fields it formats, as
    validate.proto's predefined CEL writes them (``'must be … %s'.format([rules.gte])``)."""
    predefined: Any = rules_of(rules_type.fields_by_name[rule_field].GetOptions(), validate_pb2.predefined)
    if predefined is None:
        raise _NotCompiled
    for cel in predefined.cel:
        if cel.id == rule_id:
            if cel.message:
                return cel.message, []
            shape = _TEMPLATE.search(cel.expression)
            if shape is None:
                raise _NotCompiled
            return shape[1], [arg.strip().removeprefix("rules.") for arg in shape[2].split(",")]
    raise _NotCompiled


def _format(template: str, values: list[str]) -> str:
    for value in values:
        template = template.replace("%s", value, 1)
    if "%" in template:
        raise _NotCompiled
    return template


def _pattern(rules: Any) -> _Rule:
    if [f.name for f, _ in rules.ListFields()] != ["pattern"] or not _SAFE_PATTERN.fullmatch(rules.pattern):
        raise _NotCompiled
    try:
        match = re.compile(rules.pattern[:-1] + r"\Z").match
    except re.error as error:
        raise _NotCompiled from error
    template, args = _template(validate_pb2.StringRules.DESCRIPTOR, "pattern", "string.pattern")
    if args != ["pattern"]:
        raise _NotCompiled

    # The whole column in one match: the values joined by newlines, which no safe pattern matches, so
    # each value must match the pattern between two of them — when no value holds a newline itself.
    joined = re.compile(f"(?:{rules.pattern[1:-1]})(?:\n(?:{rules.pattern[1:-1]}))*\\Z").match

    def column_ok(values: list[str]) -> bool:
        text = "\n".join(values)
        if values and text.count("\n") == len(values) - 1:
            return joined(text) is not None
        return all(map(match, set(values)))

    return _Rule(
        lambda value: match(value) is not None,
        column_ok,
        "string.pattern",
        _format(template, [rules.pattern]),
        match("") is not None,
    )


def _cel_double(value: float) -> str:
    """A double as CEL's ``%s`` prints a whole bound (``0``, ``1``); other values are not compiled."""
    if not value.is_integer() or abs(value) >= 2**53:
        raise _NotCompiled
    return str(int(value))


def _bounds(
    rules: Any, kind: str, rules_type: Any, show: Callable[[Any], str], *, is_double: bool
) -> tuple[_Rule, ...]:
    names = {f.name for f, _ in rules.ListFields()}
    lower = [n for n in ("gt", "gte") if n in names]
    upper = [n for n in ("lt", "lte") if n in names]
    if names - {"gt", "gte", "lt", "lte"} or len(lower) > 1 or len(upper) > 1 or not (lower or upper):
        raise _NotCompiled
    low = getattr(rules, lower[0]) if lower else None
    high = getattr(rules, upper[0]) if upper else None
    if low is not None and high is not None and high < low:
        raise _NotCompiled  # the *_exclusive forms
    rule_id = f"{kind}.{'_'.join(lower + upper)}"
    template, args = _template(rules_type, (lower or upper)[0], rule_id)
    message = _format(template, [show(getattr(rules, arg)) for arg in args])
    strict_low = lower == ["gt"]
    strict_high = upper == ["lt"]

    def ok(value: Any) -> bool:
        if is_double and math.isnan(value):
            return False
        if low is not None and (value <= low if strict_low else value < low):
            return False
        return high is None or not (value >= high if strict_high else value > high)

    def column_ok(values: list[Any]) -> bool:
        if is_double and any(map(math.isnan, values)):
            return False
        return ok(min(values)) and ok(max(values))

    return (_Rule(ok, column_ok, rule_id, message, ok(0.0 if is_double else 0)),)


def _enum(rules: Any, field: Any) -> tuple[_Rule, ...]:
    names = [f.name for f, _ in rules.ListFields()]
    if set(names) - {"defined_only", "not_in"}:
        raise _NotCompiled
    out = []
    if rules.defined_only:
        defined = frozenset(v.number for v in field.enum_type.values)
        out.append(
            _Rule(defined.__contains__, lambda values: set(values) <= defined, *DEFINED_ONLY, 0 in defined)
        )
    if rules.not_in:
        banned = frozenset(rules.not_in)
        template, args = _template(validate_pb2.EnumRules.DESCRIPTOR, "not_in", "enum.not_in")
        if args != ["not_in"]:
            raise _NotCompiled
        listed = "[" + ", ".join(str(n) for n in rules.not_in) + "]"
        out.append(
            _Rule(
                lambda value: value not in banned,
                lambda values: banned.isdisjoint(values),
                "enum.not_in",
                _format(template, [listed]),
                0 not in banned,
            )
        )
    return tuple(out)


_RULES_PACKAGE = "buf.validate."


def rules_of(options: Any, extension: Any) -> Any:
    """The ``buf.validate`` extension of descriptor options (field, message, oneof rules), or None."""
    return options.Extensions[extension] if options.HasExtension(extension) else None


def has_rules(descriptor: Any, seen: set[str]) -> bool:
    """Whether the message or anything nested in it carries a buf.validate option."""
    if descriptor.full_name in seen:
        return False
    seen.add(descriptor.full_name)
    if _carries_rule(descriptor.GetOptions()) or any(
        _carries_rule(o.GetOptions()) for o in descriptor.oneofs
    ):
        return True
    for field in descriptor.fields:
        if _carries_rule(field.GetOptions()):
            return True
        if field.message_type is not None and has_rules(field.message_type, seen):
            return True
    return False


def _carries_rule(options: Any) -> bool:
    return any(field.full_name.startswith(_RULES_PACKAGE) for field, _ in options.ListFields())
