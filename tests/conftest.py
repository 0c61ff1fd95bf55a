"""Shared fixtures: a real database (SQLite and PostgreSQL) and a real platform on an ephemeral port.

``database_url`` runs each test that uses it twice: on a fresh SQLite file and
on a fresh PostgreSQL schema (``search_path`` set by URL, so Alembic and the
app see only that schema; dropped afterwards). PostgreSQL is skipped only when
it does not answer on 127.0.0.1:5432 and ``VGI_REQUIRE_POSTGRES`` is not "1".
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from clients.sdk import OperatorClient, channel_options, insecure_channel
from server.app import Platform
from server.config import Settings
from store.db import Database

PG_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=2"


@functools.cache
def _postgres_error() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    try:
        with psycopg.connect(PG_CONNINFO) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__
    return None


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'vgi.db'}"
        return
    error = _postgres_error()
    if error is not None:
        if os.environ.get("VGI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"VGI_REQUIRE_POSTGRES=1 but PostgreSQL does not answer: {error}")
        pytest.skip(f"PostgreSQL does not answer on 127.0.0.1:5432: {error}")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@dataclass
class RunningPlatform:
    """A started Platform plus a channel and SDK clients pointed at it."""

    platform: Platform
    target: str
    channel: grpc.aio.Channel
    operator: OperatorClient

    @property
    def db(self) -> Database:
        assert self.platform.db is not None, "platform is stopped"
        return self.platform.db


PlatformFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningPlatform]]


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for an in-process test server: loopback, port 0, plaintext, fast health checks."""
    base = Settings(
        listen="127.0.0.1:0",
        database_url=database_url,
        insecure=True,
        grace_seconds=5.0,
        db_threads=4,
        health_interval_seconds=0.05,
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def platform_factory() -> PlatformFactory:
    """``async with platform_factory(url, extra_handlers=..., credentials=..., **settings) as running: ...``

    Without ``credentials`` the server listens in plaintext on loopback;
    with them, pass the TLS settings too (``insecure=False, tls_cert_file=...``).
    """

    @contextlib.asynccontextmanager
    async def start(
        database_url: str,
        *,
        extra_handlers: Sequence[grpc.GenericRpcHandler] = (),
        credentials: grpc.ChannelCredentials | None = None,
        **overrides: Any,
    ) -> AsyncIterator[RunningPlatform]:
        platform = Platform(make_settings(database_url, **overrides), extra_handlers=extra_handlers)
        await platform.start()
        target = f"127.0.0.1:{platform.port}"
        channel = (
            insecure_channel(target)
            if credentials is None
            else grpc.aio.secure_channel(target, credentials, options=channel_options())
        )
        try:
            yield RunningPlatform(platform, target, channel, OperatorClient(channel))
        finally:
            await channel.close()
            await platform.stop(grace=0)

    return start


@pytest.fixture
async def platform(database_url: str, platform_factory: PlatformFactory) -> AsyncIterator[RunningPlatform]:
    """The whole platform (all surfaces, the full interceptor chain) on a migrated store."""
    async with platform_factory(database_url) as running:
        yield running
