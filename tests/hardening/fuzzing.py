"""Hypothesis strategies built by walking protobuf message descriptors (nothing typed per RPC).

``request_bytes(descriptor)`` draws what a hostile or sloppy client could put
on the wire for one request message:

* a message whose fields mostly obey their ``buf.validate`` rules (patterns,
  the predefined name rules of ``vgi/common/v1/names.proto``, uuids, bounds — so handlers are reached, not only the validator) and are
  otherwise extreme: integer type limits, NaN and infinities, empty and huge
  strings, unknown enum numbers, Timestamps at and beyond their range;
* the names a seeded world really holds (``KNOWN``), wherever a field's
  pattern admits them, so lookups find rows and go deeper;
* then, on the serialized bytes, unknown fields appended, a truncation, or
  plain garbage.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from buf.validate import validate_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

#: Names the fuzz world holds; a string field gets one when its pattern admits it.
KNOWN = [
    "agg-1",
    "agg-2",
    "aggregators/agg-1",
    "aggregators/agg-2",
    "charger-1",
    "st-1",
    "ta1",
    "gridNodes/ta1",
    "gridNodes/r1",
    "aggregators/agg-1/stations/st-1",
    "aggregators/agg-1/stations/st-1/chargers/charger-1",
    "events/dr-1",
    "events/dr-1/bids/agg-1",
    "programs/default",
    "vgi://aggregator/agg-1",
    "vgi://device/charger-1",
    "vgi://grid/grid-1",
    "s-1",
]

_INT_LIMITS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_RULE_KIND = {
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_SINT32: "sint32",
    FieldDescriptor.TYPE_SINT64: "sint64",
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_FLOAT: "float",
}
_MAX_DEPTH = 4


def _rules(field: FieldDescriptor) -> validate_pb2.FieldRules:
    return field.GetOptions().Extensions[validate_pb2.field]


def _bounded(rules: Any, low: int, high: int) -> tuple[int, int]:
    """The [low, high] an integer rule allows, within the type's limits."""
    if rules.HasField("gte"):
        low = max(low, rules.gte)
    if rules.HasField("gt"):
        low = max(low, rules.gt + 1)
    if rules.HasField("lte"):
        high = min(high, rules.lte)
    if rules.HasField("lt"):
        high = min(high, rules.lt - 1)
    return low, high


def _integers(field_type: int, rules: validate_pb2.FieldRules, valid_only: bool) -> st.SearchStrategy[int]:
    low, high = _INT_LIMITS[field_type]
    extremes = [v for v in sorted({low, high, 0, 1, -1, 2**31 - 1, 2**53}) if low <= v <= high]
    anything = st.one_of(st.sampled_from(extremes), st.integers(low, high))
    kind = _RULE_KIND.get(field_type)
    lo, hi = low, high
    if kind is not None and rules.HasField(kind):  # type: ignore[arg-type]
        lo, hi = _bounded(getattr(rules, kind), low, high)
        if lo > hi:
            return anything
    # Plausible sizes first (a few kW, a few hundred items), then the bounds themselves.
    plausible = (
        st.integers(max(lo, -100_000), min(hi, 100_000)) if max(lo, -100_000) <= min(hi, 100_000) else None
    )
    valid = st.one_of(
        *(
            s
            for s in (plausible, plausible, st.sampled_from(sorted({lo, hi})), st.integers(lo, hi))
            if s is not None
        )
    )
    return valid if valid_only else st.one_of(valid, anything)


def _floats(field_type: int, valid_only: bool) -> st.SearchStrategy[float]:
    width = 32 if field_type == FieldDescriptor.TYPE_FLOAT else 64
    if valid_only:
        return st.floats(0, 1, width=width)
    return st.one_of(
        st.floats(0, 1, width=width),
        st.sampled_from([0.0, -0.0, 1.0, float("nan"), float("inf"), float("-inf"), 1e308, -1e308]),
        st.floats(width=width),
    )


