"""Proto ⇄ store records for the registry, telemetry, capacity, prices and statistics RPCs.

Shared by the dispatch, aggregator and device servicers (and the device
Connect stream, which turns its MeterValues into ``readings``).
"""

from __future__ import annotations

import hashlib
import itertools
import operator
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.type import money_pb2
from vgi.aggregator.v1 import aggregator_service_pb2
from vgi.common.v1 import (
    aggregator_pb2,
    capacity_pb2,
    prices_pb2,
    resources_pb2,
    statistics_pb2,
    telemetry_pb2,
)

from domain.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from domain.prices import PriceCurve
from domain.principal import Principal
from domain.telemetry import Aggregate, Reading, from_ppb, to_ppb
from store import capacity, registry
from store.aggregators import Aggregator, AggregatorState
from store.prices import CURRENCY
from store.statistics import Statistics
from wire.timestamps import timestamp as timestamp
from wire.timestamps import to_datetime as to_datetime

NODE_PREFIX = "gridNodes/"
AGGREGATOR_PREFIX = "aggregators/"

M = TypeVar("M")
R = TypeVar("R")
#: Converts a time to a Timestamp (``timestamp``, or a batch's cached form of it).
Stamp = Callable[[datetime | None], Timestamp | None]


def tenant_of(principal: Principal) -> str:
    """The aggregator a caller is confined to; the authz interceptor lets only tenants in."""
    tenant = principal.tenant()
    if tenant is None:
        raise PermissionDenied("this surface is for aggregators", reason="NOT_A_TENANT")
    return tenant


def node_id(name: str) -> str:
    return name.removeprefix(NODE_PREFIX)


def node_name(node: str | None) -> str:
    return NODE_PREFIX + node if node else ""


_NANOS = 1_000_000_000


def money_to_decimal(money: money_pb2.Money, field: str) -> Decimal:
    """An exact amount; CNY only (an empty currency code means CNY)."""
    if money.currency_code not in ("", CURRENCY):
        raise InvalidArgument(
            f"prices are in {CURRENCY}",
            violations=[FieldViolation(f"{field}.currency_code", f"must be {CURRENCY} or empty")],
            reason="CURRENCY_NOT_CNY",
        )
    if money.units > 0 > money.nanos or money.units < 0 < money.nanos or abs(money.nanos) >= _NANOS:
        raise InvalidArgument(
            "invalid money amount",
            violations=[FieldViolation(field, "CNY with units and nanos of the same sign")],
        )
    return Decimal(money.units) + Decimal(money.nanos) / _NANOS


def decimal_to_money(amount: Decimal) -> money_pb2.Money:
    units = int(amount)
    return money_pb2.Money(currency_code=CURRENCY, units=units, nanos=int((amount - units) * _NANOS))


# ---------------------------------------------------------------- grid nodes


def grid_node_from(message: resources_pb2.GridNode) -> registry.GridNode:
    return registry.GridNode(
        node_id=message.node_id,
        kind=resources_pb2.GridNodeKind.Name(message.kind).removeprefix("GRID_NODE_KIND_"),
        parent_id=node_id(message.parent) or None,
        display_name=message.display_name,
        capacity_limit_w=message.capacity_limit_w,
        base_load_w=message.base_load_w,
    )


def grid_node_to(record: registry.GridNode) -> resources_pb2.GridNode:
    return resources_pb2.GridNode(
        name=node_name(record.node_id),
        node_id=record.node_id,
        kind="GRID_NODE_KIND_" + record.kind,
        parent=node_name(record.parent_id),
        display_name=record.display_name,
        capacity_limit_w=record.capacity_limit_w,
        base_load_w=record.base_load_w,
        update_time=timestamp(record.update_time),
    )


def grid_node_kind(kind: int) -> str:
    """The stored kind for a filter; "" for UNSPECIFIED (no filter)."""
    return "" if kind == 0 else resources_pb2.GridNodeKind.Name(kind).removeprefix("GRID_NODE_KIND_")


# ---------------------------------------------------------------- stations and chargers


def station_name(aggregator_id: str, station_id: str) -> str:
    return f"{AGGREGATOR_PREFIX}{aggregator_id}/stations/{station_id}"


