"""JSON log lines: one object per line, the call's trace id, and never a token."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import grpc
import pytest
from opentelemetry.trace import SpanKind

from infra.observability.logs import REDACTED, FixedLine, redact, setup_logging
from infra.observability.metrics import Metrics
from interceptors.metrics import metrics_server_interceptor
from interceptors.tracing import tracing_server_interceptor

from .conftest import MakeTracing
from .echo_service import EchoService, path, serve, span

# A real ES256-shaped JWT (header {"alg":"ES256","typ":"JWT","kid":"k1"}).
JWT = (
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0"
    ".eyJzdWIiOiJ2Z2k6Ly9hZ2dyZWdhdG9yL2FnZy0xIiwiYXVkIjoidmdpLmFnZ3JlZ2F0b3IiLCJleHAiOjE5MDAwMDAwMDB9"
    ".MEUCIQDx3kq0b6Vh1fY2k7pX9vG3mQ8n5cR2tT1uW4yZ0aB3cAIgY7rX2pL9kQ1sV6wN3mB8hJ4fD5gE0tR7yU2iO9pA1s"
)
OPAQUE = "s3cr3t-opaque-access-token-value-42"
PRIVATE_KEY = (
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5\n-----END EC PRIVATE KEY-----"
)


async def test_lines_are_json_with_the_call_trace_id_and_no_token(
    memory_tracing: MakeTracing,
) -> None:
    provider, exporter = memory_tracing(1.0)
    out = io.StringIO()
    setup_logging(logging.DEBUG, json=True, stream=out)
    metadata = (("authorization", f"Bearer {JWT}"), ("x-api-key", OPAQUE))
    async with (
        serve(
            EchoService(), [tracing_server_interceptor(provider), metrics_server_interceptor(Metrics())]
        ) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        await channel.unary_unary(path("Unary"))(b"hello", metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError):
            await channel.unary_unary(path("Fail"))(JWT.encode(), metadata=metadata)

    raw = out.getvalue()
    assert JWT.split(".")[2] not in raw and JWT.split(".")[1] not in raw and OPAQUE not in raw
    lines = [json.loads(line) for line in raw.splitlines()]  # every line is one JSON object
    spans = {s.name: s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER}

    [saving] = [line for line in lines if line["message"].startswith("saving")]
    server = spans[span("Unary")]
    assert saving["trace_id"] == f"{server.context.trace_id:032x}"
    assert saving["span_id"] == f"{server.context.span_id:016x}"
    assert (saving["level"], saving["logger"]) == ("INFO", "tests.echo")
    assert "authorization" in saving["message"] and REDACTED in saving["message"]

    [failure] = [line for line in lines if line["message"] == "fail handler failed"]
    assert failure["trace_id"] == f"{spans[span('Fail')].context.trace_id:032x}"
    assert "ValueError" in failure["exception"] and REDACTED in failure["exception"]

    access = {line["method"]: line for line in lines if line["message"] == "rpc finished"}
    assert (access[path("Unary")]["code"], access[path("Unary")]["level"]) == ("OK", "INFO")
    assert (access[path("Fail")]["code"], access[path("Fail")]["level"]) == ("UNKNOWN", "WARNING")
    assert access[path("Unary")]["trace_id"] == saving["trace_id"]
    assert isinstance(access[path("Unary")]["duration_ms"], float)


def test_extra_fields_and_args_are_redacted_too() -> None:
    out = io.StringIO()
    setup_logging(logging.INFO, json=True, stream=out)
    logging.getLogger("tests.logs").warning(
        "issued %s with key %s", JWT, PRIVATE_KEY, extra={"token": JWT, "headers": {"authorization": OPAQUE}}
    )
    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert JWT not in out.getvalue() and OPAQUE not in out.getvalue() and "MHcCAQEE" not in out.getvalue()
    assert line["message"] == f"issued {REDACTED} with key {REDACTED}"
    assert line["token"] == REDACTED
    assert line["trace_id"] is None and line["principal"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {OPAQUE}", f"Authorization: {REDACTED}"),
        (f"[('authorization', 'Bearer {OPAQUE}')]", f"[('authorization', '{REDACTED}')]"),
        (
            f"_Metadatum(key='authorization', value='{OPAQUE}')",
            f"_Metadatum(key='authorization', value='{REDACTED}')",
        ),
        (f'{{"password": "{OPAQUE}"}}', f'{{"password": "{REDACTED}"}}'),
        (f"token={OPAQUE} rest", f"token={REDACTED} rest"),
        (f"jwt {JWT} end", f"jwt {REDACTED} end"),
        (f"key:\n{PRIVATE_KEY}\ndone", f"key:\n{REDACTED}\ndone"),
        # Dotted names are not tokens.
        (
            "/vgi.dispatch.v1.DispatchService/SubmitInstruction",
            "/vgi.dispatch.v1.DispatchService/SubmitInstruction",
        ),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_text_format_is_redacted_as_well() -> None:
    out = io.StringIO()
    setup_logging(logging.INFO, json=False, stream=out)
    logging.getLogger("tests.logs").info("got %s", f"Bearer {OPAQUE}")
    assert OPAQUE not in out.getvalue() and "got Bearer [REDACTED]" in out.getvalue()


def test_replaces_the_plain_handler_of_basic_config() -> None:
    # `vgi` calls logging.basicConfig before `serve` sets up JSON logging: its
    # handler must not go on printing every line a second time, unscrubbed.
    plain, out = io.StringIO(), io.StringIO()
    logging.getLogger().addHandler(logging.StreamHandler(plain))
    setup_logging(logging.INFO, json=True, stream=out)
    logging.getLogger("tests.logs").info("got %s", f"Bearer {OPAQUE}")
    assert plain.getvalue() == ""
    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert line["message"] == f"got Bearer {REDACTED}"


@pytest.mark.parametrize(
    "text",
    [
        "rpc finished",
        "ipv4:127.0.0.1:45678",
        "/vgi.operator.v1.BenchEchoService/Echo",
        f"Authorization: Bearer {OPAQUE}",
        f"AUTHORIZATION: BEARER {OPAQUE}",
        f"[('authorization', 'Bearer {OPAQUE}')]",
        f"x-api-key={OPAQUE}; Set-Cookie: {OPAQUE}",
        f'{{"Password": "{OPAQUE}", "client_secret": \'{OPAQUE}\'}}',
        f"refresh_token={OPAQUE} id_token:{OPAQUE}",
        f"jwt {JWT} end",
        f"dotted {OPAQUE}.{OPAQUE}.{OPAQUE}",
        f"key:\n{PRIVATE_KEY}\ndone",
        f"-----BEGIN EC PRIVATE KEY----- cut {OPAQUE}",
        # Non-ASCII: IGNORECASE folds ſ to s and the Kelvin sign to k, which lower() does not.
        f"ſecret={OPAQUE}",
        f"private_\u212aey={OPAQUE}",
        f"tökén={OPAQUE} bearer {OPAQUE}",
    ],
)
def test_redact_answers_as_every_pattern_in_turn(text: str) -> None:
    from infra.observability.logs import redact_all

    assert redact(text) == redact_all(text)


class _Counting(logging.Filter):
    """A logger filter that lets every record through and counts them: its presence alone sends
    ``FixedLine`` down the ordinary record path."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return True


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_a_fixed_line_written_directly_is_the_line_of_the_record_path(level: int) -> None:
    out = io.StringIO()
    setup_logging(logging.INFO, json=True, stream=out)
    logger = logging.getLogger("tests.fixed")
    line = FixedLine(logger, "rpc finished")
    fields: dict[str, object] = {
        "method": "/vgi.operator.v1.OperatorService/GetAggregator",
        "code": "OK",
        "duration_ms": 0.125,
        "peer": f"ipv4:127.0.0.1:4242 authorization={OPAQUE}",
        "request_id": f"Bearer {OPAQUE}",
        "count": 3,
        "flag": True,
        "nothing": None,
        "nested": {"password": OPAQUE},
    }
    line.log(level, fields)  # direct: the installed handler alone, untouched
    counting = _Counting()
    logger.addFilter(counting)
    try:
        line.log(level, fields)  # the same line through a LogRecord, the logger's filter and the handler's
    finally:
        logger.removeFilter(counting)

    assert len(counting.records) == 1  # the second line went the record way, the first did not
    assert OPAQUE not in out.getvalue()
    direct, recorded = (json.loads(text) for text in out.getvalue().splitlines())
    assert list(direct) == list(recorded)  # the same fields in the same order
    assert direct.pop("time")[:10] == recorded.pop("time")[:10]
    assert direct == recorded
    assert (direct["level"], direct["message"], direct["request_id"]) == (
        logging.getLevelName(level),
        "rpc finished",
        f"Bearer {REDACTED}",
    )


