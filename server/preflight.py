"""Start-up checks that look beyond the settings: files, the port, the store, the schema revision.

``Settings.validate`` refuses what the settings alone show to be wrong; this
module then checks what the machine says, in the order that leaves nothing
behind: the TLS and key files are readable and every fixed port (gRPC, admin) is free
(``before_migrating``), the store answers, and the database's schema revision
is one this build knows — and, with ``--no-migrate``, exactly its head
(``schema_revision``). Each failure is a ``StartupError`` whose message
is one line naming the setting or file and what to do; ``vgi serve`` prints it
and exits 2.
"""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from server.config import Settings
from store import migrate
from store.db import create_engine, is_sqlite, sqlite_path

CONNECT_TIMEOUT_S = 5


class StartupError(Exception):
    """The platform cannot start as configured; the message is one line for the operator."""


def before_migrating(settings: Settings, *, processes: int = 1) -> None:
    """``processes``: how many platform processes these settings start (the ``--workers`` supervisor
    checks for all of them; each worker then checks its own ports again)."""
    _files_readable(settings)
    ports_free(settings, processes=processes)
    _store_answers(settings)


def _files_readable(settings: Settings) -> None:
    """Every file the listener and the token verifier read, named by the setting that points at it."""
    if settings.pki_dir and not Path(settings.pki_dir).is_dir():
        raise StartupError(
            f"pki_dir: {settings.pki_dir} is not a directory "
            f"(create one with `vgi pki init --dir {settings.pki_dir}`)"
        )
    cert, key, client_ca = settings.tls_files()
    wanted = [("jwks_file", settings.jwks_path())]
    if not settings.insecure:
        wanted += [("tls_cert_file", cert), ("tls_key_file", key), ("tls_client_ca_file", client_ca)]
    for setting, path in wanted:
        try:
            Path(path).read_bytes()
        except OSError as exc:
            explicit = getattr(settings, setting)
            name = setting if explicit or not settings.pki_dir else "pki_dir"
            raise StartupError(f"{name}: cannot read {path}: {exc.strerror}") from None


def ports_free(settings: Settings, *, processes: int = 1) -> None:
    """Bind every fixed port of the platform once — the gRPC listener, the admin HTTP and gRPC health
    listeners: taken, or not ours to take, is said now rather than after migrating.

    Port 0 (a free one is picked) cannot be taken. Worker i of ``--workers`` listens on port + i on
    the admin ports, so ``processes`` ports from each are checked; the gRPC port they share.
    """
    _bind_once("listen", settings.listen, shared=settings.workers > 1)
    for setting in ("admin_listen", "admin_grpc_listen"):
        address = getattr(settings, setting)
        host, _, port = address.rpartition(":")
        if address and int(port):
            for index in range(processes):
                _bind_once(setting, f"{host}:{int(port) + index}")


def prometheus_port_free(settings: Settings) -> None:
    """The Prometheus endpoint's port (worker i of ``--workers``: port + i), checked by ``vgi serve``
    before it sets up observability, which binds it before the platform starts."""
    if settings.prometheus_port:
        for index in range(settings.workers):
            _bind_once("prometheus_port", f"127.0.0.1:{settings.prometheus_port + index}")


def _bind_once(setting: str, address: str, *, shared: bool = False) -> None:
    host, port = address.rpartition(":")[0].strip("[]"), int(address.rpartition(":")[2])
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"{setting}: cannot resolve {host!r}: {exc.strerror}") from None
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            # Workers share the port with SO_REUSEPORT; only a foreign listener is a conflict.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound: {exc.strerror}"
            raise StartupError(f"{setting}: {address} {why}") from None


def shown_url(url: str) -> str:
    """The database URL as it may be printed: without its password."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _store_answers(settings: Settings) -> None:
    if is_sqlite(settings.database_url):
        # SQLite creates the file on first use, but a directory is not created behind the operator's back.
        path = sqlite_path(settings.database_url)
        if path is not None and not path.parent.is_dir():
            raise StartupError(f"database_url: the directory {path.parent} of the SQLite file does not exist")
        return
    engine = create_engine(settings.database_url, pool_size=1, busy_timeout_ms=CONNECT_TIMEOUT_S * 1000)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise StartupError(
            f"database_url: cannot reach {shown_url(settings.database_url)}: {reason}"
        ) from None
    finally:
        engine.dispose()


def schema_revision(database_url: str, *, will_migrate: bool) -> None:
    """Refuse a database this build cannot serve: one a newer build migrated, or — when it will not
    migrate (``--no-migrate``) — one that is not at this build's head revision."""
    script = ScriptDirectory.from_config(migrate.alembic_config(database_url))
    head = script.get_current_head()
    engine = create_engine(database_url, pool_size=1)
    # Reading the revision is not news; alembic would announce its DDL mode at INFO.
    quiet = logging.getLogger("alembic.runtime.migration")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        quiet.setLevel(level)
        engine.dispose()
    if current == head:
        return
    where = shown_url(database_url)
    known = {revision.revision for revision in script.walk_revisions()}
    if current is not None and current not in known:
        raise StartupError(
            f"database_url: {where} is at revision {current}, newer than this vgi (head {head}); "
            f"run a newer vgi, or `vgi migrate downgrade {head} --yes` with the vgi that migrated it"
        )
    if will_migrate:
        return
    if current is None:
        raise StartupError(
            f"database_url: {where} has no schema; run `vgi migrate upgrade` (or start without --no-migrate)"
        )
    raise StartupError(
        f"database_url: {where} is at revision {current}, this vgi needs {head}; run `vgi migrate upgrade`"
    )
