"""Token buckets per (principal, method class): burst, refill, isolation, idle eviction."""

from __future__ import annotations

import pytest

from infra.security.ratelimit import BucketSpec, RateLimiter, parse_limits

A = "vgi://aggregator/agg-1"
B = "vgi://aggregator/agg-2"
LIMITS = {"READ": BucketSpec(rate_per_s=1.0, burst=3.0), "WRITE": BucketSpec(rate_per_s=0.5, burst=1.0)}


def test_burst_then_retry_after() -> None:
    limiter = RateLimiter(LIMITS)
    assert [limiter.try_acquire((A, "READ"), 100.0) for _ in range(3)] == [None, None, None]
    assert limiter.try_acquire((A, "READ"), 100.0) == 1.0
    assert limiter.try_acquire((A, "READ"), 100.0) == 1.0


def test_refill_over_time_is_capped_at_burst() -> None:
    limiter = RateLimiter(LIMITS)
    for _ in range(3):
        limiter.try_acquire((A, "READ"), 0.0)
    assert limiter.try_acquire((A, "READ"), 0.25) == 0.75
    assert limiter.try_acquire((A, "READ"), 0.5) == 0.5
    assert limiter.try_acquire((A, "READ"), 1.0) is None
    assert limiter.try_acquire((A, "READ"), 1.0) == 1.0
    # A long pause refills to burst, not beyond.
    assert [limiter.try_acquire((A, "READ"), 1000.0) for _ in range(4)] == [None, None, None, 1.0]


def test_other_principals_and_other_classes_have_their_own_buckets() -> None:
    limiter = RateLimiter(LIMITS)
    for _ in range(3):
        limiter.try_acquire((A, "READ"), 0.0)
    assert limiter.try_acquire((A, "READ"), 0.0) == 1.0
    assert limiter.try_acquire((B, "READ"), 0.0) is None
    assert limiter.try_acquire((A, "WRITE"), 0.0) is None
    assert limiter.try_acquire((A, "WRITE"), 0.0) == 2.0


def test_unconfigured_classes_share_the_read_bucket() -> None:
    limiter = RateLimiter(LIMITS)
    assert limiter.try_acquire((A, "UNSPECIFIED"), 0.0) is None
    assert limiter.try_acquire((A, "STREAM"), 0.0) is None
    assert limiter.try_acquire((A, "READ"), 0.0) is None
    assert limiter.try_acquire((A, "BULK"), 0.0) == 1.0
    assert len(limiter) == 1


def test_idle_buckets_are_evicted_so_many_principals_do_not_grow_memory() -> None:
    limiter = RateLimiter(LIMITS, idle_evict_s=60.0)
    limiter.try_acquire(("vgi://grid/grid-1", "READ"), 0.0)
    for i in range(10_000):
        assert limiter.try_acquire((f"vgi://device/ch-{i}", "READ"), 1.0) is None
    assert len(limiter) == 10_001
    # The first sweep is due at t=60; the device buckets were used at t=1, not yet idle for 60 s.
    limiter.try_acquire((A, "READ"), 60.0)
    assert len(limiter) == 10_001
    # Next sweep at t=120: everything but the caller itself has been idle >= 60 s and refilled.
    limiter.try_acquire((A, "READ"), 120.0)
    assert len(limiter) == 1
    # Each wave of principals is swept after it goes quiet: memory follows recent activity.
    for wave in range(3):
        start = 180.0 + 60.0 * wave
        for i in range(1_000):
            limiter.try_acquire((f"vgi://device/w{wave}-{i}", "READ"), start)
        assert len(limiter) == 1_000


def test_a_bucket_still_refilling_is_kept_and_its_debt_remembered() -> None:
    slow = {"READ": BucketSpec(rate_per_s=0.001, burst=2.0)}
    limiter = RateLimiter(slow, idle_evict_s=10.0)
    limiter.try_acquire((A, "READ"), 0.0)
    limiter.try_acquire((A, "READ"), 0.0)
    limiter.try_acquire((B, "READ"), 11.0)
    limiter.try_acquire((B, "READ"), 21.0)
    assert len(limiter) == 2
    # 21 s at 0.001/s refilled 0.021 of a token: a forgotten bucket would have allowed this call.
    assert limiter.try_acquire((A, "READ"), 21.0) == pytest.approx(0.979 / 0.001)


def test_evicted_bucket_comes_back_full() -> None:
    limiter = RateLimiter(LIMITS, idle_evict_s=10.0)
    for _ in range(3):
        limiter.try_acquire((A, "READ"), 0.0)
    limiter.try_acquire((B, "READ"), 10.0)
    limiter.try_acquire((B, "READ"), 20.0)
    assert len(limiter) == 1
    assert [limiter.try_acquire((A, "READ"), 20.0) for _ in range(4)] == [None, None, None, 1.0]


def test_parse_limits_from_configuration() -> None:
    assert parse_limits(
        {"read": {"rate_per_s": 50, "burst": 100}, "Bulk": {"rate_per_s": 0.5, "burst": 2}}
    ) == {
        "READ": BucketSpec(50.0, 100.0),
        "BULK": BucketSpec(0.5, 2.0),
    }
    with pytest.raises(ValueError, match="unknown keys"):
        parse_limits({"read": {"rate": 1, "burst": 1}})
    with pytest.raises(KeyError):
        parse_limits({"read": {"burst": 1}})
    with pytest.raises(ValueError, match="rate_per_s > 0"):
        BucketSpec(0.0, 10.0)
    with pytest.raises(ValueError, match="burst >= 1"):
        BucketSpec(1.0, 0.5)
    with pytest.raises(ValueError, match="READ"):
        RateLimiter({"WRITE": BucketSpec(1.0, 1.0)})
