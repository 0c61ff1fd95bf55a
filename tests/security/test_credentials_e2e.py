"""IssueCredentials (dev/test): an operator mints a certificate and a token that then work end to end."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from google.protobuf.duration_pb2 import Duration
from registry.world import aggregator_client, charger, onboard, station, topology
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from clients.auth import bearer_interceptors
from clients.sdk import channel_options

from .rpcs import call, contract_rpcs

pytestmark = pytest.mark.timeout(60)

LIST_CHARGERS = next(rpc for rpc in contract_rpcs() if rpc.path.endswith("AggregatorService/ListChargers"))


def _issue(
    principal: str, kind: operator_pb.CredentialKind, **fields: Any
) -> operator_pb.IssueCredentialsRequest:
    return operator_pb.IssueCredentialsRequest(
        request_id=str(uuid.uuid4()), principal=principal, kind=kind, **fields
    )


async def test_issued_certificate_and_token_authenticate_a_new_principal(platform: Any) -> None:
    stub = operator_grpc.OperatorServiceStub(platform.channel)
    await platform.onboard("agg-7")  # credentials reach the aggregator surface once it is onboarded
    cert = await stub.IssueCredentials(
        _issue("vgi://aggregator/agg-7", operator_pb.CREDENTIAL_KIND_CERTIFICATE), timeout=10
    )
    token = await stub.IssueCredentials(
        _issue("vgi://aggregator/agg-7", operator_pb.CREDENTIAL_KIND_TOKEN, ttl=Duration(seconds=600)),
        timeout=10,
    )
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert (claims["sub"], sorted(claims["aud"]), claims["exp"] - claims["iat"]) == (
        "vgi://aggregator/agg-7",
        ["vgi.aggregator", "vgi.dispatch"],
        600,
    )
    assert token.expire_time.seconds == claims["exp"]
    tls = grpc.ssl_channel_credentials(
        platform.credentials.ca_pem, cert.private_key_pem.encode(), cert.certificate_pem.encode()
    )
    async with grpc.aio.secure_channel(
        platform.target, tls, options=channel_options(), interceptors=bearer_interceptors(token.token)
    ) as channel:
        outcome = await call(channel, LIST_CHARGERS)
    assert outcome.code == grpc.StatusCode.OK


async def test_a_device_certificate_needs_its_aggregator(platform: Any) -> None:
    stub = operator_grpc.OperatorServiceStub(platform.channel)
    with pytest.raises(grpc.aio.AioRpcError) as unbound:
        await stub.IssueCredentials(
            _issue("vgi://device/c7", operator_pb.CREDENTIAL_KIND_CERTIFICATE), timeout=10
        )
    assert unbound.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await onboard(platform, "agg-1")
    await topology(platform)
    await aggregator_client(platform, "agg-1").upsert_stations([station("st-1", "ta1")])
    await aggregator_client(platform, "agg-1").upsert_chargers([charger("c7", "st-1")])
    bound = await stub.IssueCredentials(
        _issue("vgi://device/c7", operator_pb.CREDENTIAL_KIND_CERTIFICATE, aggregator_id="agg-1"), timeout=10
    )
    assert "BEGIN CERTIFICATE" in bound.certificate_pem


async def test_issuing_is_off_without_the_flag(tmp_path: Path, platform_factory: Any) -> None:
    async with platform_factory(f"sqlite:///{tmp_path / 'vgi.db'}", issue_credentials=False) as running:
        issue = next(rpc for rpc in contract_rpcs() if rpc.name == "IssueCredentials")
        outcome = await call(
            running.channel, issue, _issue("vgi://grid/g2", operator_pb.CREDENTIAL_KIND_TOKEN)
        )
        assert (outcome.code, outcome.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "CREDENTIAL_ISSUING_DISABLED",
        )