def parse_station_name(name: str, tenant: str) -> str:
    """The station id of ``aggregators/{a}/stations/{s}``; another tenant's name is NOT_FOUND."""
    _, aggregator_id, _, station_id = name.split("/")
    if aggregator_id != tenant:
        raise NotFound(
            f"station {station_id} not found", reason="STATION_NOT_FOUND", metadata={"station_id": station_id}
        )
    return station_id


def parse_charger_name(name: str, tenant: str) -> tuple[str, str]:
    """(station_id, charger_id) of a charger name; another tenant's name is NOT_FOUND."""
    _, aggregator_id, _, station_id, _, charger_id = name.split("/")
    if aggregator_id != tenant:
        raise NotFound(
            f"charger {charger_id} not found", reason="CHARGER_NOT_FOUND", metadata={"charger_id": charger_id}
        )
    return station_id, charger_id


def station_from(message: resources_pb2.Station) -> registry.Station:
    return registry.Station(
        station_id=message.station_id,
        display_name=message.display_name,
        grid_node_id=node_id(message.grid_node),
        import_limit_w=message.import_limit_w,
        export_limit_w=message.export_limit_w,
    )


def station_to(record: registry.Station) -> resources_pb2.Station:
    return resources_pb2.Station(
        name=station_name(record.aggregator_id, record.station_id),
        station_id=record.station_id,
        display_name=record.display_name,
        grid_node=node_name(record.grid_node_id),
        import_limit_w=record.import_limit_w,
        export_limit_w=record.export_limit_w,
        update_time=timestamp(record.update_time),
    )


# Validation admits defined kinds only (defined_only), so every number is here.
_CHARGER_KINDS = {
    number: name.removeprefix("CHARGER_KIND_") for name, number in resources_pb2.ChargerKind.items()
}


def charger_from(message: resources_pb2.Charger) -> registry.Charger:
    # Positional: a batch converts up to 10,000 of these, and keywords cost a third more.
    return registry.Charger(
        message.charger_id,
        message.station_id,
        _CHARGER_KINDS[message.kind],
        message.rated_charge_w,
        message.rated_discharge_w,
        message.bidirectional,
        message.platform_managed,
    )


_REGISTERED_FIELDS = operator.attrgetter(
    "charger_id",
    "station_id",
    "kind",
    "rated_charge_w",
    "rated_discharge_w",
    "bidirectional",
    "platform_managed",
)
_CHARGER_REST = tuple(registry.Charger._field_defaults[name] for name in registry.Charger._fields[7:])


def chargers_from(messages: Iterable[resources_pb2.Charger]) -> list[registry.Charger]:
    """``charger_from`` of each message: the seven registered fields read by one C call per message, the
    record made without the NamedTuple's keyword handling (a batch converts 10,000; ~0.7 of the cost)."""
    kinds, make, rest, record = _CHARGER_KINDS, tuple.__new__, _CHARGER_REST, registry.Charger
    return [
        make(record, (charger_id, station_id, kinds[kind], charge, discharge, bidirectional, managed, *rest))
        for charger_id, station_id, kind, charge, discharge, bidirectional, managed in map(
            _REGISTERED_FIELDS, messages
        )
    ]


_KIND_NUMBERS = {name: number for number, name in _CHARGER_KINDS.items()}
_STATUS_NUMBERS = {
    name.removeprefix("CHARGER_STATUS_"): number for name, number in resources_pb2.ChargerStatus.items()
}


def charger_to(record: registry.Charger) -> resources_pb2.Charger:
    return _charger_fields(record, timestamp, resources_pb2.Charger)