def _strings(rules: validate_pb2.FieldRules, valid_only: bool) -> st.SearchStrategy[str]:
    anything = st.one_of(
        st.text(max_size=24),
        st.sampled_from(["", " ", "x" * 100_000, "%00", "../../etc/passwd", "'; DROP TABLE chargers; --"]),
    )
    valid: st.SearchStrategy[str] = st.one_of(st.sampled_from(KNOWN), st.text(max_size=24))
    if rules.HasField("string"):
        string = rules.string
        if string.uuid:
            valid = st.uuids(version=4).map(str)
        elif string.pattern or _predefined_pattern(string):
            try:
                pattern = re.compile(string.pattern or _predefined_pattern(string))
            except re.error:
                return anything
            known = [name for name in KNOWN if pattern.fullmatch(name)]
            limit = string.max_len or 10_000
            matching = st.from_regex(pattern, fullmatch=True).filter(lambda s: len(s) <= limit)
            valid = st.one_of(st.sampled_from(known), st.sampled_from(known), matching) if known else matching
        elif string.max_len:
            valid = st.text(min_size=string.min_len, max_size=string.max_len)
    if rules.ignore == validate_pb2.IGNORE_IF_ZERO_VALUE:
        valid = st.one_of(valid, st.just(""))
    return valid if valid_only else st.one_of(valid, valid, anything)


def _predefined_pattern(string: validate_pb2.StringRules) -> str:
    """The regex of a predefined name rule set on the field (vgi/common/v1/names.proto:
    ``!rule || this.matches('…')``), or ""."""
    for field, value in string.ListFields():
        if field.is_extension and value is True:
            for rule in field.GetOptions().Extensions[validate_pb2.predefined].cel:
                found = re.search(r"this\.matches\('([^']*)'\)", rule.expression)
                if found:
                    return found.group(1)
    return ""


def _timestamps(valid_only: bool) -> st.SearchStrategy[tuple[int, int]]:
    """(seconds, nanos): plausible times (some on slot boundaries), and the edges of and beyond
    the Timestamp range."""
    plausible = st.one_of(
        st.tuples(st.integers(1_700_000_000, 1_900_000_000), st.just(0)),
        st.tuples(st.integers(1_700_000_000, 1_900_000_000).map(lambda s: s - s % 900), st.just(0)),
    )
    if valid_only:
        return plausible
    return st.one_of(
        plausible,
        st.tuples(
            st.sampled_from([0, -1, -62135596800, 253402300799, 2**40, -(2**63), 2**63 - 1, 32503680000]),
            st.sampled_from([0, 999_999_999, -1, 10**9, 2**31 - 1]),
        ),
    )


