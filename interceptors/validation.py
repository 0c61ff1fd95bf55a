"""Request validation: the proto's ``buf.validate`` rules, checked once here with protovalidate.

Every request message is checked, including each message of a client stream
(the request iterator is wrapped; servicers must iterate it rather than call
``context.read()``). A violation raises ``domain.errors.InvalidArgument``
with one BadRequest field violation per rule, named by field path
(``aggregator.display_name``, ``values[3]``); the error interceptor turns it
into INVALID_ARGUMENT. A client stream whose policy sets
``per_message_results`` is not ended by an invalid message: the servicer
receives it as ``Rejected`` (the message and its InvalidArgument) and answers
it in its response stream. Methods whose request type carries no rule at all
(health, reflection) are not wrapped.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import protovalidate
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from domain.errors import FieldViolation, InvalidArgument
from interceptors.base import Context, Interceptor, StreamBehavior, UnaryBehavior
from interceptors.methods import MethodInfo

VALIDATION_FAILED = "VALIDATION_FAILED"
_RULES_PACKAGE = "buf.validate."


class ValidationInterceptor(Interceptor):
    def __init__(self) -> None:
        super().__init__()
        validator = protovalidate.Validator()
        self._collect: Callable[[Message], list[protovalidate.Violation]] = validator.collect_violations

    def applies(self, method: MethodInfo) -> bool:
        descriptor = method.input_descriptor
        return descriptor is not None and _has_rules(descriptor, set())

    def _check(self, request: Message) -> None:
        violations = self._collect(request)
        if violations:
            raise _invalid(violations)

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        check = self._check

        async def validated(request: Any, context: Context) -> Any:
            check(request)
            return await behavior(request, context)

        return validated

    def wrap_unary_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        check = self._check
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
        check = self._check

        async def validated(requests: AsyncIterator[Any], context: Context) -> Any:
            return await behavior(_checked(requests, check), context)

        return validated

    def wrap_stream_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        check = self._check
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
    field_violations = [FieldViolation(_path(v), v.proto.message or v.proto.rule_id) for v in violations]
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


def _has_rules(descriptor: Descriptor, seen: set[str]) -> bool:
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
        if field.message_type is not None and _has_rules(field.message_type, seen):
            return True
    return False


def _carries_rule(options: Message) -> bool:
    return any(field.full_name.startswith(_RULES_PACKAGE) for field, _ in options.ListFields())
