"""Rate limiting: a token bucket per (principal, method class), from configuration.

The class is the RPC's ``method_class`` policy option (READ, WRITE, BULK,
STREAM; a class without its own limit shares READ's). A call finding its
bucket empty gets RESOURCE_EXHAUSTED, ErrorInfo reason RATE_LIMITED, a
QuotaFailure naming the bucket and a RetryInfo saying when a token will be
back. Health and reflection are exempt.

Buckets live in this process (one ``RateLimiter`` per server, i.e. per event
loop): with N server processes a principal spread over all of them gets up
to N times the configured rate, unless ``shared`` (rate_limit_backend =
redis) keeps them in Redis for all processes; see the README.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from vgi.common.v1 import options_pb2

from domain.errors import QuotaViolation, ResourceExhausted, Unauthenticated
from infra.observability.metrics import METRICS
from infra.security.ratelimit import DEFAULT_CLASS, BucketSpec, RateLimiter
from infra.security.ratelimit_redis import RedisRateLimiter
from interceptors.base import Context, Guard
from interceptors.context import current_principal
from interceptors.exempt import is_exempt
from interceptors.methods import MethodInfo

RATE_LIMITED = "RATE_LIMITED"
_PREFIX = "METHOD_CLASS_"
_CLASS_NAMES = {
    value: name.removeprefix(_PREFIX) for name, value in options_pb2.MethodClass.items() if value != 0
}


class RateLimitInterceptor(Guard):
    def __init__(
        self,
        limits: Mapping[str, BucketSpec],
        *,
        idle_evict_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        shared: RedisRateLimiter | None = None,
    ) -> None:
        super().__init__()
        self._limits = dict(limits)
        self._limiter = RateLimiter(self._limits, idle_evict_s=idle_evict_s)
        self._clock = clock
        self._shared = shared

    def applies(self, method: MethodInfo) -> bool:
        return not is_exempt(method)

    def checks(self, method: MethodInfo) -> list[Callable[[MethodInfo, Context], Any]]:
        # The local buckets answer inline; only the shared (Redis) ones need an await.
        return [self._check_shared if self._shared is not None else self.check]

    def check(self, method: MethodInfo, context: Context) -> None:
        principal_uri, method_class = self._bucket_of(method)
        self._refuse_if_empty(
            principal_uri,
            method_class,
            self._limiter.try_acquire((principal_uri, method_class), self._clock()),
        )

    async def _check_shared(self, method: MethodInfo, context: Context) -> None:
        assert self._shared is not None
        principal_uri, method_class = self._bucket_of(method)
        self._refuse_if_empty(
            principal_uri, method_class, await self._shared.try_acquire(principal_uri, method_class)
        )

    def _bucket_of(self, method: MethodInfo) -> tuple[str, str]:
        principal = current_principal()
        if principal is None:
            raise Unauthenticated("the call is not authenticated", reason="UNAUTHENTICATED")
        method_class = _CLASS_NAMES.get(method.method_class, DEFAULT_CLASS)
        if method_class not in self._limits:
            method_class = DEFAULT_CLASS
        return principal.uri, method_class

    def _refuse_if_empty(self, principal_uri: str, method_class: str, retry_after: float | None) -> None:
        if retry_after is None:
            return
        METRICS.ratelimit_rejected(method_class)
        spec = self._limits[method_class]
        raise ResourceExhausted(
            f"rate limit for {method_class} calls reached; retry in {retry_after:.3f}s",
            reason=RATE_LIMITED,
            retry_after_s=retry_after,
            violations=[
                QuotaViolation(
                    subject=f"{principal_uri}#{method_class}",
                    description=f"{spec.rate_per_s:g} calls/s, burst {spec.burst:g}",
                )
            ],
            metadata={"method_class": method_class},
        )
