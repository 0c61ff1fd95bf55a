"""Request validation: the proto's ``buf.validate`` rules, checked once here with protovalidate.

Every request message is checked, including each message of a client stream
(the request iterator is wrapped; servicers must iterate it rather than call
``context.read()``). A violation raises ``domain.errors.InvalidArgument``
with one BadRequest field violation per rule, named by field path
(``aggregator.display_name``, ``values[3]``; a message-level CEL rule names
the message, e.g. ``bid``) and carrying the rule's id as its ``reason`` in
UPPER_SNAKE (``bid.slots_distinct`` → ``BID_SLOTS_DISTINCT``); the error
interceptor turns it into INVALID_ARGUMENT. A client stream whose policy sets
``per_message_results`` is not ended by an invalid message: the servicer
receives it as ``Rejected`` (the message and its InvalidArgument) and answers
it in its response stream. Methods whose request type carries no rule at all
(health, reflection) are not wrapped.

Every ``google.protobuf.Timestamp`` anywhere in a request must also lie in
the platform's time range, [1970-01-01T00:00:00Z, 3000-01-01T00:00:00Z) with
``nanos`` in [0, 999,999,999]: the one rule the contract states for all
Timestamps (docs/SECURITY.md), checked before the field rules
so that no handler, date arithmetic or CEL rule ever sees a time it cannot
represent. Fields whose own rules are narrower say so in the proto.

Every ``google.type.Money`` anywhere in a request must have ``|units|`` at
most 10^9 (a billion yuan, far beyond any price or bid) with ``nanos`` in
(−10^9, 10^9): amounts are stored as 64-bit integers of nanos (units × 10^9 +
nanos), so a larger one cannot be represented (9,223,372,037 yuan answered INTERNAL).

No string anywhere in a request may contain a NUL character (U+0000): no
identifier, name or text of the platform needs one, and PostgreSQL's text
columns cannot hold it (the same request must mean the same on either store).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from operator import attrgetter, methodcaller
from typing import Any

import protovalidate
from buf.validate import validate_pb2
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from domain.errors import FieldViolation, InvalidArgument
from interceptors.base import Context, Interceptor, StreamBehavior, UnaryBehavior
from interceptors.item_rules import ItemRules, compile_rules, has_rules, rule_reason, rules_of
from interceptors.methods import MethodInfo

VALIDATION_FAILED = "VALIDATION_FAILED"


#: The platform's time range for every Timestamp in a request (seconds since the epoch).
MIN_TIME_S = 0
MAX_TIME_S = 32_503_680_000  # 3000-01-01T00:00:00Z, exclusive
_TIMESTAMP = "google.protobuf.Timestamp"
_TIME_RULE = "must lie in [1970-01-01T00:00:00Z, 3000-01-01T00:00:00Z) with nanos in [0, 999999999]"
_MAX_REPORTED = 20
#: The violations' own reasons for the platform's rules beside the contract's (docs/ERRORS.md).
TIMESTAMP_RANGE = "TIMESTAMP_RANGE"
MONEY_RANGE = "MONEY_RANGE"


class _TimeRange:
    """Finds the Timestamps of a request outside the platform's range, by field path.

    Which fields can hold a Timestamp is worked out once per message type, so
    a request is walked only along those fields.
    """

    _TARGET = _TIMESTAMP
    _RULE = _TIME_RULE

    def __init__(self) -> None:
        self._plans: dict[str, list[tuple[str, str, bool]]] = {}
        self._planning: set[str] = set()
        self._leaf_plans: dict[str, tuple[str, ...] | None] = {}

    @staticmethod
    def _ok(value: Any) -> bool:
        return MIN_TIME_S <= value.seconds < MAX_TIME_S and 0 <= value.nanos <= 999_999_999

    def reaches(self, descriptor: Descriptor) -> bool:
        return bool(self._plan(descriptor))

    def _plan(self, descriptor: Any) -> list[tuple[str, str, bool]]:
        """(field name, "map" | "list" | "one", holds Timestamps) for each field through which a
        Timestamp can be reached."""
        plan = self._plans.get(descriptor.full_name)
        if plan is not None:
            return plan
        # A type still being planned (a recursive one) is walked, conservatively, rather than looped
        # on; a type planned without a way to a Timestamp is not walked at all.
        self._plans[descriptor.full_name] = plan = []
        self._planning.add(descriptor.full_name)
        for field in descriptor.fields:
            target = field.message_type
            if target is None:
                continue
            shape = "list" if field.is_repeated else "one"
            if target.GetOptions().map_entry:
                shape, target = "map", target.fields_by_name["value"].message_type
                if target is None:
                    continue
            if target.full_name == self._TARGET:
                plan.append((field.name, shape, True))
            elif target.full_name in self._planning or self._plan(target):
                plan.append((field.name, shape, False))
        self._planning.discard(descriptor.full_name)
        return plan

    def violations(self, message: Message) -> list[FieldViolation]:
        """The first ``_MAX_REPORTED`` out-of-range values, in field order, by path.

        A request is nearly always clean, and building a path for each of a batch's
        10,000 elements cost more than checking them: ``_clean`` checks without
        paths, and only a request that is not clean is walked again to name them.
        """
        return [] if self._clean(message) else self._named(message, "", [])

    def _clean(self, message: Message) -> bool:
        ok = self._ok
        for name, shape, is_time in self._plan(message.DESCRIPTOR):
            if shape == "map":
                values: Any = getattr(message, name).values()
            elif shape == "list":
                values = getattr(message, name)
            elif message.HasField(name):
                values = (getattr(message, name),)
            else:
                continue
            if is_time:
                if not all(map(ok, values)):
                    return False
            elif shape == "list" and values and (leaves := self._leaves(values[0])) is not None:
                # A batch of messages holding the values directly: checked field by field over the list
                # (a list: walked faster than the repeated field, once per field).
                values = list(values)
                for leaf in leaves:
                    has, get = methodcaller("HasField", leaf), attrgetter(leaf)
                    # Mostly unset (a charger's output-only times): one C-level pass finds none to check.
                    if any(map(has, values)) and not all(
                        map(ok, [get(value) for value in values if has(value)])
                    ):
                        return False
            elif not all(map(self._clean, values)):
                return False
        return True

    def _leaves(self, element: Message) -> tuple[str, ...] | None:
        """The fields of ``element``'s type when they are the only way to its values (single fields of the
        target type, nothing deeper); None otherwise."""
        name = element.DESCRIPTOR.full_name
        if name not in self._leaf_plans:
            plan = self._plan(element.DESCRIPTOR)
            direct = all(shape == "one" and is_time for _, shape, is_time in plan)
            self._leaf_plans[name] = tuple(field for field, _, _ in plan) if direct else None
        return self._leaf_plans[name]

    def _named(self, message: Message, prefix: str, found: list[FieldViolation]) -> list[FieldViolation]:
        for name, shape, is_time in self._plan(message.DESCRIPTOR):
            if shape == "map":
                values: Any = [(f'{name}["{key}"]', value) for key, value in getattr(message, name).items()]
            elif shape == "list":
                values = [(f"{name}[{i}]", value) for i, value in enumerate(getattr(message, name))]
            elif message.HasField(name):
                values = [(name, getattr(message, name))]
            else:
                continue
            for path, value in values:
                if len(found) >= _MAX_REPORTED:
                    return found
                full = f"{prefix}{path}"
                if is_time:
                    if not self._ok(value):
                        found.append(
                            FieldViolation(
                                full, self._RULE, MONEY_RANGE if self._TARGET == _MONEY else TIMESTAMP_RANGE
                            )
                        )
                else:
                    self._named(value, f"{full}.", found)
        return found


_NUL_RULE = "must not contain a NUL character (U+0000)"
MAX_MONEY_UNITS = 10**9
_MONEY = "google.type.Money"
_MONEY_RULE = "units must lie in [-10^9, 10^9] and nanos in (-10^9, 10^9)"


class _MoneyRange(_TimeRange):
    """Finds the Money amounts of a request outside what the platform can represent, by field path."""

    _TARGET = _MONEY
    _RULE = _MONEY_RULE

    @staticmethod
    def _ok(value: Any) -> bool:
        return abs(value.units) <= MAX_MONEY_UNITS and -1_000_000_000 < value.nanos < 1_000_000_000


class _NoNul:
    """Finds the strings of a request that contain U+0000, by field path (fields planned once per type)."""

    def __init__(self) -> None:
        self._plans: dict[str, list[tuple[str, bool, bool]]] = {}
        self._planning: set[str] = set()
        self._leaf_plans: dict[str, tuple[str, ...] | None] = {}

    def reaches(self, descriptor: Descriptor) -> bool:
        return bool(self._plan(descriptor))

    def _plan(self, descriptor: Any) -> list[tuple[str, bool, bool]]:
        """(field name, repeated, is a string) for each field through which a string can be reached;
        map fields are left out (the contract has none that carry free text)."""
        plan = self._plans.get(descriptor.full_name)
        if plan is not None:
            return plan
        self._plans[descriptor.full_name] = plan = []
        self._planning.add(descriptor.full_name)
        for field in descriptor.fields:
            if field.type == field.TYPE_STRING:
                plan.append((field.name, field.is_repeated, True))
                continue
            target = field.message_type
            if target is None or target.GetOptions().map_entry:
                continue
            if target.full_name in self._planning or self._plan(target):
                plan.append((field.name, field.is_repeated, False))
        self._planning.discard(descriptor.full_name)
        return plan

    def violations(self, message: Message) -> list[FieldViolation]:
        """The first ``_MAX_REPORTED`` strings holding U+0000, in field order, by path (checked without
        paths first, as ``_TimeRange.violations``).

        A string holding U+0000 holds a zero byte in its UTF-8, so a request whose encoding has no zero
        byte at all holds none (one C-level serialization and scan: reading a batch's 10,000 messages'
        strings costs several times that). Zero bytes also come from numbers (a varint 0, fixed-width
        fields); only then are the strings walked."""
        if b"\x00" not in message.SerializeToString():
            return []
        return [] if self._clean(message) else self._named(message, "", [])

    def _clean(self, message: Message) -> bool:
        for name, repeated, is_text in self._plan(message.DESCRIPTOR):
            if is_text:
                if repeated:
                    if any("\x00" in value for value in getattr(message, name)):
                        return False
                elif "\x00" in getattr(message, name):
                    return False
            elif repeated:
                values = getattr(message, name)
                if values and (leaves := self._leaves(values[0])) is not None:
                    # A batch of messages holding their strings directly: one C-level scan per field.
                    if any("\x00" in "".join(map(attrgetter(leaf), values)) for leaf in leaves):
                        return False
                elif not all(map(self._clean, values)):
                    return False
            elif message.HasField(name) and not self._clean(getattr(message, name)):
                return False
        return True

    def _leaves(self, element: Message) -> tuple[str, ...] | None:
        """The string fields of ``element``'s type when they are all it holds text in (single fields,
        nothing nested); None otherwise."""
        name = element.DESCRIPTOR.full_name
        if name not in self._leaf_plans:
            plan = self._plan(element.DESCRIPTOR)
            direct = all(is_text and not repeated for _, repeated, is_text in plan)
            self._leaf_plans[name] = tuple(field for field, _, _ in plan) if direct else None
        return self._leaf_plans[name]

    def _named(self, message: Message, prefix: str, found: list[FieldViolation]) -> list[FieldViolation]:
        for name, repeated, is_text in self._plan(message.DESCRIPTOR):
            if repeated:
                values: Any = [(f"{name}[{i}]", v) for i, v in enumerate(getattr(message, name))]
            elif is_text or message.HasField(name):
                values = [(name, getattr(message, name))]
            else:
                continue
            for path, value in values:
                if len(found) >= _MAX_REPORTED:
                    return found
                if is_text:
                    if "\x00" in value:
                        found.append(FieldViolation(f"{prefix}{path}", _NUL_RULE, "STRING_NO_NUL"))
                else:
                    self._named(value, f"{prefix}{path}.", found)
        return found


@dataclass(frozen=True, slots=True)
class _Batch:
    """Where a request type carries a batch whose items have compiled rules (``interceptors.item_rules``):
    the singular message fields down to the repeated field, its own min/max items and the items' rules."""

    path: tuple[str, ...]
    min_items: int
    max_items: int | None
    rules: ItemRules

    def items(self, request: Message) -> Any:
        message: Any = request
        for name in self.path:
            message = getattr(message, name)
        return message

    def fits(self, items: Any) -> bool:
        return self.min_items <= len(items) and (self.max_items is None or len(items) <= self.max_items)

    def shell(self, request: Message) -> Message:
        """A copy of the request holding only the first item of the batch, for protovalidate."""
        shell = type(request)()
        shell.CopyFrom(request)
        del self.items(shell)[1:]
        return shell


