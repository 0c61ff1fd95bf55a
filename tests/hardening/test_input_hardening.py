"""Findings 1, 5, 7 and 8 of the adversarial review: hostile cursors, token headers, times and bytes.

Each answers a clear status with a reason before any handler runs, and never
INTERNAL or UNKNOWN; messages name no exception class or library internals.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import grpc
import jwt
import pytest
import sqlalchemy as sa
from conftest import BY_ROLE, GRID
from delivery.helpers import WAIT_S, enqueue, text_of
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from security.rpcs import Outcome, Rpc, _status, call, contract_rpcs
from vgi.aggregator.v1 import aggregator_service_pb2 as agg_pb
from vgi.common.v1 import telemetry_pb2
from vgi.device.v1 import device_service_pb2 as device_pb
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb

from clients.errors import NotFoundError
from domain.errors import InvalidArgument, Unauthenticated
from domain.principal import Role
from infra.security.pki import load_jwt_signing_key
from infra.security.tokens import DEV_ISSUER, KeySet, TokenVerifier
from server.delivery import BAD_CURSOR, Dispatcher
from store import migrate
from store.db import Database
from store.outbox import CURSOR_BEYOND_STREAM, Channel
from wire import notices as wire_notices
from wire import outbox as wire_outbox

pytestmark = pytest.mark.timeout(120)

RPCS = {rpc.path: rpc for rpc in contract_rpcs()}
AGGREGATOR = BY_ROLE[Role.AGGREGATOR]
DEVICE = BY_ROLE[Role.DEVICE]
INT64_MAX = 2**63 - 1
#: Words that betray internals in a status message.
LEAKS = ("Error", "Exception", "Traceback", "codec", ".py", "SELECT", "INSERT", "sqlite", "psycopg", "<class")


def rpc(path: str) -> Rpc:
    return RPCS[path]


def violations(outcome: Outcome) -> list[str]:
    bad = outcome.detail(error_details_pb2.BadRequest)
    return [] if bad is None else [v.field for v in bad.field_violations]


def violation_reasons(outcome: Outcome) -> set[str]:
    bad = outcome.detail(error_details_pb2.BadRequest)
    return set() if bad is None else {v.reason for v in bad.field_violations}


def assert_clean(outcome: Outcome) -> None:
    assert outcome.code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), outcome
    for word in LEAKS:
        assert word not in outcome.message, outcome


# -- finding 1: a cursor at the int64 end stalls nobody --------------------------------------------


async def test_stream_cursors_beyond_the_store_range_are_invalid_argument(platform: Any) -> None:
    notifications = await call(
        platform.channel_for(AGGREGATOR),
        rpc("/vgi.aggregator.v1.AggregatorService/StreamNotifications"),
        agg_pb.StreamNotificationsRequest(after_sequence=INT64_MAX),
    )
    assert notifications.code is grpc.StatusCode.INVALID_ARGUMENT, notifications
    assert violations(notifications) == ["after_sequence"]
    hello = await call(
        platform.channel_for(DEVICE),
        rpc("/vgi.device.v1.DeviceService/Connect"),
        [device_pb.ConnectRequest(hello=device_pb.Hello(charger_id=DEVICE.id, after_sequence=INT64_MAX))],
    )
    assert hello.code is grpc.StatusCode.INVALID_ARGUMENT, hello
    assert violations(hello) == ["hello.after_sequence"]


async def test_one_subscribers_unreadable_window_never_stalls_the_others(database_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url)
    db = Database(database_url, threads=4, publisher=wire_notices.publish)
    dispatcher = Dispatcher(db, poll_interval_s=0.2)
    await dispatcher.start()
    try:
        # A cursor past its stream (the contract admits up to 10^18) is refused when the stream opens.
        with pytest.raises(InvalidArgument) as refused:
            async with dispatcher.subscription(Channel.NOTIFICATIONS, "agg-evil", INT64_MAX):
                pass
        assert (refused.value.reason, refused.value.metadata) == (
            CURSOR_BEYOND_STREAM,
            {"last_sequence": "0"},
        )
        async with (
            dispatcher.subscription(Channel.NOTIFICATIONS, "agg-evil", 0) as evil,
            dispatcher.subscription(Channel.NOTIFICATIONS, "agg-good", 0) as good,
        ):
            # The guard behind that check: a position no store integer can hold past (its window end
            # overflows 64 bits), set in memory as no request can any more, and read again.
            evil.position, evil.catching_up = INT64_MAX, True
            dispatcher.request(evil)
            for n in range(2):  # the first round and every later one reach the other subscriber
                await db.write(enqueue([("agg-good", f"good {n}"), ("agg-evil", f"evil {n}")]))
                async with asyncio.timeout(WAIT_S):
                    item = await good.get()
                assert text_of(wire_outbox.notification_from(item)) == f"good {n}"
            # Where the store refuses the window (SQLite), that stream alone is ended with a reason.
            if database_url.startswith("sqlite"):
                with pytest.raises(InvalidArgument) as ended:
                    async with asyncio.timeout(WAIT_S):
                        await evil.get()
                assert ended.value.reason == BAD_CURSOR
    finally:
        await dispatcher.stop()
        await db.close()


# -- finding 5: crafted token headers are UNAUTHENTICATED with a precise reason -------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": DEV_ISSUER,
        "sub": "vgi://operator/op-1",
        "aud": ["vgi.operator"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        **changes,
    }


def _signed(
    key: Any, header: Any, claims: Any, *, raw_header: bytes | None = None, raw_body: bytes | None = None
) -> str:
    """A token signed with the trusted key whatever its header holds (pyjwt would refuse to make some)."""
    head = _b64(raw_header if raw_header is not None else json.dumps(header).encode())
    body = _b64(raw_body if raw_body is not None else json.dumps(claims).encode())
    signature = jwt.get_algorithm_by_name("ES256").sign(f"{head}.{body}".encode(), key)
    return f"{head}.{body}.{_b64(signature)}"


def crafted_tokens(root: Any) -> dict[str, tuple[str, str]]:
    """name → (token, expected reason)."""
    key, kid = load_jwt_signing_key(root)
    header = _b64(json.dumps({"alg": "ES256", "kid": kid}).encode())
    return {
        "kid as a list": (_signed(key, {"alg": "ES256", "kid": [kid]}, _claims()), "TOKEN_UNKNOWN_KID"),
        "crit exp": (
            _signed(key, {"alg": "ES256", "kid": kid, "crit": ["exp"]}, _claims()),
            "TOKEN_MALFORMED",
        ),
        "header not utf-8": (_signed(key, None, _claims(), raw_header=b"\xb7\xff{"), "TOKEN_MALFORMED"),
        "header a list": (_signed(key, None, _claims(), raw_header=b"[1,2]"), "TOKEN_MALFORMED"),
        "alg a list": (_signed(key, {"alg": ["ES256"], "kid": kid}, _claims()), "TOKEN_BAD_ALGORITHM"),
        "exp beyond a float": (
            _signed(key, {"alg": "ES256", "kid": kid}, _claims(exp=10**400)),
            "TOKEN_MALFORMED",
        ),
        "unsigned garbage": (f"{header}.{_b64(b'{')}.AAAA", "TOKEN_BAD_SIGNATURE"),
        "payload not json": (
            _signed(key, {"alg": "ES256", "kid": kid}, None, raw_body=b"\xb7{"),
            "TOKEN_MALFORMED",
        ),
        "four segments": ("a.b.c.d", "TOKEN_MALFORMED"),
    }


def test_crafted_token_headers_are_unauthenticated_without_library_text(dev_credentials: Any) -> None:
    verifier = TokenVerifier(KeySet(dev_credentials.layout.jwks), DEV_ISSUER)
    for name, (token, reason) in crafted_tokens(dev_credentials.layout.root).items():
        with pytest.raises(Unauthenticated) as refused:
            verifier.verify(token, "vgi.operator")
        assert refused.value.reason == reason, name
        for word in LEAKS:
            assert word not in refused.value.message, (name, refused.value.message)


async def test_crafted_token_headers_answer_unauthenticated_over_the_wire(
    platform: Any, caplog: pytest.LogCaptureFixture
) -> None:
    target = rpc("/vgi.operator.v1.OperatorService/ListAggregators")
    for name, (token, reason) in crafted_tokens(platform.credentials.layout.root).items():
        outcome = await call(platform.channel_for("vgi://operator/op-1", token=token), target)
        assert outcome.code is grpc.StatusCode.UNAUTHENTICATED, (name, outcome)
        assert outcome.reason == reason, (name, outcome)
        assert_clean(outcome)
    assert not [r for r in caplog.records if r.exc_info], "a crafted token logged a traceback"


# -- finding 7: out-of-range timestamps are INVALID_ARGUMENT with a field path -------------------

EXTREME_TIMES = [
    timestamp_pb2.Timestamp(seconds=253402300799, nanos=999_999_999),
    timestamp_pb2.Timestamp(seconds=-62135596800),
    timestamp_pb2.Timestamp(seconds=2**40),
    timestamp_pb2.Timestamp(seconds=0, nanos=-1),
]


async def test_out_of_range_timestamps_are_invalid_argument_with_their_field(platform: Any) -> None:
    aggregator = rpc("/vgi.aggregator.v1.AggregatorService/GetAdjustableCapacity")
    dispatch = rpc("/vgi.dispatch.v1.DispatchService/GetAdjustableCapacity")
    for stamp in EXTREME_TIMES:
        outcome = await call(
            platform.channel_for(AGGREGATOR),
            aggregator,
            agg_pb.GetAdjustableCapacityRequest(forecast_day_start_time=stamp),
        )
        assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, (stamp, outcome)
        assert violations(outcome) == ["forecast_day_start_time"], outcome
        assert violation_reasons(outcome) == {"TIMESTAMP_RANGE"}, outcome
        outcome = await call(
            platform.channel_for(GRID),
            dispatch,
            dispatch_pb.GetAdjustableCapacityRequest(scope="gridNodes/n-1", forecast_day_start_time=stamp),
        )
        assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, (stamp, outcome)
        assert violations(outcome) == ["forecast_day_start_time"], outcome


async def test_every_timestamp_of_a_request_is_range_checked_where_it_sits(platform: Any) -> None:
    # A timestamp inside an element of a repeated field: the path names the element.
    good = timestamp_pb2.Timestamp(seconds=1_700_000_000)
    request = device_pb.UploadMeterValuesRequest(
        request_id=str(uuid.uuid4()),
        values=[
            telemetry_pb2.MeterValue(charger_id=DEVICE.id, sample_time=good),
            telemetry_pb2.MeterValue(charger_id=DEVICE.id, sample_time=EXTREME_TIMES[2]),
        ],
    )
    outcome = await call(
        platform.channel_for(DEVICE), rpc("/vgi.device.v1.DeviceService/UploadMeterValues"), request
    )
    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert violations(outcome) == ["values[1].sample_time"], outcome


# -- finding 8: undecodable bytes are INVALID_ARGUMENT on every kind of RPC -----------------------

GARBAGE = [
    b"\xff\xff\xff\xff",
    b"\x0a\x05ab",
    b"\x08",
]  # bad tag; truncated length-delimited; truncated varint


async def _raw(channel: grpc.aio.Channel, target: Rpc, data: bytes) -> Outcome:
    kwargs: dict[str, Any] = {"request_serializer": None, "response_deserializer": None}
    if target.client_streaming and target.server_streaming:
        stream: Any = channel.stream_stream(target.path, **kwargs)(iter([data]), timeout=10)
    elif target.client_streaming:
        stream = channel.stream_unary(target.path, **kwargs)(iter([data]), timeout=10)
    elif target.server_streaming:
        stream = channel.unary_stream(target.path, **kwargs)(data, timeout=10)
    else:
        stream = channel.unary_unary(target.path, **kwargs)(data, timeout=10)
    code = await stream.code()
    return Outcome(code, await stream.details(), _status(await stream.trailing_metadata()))


async def test_undecodable_request_bytes_are_invalid_argument_on_unary_and_streams(platform: Any) -> None:
    targets = [
        (AGGREGATOR, rpc("/vgi.aggregator.v1.AggregatorService/UploadTelemetry")),
        (DEVICE, rpc("/vgi.device.v1.DeviceService/Connect")),
        (AGGREGATOR, rpc("/vgi.aggregator.v1.AggregatorService/StreamNotifications")),
        (GRID, rpc("/vgi.dispatch.v1.DispatchService/GetAdjustableCapacity")),
        (BY_ROLE[Role.OPERATOR], rpc("/vgi.operator.v1.OperatorService/ListAggregators")),
    ]
    for principal, target in targets:
        for data in GARBAGE:
            outcome = await _raw(platform.channel_for(principal), target, data)
            assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, (target, data, outcome)
            assert outcome.reason == "MALFORMED_MESSAGE", (target, outcome)
            assert_clean(outcome)


# -- found by the fuzz suite: an invalid request's request_id longer than the audit column ---------


async def test_an_overlong_request_id_is_invalid_argument_and_still_audited(platform: Any) -> None:
    from vgi.common.v1 import aggregator_pb2
    from vgi.operator.v1 import operator_service_pb2 as operator_pb

    outcome = await call(
        platform.channel,
        rpc("/vgi.operator.v1.OperatorService/CreateAggregator"),
        operator_pb.CreateAggregatorRequest(
            request_id="x" * 100_000,
            aggregator_id="agg-long",
            aggregator=aggregator_pb2.Aggregator(display_name="L"),
        ),
    )
    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert_clean(outcome)
    # Its audit row was written (cut to the column): an unwritable row would fail its whole
    # commit group, other callers' rows and answers included.
    listed = await call(
        platform.channel,
        rpc("/vgi.operator.v1.OperatorService/ListAuditRecords"),
        operator_pb.ListAuditRecordsRequest(method="/vgi.operator.v1.OperatorService/CreateAggregator"),
    )
    assert listed.code is grpc.StatusCode.OK
    records = await platform.db.read(
        lambda conn: conn.execute(sa.text("SELECT request_id, outcome FROM audit_log")).all()
    )
    assert [(r.request_id, r.outcome) for r in records] == [("x" * 128, "INVALID_ARGUMENT")]


async def test_a_nul_character_in_any_string_is_invalid_argument_on_either_store(platform: Any) -> None:
    # PostgreSQL's text columns cannot hold U+0000 (the fuzz suite found CreateAggregator answering
    # INTERNAL there); refused for every string of every request, with its path, before any handler.
    create = rpc("/vgi.operator.v1.OperatorService/CreateAggregator")
    request = create.request_type(
        request_id=str(uuid.uuid4()), aggregator_id="agg-nul", aggregator={"display_name": "A\x00B"}
    )
    outcome = await call(platform.channel, create, request)
    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert violations(outcome) == ["aggregator.display_name"], outcome
    assert violation_reasons(outcome) == {"STRING_NO_NUL"}, outcome
    assert not any(word in outcome.message for word in LEAKS), outcome.message
    upload = device_pb.UploadMeterValuesRequest(
        request_id=str(uuid.uuid4()),
        values=[telemetry_pb2.MeterValue(charger_id="ch\x00", sample_time={"seconds": 1_700_000_000})],
    )
    outcome = await call(
        platform.channel_for(DEVICE), rpc("/vgi.device.v1.DeviceService/UploadMeterValues"), upload
    )
    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert "values[0].charger_id" in violations(outcome), outcome
    with pytest.raises(NotFoundError):  # nothing was created
        await platform.operator.get_aggregator("aggregators/agg-nul")


async def test_a_money_amount_beyond_what_the_platform_represents_is_invalid_argument(platform: Any) -> None:
    # An outside attacker's PublishEvent with price_cap.units = 9223372037 answered INTERNAL (units × 10^9
    # overflowed a 64-bit column); every Money of every request is bounded with its path.
    from google.type import money_pb2
    from vgi.common.v1 import market_pb2

    for units, nanos in ((9_223_372_037, 0), (-(10**9) - 1, 0), (1, 1_000_000_000)):
        request = dispatch_pb.PublishEventRequest(
            request_id=str(uuid.uuid4()),
            event=market_pb2.Event(
                event_id="ev-money", price_cap=money_pb2.Money(currency_code="CNY", units=units, nanos=nanos)
            ),
        )
        outcome = await call(platform.grid, rpc("/vgi.dispatch.v1.DispatchService/PublishEvent"), request)
        assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT, (units, outcome)
        assert violations(outcome) == ["event.price_cap"], outcome
        assert violation_reasons(outcome) == {"MONEY_RANGE"}, outcome
        assert not any(word in outcome.message for word in LEAKS), outcome.message
