"""Bearer tokens over a real mTLS server: each forgery or misuse answers UNAUTHENTICATED with its reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.rpc import error_details_pb2
from vgi.common.v1 import aggregator_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb

from infra.security.pki import load_jwt_signing_key
from infra.security.tokens import DEV_ISSUER

from .rpcs import Rpc, call, contract_rpcs

pytestmark = pytest.mark.timeout(60)

OPERATOR = "vgi://operator/op-1"
LIST = next(rpc for rpc in contract_rpcs() if rpc.path == "/vgi.operator.v1.OperatorService/ListAggregators")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": DEV_ISSUER,
        "sub": OPERATOR,
        "aud": ["vgi.operator"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return claims


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def alg_none(platform: Any) -> str:
    _, kid = load_jwt_signing_key(platform.credentials.layout.root)
    return _unsigned({"alg": "none", "typ": "JWT", "kid": kid}, _claims()) + "."


def hs256_with_public_key(platform: Any) -> str:
    key, kid = load_jwt_signing_key(platform.credentials.layout.root)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, _claims())
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def unknown_kid(platform: Any) -> str:
    return jwt.encode(
        _claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "nope"}
    )


def tampered_payload(platform: Any) -> str:
    header, _, signature = platform.token_for(OPERATOR).split(".")
    forged = _b64(json.dumps(_claims(exp=int(time.time()) + 10 * 365 * 86400)).encode())
    return f"{header}.{forged}.{signature}"


CASES: dict[str, tuple[Callable[[Any], str | None], str]] = {
    "missing": (lambda p: None, "TOKEN_MISSING"),
    "expired": (lambda p: p.token_for(OPERATOR, ttl=60, now=time.time() - 3600), "TOKEN_EXPIRED"),
    "not yet valid": (lambda p: p.token_for(OPERATOR, now=time.time() + 3600), "TOKEN_NOT_YET_VALID"),
    "wrong audience": (lambda p: p.token_for(OPERATOR, audiences=["vgi.device"]), "TOKEN_BAD_AUDIENCE"),
    "wrong issuer": (lambda p: p.token_for(OPERATOR, issuer="someone-else"), "TOKEN_BAD_ISSUER"),
    "alg=none": (alg_none, "TOKEN_BAD_ALGORITHM"),
    "HS256 with the public key": (hs256_with_public_key, "TOKEN_BAD_ALGORITHM"),
    "unknown kid": (unknown_kid, "TOKEN_UNKNOWN_KID"),
    "tampered payload": (tampered_payload, "TOKEN_BAD_SIGNATURE"),
    "subject is not the certificate": (
        lambda p: p.token_for("vgi://operator/op-2"),
        "TOKEN_SUBJECT_MISMATCH",
    ),
    "not a Bearer": (lambda p: "", "TOKEN_MISSING"),
}


async def _list(platform: Any, token: str | None, rpc: Rpc = LIST) -> Any:
    channel = platform.channel_for(OPERATOR, token=token)
    return await call(channel, rpc, operator_pb.ListAggregatorsRequest())


async def test_a_valid_token_on_its_certificate_is_accepted(platform: Any) -> None:
    outcome = await _list(platform, platform.token_for(OPERATOR, audiences=["vgi.operator"]))
    assert outcome.code == grpc.StatusCode.OK


async def test_bad_tokens_are_unauthenticated(platform: Any) -> None:
    """One server for every case (starting one per case would cost seconds each)."""
    wrong = []
    for case, (make, reason) in CASES.items():
        outcome = await _list(platform, make(platform))
        info = outcome.detail(error_details_pb2.ErrorInfo)
        got = (outcome.code, outcome.reason, info.domain if info else None)
        if got != (grpc.StatusCode.UNAUTHENTICATED, reason, "vgi"):
            wrong.append(f"{case}: {outcome}")
    assert wrong == [], "\n".join(wrong)


async def test_tokens_are_not_logged_or_echoed(platform: Any, caplog: pytest.LogCaptureFixture) -> None:
    token = platform.token_for(OPERATOR, issuer="someone-else")
    outcome = await _list(platform, token)
    assert outcome.code == grpc.StatusCode.UNAUTHENTICATED
    assert token not in outcome.message and token not in str(outcome.status)
    assert token.split(".")[2] not in caplog.text


async def test_insecure_mode_takes_the_principal_from_the_token(tmp_path: Any, platform_factory: Any) -> None:
    """--insecure on loopback: no certificate, so the verified token's subject is the caller."""
    async with platform_factory(f"sqlite:///{tmp_path / 'vgi.db'}", insecure=True) as running:
        assert not running.secure
        created = await running.operator.create_aggregator(
            "plain", aggregator_pb2.Aggregator(display_name="Over plaintext")
        )
        assert created.name == "aggregators/plain"
        anonymous = await call(running.channel_for(OPERATOR, token=None), LIST)
        assert (anonymous.code, anonymous.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")
        # The subject decides the role: an aggregator's token cannot onboard aggregators.
        aggregator = await call(running.channel_for("vgi://aggregator/agg-1"), LIST)
        assert (aggregator.code, aggregator.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")
        forged = await call(running.channel_for(OPERATOR, token=unknown_kid(running)), LIST)
        assert (forged.code, forged.reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_UNKNOWN_KID")