def _batch_of(descriptor: Any, path: tuple[str, ...] = ()) -> _Batch | None:
    """The first repeated message field reached through singular message fields whose item type
    compiles, when neither it nor any message on the way carries a rule that looks at the whole list
    (a message-level rule, CEL, unique or items rules on the list): the rest of the request is then
    checked by protovalidate with the batch cut to its first item, the items by their compiled rules."""
    if _message_options(descriptor) or len(path) > 3:
        return None
    for field in descriptor.fields:
        target = field.message_type
        if target is None or target.GetOptions().map_entry:
            continue
        rules: Any = rules_of(field.GetOptions(), validate_pb2.field)
        if field.is_repeated:
            bounds: Any = rules.repeated if rules is not None else None
            if rules is not None and (
                [f.name for f, _ in rules.ListFields()] != ["repeated"]
                or {f.name for f, _ in bounds.ListFields()} - {"min_items", "max_items"}
            ):
                continue
            compiled = compile_rules(target) if has_rules(target, set()) else None
            if compiled is None:
                continue
            return _Batch(
                (*path, field.name),
                bounds.min_items if bounds is not None else 0,
                bounds.max_items if bounds is not None and bounds.HasField("max_items") else None,
                compiled,
            )
        if rules is not None and [f.name for f, _ in rules.ListFields()] != ["required"]:
            continue
        found = _batch_of(target, (*path, field.name))
        if found is not None:
            return found
    return None


