"""Token-bucket rate limiting per (principal, method class), in process.

Each method class (``vgi.common.v1.MethodClass`` without its prefix: READ,
WRITE, BULK, STREAM) has its own rate and burst; a class that is not
configured, UNSPECIFIED included, shares the READ bucket, as the proto says.

Buckets are created full on first use, so a bucket that has refilled and sat
unused is indistinguishable from a missing one: such idle buckets are swept
away periodically and memory stays proportional to the principals active
recently, not to every principal ever seen.

The clock is passed in (monotonic seconds) and nothing blocks. Not
thread-safe: one limiter per event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_CLASS = "READ"


@dataclass(frozen=True)
class BucketSpec:
    """``rate_per_s`` tokens are added each second up to ``burst``; a call takes one."""

    rate_per_s: float
    burst: float

    def __post_init__(self) -> None:
        if not self.rate_per_s > 0 or not self.burst >= 1:
            raise ValueError(f"need rate_per_s > 0 and burst >= 1, got {self}")


def parse_limits(config: Mapping[str, Mapping[str, float]]) -> dict[str, BucketSpec]:
    """``{"read": {"rate_per_s": 50, "burst": 100}, ...}`` → specs keyed by upper-case class."""
    specs: dict[str, BucketSpec] = {}
    for name, values in config.items():
        unknown = set(values) - {"rate_per_s", "burst"}
        if unknown:
            raise ValueError(f"rate limit {name!r}: unknown keys {sorted(unknown)}")
        specs[name.upper()] = BucketSpec(float(values["rate_per_s"]), float(values["burst"]))
    return specs


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float):
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """``try_acquire`` takes one token or says how long until one is available."""

    def __init__(self, limits: Mapping[str, BucketSpec], *, idle_evict_s: float = 300.0):
        if DEFAULT_CLASS not in limits:
            raise ValueError(f"limits must configure the {DEFAULT_CLASS} class")
        self._limits = dict(limits)
        self._idle = idle_evict_s
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._next_sweep: float | None = None

    def __len__(self) -> int:
        """Buckets currently held (what eviction keeps bounded)."""
        return len(self._buckets)

    def try_acquire(self, key: tuple[str, str], now: float) -> float | None:
        """Take a token for ``(principal_uri, method_class)`` at monotonic ``now``.

        Returns None when allowed, else the seconds after which a retry can
        succeed (for RetryInfo).
        """
        principal, method_class = key
        if method_class not in self._limits:
            method_class = DEFAULT_CLASS
            key = (principal, method_class)
        spec = self._limits[method_class]
        if self._next_sweep is None:
            self._next_sweep = now + self._idle
        elif now >= self._next_sweep:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = _Bucket(spec.burst - 1.0, now)
            return None
        tokens = min(spec.burst, bucket.tokens + (now - bucket.stamp) * spec.rate_per_s)
        bucket.stamp = now
        if tokens >= 1.0:
            bucket.tokens = tokens - 1.0
            return None
        bucket.tokens = tokens
        return (1.0 - tokens) / spec.rate_per_s

    def _sweep(self, now: float) -> None:
        """Drop buckets unused for ``idle_evict_s`` that have refilled completely.

        Runs once per ``idle_evict_s``, so its O(buckets) cost is spread over
        every call made in that interval.
        """
        self._next_sweep = now + self._idle
        idle = []
        for key, bucket in self._buckets.items():
            spec = self._limits[key[1]]
            quiet = now - bucket.stamp
            if quiet >= self._idle and bucket.tokens + quiet * spec.rate_per_s >= spec.burst:
                idle.append(key)
        for key in idle:
            del self._buckets[key]
