"""Scale-out fixtures: real ``vgi serve`` subprocesses (mutual TLS) over one PostgreSQL schema.

``database_url`` is overridden here to PostgreSQL only (several processes
over one SQLite file is not the deployment this suite is about); it skips
only when PostgreSQL does not answer and ``VGI_REQUIRE_POSTGRES`` is not "1".

``serve(database_url, count, *args, **settings)`` starts ``count`` processes
at once, each ``python -m server.cli serve`` on its own port with the
session's dev PKI, extra flags ``args`` and ``VGI_<SETTING>`` variables for
``settings``, and returns them once each has printed its "vgi: serving"
line. The fixture's store is migrated, so they start with ``--no-migrate``. Processes still running at teardown are
killed. Clients talk to them through the SDK: ``channel(credentials,
principal, targets)`` is ``clients.sdk.secure_channel`` over one target or
several (round_robin) with that principal's certificate and a bearer token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from conftest import PG_CONNINFO, DevCredentials
from vgi.common.v1 import aggregator_pb2

from clients.auth import bearer_interceptors
from clients.sdk import secure_channel
from domain.principal import Principal
from store import aggregators, migrate
from store.db import Database
from wire import notices as wire_notices

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
# Long enough that only a wake-up can explain a delivery within a test's bound.
SLOW_POLL_S = 30.0


@pytest.fixture
def database_url() -> Iterator[str]:
    try:
        with psycopg.connect(PG_CONNINFO) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        if os.environ.get("VGI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"VGI_REQUIRE_POSTGRES=1 but PostgreSQL does not answer: {exc}")
        pytest.skip(f"PostgreSQL does not answer on 127.0.0.1:5432: {exc}")
    with migrated_schema() as url:
        yield url


@contextlib.contextmanager
def migrated_schema() -> Iterator[str]:
    """A fresh, migrated PostgreSQL schema of database ``test`` (its URL), dropped afterwards."""
    schema = f"s_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """One ``vgi serve`` process (or the supervisor of ``--workers``)."""

    process: subprocess.Popen[bytes]
    port: int
    banner: str = ""
    log: Path = field(default_factory=Path)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, nothing."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def _environment(pki: Any, settings: dict[str, Any]) -> dict[str, str]:
    env = {**os.environ, "VGI_PKI_DIR": str(pki.root), "VGI_JWKS_FILE": str(pki.jwks)}
    env.update({f"VGI_{name.upper()}": str(value) for name, value in settings.items()})
    return env


async def _await_banner(server: Server) -> None:
    assert server.process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(server.process.stdout.readline), START_TIMEOUT_S)
    text = line.decode(errors="replace")
    if "vgi: serving" not in text:
        tail = server.log.read_text(errors="replace")[-2000:] if server.log.exists() else ""
        raise AssertionError(f"vgi serve did not start: {text!r}\n{tail}")
    server.banner = text.strip()


def _spawn(database_url: str, env: dict[str, str], logs: Path, args: list[str]) -> Server:
    port = free_port()
    log = logs / f"serve-{port}.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server.cli",
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--database",
                database_url,
                "--no-migrate",
                *args,
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    return Server(process, port, log=log)


Serve = Callable[..., Awaitable[list[Server]]]


@pytest.fixture
async def serve(dev_credentials: DevCredentials, tmp_path: Path) -> AsyncIterator[Serve]:
    started: list[Server] = []

    async def start(database_url: str, count: int = 2, *args: str, **settings: Any) -> list[Server]:
        env = _environment(dev_credentials.layout, {"delivery_poll_seconds": SLOW_POLL_S, **settings})
        servers = [_spawn(database_url, env, tmp_path, list(args)) for _ in range(count)]
        started.extend(servers)
        await asyncio.gather(*(_await_banner(server) for server in servers))
        return servers

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(timeout=10)
        if server.process.stdout is not None:
            server.process.stdout.close()


def channel(
    credentials: DevCredentials, principal: Principal, targets: str | Sequence[str], **options: Any
) -> grpc.aio.Channel:
    """An SDK mTLS channel as ``principal`` (certificate + bearer token) to one or several servers."""
    issued = credentials.issued(principal)
    return secure_channel(
        targets,
        root_certificates=credentials.ca_pem,
        private_key=issued.key_pem(),
        certificate_chain=issued.cert_pem(),
        interceptors=bearer_interceptors(credentials.token(principal.uri)),
        **options,
    )


@contextlib.asynccontextmanager
async def store(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, threads=2, publisher=wire_notices.publish)
    try:
        yield db
    finally:
        await db.close()


class Seeded:
    """What ``tests.dr.world.build`` needs of a platform, on a bare store (no server involved)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.operator = self

    async def create_aggregator(self, aggregator_id: str, aggregator: aggregator_pb2.Aggregator) -> None:
        now = datetime.now(UTC)
        await self.db.write(
            lambda conn: aggregators.create(
                conn,
                aggregator_id=aggregator_id,
                display_name=aggregator.display_name,
                unified_social_credit_code="",
                contact_email="",
                now=now,
            )
        )