def _message_options(descriptor: Any) -> bool:
    return rules_of(descriptor.GetOptions(), validate_pb2.message) is not None or any(
        rules_of(o.GetOptions(), validate_pb2.oneof) is not None for o in descriptor.oneofs
    )


class ValidationInterceptor(Interceptor):
    def __init__(self) -> None:
        super().__init__()
        validator = protovalidate.Validator()
        self._collect: Callable[[Message], list[protovalidate.Violation]] = validator.collect_violations
        self._times = _TimeRange()
        self._money = _MoneyRange()
        self._text = _NoNul()
        self._batches: dict[str, _Batch | None] = {}
        self._checks: dict[str, Callable[[Message], None]] = {}

    def applies(self, method: MethodInfo) -> bool:
        descriptor = method.input_descriptor
        return descriptor is not None and (
            has_rules(descriptor, set())
            or self._times.reaches(descriptor)
            or self._money.reaches(descriptor)
            or self._text.reaches(descriptor)
        )

    def _check(self, request: Message) -> None:
        """Checks ``request``, raising ``InvalidArgument`` (the wrappers take their method's check once)."""
        self._check_of(request.DESCRIPTOR)(request)

    def _check_of(self, descriptor: Any) -> Callable[[Message], None]:
        """The check of one request type, planned once: only the walks that can reach a Timestamp, a Money
        or a string of that type are made (the others cannot find anything), and a type with no compiled
        batch goes straight to protovalidate."""
        name = descriptor.full_name
        check = self._checks.get(name)
        if check is None:
            check = self._checks[name] = self._plan_check(descriptor)
        return check

    def _plan_check(self, descriptor: Any) -> Callable[[Message], None]:
        walks = tuple(
            walk.violations for walk in (self._times, self._money, self._text) if walk.reaches(descriptor)
        )
        name = descriptor.full_name
        batch = (
            self._batches[name]
            if name in self._batches
            else self._batches.setdefault(name, _batch_of(descriptor))
        )
        collect = self._collect
        if batch is None:
            if not walks:

                def check(request: Message) -> None:
                    violations = collect(request)
                    if violations:
                        raise _invalid(violations)

                return check

            def check_walked(request: Message) -> None:
                out_of_range = [found for walk in walks for found in walk(request)]
                if out_of_range:
                    raise _invalid_fields(out_of_range)
                violations = collect(request)
                if violations:
                    raise _invalid(violations)

            return check_walked

        def check_batch(request: Message) -> None:
            # A batch's items as Python objects, referenced until the checks are done: upb keeps one object
            # per message while it is referenced, so every pass below over the repeated field (the time and
            # text walks, each rule's column) finds the 10,000 objects instead of making them again — about
            # as costly as reading one field of each.
            items = list(batch.items(request))
            out_of_range = [found for walk in walks for found in walk(request)]
            if out_of_range:
                raise _invalid_fields(out_of_range)
            # A batch of compiled items: when the rest of the request (the first item too) and the list's
            # size pass, protovalidate's answer is the items' violations alone, in order. Otherwise it
            # answers all.
            if batch.fits(items) and not collect(batch.shell(request)):
                if batch.rules.clean(items):
                    return
                raise _invalid_fields(batch.rules.violations(items, ".".join(batch.path)))
            violations = collect(request)
            if violations:
                raise _invalid(violations)

        return check_batch

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        check = self._check_of(method.input_descriptor)

        async def validated(request: Any, context: Context) -> Any:
            check(request)
            return await behavior(request, context)

        return validated

    def wrap_unary_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        check = self._check_of(method.input_descriptor)
        if inspect.isasyncgenfunction(behavior):

            async def validated_gen(request: Any, context: Context) -> AsyncIterator[Any]:
                check(request)
                async for response in behavior(request, context):
                    yield response

            return validated_gen

        async def validated(request: Any, context: Context) -> Any:
            check(request)
            return await behavior(request, context)

        return validated

    def wrap_stream_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        check = self._check_of(method.input_descriptor)

        async def validated(requests: AsyncIterator[Any], context: Context) -> Any:
            return await behavior(_checked(requests, check), context)

        return validated

    def wrap_stream_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        check = self._check_of(method.input_descriptor)
        checked = _answered if method.per_message_results else _checked
        if inspect.isasyncgenfunction(behavior):

            async def validated_gen(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
                async for response in behavior(checked(requests, check), context):
                    yield response

            return validated_gen

        async def validated(requests: AsyncIterator[Any], context: Context) -> Any:
            return await behavior(checked(requests, check), context)

        return validated


@dataclass(frozen=True, slots=True)
class Rejected:
    """A client-stream message that broke the contract's rules, for a ``per_message_results`` method."""

    request: Any
    error: InvalidArgument


async def _answered(requests: AsyncIterator[Any], check: Callable[[Message], None]) -> AsyncIterator[Any]:
    async for request in requests:
        try:
            check(request)
        except InvalidArgument as error:
            yield Rejected(request, error)
        else:
            yield request


async def _checked(requests: AsyncIterator[Any], check: Callable[[Message], None]) -> AsyncIterator[Any]:
    async for request in requests:
        check(request)
        yield request


def _invalid(violations: list[protovalidate.Violation]) -> InvalidArgument:
    return _invalid_fields(
        [
            FieldViolation(_path(v), v.proto.message or v.proto.rule_id, rule_reason(v.proto.rule_id))
            for v in violations
        ]
    )


def _invalid_fields(field_violations: list[FieldViolation]) -> InvalidArgument:
    first = field_violations[0]
    more = f" (and {len(field_violations) - 1} more)" if len(field_violations) > 1 else ""
    return InvalidArgument(
        f"invalid request: {first.field or 'message'}: {first.description}{more}",
        reason=VALIDATION_FAILED,
        violations=field_violations,
    )


def _path(violation: protovalidate.Violation) -> str:
    field_path = violation.proto.field
    if field_path is None:  # a message-level rule
        return ""
    parts = []
    for element in field_path.elements:
        part = element.field_name
        subscript = element.subscript
        if subscript is not None:
            if subscript.field == "string_key":
                part += f'["{subscript.value}"]'
            elif subscript.field == "bool_key":
                part += f"[{str(subscript.value).lower()}]"
            else:
                part += f"[{subscript.value}]"
        parts.append(part)
    return ".".join(parts)