def chargers_answer(
    sent: Sequence[resources_pb2.Charger], records: Sequence[registry.Charger], response: Any
) -> None:
    """A charger upsert's answer (AIP-233) in ``response.chargers``: the chargers as sent, copied in one
    C call, with what the server sets — name, status, online, last_heartbeat_time, update_time — taken
    from ``records``, the chargers as stored in the same order (their registered fields are the ones
    sent). A client's values for those fields are replaced and unknown fields dropped, so the answer is
    what ``charger_to`` builds from each record, at about half the cost for a batch of 10,000."""
    into = response.chargers
    into.extend(sent)
    response.DiscardUnknownFields()
    stamps: dict[datetime, Timestamp] = {}
    statuses = _STATUS_NUMBERS
    for message, record in zip(into, records, strict=True):
        message.name = f"{AGGREGATOR_PREFIX}{record.aggregator_id}/stations/{record.station_id}/chargers/{record.charger_id}"
        message.status = statuses[record.status]
        message.online = record.online
        heartbeat, written = record.last_heartbeat_time, record.update_time
        if heartbeat is None:
            message.ClearField("last_heartbeat_time")
        else:
            stamp = stamps.get(heartbeat)
            if stamp is None:
                stamp = stamps[heartbeat] = timestamp(heartbeat)
            message.last_heartbeat_time.CopyFrom(stamp)
        if written is None:
            message.ClearField("update_time")
        else:
            stamp = stamps.get(written)
            if stamp is None:
                stamp = stamps[written] = timestamp(written)
            message.update_time.CopyFrom(stamp)


def chargers_answer_encoded(
    sent: aggregator_service_pb2.BatchUpsertChargersRequest | Sequence[resources_pb2.Charger],
    records: Sequence[registry.Charger],
) -> tuple[aggregator_service_pb2.BatchUpsertChargersResponse, bytes]:
    """A charger upsert's answer, ``BatchUpsertChargersResponse(upserted_count=len(records), chargers=…)``,
    and its serialization: the response ``chargers_answer`` builds, and byte for byte its
    ``SerializeToString()``, assembled from the sent chargers' encodings rather than from 10,000
    messages' fields set one by one in Python. ``sent``: the request (or the chargers it sent).

    The request's encoding is read back as ``_RegisteredChargers`` — Charger's registered fields 2–8
    only, in a pool of its own — with unknown fields discarded, so each charger encodes exactly its
    fields 2–8 whatever a client put in the fields the server owns (name, status, online,
    last_heartbeat_time, update_time, never answered as sent) or in fields this server does not know;
    all in C, where reading five fields of each message and parsing the answer back to drop unknown
    fields cost as much as the rest. A charger's answer is ``name`` (field 1) before that encoding and
    the server's fields 9–12 after it, in field-number order as protobuf serializes, those encoded once
    per distinct (status, online, heartbeat, update_time): once for a batch of new chargers."""
    if isinstance(sent, aggregator_service_pb2.BatchUpsertChargersRequest):
        encoded = sent.SerializeToString()
    else:
        encoded = aggregator_service_pb2.BatchUpsertChargersRequest(chargers=sent).SerializeToString()
    view = _REGISTERED_CHARGERS.FromString(encoded)
    view.DiscardUnknownFields()
    items = list(map(_SERIALIZE, view.chargers))
    if len(items) != len(records):
        raise ValueError(f"{len(items)} chargers sent, {len(records)} records")
    states = list(map(_SERVER_STATE, records))
    encoded_tails = {state: _server_fields(*state) for state in set(states)}
    tails: Iterable[bytes] = (
        itertools.repeat(next(iter(encoded_tails.values())))
        if len(encoded_tails) == 1
        else map(encoded_tails.__getitem__, states)
    )
    names = [
        f"{AGGREGATOR_PREFIX}{record[7]}/stations/{record[1]}/chargers/{record[0]}".encode()
        for record in records
    ]
    varint = _VARINTS
    table = _VARINT_TABLE
    out = [_count_field(len(records))]
    append = out.append
    # names and items are one per record (checked above); tails may repeat one encoding endlessly.
    for name, item, tail in zip(names, items, tails, strict=False):
        size = len(name)
        body = b"\x0a" + (varint[size] if size < table else _varint(size)) + name + item + tail
        size = len(body)
        append(b"\x12" + (varint[size] if size < table else _varint(size)) + body)
    data = b"".join(out)
    return aggregator_service_pb2.BatchUpsertChargersResponse.FromString(data), data


