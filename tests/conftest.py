"""Shared fixtures: a real database (SQLite and PostgreSQL) and a real, secured platform on an ephemeral port.

``database_url`` runs each test that uses it twice: on a fresh SQLite file and
on a fresh PostgreSQL schema (``search_path`` set by URL, so Alembic and the
app see only that schema; dropped afterwards). PostgreSQL is skipped only when
it does not answer on 127.0.0.1:5432 and ``VGI_REQUIRE_POSTGRES`` is not "1".

Security. ``dev_credentials`` (session) is one dev PKI made by
``infra.security.pki.init_pki`` in a temporary directory: the server
certificate, the client CA, the JWT key set, and client certificates and
tokens for ANY principal, issued on demand and cached. The ``platform``
fixture serves every surface with mutual TLS from it and the whole
interceptor chain. ``RunningPlatform`` gives tests authenticated clients:

* ``platform.channel_for("vgi://aggregator/agg-1")`` — an mTLS channel
  presenting that principal's certificate and sending a valid token for it
  (all four audiences) on every call; devices need their owning aggregator:
  ``channel_for("vgi://device/charger-1", aggregator_id="agg-1")``. Pass
  ``token="..."`` to send a token of your own, or ``token=None`` to send none.
  Channels with the default token are cached per principal and closed at teardown.
  An aggregator exists only once an operator created it (the tenant gate refuses
  the calls of any other with AGGREGATOR_NOT_ONBOARDED): before the first call
  of an aggregator's or device's channel, ``platform.onboard(aggregator_id)``
  creates that aggregator through the real OperatorService.CreateAggregator
  (ALREADY_EXISTS — the test created it itself — is fine). Pass
  ``onboard=False`` for a channel of an aggregator that must stay unknown.
* ``platform.channel`` / ``platform.operator`` — the channel and the SDK
  ``OperatorClient`` of ``vgi://operator/op-1``; ``platform.grid`` — the
  channel of ``vgi://grid/grid-1``; ``platform.channel_for_role(Role.DEVICE)`` — the channel
  of that role's default principal (``BY_ROLE``).
* ``platform.token_for(principal, audiences=..., ttl=..., now=...)`` — a
  token signed by the PKI's current key; ``platform.credentials`` — the
  ``DevCredentials`` (``.layout`` for file paths, ``.tls(principal)``).

``platform_factory(url, insecure=True)`` serves plaintext on loopback
instead; ``channel_for`` then gives plaintext channels with the token, whose
subject is the principal in that mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from onboarding import onboarding_interceptors
from sqlalchemy.engine import Connection

from application import aggregators as aggregator_cases
from application.uow import UnitOfWork
from clients.auth import bearer_interceptors
from clients.sdk import OperatorClient, channel_options
from domain.errors import AlreadyExists
from domain.principal import Principal, Role
from infra.security.identity import parse_principal_uri
from infra.security.pki import (
    CertificateAuthority,
    IssuedCert,
    PkiLayout,
    init_pki,
    load_jwt_signing_key,
)
from infra.security.tokens import AUDIENCES, DEV_ISSUER, issue_token
from server import clock
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
        (tmp_path / "db").mkdir()
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


class DevCredentials:
    """A dev PKI plus what tests need from it: TLS credentials and tokens for any principal."""

    def __init__(self, layout: PkiLayout) -> None:
        self.layout = layout
        self.ca_pem = layout.ca_cert.read_bytes()
        self._ca = CertificateAuthority.load(layout)
        self._issued: dict[Principal, IssuedCert] = {}

    def issued(self, principal: Principal) -> IssuedCert:
        """The principal's client certificate and key, signed by the CA (made once per session)."""
        issued = self._issued.get(principal)
        if issued is None:
            issued = self._issued[principal] = self._ca.issue_client(principal)
        return issued

    def tls(self, principal: Principal) -> grpc.ChannelCredentials:
        issued = self.issued(principal)
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem, private_key=issued.key_pem(), certificate_chain=issued.cert_pem()
        )

    def token(
        self,
        subject: str,
        *,
        audiences: Sequence[str] = AUDIENCES,
        ttl: float = 3600,
        issuer: str = DEV_ISSUER,
        now: float | None = None,
    ) -> str:
        """A token for ``subject`` signed by the current key (re-read, so a rotation is honoured)."""
        key, kid = load_jwt_signing_key(self.layout.root)
        return issue_token(key, kid, subject, list(audiences), issuer, ttl, now=now)