def test_a_fixed_line_reaches_any_other_handler_as_a_record() -> None:
    # tests/hardening's ServerErrors, caplog, an embedding's handler: each sees a LogRecord with the fields.
    out = io.StringIO()
    setup_logging(logging.INFO, json=True, stream=out)
    logger = logging.getLogger("tests.fixed")
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        FixedLine(logger, "rpc finished").log(logging.WARNING, {"code": "INTERNAL", "method": "/a.B/C"})
    finally:
        logger.removeHandler(handler)
    [record] = seen
    assert (record.getMessage(), record.__dict__["code"], record.__dict__["method"]) == (
        "rpc finished",
        "INTERNAL",
        "/a.B/C",
    )
    [printed] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert (printed["code"], printed["level"]) == ("INTERNAL", "WARNING")


def test_a_fixed_line_below_the_level_is_not_written() -> None:
    out = io.StringIO()
    setup_logging(logging.INFO, json=True, stream=out, access=False)
    FixedLine(logging.getLogger("vgi.access"), "rpc finished").log(logging.INFO, {"code": "OK"})
    assert out.getvalue() == ""


def test_line_times_are_the_record_times_as_datetime_formats_them() -> None:
    from infra.observability.logs import _iso_time

    second = 1_765_000_000
    times = [second + n / 10_000_000 for n in range(0, 10_000_000, 997)]
    times += [second + 0.9999995, second + 0.0000005, second + 0.0005, second + 0.9995, 0.0, 86_399.9999996]
    for created in times:
        assert _iso_time(created) == datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


SAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
EVERY_CALL = {("Unary", False), ("Unary", True), ("NotFound", False), ("Fail", False)}


@pytest.mark.parametrize(
    ("policy", "slow_s", "logged"),
    [
        ("all", 1.0, EVERY_CALL),
        ("sampled", 1.0, {("Unary", True), ("NotFound", False), ("Fail", False)}),
        ("errors", 1.0, {("NotFound", False), ("Fail", False)}),
        ("errors", 0.0, EVERY_CALL),  # every call is "slow" from 0 s
        ("off", 1.0, {("Fail", False)}),  # the server fault's WARNING stays
    ],
)
async def test_the_access_policy_chooses_which_calls_get_a_line(
    memory_tracing: MakeTracing, policy: str, slow_s: float, logged: set[tuple[str, bool]]
) -> None:
    provider, _ = memory_tracing(0.0)  # no root call is sampled; a sampled caller is followed
    out = io.StringIO()
    setup_logging(logging.INFO, json=True, stream=out, access=policy != "off")
    chain = [
        tracing_server_interceptor(provider),
        metrics_server_interceptor(Metrics(), access=policy, slow_s=slow_s),
    ]
    async with serve(EchoService(), chain) as port, grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await channel.unary_unary(path("Unary"))(b"root")
        await channel.unary_unary(path("Unary"))(b"traced", metadata=(("traceparent", SAMPLED_PARENT),))
        for method in ("NotFound", "Fail"):
            with pytest.raises(grpc.aio.AioRpcError):
                await channel.unary_unary(path(method))(b"x")

    lines = [json.loads(text) for text in out.getvalue().splitlines()]
    access = [line for line in lines if line["message"] == "rpc finished"]
    assert {(line["method"].rpartition("/")[2], line["trace_id"] is not None) for line in access} == logged
    assert len(access) == len(logged)