def _registered_chargers() -> Any:
    """A message type whose field ``chargers`` (BatchUpsertChargersRequest's number) holds Charger's fields
    2–8 alone, same numbers and wire types (enums as int32, which encode alike), in a pool of its own."""
    file = descriptor_pb2.FileDescriptorProto(
        name="vgi_internal/registered_chargers.proto", package="vgi.internal", syntax="proto3"
    )
    charger = file.message_type.add(name="RegisteredCharger")
    for field in resources_pb2.Charger.DESCRIPTOR.fields:
        if field.number in _SERVER_FIELD_NUMBERS:
            continue
        if not 2 <= field.number <= 8 or field.containing_oneof is not None or field.is_repeated:
            raise ValueError(f"Charger.{field.name} breaks the answer's assembly (fields 2–8, singular)")
        proto = charger.field.add(name=field.name, number=field.number, type=field.type, label=1)
        if field.type == descriptor_pb2.FieldDescriptorProto.TYPE_ENUM:
            proto.type = descriptor_pb2.FieldDescriptorProto.TYPE_INT32
        elif field.type == descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE:
            raise ValueError(f"Charger.{field.name}: a message field among the registered ones")
    batch = file.message_type.add(name="RegisteredChargers")
    batch.field.add(
        name="chargers",
        number=aggregator_service_pb2.BatchUpsertChargersRequest.DESCRIPTOR.fields_by_name["chargers"].number,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        type_name=".vgi.internal.RegisteredCharger",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("vgi.internal.RegisteredChargers"))


_SERIALIZE = operator.methodcaller("SerializeToString")
# A record's fields the server's part of its answer is made of: status, online, heartbeat, update_time.
_SERVER_STATE = operator.itemgetter(8, 9, 10, 11)
_SERVER_FIELD_NUMBERS = frozenset({1, 9, 10, 11, 12})
_REGISTERED_CHARGERS: Any = _registered_chargers()


# Fields of Charger the server sets in an answer (tags 1 and 9–12).
_SERVER_FIELDS = ("name", "status", "online", "last_heartbeat_time", "update_time")


def _varint(value: int) -> bytes:
    """A non-negative int as a protobuf base-128 varint."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_VARINT_TABLE = 1 << 14
_VARINTS = [_varint(n) for n in range(_VARINT_TABLE)]


def _count_field(count: int) -> bytes:
    """``upserted_count`` (field 1, int32), absent when zero as proto3 serializes it."""
    return b"\x08" + _varint(count) if count else b""


def _server_fields(status: str, online: bool, heartbeat: datetime | None, written: datetime | None) -> bytes:
    """Charger's fields 9–12 as ``charger_to`` sets and protobuf serializes them (zero values absent)."""
    out = bytearray()
    number = _STATUS_NUMBERS[status]
    if number:
        out += b"\x48" + _varint(number)
    if online:
        out += b"\x50\x01"
    for tag, value in ((b"\x5a", heartbeat), (b"\x62", written)):
        if value is not None:
            encoded = timestamp(value).SerializeToString()
            out += tag + _varint(len(encoded)) + encoded
    return bytes(out)


def _charger_fields(record: registry.Charger, stamp: Stamp, make: Callable[..., M]) -> M:
    # Enum numbers rather than names: a batch answers up to 20,000 of these.
    return make(
        name=f"{AGGREGATOR_PREFIX}{record.aggregator_id}/stations/{record.station_id}/chargers/{record.charger_id}",
        charger_id=record.charger_id,
        station_id=record.station_id,
        kind=_KIND_NUMBERS[record.kind],
        rated_charge_w=record.rated_charge_w,
        rated_discharge_w=record.rated_discharge_w,
        bidirectional=record.bidirectional,
        platform_managed=record.platform_managed,
        status=_STATUS_NUMBERS[record.status],
        online=record.online,
        last_heartbeat_time=stamp(record.last_heartbeat_time),
        update_time=stamp(record.update_time),
    )


def _batch(records: Iterable[R], into: Any, fields: Callable[[R, Stamp, Callable[..., Any]], Any]) -> None:
    """``fields(record, stamp, into.add)`` for each record, with one Timestamp per distinct time."""
    stamps: dict[datetime | None, Timestamp | None] = {None: None}

    def stamp(value: datetime | None) -> Timestamp | None:
        try:
            return stamps[value]
        except KeyError:
            stamps[value] = converted = timestamp(value)
            return converted

    add = into.add
    for record in records:
        fields(record, stamp, add)


def charger_status(status: int) -> str:
    """The stored status name of a ChargerStatus number."""
    return resources_pb2.ChargerStatus.Name(status).removeprefix("CHARGER_STATUS_")


