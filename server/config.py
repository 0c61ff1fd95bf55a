"""Server settings: documented defaults, overridden by a TOML file, then by ``VGI_*`` environment variables.

Precedence (lowest first): the defaults below → the TOML file (``--config``,
keys named like the fields) → ``VGI_<FIELD>`` environment variables → the
command-line flags of ``vgi serve``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from infra.security.pki import PkiLayout
from infra.security.ratelimit import BucketSpec, parse_limits
from infra.security.tokens import DEV_ISSUER
from store.db import is_sqlite

ENV_PREFIX = "VGI_"
#: vgi.common.v1.MethodClass names without their prefix; UNSPECIFIED shares READ's bucket.
METHOD_CLASSES = frozenset({"READ", "WRITE", "BULK", "STREAM"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: Which calls get an access line (setting ``access_log``); see ``interceptors.metrics``.
ACCESS_POLICIES = ("all", "sampled", "errors", "off")
_ACCESS_WORDS = {word: "all" for word in ("true", "1", "yes", "on")} | {
    word: "off" for word in ("false", "0", "no")
}
#: The longest meter_value_retention_days (a hundred years): what a timedelta and a partition cut can hold.
MAX_RETENTION_DAYS = 36_500


@dataclass(frozen=True)
class Settings:
    listen: str = field(
        default="127.0.0.1:50051", metadata={"doc": "host:port to listen on; port 0 picks a free port"}
    )
    database_url: str = field(
        default="sqlite:///var/vgi.db",
        metadata={
            "doc": "SQLAlchemy URL: sqlite:///path (WAL file) or postgresql+psycopg://user@host:port/db"
        },
    )
    migrate_on_start: bool = field(
        default=True, metadata={"doc": "apply Alembic migrations up to head before serving"}
    )
    grace_seconds: float = field(
        default=10.0, metadata={"doc": "how long shutdown lets in-flight calls and streams finish"}
    )
    max_receive_message_bytes: int = field(
        default=4 * 1024 * 1024, metadata={"doc": "largest request message accepted"}
    )
    services: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "surfaces to serve (operator, dispatch, aggregator, device), comma-separated; empty means all"
        },
    )
    insecure: bool = field(
        default=False,
        metadata={"doc": "plaintext without TLS; refused unless listening on a loopback address"},
    )
    tls_cert_file: str = field(
        default="", metadata={"doc": "PEM server certificate chain (TLS with required client certificates)"}
    )
    tls_key_file: str = field(default="", metadata={"doc": "PEM private key of the server certificate"})
    tls_client_ca_file: str = field(
        default="", metadata={"doc": "PEM CA bundle that client certificates must chain to"}
    )
    pki_dir: str = field(
        default="",
        metadata={
            "doc": "dev PKI directory (vgi pki init): server.pem/.key, ca.pem as client CA and jwks.json, "
            "unless the tls_*/jwks_file settings name others; also enables IssueCredentials"
        },
    )
    jwks_file: str = field(
        default="", metadata={"doc": "JWKS of the public keys trusted to sign bearer tokens"}
    )
    secret_key_file: str = field(
        default="",
        metadata={
            "doc": "file holding the server's secret (64 hex digits) that authenticates page tokens; "
            "default pki_dir/server-secret.key (made by vgi pki init); kept out of the database"
        },
    )
    audit_checkpoint_file: str = field(
        default="",
        metadata={
            "doc": "file outside the database where the head of every audit chain (one per server "
            "process) is kept after its appends (HMAC under the server secret), so truncation, deletion "
            "and recomputation of a chain are detected; default pki_dir/audit-head.json"
        },
    )
    page_token_ttl_seconds: float = field(
        default=3600.0, metadata={"doc": "how long a next_page_token stays usable"}
    )
    token_issuer: str = field(default=DEV_ISSUER, metadata={"doc": "the iss every bearer token must carry"})
    token_leeway_seconds: float = field(
        default=30.0, metadata={"doc": "clock skew allowed on a token's exp and nbf"}
    )
    rate_limits: tuple[str, ...] = field(
        default=("read=500/1000", "write=100/200", "bulk=10/20", "stream=20/40"),
        metadata={
            "doc": "token buckets per principal and method class, CLASS=RATE_PER_S/BURST, comma-separated; "
            "unlisted classes share READ's"
        },
    )
    rate_limit_idle_seconds: float = field(
        default=300.0, metadata={"doc": "a full bucket unused this long is forgotten"}
    )
    max_streams_per_principal: int = field(
        default=32, metadata={"doc": "streaming calls one principal may hold open at once"}
    )
    stream_idle_timeout_seconds: float = field(
        default=300.0,
        metadata={"doc": "a client stream that sends nothing this long is ended with DEADLINE_EXCEEDED"},
    )
    max_pending_calls: int = field(
        default=100_000,
        metadata={
            "doc": "calls accepted but not yet started that the server holds before grpc cancels newer ones"
        },
    )
    max_batch_items: int = field(
        default=10000, metadata={"doc": "most items in one repeated field of a BULK request message"}
    )
    issue_credentials: bool = field(
        default=True,
        metadata={"doc": "serve IssueCredentials (dev/test only; needs pki_dir, whose CA key signs)"},
    )
    tenant_state_max_age_seconds: float = field(
        default=2.0,
        metadata={
            "doc": "how long a process trusts the aggregator state it read for the tenant gate; a change "
            "made by another process sharing the database is seen at most this late"
        },
    )
    db_threads: int = field(
        default=8, metadata={"doc": "worker threads (and pooled connections) running database transactions"}
    )
    health_interval_seconds: float = field(
        default=2.0, metadata={"doc": "how often the store is pinged to drive grpc.health.v1 status"}
    )
    heartbeat_timeout_seconds: float = field(
        default=120.0,
        metadata={"doc": "a charger is online while its last heartbeat or reading is at most this old"},
    )
    telemetry_max_skew_seconds: float = field(
        default=300.0, metadata={"doc": "telemetry timestamps later than now plus this are rejected"}
    )
    delivery_queue_size: int = field(
        default=1000,
        metadata={
            "doc": "items queued per open notification or setpoint stream; a live stream that falls "
            "further behind is ended with RESOURCE_EXHAUSTED (SLOW_CONSUMER)"
        },
    )
    monitor_interval_seconds: float = field(
        default=1.0,
        metadata={
            "doc": "how often this process's execution monitor looks for a finished minute of an executing "
            "event (each minute is done once whichever process claims it); 0 runs no monitor here"
        },
    )
    delivery_poll_seconds: float = field(
        default=1.0,
        metadata={"doc": "how often open streams re-check the store (items committed by other processes)"},
    )
    wakeup: str = field(
        default="auto",
        metadata={
            "doc": "how streams hear items committed by other processes: postgres (LISTEN/NOTIFY), local "
            "(this process's commits only; others' arrive by the poll), auto (postgres on PostgreSQL)"
        },
    )
    workers: int = field(
        default=1,
        metadata={
            "doc": "server processes sharing the listen port (SO_REUSEPORT), supervised by vgi serve; "
            "one per core"
        },
    )
    rate_limit_backend: str = field(
        default="memory",
        metadata={"doc": "where token buckets live: memory (per process) or redis (shared by processes)"},
    )
    redis_url: str = field(
        default="redis://127.0.0.1:6379/0", metadata={"doc": "Redis for rate_limit_backend = redis"}
    )
    redis_timeout_seconds: float = field(
        default=0.25,
        metadata={
            "doc": "how long a call waits for Redis's answer before its process limits on its own "
            "(rate_limit_backend = redis)"
        },
    )
    trace_sample_ratio: float = field(
        default=0.01,
        metadata={
            "doc": "share of root calls traced (parent-based: a sampled caller is always followed); "
            "export is set by the standard OTEL_* variables, nothing is exported when they are unset"
        },
    )
    trace_console: bool = field(
        default=False, metadata={"doc": "print spans and metrics to stdout (development)"}
    )
    prometheus_port: int = field(
        default=0,
        metadata={
            "doc": "also serve Prometheus metrics on 127.0.0.1:PORT; 0 disables this endpoint "
            "(the admin listener's /metrics needs none)"
        },
    )
    admin_listen: str = field(
        default="127.0.0.1:0",
        metadata={
            "doc": "plaintext HTTP host:port of /healthz, /readyz and /metrics for probes and scrapers, no "
            "client certificate (no business data); port 0 picks a free one; empty disables it; "
            "worker i of --workers listens on port + i"
        },
    )
    admin_grpc_listen: str = field(
        default="127.0.0.1:0",
        metadata={
            "doc": "plaintext gRPC host:port serving only grpc.health.v1 (Kubernetes gRPC probes, load "
            "balancers), no client certificate; port 0 picks a free one; empty disables it; worker i "
            "listens on port + i"
        },
    )
    retention_seconds: float = field(
        default=7 * 24 * 3600.0,
        metadata={
            "doc": "idempotency keys (a retry older than this runs again) and acknowledged outbox items "
            "older than this are purged; the audit log is never purged"
        },
    )
    meter_value_retention_days: float = field(
        default=0.0,
        metadata={
            "doc": "readings (meter_values) sampled more than this many days ago are purged by the retention "
            "task; on PostgreSQL whole UTC-day partitions are dropped (the cut rounded down to a day); "
            "0 keeps every reading (settlement and baselines read them)"
        },
    )
    retention_interval_seconds: float = field(
        default=600.0,
        metadata={
            "doc": "how often the purge runs (in batches of 500 rows, each its own transaction); 0: never"
        },
    )
    simulated_clock: bool = field(
        default=False,
        metadata={
            "doc": "business time (events, bids, telemetry, capacity) stands still until an operator calls "
            "AdvanceClock, which runs the scheduler and monitor up to the new time (simulation and demo "
            "only; loopback, one process; security keeps the real clock)"
        },
    )
    log_level: str = field(
        default="INFO", metadata={"doc": "the platform's own log level: DEBUG, INFO, WARNING or ERROR"}
    )
    log_level_libraries: str = field(
        default="INFO",
        metadata={
            "doc": "log level of third-party libraries (grpc, asyncio, SQLAlchemy, Alembic); DEBUG only "
            "when you need their internals (gRPC core's own lines: set GRPC_VERBOSITY=INFO)"
        },
    )
    access_log: str = field(
        default="sampled",
        metadata={
            "doc": "which calls get an INFO access line (peer, principal, method, code, duration_ms, "
            "request_id, trace_id): sampled (the default: calls whose trace is sampled, plus every non-OK "
            "call and every call of at least access_log_slow_seconds; with no trace exporter no call is "
            "sampled); all (every call); errors (only the non-OK and slow calls); off. Server-side "
            "failures' WARNING lines stay in every case; true / false mean all / off"
        },
    )
    access_log_slow_seconds: float = field(
        default=1.0,
        metadata={
            "doc": "a call this long or longer is a slow call, logged by access_log = sampled or errors"
        },
    )
    ocpp_listen: str = field(
        default="",
        metadata={
            "doc": "host:port of the OCPP 2.0.1/1.6J gateway (wss, security profiles 2 and 3, the TLS files "
            "of the gRPC listener); empty serves no gateway; port 0 picks a free port"
        },
    )
    log_json: bool = field(
        default=True, metadata={"doc": "JSON log lines carrying trace_id, span_id, principal and method"}
    )

    def access_policy(self) -> str:
        """``access_log`` as one of ``ACCESS_POLICIES`` (the boolean words of earlier releases mean all / off)."""
        text = self.access_log.strip().lower()
        policy = _ACCESS_WORDS.get(text, text)
        if policy not in ACCESS_POLICIES:
            raise ValueError(f"access_log: {self.access_log!r} is not one of {', '.join(ACCESS_POLICIES)}")
        return policy

    def heartbeat_timeout(self) -> timedelta:
        return timedelta(seconds=self.heartbeat_timeout_seconds)

    def max_skew(self) -> timedelta:
        return timedelta(seconds=self.telemetry_max_skew_seconds)

    def listen_host(self) -> str:
        host, _, _ = self.listen.rpartition(":")
        return host.strip("[]")

    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    def tls_files(self) -> tuple[str, str, str]:
        """(server certificate, server key, client CA): explicit settings win over the PKI directory's."""
        layout = PkiLayout(Path(self.pki_dir)) if self.pki_dir else None
        return (
            self.tls_cert_file or (str(layout.server_cert) if layout else ""),
            self.tls_key_file or (str(layout.server_key) if layout else ""),
            self.tls_client_ca_file or (str(layout.ca_cert) if layout else ""),
        )

    def jwks_path(self) -> str:
        return self.jwks_file or (str(PkiLayout(Path(self.pki_dir)).jwks) if self.pki_dir else "")

    def secret_key_path(self) -> str:
        return self.secret_key_file or (
            str(PkiLayout(Path(self.pki_dir)).server_secret) if self.pki_dir else ""
        )

    def audit_checkpoint_path(self) -> str:
        return self.audit_checkpoint_file or (
            str(PkiLayout(Path(self.pki_dir)).root / "audit-head.json") if self.pki_dir else ""
        )

    def rate_limit_specs(self) -> dict[str, BucketSpec]:
        """``rate_limits`` parsed: upper-case method class → bucket."""
        config: dict[str, dict[str, float]] = {}
        for item in self.rate_limits:
            name, _, spec = item.partition("=")
            rate, _, burst = spec.partition("/")
            try:
                config[name.strip()] = {"rate_per_s": float(rate), "burst": float(burst)}
            except ValueError:
                raise ValueError(f"rate_limits: {item!r} is not CLASS=RATE_PER_S/BURST") from None
        specs = parse_limits(config)
        unknown = set(specs) - METHOD_CLASSES
        if unknown:
            raise ValueError(f"rate_limits: unknown method classes {sorted(unknown)}")
        return specs

    def validate(self) -> None:
        """Refuse settings that would serve the wrong thing or serve it unsafely.

        Each refusal is one line naming the setting; nothing here touches the
        store, the network or the files (``server.preflight`` does, still before
        anything is migrated or bound).
        """
        for number in dataclasses.fields(self):
            value = getattr(self, number.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{number.name} must be a finite number, not {value}")
        _check_address("listen", self.listen)
        for setting in ("admin_listen", "admin_grpc_listen"):
            if getattr(self, setting):
                _check_address(setting, getattr(self, setting))
        if not 0 <= self.prometheus_port <= 65535:
            raise ValueError(f"prometheus_port: {self.prometheus_port} is not a port from 0 to 65535")
        check_database_url(self.database_url)
        for setting in ("log_level", "log_level_libraries"):
            if getattr(self, setting).upper() not in LOG_LEVELS:
                raise ValueError(
                    f"{setting}: {getattr(self, setting)!r} is not one of {', '.join(LOG_LEVELS)}"
                )
        self.access_policy()
        if self.access_log_slow_seconds < 0:
            raise ValueError("access_log_slow_seconds must not be negative")
        if not self.token_issuer:
            raise ValueError("token_issuer must not be empty")
        self.rate_limit_specs()
        if (
            min(self.max_streams_per_principal, self.max_batch_items, self.max_pending_calls) < 1
            or self.stream_idle_timeout_seconds <= 0
            or min(self.rate_limit_idle_seconds, self.token_leeway_seconds) < 0
        ):
            raise ValueError(
                "max_streams_per_principal, max_batch_items, max_pending_calls and stream_idle_timeout_seconds must be "
                "positive; rate_limit_idle_seconds and token_leeway_seconds not negative"
            )
        if self.tenant_state_max_age_seconds < 0:
            raise ValueError(
                "tenant_state_max_age_seconds must not be negative (0: read the state on every call)"
            )
        if self.insecure:
            if not _is_loopback(self.listen_host()):
                raise ValueError(f"--insecure is only allowed on a loopback address, not {self.listen}")
        elif not all(self.tls_files()):
            raise ValueError(
                "TLS needs tls_cert_file, tls_key_file and tls_client_ca_file, or pki_dir "
                "(or pass --insecure on a loopback address for development)"
            )
        if not self.jwks_path():
            raise ValueError("bearer tokens need a key set: set jwks_file or pki_dir (--pki)")
        if self.page_token_ttl_seconds <= 0:
            raise ValueError("page_token_ttl_seconds must be positive")
        if self.delivery_queue_size < 1 or self.delivery_poll_seconds <= 0:
            raise ValueError("delivery_queue_size and delivery_poll_seconds must be positive")
        if self.wakeup not in ("auto", "postgres", "local") or (
            self.wakeup == "postgres" and is_sqlite(self.database_url)
        ):
            raise ValueError("wakeup must be auto, local or postgres (postgres needs a PostgreSQL database)")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.simulated_clock and (not _is_loopback(self.listen_host()) or self.workers > 1):
            raise ValueError(
                f"simulated_clock is only allowed in one process on a loopback address, not {self.listen} "
                f"with {self.workers} workers"
            )
        if self.rate_limit_backend not in ("memory", "redis"):
            raise ValueError("rate_limit_backend must be memory or redis")
        if self.redis_timeout_seconds <= 0:
            raise ValueError("redis_timeout_seconds must be positive")
        if self.retention_seconds <= 0 or self.retention_interval_seconds < 0:
            raise ValueError("retention_seconds must be positive and retention_interval_seconds not negative")
        if not 0 <= self.meter_value_retention_days <= MAX_RETENTION_DAYS:
            raise ValueError(
                f"meter_value_retention_days must be between 0 and {MAX_RETENTION_DAYS} (0 keeps every reading)"
            )
        if self.ocpp_listen and (":" not in self.ocpp_listen or not all(self.tls_files())):
            raise ValueError("ocpp_listen needs host:port and the TLS files (tls_* settings or pki_dir)")
        if self.monitor_interval_seconds < 0:
            raise ValueError("monitor_interval_seconds must not be negative")
        if self.grace_seconds < 0 or self.health_interval_seconds <= 0 or self.db_threads < 1:
            raise ValueError("grace_seconds, health_interval_seconds and db_threads must be positive")


def _check_address(setting: str, address: str) -> None:
    """``host:port`` with a port in 0..65535 (0 picks a free one); IPv6 hosts in brackets."""
    host, sep, port = address.rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{setting}: {address!r} is not host:port with a port from 0 to 65535")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise ValueError(f"{setting}: {address!r}: write an IPv6 host in brackets, e.g. [::1]:50051")


def check_database_url(url: str) -> None:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ValueError(f"database_url: {url!r} is not a database URL") from None
    # Not get_driver_name(): it imports the dialect, which fails with a traceback for an unknown scheme.
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in ("sqlite", "postgresql") or (backend == "postgresql" and driver != "psycopg"):
        shown = parsed.render_as_string(hide_password=True)
        raise ValueError(
            f"database_url: {shown!r} is neither sqlite:///PATH nor postgresql+psycopg://USER@HOST:PORT/DB"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load(
    config_file: str | Path | None = None, environ: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Defaults ← TOML file ← environment ← ``overrides`` (None values are ignored); not yet validated."""
    values: dict[str, Any] = {}
    if config_file:
        try:
            with open(config_file, "rb") as f:
                raw = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"config file {config_file}: {reason}") from None
        values.update(
            _from_mapping(
                raw,
                source=f"config file {config_file}",
                label=lambda name: f"config file {config_file}: {name}",
            )
        )
    env = os.environ if environ is None else environ
    values.update(
        _from_mapping(
            {name: env[ENV_PREFIX + name.upper()] for name in _FIELDS if ENV_PREFIX + name.upper() in env},
            source="environment",
            label=lambda name: ENV_PREFIX + name.upper(),
        )
    )
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _from_mapping(raw: Mapping[str, Any], *, source: str, label: Callable[[str], str]) -> dict[str, Any]:
    unknown = set(raw) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown settings in {source}: {', '.join(sorted(unknown))}")
    values = {}
    for name, value in raw.items():
        try:
            values[name] = _coerce(name, value)
        except ValueError as exc:
            raise ValueError(f"{label(name)}: {exc}") from None
    return values


def _coerce(name: str, value: Any) -> Any:
    """Turn a TOML value or an environment string into the field's type."""
    default = _FIELDS[name].default
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {value!r}")
    if isinstance(default, tuple):
        items = value if isinstance(value, list) else str(value).split(",")
        return tuple(str(item).strip() for item in items if str(item).strip())
    try:
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError):
        kind = "an integer" if isinstance(default, int) else "a number"
        raise ValueError(f"expected {kind}, got {value!r}") from None
    return str(value)


def describe() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) rows, for ``vgi serve --help`` and the README."""
    rows = []
    for name, f in _FIELDS.items():
        default = f.default
        if isinstance(default, tuple):
            shown = ",".join(default)
        elif isinstance(default, bool):
            shown = str(default).lower()
        else:
            shown = str(default)
        rows.append((ENV_PREFIX + name.upper(), shown, f.metadata["doc"]))
    return rows