@pytest.fixture(scope="session")
def dev_credentials(tmp_path_factory: pytest.TempPathFactory) -> DevCredentials:
    """One dev PKI for the whole session (generating keys is the slow part)."""
    return DevCredentials(init_pki(tmp_path_factory.mktemp("pki")))


def as_principal(principal: str | Principal, aggregator_id: str | None = None) -> Principal:
    """``"vgi://aggregator/agg-1"`` → Principal; a device needs ``aggregator_id``."""
    if isinstance(principal, Principal):
        return principal
    return parse_principal_uri(principal, aggregator_id=aggregator_id)


OPERATOR = Principal(Role.OPERATOR, "op-1")
GRID = Principal(Role.GRID, "grid-1")
#: One principal per role, from the dev PKI's defaults (device charger-1 belongs to agg-1).
BY_ROLE: dict[Role, Principal] = {
    Role.GRID: GRID,
    Role.AGGREGATOR: Principal(Role.AGGREGATOR, "agg-1", "agg-1"),
    Role.DEVICE: Principal(Role.DEVICE, "charger-1", "agg-1"),
    Role.OPERATOR: OPERATOR,
    Role.INTERNAL: Principal(Role.INTERNAL, "sim"),
}
_DEFAULT_TOKEN: Any = object()


class RunningPlatform:
    """A started Platform plus authenticated channels and SDK clients pointed at it."""

    def __init__(
        self,
        platform: Platform,
        target: str,
        credentials: DevCredentials,
        *,
        operator_tls: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.platform = platform
        self.target = target
        self.credentials = credentials
        self.secure = not platform.settings.insecure
        self._channels: dict[Principal, grpc.aio.Channel] = {}
        self._onboarded: set[str] = set()
        self._extra_channels: list[grpc.aio.Channel] = []
        if operator_tls is not None:
            self._channels[OPERATOR] = self._open(operator_tls, bearer_interceptors(self.token_for(OPERATOR)))
        self.channel = self.channel_for(OPERATOR)
        self.operator = OperatorClient(self.channel)

    @property
    def db(self) -> Database:
        assert self.platform.db is not None, "platform is stopped"
        return self.platform.db

    @property
    def grid(self) -> grpc.aio.Channel:
        return self.channel_for(GRID)

    def channel_for_role(self, role: Role) -> grpc.aio.Channel:
        """The channel of the default principal of ``role`` (``BY_ROLE``)."""
        return self.channel_for(BY_ROLE[role])

    def grpcurl_args(self, principal: Principal = OPERATOR) -> list[str]:
        """grpcurl's transport flags for this server: plaintext, or mTLS with the principal's PKI files."""
        if not self.secure:
            return ["-plaintext"]
        layout = self.credentials.layout
        cert, key = layout.client_cert(principal), layout.client_key(principal)
        if not cert.exists():
            issued = self.credentials.issued(principal)
            issued.write(cert, key)
        return ["-cacert", str(layout.ca_cert), "-cert", str(cert), "-key", str(key)]

    def token_for(self, principal: str | Principal, **kwargs: Any) -> str:
        """A valid token for ``principal`` (see ``DevCredentials.token`` for the keywords)."""
        subject = principal.uri if isinstance(principal, Principal) else principal
        return self.credentials.token(subject, **kwargs)

    def channel_for(
        self,
        principal: str | Principal,
        *,
        aggregator_id: str | None = None,
        token: str | None = _DEFAULT_TOKEN,
        onboard: bool = True,
    ) -> grpc.aio.Channel:
        """A channel authenticated as ``principal``: its certificate (mTLS) and a token for it.

        The aggregator a tenant principal calls for is onboarded before the channel's first call
        unless ``onboard`` is False (such a channel is never cached)."""
        who = as_principal(principal, aggregator_id)
        default = token is _DEFAULT_TOKEN and onboard
        if default and who in self._channels:
            return self._channels[who]
        sent = self.token_for(who) if token is _DEFAULT_TOKEN else token
        interceptors = bearer_interceptors(sent) if sent is not None else []
        tenant = who.tenant()
        if onboard and tenant is not None:
            interceptors = [*onboarding_interceptors(functools.partial(self.onboard, tenant)), *interceptors]
        channel = self._open(self.credentials.tls(who) if self.secure else None, interceptors)
        if default:
            self._channels[who] = channel
        else:
            self._extra_channels.append(channel)
        return channel

    async def onboard(self, aggregator_id: str) -> None:
        """Create ``aggregator_id`` unless it exists already: the real use case on the real store, as
        OperatorService.CreateAggregator runs it, without the call (so no audit record or idempotency row
        appears beside what a test counts)."""
        if aggregator_id in self._onboarded:
            return

        def create(conn: Connection) -> None:
            with contextlib.suppress(AlreadyExists):  # the test onboarded it itself
                aggregator_cases.create(
                    UnitOfWork(conn, clock.now()),
                    aggregator_id,
                    display_name=f"{aggregator_id} (test fixture)",
                    unified_social_credit_code="",
                    contact_email="",
                )

        await self.db.write(create)
        # What OperatorService.CreateAggregator does once its write committed: the gate reads it anew.
        assert self.platform.tenants is not None
        self.platform.tenants.forget(aggregator_id)
        self._onboarded.add(aggregator_id)

    def _open(self, tls: grpc.ChannelCredentials | None, interceptors: Sequence[Any]) -> grpc.aio.Channel:
        if tls is None:
            return grpc.aio.insecure_channel(
                self.target, options=channel_options(), interceptors=interceptors
            )
        return grpc.aio.secure_channel(self.target, tls, options=channel_options(), interceptors=interceptors)

    async def close(self) -> None:
        for channel in [*self._channels.values(), *self._extra_channels]:
            await channel.close(None)


PlatformFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningPlatform]]