class Builder:
    """Message strategies per descriptor, cached (recursive types stop at ``_MAX_DEPTH``)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, bool], st.SearchStrategy[Message]] = {}

    def message(
        self, descriptor: Descriptor, message_class: Callable[[], Message], valid_only: bool, depth: int = 0
    ) -> Any:
        """Messages whose every field keeps its rules (``valid_only``), or whose fields often do not."""
        key = (descriptor.full_name, depth, valid_only)
        if key not in self._cache:
            self._cache[key] = self._build(descriptor, message_class, valid_only, depth)
        return self._cache[key]

    def _build(
        self, descriptor: Descriptor, message_class: Callable[[], Message], valid_only: bool, depth: int
    ) -> Any:
        if descriptor.full_name == "google.protobuf.Duration":
            seconds = st.integers(0, 86_400) if valid_only else st.integers(-(2**63), 2**63 - 1)
            return seconds.map(lambda n: _with(message_class(), seconds=n))
        if descriptor.full_name == "google.protobuf.Timestamp":
            return _timestamps(valid_only).map(lambda sn: _with(message_class(), seconds=sn[0], nanos=sn[1]))
        if depth >= _MAX_DEPTH:
            return st.builds(message_class)
        fields: dict[str, Any] = {}
        oneofs: dict[str, list[str]] = {}
        for field in descriptor.fields:
            strategy = self._field(field, valid_only, depth)
            if strategy is None:
                continue
            oneof = field.containing_oneof
            if oneof is not None and not _is_synthetic(field):
                oneofs.setdefault(oneof.name, []).append(field.name)
            fields[field.name] = strategy

        @st.composite
        def build(draw: Any) -> Message:
            message = message_class()
            chosen = {name: draw(st.sampled_from([None, *names])) for name, names in oneofs.items()}
            in_oneof = {n for names in oneofs.values() for n in names}
            for name, strategy in fields.items():
                if name in in_oneof and name not in chosen.values():
                    continue
                if name not in in_oneof and not valid_only and not draw(st.integers(0, 9)):
                    continue  # now and then leave a field unset
                _set(message, descriptor.fields_by_name[name], draw(strategy))
            return message

        return build()

    def _field(self, field: FieldDescriptor, valid_only: bool, depth: int) -> Any:
        rules = _rules(field)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            keys = self._scalar(key_field, validate_pb2.FieldRules(), valid_only, depth)
            values = self._scalar(value_field, validate_pb2.FieldRules(), valid_only, depth)
            if keys is None or values is None:
                return None
            return st.dictionaries(keys, values, max_size=3)
        items_rules = rules.repeated.items if rules.HasField("repeated") else validate_pb2.FieldRules()
        if field.is_repeated:
            element = self._scalar(field, items_rules, valid_only, depth)
            if element is None:
                return None
            repeated = rules.repeated
            fewest = repeated.min_items if rules.HasField("repeated") and valid_only else 0
            most = repeated.max_items if rules.HasField("repeated") and repeated.max_items else 3
            return st.lists(element, min_size=min(fewest, 3), max_size=max(min(most, 3), min(fewest, 3)))
        return self._scalar(field, rules, valid_only, depth)

    def _scalar(
        self, field: FieldDescriptor, rules: validate_pb2.FieldRules, valid_only: bool, depth: int
    ) -> Any:
        kind = field.type
        if kind == FieldDescriptor.TYPE_MESSAGE:
            from google.protobuf import message_factory

            return self.message(
                field.message_type, message_factory.GetMessageClass(field.message_type), valid_only, depth + 1
            )
        if kind in _INT_LIMITS:
            return _integers(kind, rules, valid_only)
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return _floats(kind, valid_only)
        if kind == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if kind == FieldDescriptor.TYPE_STRING:
            return _strings(rules, valid_only)
        if kind == FieldDescriptor.TYPE_BYTES:
            return (
                st.binary(max_size=64)
                if valid_only
                else st.one_of(st.binary(max_size=64), st.just(b"\x00" * 70_000))
            )
        if kind == FieldDescriptor.TYPE_ENUM:
            defined = [v.number for v in field.enum_type.values]
            nonzero = [n for n in defined if n] or defined
            if valid_only:
                return st.sampled_from(nonzero)
            return st.one_of(st.sampled_from(defined), st.integers(-(2**31), 2**31 - 1))
        return None


def _is_synthetic(field: FieldDescriptor) -> bool:
    """proto3 ``optional`` wraps a field in a oneof of its own; it is not a real choice."""
    oneof = field.containing_oneof
    return oneof is not None and len(oneof.fields) == 1 and oneof.name == f"_{field.name}"


def _with(message: Message, **values: Any) -> Message:
    for name, value in values.items():
        setattr(message, name, value)
    return message


def _set(message: Message, field: FieldDescriptor, value: Any) -> None:
    target = getattr(message, field.name) if (field.is_repeated or field.message_type) else None
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        for key, item in value.items():
            if isinstance(item, Message):
                target[key].CopyFrom(item)
            else:
                target[key] = item
    elif field.is_repeated:
        if field.message_type is not None:
            for item in value:
                target.add().CopyFrom(item)
        else:
            target.extend(value)
    elif field.message_type is not None:
        target.CopyFrom(value)
    else:
        setattr(message, field.name, value)


def _unknown_field() -> st.SearchStrategy[bytes]:
    """A field number no message of the contract uses, as varint, fixed64 or length-delimited."""
    return st.sampled_from(
        [b"\xf8\x3e\x01", b"\xf9\x3e" + b"\x00" * 8, b"\xfa\x3e\x03abc", b"\x80\x80\x80\x80\x10\x00"]
    )


def request_bytes(builder: Builder, descriptor: Descriptor, message_class: Callable[[], Message]) -> Any:
    """The wire bytes of one request: a drawn message, mutated now and then."""
    serialized = st.one_of(
        builder.message(descriptor, message_class, True), builder.message(descriptor, message_class, False)
    ).map(lambda m: m.SerializeToString(deterministic=True))

    @st.composite
    def mutated(draw: Any) -> bytes:
        data: bytes = draw(serialized)
        how = draw(st.integers(0, 9))
        if how == 7:
            return data + draw(_unknown_field())
        if how == 8 and data:
            return data[: draw(st.integers(0, len(data) - 1))]
        if how == 9:
            return draw(st.binary(min_size=1, max_size=32))
        return data

    return mutated()
