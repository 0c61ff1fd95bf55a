"""The ``vgi`` command: one CLI for the platform.

Each subcommand module exposes ``register(subparsers)``, which adds its parser
and sets ``func`` (taking the parsed namespace, returning an exit code).
Add a module to ``_COMMANDS`` to add a subcommand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from clients.simulate import cli as simulate_cli
from server import config, statements_cli, version
from server.observe import setup_observability_for
from server.ocpp import cli as ocpp_cli
from server.security import cli as security_cli

if TYPE_CHECKING:
    pass

Register = Callable[[Any], None]


def _register_serve(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the platform's gRPC surfaces",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="environment variables (override --config, overridden by flags):\n"
        + "\n".join(
            f"  {env:32} {doc} (default: {default or 'empty'})" for env, default, doc in config.describe()
        ),
    )
    parser.add_argument(
        "--config", help="TOML settings file (keys named like the VGI_* variables, lowercase)"
    )
    parser.add_argument("--listen", help="host:port (default 127.0.0.1:50051)")
    parser.add_argument("--database", dest="database_url", help="SQLAlchemy database URL")
    parser.add_argument(
        "--services",
        type=lambda v: tuple(s for s in v.split(",") if s),
        help="comma-separated surfaces to serve",
    )
    parser.add_argument(
        "--insecure", action="store_true", default=None, help="plaintext, loopback only (dev)"
    )
    parser.add_argument(
        "--pki",
        dest="pki_dir",
        help="dev PKI directory from `vgi pki init`: TLS files, client CA and JWT key set",
    )
    parser.add_argument("--tls-cert", dest="tls_cert_file", help="PEM server certificate chain")
    parser.add_argument("--tls-key", dest="tls_key_file", help="PEM server private key")
    parser.add_argument("--tls-client-ca", dest="tls_client_ca_file", help="PEM CA for client certificates")
    parser.add_argument("--no-migrate", dest="migrate_on_start", action="store_false", default=None)
    parser.add_argument("--grace", dest="grace_seconds", type=float, help="shutdown grace period, seconds")
    parser.add_argument(
        "--workers", type=int, help="server processes sharing the port (SO_REUSEPORT); one per core"
    )
    parser.add_argument(
        "--simulated-clock",
        action="store_true",
        default=None,
        help="business time moves only by OperatorService.AdvanceClock (simulation/demo, loopback only)",
    )
    parser.add_argument("--ocpp-listen", dest="ocpp_listen", help="host:port of the OCPP gateway (wss)")
    parser.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from server.app import serve

    overrides = {
        name: getattr(args, name)
        for name in (
            "listen",
            "database_url",
            "services",
            "insecure",
            "pki_dir",
            "tls_cert_file",
            "tls_key_file",
            "tls_client_ca_file",
            "migrate_on_start",
            "grace_seconds",
            "workers",
            "simulated_clock",
            "ocpp_listen",
        )
    }
    from server import preflight

    try:
        settings = config.load(args.config, **overrides)
        settings.validate()
        # Bound with observability (by each worker), before the platform's own checks run.
        preflight.prometheus_port_free(settings)
        if settings.workers > 1:
            from infra.observability.logs import setup_logging
            from server.workers import supervise

            # The supervisor migrates and reports its workers: its lines are JSON like theirs.
            setup_logging(
                settings.log_level.upper(),
                json=settings.log_json,
                libraries_level=settings.log_level_libraries.upper(),
                access=settings.access_policy() != "off",
            )
            return supervise(settings)
        try:
            obs = setup_observability_for(settings)
        except ValueError as exc:  # the OTEL_* environment names something this build cannot do
            raise preflight.StartupError(str(exc)) from None
        try:
            asyncio.run(serve(settings, metrics_registry=obs.prometheus.registry if obs.prometheus else None))
        finally:
            obs.shutdown()
    except (ValueError, preflight.StartupError) as exc:
        print(f"vgi serve: {exc}", file=sys.stderr)
        return 2
    return 0


def _register_migrate(subparsers: Any) -> None:
    parser = subparsers.add_parser("migrate", help="apply or roll back database migrations")
    parser.add_argument("--config", help="TOML settings file")
    parser.add_argument("--database", dest="database_url", help="SQLAlchemy database URL (default: settings)")
    parser.add_argument("action", nargs="?", choices=("upgrade", "downgrade"), default="upgrade")
    parser.add_argument(
        "revision", nargs="?", help="target revision (upgrade: default head; downgrade: required)"
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="downgrade: confirm that the tables the undone revisions created are dropped with their rows",
    )
    parser.set_defaults(func=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    from server.preflight import shown_url
    from store import migrate
    from store.db import is_sqlite, sqlite_path

    try:
        settings = config.load(args.config, database_url=args.database_url)
        config.check_database_url(settings.database_url)
        path = sqlite_path(settings.database_url) if is_sqlite(settings.database_url) else None
        if path is not None and not path.parent.is_dir():
            raise ValueError(f"database_url: the directory {path.parent} of the SQLite file does not exist")
    except ValueError as exc:
        print(f"vgi migrate: {exc}", file=sys.stderr)
        return 2
    if args.action == "downgrade":
        if not args.revision:
            print("vgi migrate downgrade: give a revision (e.g. base or 0001_initial)", file=sys.stderr)
            return 2
        if not args.yes:
            # Downgrades drop tables, audit log included: never by a slip of the keyboard.
            print(
                f"vgi migrate downgrade: this deletes the tables (and every row in them) that revisions after "
                f"{args.revision} created in {shown_url(settings.database_url)}; add --yes to do it",
                file=sys.stderr,
            )
            return 2
        try:
            migrate.downgrade(settings.database_url, args.revision)
        except RuntimeError as exc:
            # A revision that refuses to undo itself (0020 while per-process audit chains hold rows).
            print(f"vgi migrate downgrade: {exc}", file=sys.stderr)
            return 2
    else:
        migrate.upgrade(settings.database_url, args.revision or "head")
    return 0


# The subcommands, in --help order. Other modules add theirs here.
_COMMANDS: list[Register] = [
    _register_serve,
    _register_migrate,
    security_cli.register,  # pki, token, audit
    simulate_cli.register,
    statements_cli.register,
    ocpp_cli.register,  # ocpp password
]


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic announces each of its plugins at INFO; only the migrations themselves are news.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="vgi", description="VGI platform (车网互动平台)")
    parser.add_argument("--version", action="version", version=f"vgi {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for register in _COMMANDS:
        register(subparsers)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
