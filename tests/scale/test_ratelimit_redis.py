"""Token buckets shared across processes in Redis (rate_limit_backend = redis), and the fallback without Redis.

Needs Redis on 127.0.0.1:6379 (skipped when it does not answer, unless
VGI_REQUIRE_REDIS=1). Each test uses its own principal or key prefix, so
buckets left in Redis by other runs do not matter.
"""

from __future__ import annotations

import logging
import os
import uuid

import pytest
import redis
from conftest import DevCredentials
from operations.proxy import fault_proxy

from clients.errors import ResourceExhaustedError
from clients.sdk import OperatorClient
from domain.principal import Principal, Role
from infra.security.ratelimit import BucketSpec
from infra.security.ratelimit_redis import RedisRateLimiter

from .conftest import Serve, channel, free_port

pytestmark = pytest.mark.timeout(120)

REDIS_URL = "redis://127.0.0.1:6379/0"
# One token per 100 s: nothing refills during a test.
LIMITS = {"READ": BucketSpec(0.01, 3), "WRITE": BucketSpec(100, 200)}


@pytest.fixture(autouse=True)
def _redis_answers() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("VGI_REQUIRE_REDIS") == "1":
            pytest.fail(f"VGI_REQUIRE_REDIS=1 but Redis does not answer: {exc}")
        pytest.skip(f"Redis does not answer on 127.0.0.1:6379: {exc}")


async def test_two_limiters_share_one_bucket() -> None:
    prefix = f"vgi-test:{uuid.uuid4().hex}:"
    first, second = (RedisRateLimiter(REDIS_URL, LIMITS, key_prefix=prefix) for _ in range(2))
    try:
        taken = [
            await limiter.try_acquire("vgi://operator/op-1", "READ") for limiter in (first, second, first)
        ]
        assert taken == [None, None, None]
        wait = await second.try_acquire("vgi://operator/op-1", "READ")
        assert wait is not None and 99.0 < wait <= 100.0
        # Other classes (STREAM is not configured: it shares READ's bucket) and principals.
        assert await first.try_acquire("vgi://operator/op-1", "STREAM") is not None
        assert await first.try_acquire("vgi://operator/op-1", "WRITE") is None
        assert await second.try_acquire("vgi://operator/op-2", "READ") is None
        # The bucket expires in Redis once it would have refilled: about 300 s at 0.01/s.
        ttl = redis.Redis.from_url(REDIS_URL).pttl(f"{prefix}vgi://operator/op-1#READ")
        assert 299_000 < ttl <= 301_000
    finally:
        await first.aclose()
        await second.aclose()


async def test_without_redis_each_process_limits_on_its_own() -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0", LIMITS, timeout_s=0.2)
    try:
        taken = [await limiter.try_acquire("vgi://operator/op-1", "READ") for _ in range(4)]
        assert taken[:3] == [None, None, None]
        assert taken[3] is not None and 99.0 < taken[3] <= 100.0
    finally:
        await limiter.aclose()


async def test_a_redis_outage_is_said_once_and_its_end_too(caplog: pytest.LogCaptureFixture) -> None:
    """A WARNING when Redis goes away and an INFO when it answers again, not a WARNING a second."""
    caplog.set_level(logging.DEBUG, logger="infra.security.ratelimit_redis")
    now = [0.0]
    with fault_proxy(upstream_port=6379) as proxy:
        limiter = RedisRateLimiter(
            f"redis://127.0.0.1:{proxy.port}/0",
            LIMITS,
            key_prefix=f"vgi-test:{uuid.uuid4().hex}:",
            timeout_s=0.5,
            clock=lambda: now[0],
        )
        try:
            assert await limiter.try_acquire("vgi://operator/op-1", "WRITE") is None
            proxy.cut()
            for _ in range(5):  # five seconds of calls, Redis asked once a second
                now[0] += 1.0
                assert await limiter.try_acquire("vgi://operator/op-1", "WRITE") is None
            proxy.restore()
            now[0] += 1.0
            assert await limiter.try_acquire("vgi://operator/op-1", "WRITE") is None
        finally:
            await limiter.aclose()
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert [level for level, _ in said] == [logging.WARNING, logging.INFO], said
    assert said[0][1].startswith("rate limits: Redis unavailable (")
    assert said[1][1] == "rate limits: Redis answers again; buckets shared across processes"
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 4


async def test_two_processes_enforce_one_limit(
    database_url: str, serve: Serve, dev_credentials: DevCredentials
) -> None:
    a, b = await serve(
        database_url,
        2,
        rate_limit_backend="redis",
        redis_url=REDIS_URL,
        rate_limits="read=0.01/3,write=100/200,bulk=10/20,stream=20/40",
        # On a loaded machine Redis can take longer than the default 0.25 s to answer, and the process would
        # then limit on its own (tested above): what this test shows needs Redis's answer.
        redis_timeout_seconds=10.0,
    )
    operator = Principal(Role.OPERATOR, f"op-{uuid.uuid4().hex[:8]}")
    on_a, on_b = (OperatorClient(channel(dev_credentials, operator, s.target)) for s in (a, b))
    for client in (on_a, on_b, on_a):  # the burst of 3, spent across both processes
        await client.list_aggregators()
    with pytest.raises(ResourceExhaustedError) as limited:
        await on_b.list_aggregators()
    assert limited.value.reason == "RATE_LIMITED"
    assert limited.value.retry_delay is not None and 90.0 < limited.value.retry_delay <= 100.0
    assert [(v.subject, v.description) for v in limited.value.quota_violations] == [
        (f"{operator.uri}#READ", "0.01 calls/s, burst 3")
    ]
    with pytest.raises(ResourceExhaustedError):
        await on_a.list_aggregators()