# ---------------------------------------------------------------- sessions


def session_from(message: resources_pb2.EvSession) -> registry.Session:
    return registry.Session(
        session_id=message.session_id,
        charger_id=message.charger_id,
        plug_in_time=to_datetime(message.plug_in_time),
        expected_departure_time=to_datetime(message.expected_departure_time),
        battery_wh=message.battery_wh,
        soc_ppb=to_ppb(message.soc),
        target_soc_ppb=to_ppb(message.target_soc),
        v2g_floor_soc_ppb=to_ppb(message.v2g_floor_soc),
        max_charge_w=message.max_charge_w,
        max_discharge_w=message.max_discharge_w,
        bidirectional=message.bidirectional,
        end_time=to_datetime(message.end_time) if message.HasField("end_time") else None,
    )


def session_to(record: registry.Session) -> resources_pb2.EvSession:
    return _session_fields(record, timestamp, resources_pb2.EvSession)


def sessions_to(records: Iterable[registry.Session], into: Any) -> None:
    """Append the records to a repeated EvSession field; a batch's shared times are converted once."""
    _batch(records, into, _session_fields)


def _session_fields(record: registry.Session, stamp: Stamp, make: Callable[..., M]) -> M:
    return make(
        name=f"{AGGREGATOR_PREFIX}{record.aggregator_id}/sessions/{record.session_id}",
        session_id=record.session_id,
        charger_id=record.charger_id,
        plug_in_time=stamp(record.plug_in_time),
        expected_departure_time=stamp(record.expected_departure_time),
        battery_wh=record.battery_wh,
        soc=from_ppb(record.soc_ppb),
        target_soc=from_ppb(record.target_soc_ppb),
        v2g_floor_soc=from_ppb(record.v2g_floor_soc_ppb),
        max_charge_w=record.max_charge_w,
        max_discharge_w=record.max_discharge_w,
        bidirectional=record.bidirectional,
        state="EV_SESSION_STATE_" + record.state,
        end_time=stamp(record.end_time),
    )


# ---------------------------------------------------------------- telemetry


def batch_digest(batch: Message) -> str:
    """The content digest of a telemetry batch as it came on the wire (SHA-256 of its deterministic
    encoding, hex): one C call, off the per-reading Python path. A batch's id is part of it, which is
    harmless — digests are only compared under the same id. The device stream's ``MeterValues`` and
    the offline ``UploadMeterValuesRequest`` encode alike (field 1 the id, field 2 the readings), so
    one device batch has one digest by either path (tests/telemetry/test_arrival.py holds both to it)."""
    return hashlib.sha256(batch.SerializeToString(deterministic=True)).hexdigest()


def readings(values: Iterable[telemetry_pb2.MeterValue]) -> list[Reading]:
    """MeterValue messages as domain readings (SOC exact via its decimal string).

    A batch's readings share few sample times and SOC values: each distinct one is converted once.
    An optional field that reads non-zero is present, so ``HasField`` is asked only of zeros."""
    times: dict[tuple[int, int], datetime] = {}
    socs: dict[float, Decimal] = {}
    make = tuple.__new__
    out = []
    for v in values:
        stamp = v.sample_time
        key = (stamp.seconds, stamp.nanos)
        at = times.get(key)
        if at is None:
            at = times[key] = to_datetime(stamp)
        power: int | None = v.power_w
        if not power and not v.HasField("power_w"):
            power = None
        energy: int | None = v.energy_register_wh
        if not energy and not v.HasField("energy_register_wh"):
            energy = None
        export: int | None = v.export_energy_register_wh
        if not export and not v.HasField("export_energy_register_wh"):
            export = None
        fraction = v.soc
        soc: Decimal | None
        if not fraction:
            soc = Decimal(str(fraction)) if v.HasField("soc") else None  # 0.0 and -0.0: one dict key
        else:
            soc = socs.get(fraction)
            if soc is None:
                soc = socs[fraction] = Decimal(str(fraction))
        out.append(make(Reading, (v.charger_id, at, power, energy, soc, v.status, export)))
    return out


