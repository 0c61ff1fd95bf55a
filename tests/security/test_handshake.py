"""Mutual TLS: the handshake itself refuses bad client credentials and an untrusted server.

Each refused client presents a valid token, so the TLS layer alone is what
turns it away: the call fails with UNAVAILABLE and nothing reaches the store.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from vgi.operator.v1 import operator_service_pb2 as operator_pb

from clients.auth import bearer_interceptors
from clients.sdk import channel_options
from domain.principal import Principal, Role
from infra.security.pki import CertificateAuthority, NegativeFixtures, issue_negative_fixtures
from store.tables import AggregatorRow, table_of

from .rpcs import call, contract_rpcs

pytestmark = pytest.mark.timeout(60)

OPERATOR = Principal(Role.OPERATOR, "op-1")
CREATE = next(rpc for rpc in contract_rpcs() if rpc.name == "CreateAggregator")


@pytest.fixture
def negative(platform: Any) -> NegativeFixtures:
    """An unrelated CA with a client certificate it signed, and an expired certificate from the real CA,
    all naming vgi://operator/op-1."""
    return issue_negative_fixtures(platform.credentials.layout.root, OPERATOR)


def _request(aggregator_id: str) -> operator_pb.CreateAggregatorRequest:
    return operator_pb.CreateAggregatorRequest(
        request_id="0b3c2f9e-5a61-4c1e-8d2f-7a9b0c1d2e3f",
        aggregator_id=aggregator_id,
        aggregator={"display_name": f"Display {aggregator_id}"},
    )


async def _create(platform: Any, tls: grpc.ChannelCredentials, aggregator_id: str) -> Any:
    token = platform.token_for(OPERATOR)
    async with grpc.aio.secure_channel(
        platform.target, tls, options=channel_options(), interceptors=bearer_interceptors(token)
    ) as channel:
        return await call(channel, CREATE, _request(aggregator_id), deadline=5)


async def _aggregators(platform: Any) -> list[str]:
    table = table_of(AggregatorRow)
    return await platform.db.read(lambda conn: list(conn.execute(sa.select(table.c.aggregator_id)).scalars()))


async def test_the_right_certificate_is_served(platform: Any) -> None:
    issued = platform.credentials.issued(OPERATOR)
    tls = grpc.ssl_channel_credentials(platform.credentials.ca_pem, issued.key_pem(), issued.cert_pem())
    outcome = await _create(platform, tls, "trusted")
    assert outcome.code == grpc.StatusCode.OK
    assert await _aggregators(platform) == ["trusted"]


async def test_handshake_fails(platform: Any, negative: NegativeFixtures) -> None:
    ca = platform.credentials.ca_pem
    issued = platform.credentials.issued(OPERATOR)
    refused = {
        "no client certificate": grpc.ssl_channel_credentials(root_certificates=ca),
        "certificate from another CA": grpc.ssl_channel_credentials(
            ca, negative.foreign_client_key.read_bytes(), negative.foreign_client_cert.read_bytes()
        ),
        "expired certificate": grpc.ssl_channel_credentials(
            ca, negative.expired_client_key.read_bytes(), negative.expired_client_cert.read_bytes()
        ),
        "client does not trust the server's CA": grpc.ssl_channel_credentials(
            negative.other_ca_cert.read_bytes(), issued.key_pem(), issued.cert_pem()
        ),
    }
    outcomes = {
        case: await _create(platform, tls, f"case-{i}") for i, (case, tls) in enumerate(refused.items())
    }
    assert {case: outcome.code for case, outcome in outcomes.items()} == dict.fromkeys(
        refused, grpc.StatusCode.UNAVAILABLE
    )
    assert await _aggregators(platform) == []


async def test_plaintext_client_is_refused(platform: Any) -> None:
    async with grpc.aio.insecure_channel(platform.target) as channel:
        outcome = await call(channel, CREATE, _request("plain"), deadline=5)
    assert outcome.code == grpc.StatusCode.UNAVAILABLE
    assert await _aggregators(platform) == []


async def test_a_verified_certificate_naming_no_principal_is_unauthenticated(platform: Any) -> None:
    """The chain is good but the SAN is not a vgi:// principal: the identity step refuses it."""
    ca = CertificateAuthority.load(platform.credentials.layout)
    issued = ca._issue(  # the public issue_client only makes well-formed principals
        "not a principal",
        [x509.UniformResourceIdentifier("https://example.org/me")],
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ca.cert.not_valid_before_utc,
        ca.cert.not_valid_after_utc,
    )
    tls = grpc.ssl_channel_credentials(platform.credentials.ca_pem, issued.key_pem(), issued.cert_pem())
    outcome = await _create(platform, tls, "nameless")
    assert (outcome.code, outcome.reason) == (grpc.StatusCode.UNAUTHENTICATED, "CERT_IDENTITY_INVALID")
    assert await _aggregators(platform) == []
