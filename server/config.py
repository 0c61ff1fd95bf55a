"""Server settings: documented defaults, overridden by a TOML file, then by ``VGI_*`` environment variables.

Precedence (lowest first): the defaults below → the TOML file (``--config``,
keys named like the fields) → ``VGI_<FIELD>`` environment variables → the
command-line flags of ``vgi serve``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "VGI_"


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

    def listen_host(self) -> str:
        host, _, _ = self.listen.rpartition(":")
        return host.strip("[]")

    def validate(self) -> None:
        """Refuse settings that would serve the wrong thing or serve it unsafely."""
        if self.insecure:
            if not _is_loopback(self.listen_host()):
                raise ValueError(f"--insecure is only allowed on a loopback address, not {self.listen}")
        elif not (self.tls_cert_file and self.tls_key_file and self.tls_client_ca_file):
            raise ValueError(
                "TLS needs tls_cert_file, tls_key_file and tls_client_ca_file "
                "(or pass --insecure on a loopback address for development)"
            )
        if self.grace_seconds < 0 or self.health_interval_seconds <= 0 or self.db_threads < 1:
            raise ValueError("grace_seconds, health_interval_seconds and db_threads must be positive")


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
        with open(config_file, "rb") as f:
            values.update(_from_mapping(tomllib.load(f), source=str(config_file)))
    env = os.environ if environ is None else environ
    values.update(
        _from_mapping(
            {name: env[ENV_PREFIX + name.upper()] for name in _FIELDS if ENV_PREFIX + name.upper() in env},
            source="environment",
        )
    )
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _from_mapping(raw: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    unknown = set(raw) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown settings in {source}: {', '.join(sorted(unknown))}")
    return {name: _coerce(name, value) for name, value in raw.items()}


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
        raise ValueError(f"{name}: expected a boolean, got {value!r}")
    if isinstance(default, tuple):
        items = value if isinstance(value, list) else str(value).split(",")
        return tuple(str(item).strip() for item in items if str(item).strip())
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
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