def make_settings(database_url: str, pki: PkiLayout, *, insecure: bool = False, **overrides: Any) -> Settings:
    """Settings for an in-process test server: loopback, port 0, fast health checks, the PKI's
    JWT key set; mutual TLS from ``pki`` unless ``insecure`` (plaintext)."""
    base = Settings(
        listen="127.0.0.1:0",
        database_url=database_url,
        insecure=insecure,
        pki_dir="" if insecure else str(pki.root),
        jwks_file=str(pki.jwks),
        grace_seconds=5.0,
        db_threads=4,
        health_interval_seconds=0.05,
        # The PKI is shared by the session, the audit log is not: each server its own head file.
        audit_checkpoint_file=str(Path(tempfile.mkdtemp(prefix="vgi-audit-")) / "audit-head.json"),
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def platform_factory(dev_credentials: DevCredentials) -> PlatformFactory:
    """``async with platform_factory(url, extra_handlers=..., **settings) as running: ...``

    Serves with mutual TLS from the session's dev PKI unless ``insecure=True``
    is among the settings. ``credentials`` replaces the TLS credentials of the
    operator channel (``running.channel``), which still sends the operator's token.
    """

    @contextlib.asynccontextmanager
    async def start(
        database_url: str,
        *,
        extra_handlers: Sequence[grpc.GenericRpcHandler] = (),
        credentials: grpc.ChannelCredentials | None = None,
        **overrides: Any,
    ) -> AsyncIterator[RunningPlatform]:
        settings = make_settings(database_url, dev_credentials.layout, **overrides)
        platform = Platform(settings, extra_handlers=extra_handlers)
        await platform.start()
        running = RunningPlatform(
            platform, f"127.0.0.1:{platform.port}", dev_credentials, operator_tls=credentials
        )
        try:
            yield running
        finally:
            await running.close()
            await platform.stop(grace=0)

    return start


@pytest.fixture
async def platform(database_url: str, platform_factory: PlatformFactory) -> AsyncIterator[RunningPlatform]:
    """The whole platform (all surfaces, mutual TLS, the full interceptor chain) on a migrated store."""
    async with platform_factory(database_url) as running:
        yield running
