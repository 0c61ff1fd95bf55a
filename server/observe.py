"""The composition root's observability: tracing, metrics and logs set up from the settings.

Used by ``vgi serve`` (``server.cli``), each ``--workers`` process (``server.workers``) and the
benchmarks' platform.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server import config

if TYPE_CHECKING:
    from infra.observability import Observability


def setup_observability_for(settings: config.Settings, *, worker: int | None = None) -> Observability:
    """Tracing, metrics and logs as the settings say; worker i of ``--workers`` serves
    Prometheus on prometheus_port + i (one port cannot be served by several processes)."""
    from infra.observability import setup_observability

    return setup_observability(
        "vgi",
        sample_ratio=settings.trace_sample_ratio,
        log_level=settings.log_level.upper(),
        json_logs=settings.log_json,
        console=settings.trace_console,
        prometheus_port=(settings.prometheus_port + (worker or 0)) if settings.prometheus_port else None,
        admin_metrics=bool(settings.admin_listen),
        libraries_log_level=settings.log_level_libraries.upper(),
        access_log=settings.access_policy() != "off",
    )
