"""Call accounting: duration and status code of every call, open streams, and the access log line.

Goes right after tracing, before error mapping, so it sees the final code of
every call (rejections by auth, rate limit and validation included) and its
log lines carry the call's trace id. Per call: two ``perf_counter()`` reads
and, with a MeterProvider, one histogram cell update in process (the cell
bound once per method and code; the call counter reads its counts), then the
access line (``FixedLine``: ~15 µs where the JSON handler alone takes it).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from time import perf_counter
from typing import Any

import grpc
from opentelemetry import trace

from infra.observability.logs import FixedLine
from infra.observability.metrics import METRICS, Metrics, surface_of
from interceptors.base import Context, Interceptor, StreamBehavior, UnaryBehavior
from interceptors.methods import MethodInfo
from interceptors.tracing import SERVER_ERRORS, call_status, ended_by_client

access_log = logging.getLogger("vgi.access")
access_line = FixedLine(access_log, "rpc finished")
_NOT_A_SURFACE = ("/grpc.reflection.",)
_UNKNOWN_NAME_CHARS = 200

_Finish = Callable[[float, Context, BaseException | None, Any], None]


class MetricsInterceptor(Interceptor):
    """Records every call into ``metrics``; logs server faults (WARNING) and the other calls ``access``
    chooses (INFO, the access line; none when the ``vgi.access`` logger is above INFO):

    * ``all``: every call;
    * ``errors``: every call that did not end OK, and every call of at least ``slow_s``;
    * ``sampled``: those, and every call whose trace is sampled (so each traced call has its line);
    * ``off``: none (``setup_logging`` also raises the logger to WARNING).
    """

    def __init__(self, metrics: Metrics, *, access: str = "all", slow_s: float = 1.0) -> None:
        super().__init__()
        self._metrics = metrics
        self._logged = _access_policy(access, slow_s)

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return _measure(behavior, self._finisher(method, None), None)

    def wrap_stream_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        return self._measure_stream(method, behavior)

    def wrap_unary_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._measure_stream(method, behavior)

    def wrap_stream_stream(self, method: MethodInfo, behavior: StreamBehavior) -> StreamBehavior:
        return self._measure_stream(method, behavior)

    def unknown_method(self, method: str) -> None:
        """The access line of a call no handler serves (a client's typo or a scan of the server's names):
        code UNIMPLEMENTED, the name as asked (cut to 200 characters); no metric, whose cells a client
        could multiply by inventing names."""
        if not access_log.isEnabledFor(logging.INFO):
            return
        code = grpc.StatusCode.UNIMPLEMENTED
        if self._logged is not None and not self._logged(code, 0.0):
            return
        access_line.log(
            logging.INFO,
            {
                "method": method[:_UNKNOWN_NAME_CHARS],
                "code": code.name,
                "duration_ms": 0.0,
                "peer": None,
                "request_id": None,
            },
        )

    def _measure_stream(self, method: MethodInfo, behavior: Any) -> Any:
        if method.full_name.startswith(_NOT_A_SURFACE):
            # grpcurl's reflection stream is tooling, not a surface's open stream.
            return _measure(behavior, self._finisher(method, None), None)
        surface = surface_of(method.full_name)
        return _measure(
            behavior, self._finisher(method, surface), partial(self._metrics.stream_opened, surface)
        )

    def _finisher(self, method: MethodInfo, stream_surface: str | None) -> _Finish:
        """``finish(start, context, error)`` for one method; closes the stream count when it is a stream."""
        record = self._metrics.rpc_recorder(method.full_name)
        stream_closed = self._metrics.stream_closed
        name = method.full_name
        logged = self._logged

        def finish(start: float, context: Context, error: BaseException | None, request: Any) -> None:
            seconds = perf_counter() - start
            code = call_status(context, error)
            record(code, seconds)
            if stream_surface is not None:
                stream_closed(stream_surface)
            level = logging.WARNING if code in SERVER_ERRORS and not ended_by_client(error) else logging.INFO
            if not access_log.isEnabledFor(level) or (
                level == logging.INFO and logged is not None and not logged(code, seconds)
            ):
                return
            # principal and trace_id are added from the call's context, as on every JSON line.
            access_line.log(
                level,
                {
                    "method": name,
                    "code": code.name,
                    "duration_ms": round(seconds * 1000.0, 3),
                    "peer": context.peer(),
                    "request_id": getattr(request, "request_id", None) or None,
                },
            )

        return finish


def _access_policy(policy: str, slow_s: float) -> Callable[[grpc.StatusCode, float], bool] | None:
    """Whether a call that ended with (code, seconds) gets its INFO line; None: every call does."""
    if policy in ("all", "off"):
        return None
    ok = grpc.StatusCode.OK

    def notable(code: grpc.StatusCode, seconds: float) -> bool:
        return code is not ok or seconds >= slow_s

    if policy == "errors":
        return notable
    if policy != "sampled":
        raise ValueError(f"access log policy {policy!r} is not all, sampled, errors or off")

    def sampled_or_notable(code: grpc.StatusCode, seconds: float) -> bool:
        return (
            code is not ok
            or seconds >= slow_s
            or trace.get_current_span().get_span_context().trace_flags.sampled
        )

    return sampled_or_notable


def _measure(behavior: Any, finish: _Finish, opened: Callable[[], None] | None) -> Any:
    if inspect.isasyncgenfunction(behavior):

        async def measured_gen(request: Any, context: Context) -> AsyncIterator[Any]:
            start = perf_counter()
            if opened is not None:
                opened()
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as error:
                finish(start, context, error, request)
                raise
            finish(start, context, None, request)

        return measured_gen

    async def measured(request: Any, context: Context) -> Any:
        start = perf_counter()
        if opened is not None:
            opened()
        try:
            response = await behavior(request, context)
        except BaseException as error:
            finish(start, context, error, request)
            raise
        finish(start, context, None, request)
        return response

    return measured


def metrics_server_interceptor(
    metrics: Metrics = METRICS, *, access: str = "all", slow_s: float = 1.0
) -> Interceptor:
    """The accounting interceptor, SECOND in the server chain (right after tracing); ``access``: which
    calls get an access line (setting ``access_log``), ``slow_s``: ``access_log_slow_seconds``."""
    return MetricsInterceptor(metrics, access=access, slow_s=slow_s)