def aggregates(values: Sequence[telemetry_pb2.IntervalAggregate]) -> list[Aggregate]:
    out = []
    for value in values:
        parts = value.resource.split("/")
        out.append(
            Aggregate(
                aggregator_id=parts[1],
                station_id=parts[3] if len(parts) == 4 else "",
                slot_start=to_datetime(value.slot_start_time),
                mean_power_w=value.mean_power_w,
            )
        )
    return out


# ---------------------------------------------------------------- capacity and statistics


def capacity_to(record: capacity.RealtimeCapacity) -> capacity_pb2.AdjustableCapacity:
    return capacity_pb2.AdjustableCapacity(
        scope=record.scope,
        compute_time=timestamp(record.compute_time),
        decrease_w=record.decrease_w,
        increase_w=record.increase_w,
        present_power_w=record.present_power_w,
        active_sessions=record.active_sessions,
    )


_SOURCES = {
    capacity.HISTORY: capacity_pb2.CAPACITY_FORECAST_SOURCE_HISTORY,
    capacity.DECLARATION: capacity_pb2.CAPACITY_FORECAST_SOURCE_DECLARATION,
}


def forecast_to(record: capacity.Forecast) -> capacity_pb2.CapacityForecast:
    return capacity_pb2.CapacityForecast(
        scope=record.scope,
        day_start_time=timestamp(record.day_start_time),
        decrease_w=record.decrease_w,
        increase_w=record.increase_w,
        source=_SOURCES[record.source],
    )


def statistics_to(record: Statistics) -> statistics_pb2.Statistics:
    return statistics_pb2.Statistics(
        scope=record.scope,
        compute_time=timestamp(record.compute_time),
        stations=record.stations,
        chargers=record.chargers,
        v2g_chargers=record.v2g_chargers,
        online_chargers=record.online_chargers,
        active_sessions=record.active_sessions,
        rated_charge_w=record.rated_charge_w,
        rated_discharge_w=record.rated_discharge_w,
        decrease_w=record.decrease_w,
        increase_w=record.increase_w,
    )


def price_curve_kind(kind: int) -> str:
    """A PriceCurveKind as the store keeps it ("" for unspecified)."""
    return "" if kind == 0 else prices_pb2.PriceCurveKind.Name(kind).removeprefix("PRICE_CURVE_KIND_")


def price_curve_from(message: prices_pb2.PriceCurve) -> PriceCurve:
    """The curve a PublishPriceCurve request asks for (CNY prices only, see ``money_to_decimal``)."""
    return PriceCurve(
        price_curve_id=message.price_curve_id,
        kind=price_curve_kind(message.kind),
        grid_node_id=node_id(message.grid_node),
        start_time=to_datetime(message.start_time),
        step_minutes=message.step_minutes,
        prices=tuple(money_to_decimal(p, f"price_curve.prices[{i}]") for i, p in enumerate(message.prices)),
    )


def price_curve_message(curve: PriceCurve) -> prices_pb2.PriceCurve:
    return prices_pb2.PriceCurve(
        name=f"priceCurves/{curve.price_curve_id}",
        price_curve_id=curve.price_curve_id,
        kind="PRICE_CURVE_KIND_" + curve.kind,
        grid_node=node_name(curve.grid_node_id),
        start_time=timestamp(curve.start_time),
        step_minutes=curve.step_minutes,
        prices=[decimal_to_money(p) for p in curve.prices],
        publish_time=timestamp(curve.publish_time),
    )


AGGREGATOR_STATES = {
    AggregatorState.ACTIVE: aggregator_pb2.AGGREGATOR_STATE_ACTIVE,
    AggregatorState.SUSPENDED: aggregator_pb2.AGGREGATOR_STATE_SUSPENDED,
}


AGGREGATOR_STATE_OF = {proto: state for state, proto in AGGREGATOR_STATES.items()}


def aggregator_message(record: Aggregator) -> aggregator_pb2.Aggregator:
    return aggregator_pb2.Aggregator(
        name=AGGREGATOR_PREFIX + record.aggregator_id,
        aggregator_id=record.aggregator_id,
        display_name=record.display_name,
        unified_social_credit_code=record.unified_social_credit_code,
        contact_email=record.contact_email,
        state=AGGREGATOR_STATES[record.state],
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
    )
