"""Bearer token verification: every rejection reason, the claims cache, key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from domain.errors import Unauthenticated
from domain.principal import Principal, Role
from infra.security import pki
from infra.security.tokens import (
    AGGREGATOR_CLAIM,
    Claims,
    KeySet,
    TokenVerifier,
    audience_for_method,
    bearer_token,
    check_subject,
    issue_token,
    parse_jwks,
)
from interceptors.auth import _principal_from_claims

ISSUER = "vgi-test"
NOW = 1_800_000_000.0
OPERATOR = Principal(Role.OPERATOR, "op-1")
SUBJECT = OPERATOR.uri


class Clock:
    """A settable clock, used both as wall clock (verifier) and monotonic clock (key set)."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    pki.init_pki(tmp_path, principals=[])
    return tmp_path


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def verifier(pki_dir: Path, clock: Clock) -> TokenVerifier:
    return TokenVerifier(KeySet(pki_dir / "jwks.json", check_interval_s=0), ISSUER, leeway_s=30, clock=clock)


def _token(pki_dir: Path, **overrides: Any) -> str:
    key, kid = pki.load_jwt_signing_key(pki_dir)
    args: dict[str, Any] = {
        "subject": SUBJECT,
        "audience": "vgi.operator",
        "issuer": ISSUER,
        "ttl": 3600,
        "now": NOW,
    }
    args |= overrides
    return issue_token(key, kid, **args)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"


def _payload(**overrides: Any) -> dict[str, Any]:
    payload = {
        "iss": ISSUER,
        "sub": SUBJECT,
        "aud": "vgi.operator",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3600,
    }
    payload |= overrides
    return payload


def _reason(verifier: TokenVerifier, token: str, audience: str = "vgi.operator") -> str:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token, audience)
    return caught.value.reason


def test_valid_token_yields_its_claims(pki_dir: Path, verifier: TokenVerifier) -> None:
    claims = verifier.verify(_token(pki_dir), "vgi.operator")
    assert (claims.subject, claims.issuer, claims.audiences) == (SUBJECT, ISSUER, frozenset({"vgi.operator"}))
    assert (claims.issued_at, claims.not_before, claims.expires_at) == (NOW, NOW, NOW + 3600)
    assert claims.kid == pki.load_jwt_signing_key(pki_dir)[1]
    assert claims.payload["sub"] == SUBJECT


def test_token_with_several_audiences_is_good_on_each_surface(pki_dir: Path, verifier: TokenVerifier) -> None:
    token = _token(pki_dir, audience=["vgi.operator", "vgi.dispatch"])
    assert verifier.verify(token, "vgi.dispatch").audiences == frozenset({"vgi.operator", "vgi.dispatch"})
    assert verifier.verify(token, "vgi.operator").subject == SUBJECT
    assert _reason(verifier, token, "vgi.device") == "TOKEN_BAD_AUDIENCE"


def test_missing_token(verifier: TokenVerifier) -> None:
    assert _reason(verifier, "") == "TOKEN_MISSING"


def test_expired_and_the_leeway_boundary(pki_dir: Path, verifier: TokenVerifier, clock: Clock) -> None:
    token = _token(pki_dir, now=NOW - 7200, ttl=3600)
    assert _reason(verifier, token) == "TOKEN_EXPIRED"
    exp = NOW - 3600
    clock.now = exp + 29.5
    assert verifier.verify(token, "vgi.operator").expires_at == exp
    clock.now = exp + 30
    assert _reason(verifier, token) == "TOKEN_EXPIRED"


def test_not_yet_valid_and_the_leeway_boundary(pki_dir: Path, verifier: TokenVerifier, clock: Clock) -> None:
    token = _token(pki_dir, now=NOW + 31)
    assert _reason(verifier, token) == "TOKEN_NOT_YET_VALID"
    clock.now = NOW + 1
    assert verifier.verify(token, "vgi.operator").not_before == NOW + 31


def test_issued_in_the_future_is_not_yet_valid(pki_dir: Path, verifier: TokenVerifier) -> None:
    key, kid = pki.load_jwt_signing_key(pki_dir)
    token = jwt.encode(_payload(iat=NOW + 600), key, algorithm="ES256", headers={"kid": kid})
    assert _reason(verifier, token) == "TOKEN_NOT_YET_VALID"


def test_wrong_audience(pki_dir: Path, verifier: TokenVerifier) -> None:
    assert _reason(verifier, _token(pki_dir, audience="vgi.aggregator")) == "TOKEN_BAD_AUDIENCE"


def test_a_token_naming_no_audience_is_a_bad_audience(pki_dir: Path, verifier: TokenVerifier) -> None:
    # `aud: []` is a well-formed list that admits no surface (a partner's tool once minted such tokens).
    assert _reason(verifier, _token(pki_dir, audience=[])) == "TOKEN_BAD_AUDIENCE"


def test_wrong_issuer(pki_dir: Path, verifier: TokenVerifier) -> None:
    assert _reason(verifier, _token(pki_dir, issuer="someone-else")) == "TOKEN_BAD_ISSUER"


def test_alg_none_is_refused(pki_dir: Path, verifier: TokenVerifier) -> None:
    kid = pki.load_jwt_signing_key(pki_dir)[1]
    for alg in ("none", "None", "NONE"):
        token = _segments({"alg": alg, "typ": "JWT", "kid": kid}, _payload()) + "."
        assert _reason(verifier, token) == "TOKEN_BAD_ALGORITHM"


def test_hs256_signed_with_the_public_key_is_refused(pki_dir: Path, verifier: TokenVerifier) -> None:
    key, kid = pki.load_jwt_signing_key(pki_dir)
    public_pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    jwks_bytes = (pki_dir / "jwks.json").read_bytes()
    for secret in (public_pem, jwks_bytes):
        signing_input = _segments({"alg": "HS256", "typ": "JWT", "kid": kid}, _payload())
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert _reason(verifier, f"{signing_input}.{_b64(mac)}") == "TOKEN_BAD_ALGORITHM"


def test_algorithm_must_be_the_one_of_the_named_key(pki_dir: Path, verifier: TokenVerifier) -> None:
    kid = pki.load_jwt_signing_key(pki_dir)[1]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_payload(), rsa_key, algorithm="RS256", headers={"kid": kid})
    assert _reason(verifier, token) == "TOKEN_BAD_ALGORITHM"
    es384 = jwt.encode(
        _payload(), ec.generate_private_key(ec.SECP384R1()), algorithm="ES384", headers={"kid": kid}
    )
    assert _reason(verifier, es384) == "TOKEN_BAD_ALGORITHM"


def test_unknown_or_absent_kid(pki_dir: Path, verifier: TokenVerifier) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert _reason(verifier, issue_token(stranger, "nope", SUBJECT, "vgi.operator", ISSUER, 60, now=NOW)) == (
        "TOKEN_UNKNOWN_KID"
    )
    key, _ = pki.load_jwt_signing_key(pki_dir)
    assert _reason(verifier, jwt.encode(_payload(), key, algorithm="ES256")) == "TOKEN_UNKNOWN_KID"


def test_signature_by_another_key_under_a_trusted_kid(pki_dir: Path, verifier: TokenVerifier) -> None:
    kid = pki.load_jwt_signing_key(pki_dir)[1]
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert _reason(verifier, issue_token(stranger, kid, SUBJECT, "vgi.operator", ISSUER, 60, now=NOW)) == (
        "TOKEN_BAD_SIGNATURE"
    )


def test_tampered_payload(pki_dir: Path, verifier: TokenVerifier) -> None:
    header, _, signature = _token(pki_dir).split(".")
    forged = _b64(json.dumps(_payload(sub="vgi://grid/grid-1")).encode())
    assert _reason(verifier, f"{header}.{forged}.{signature}") == "TOKEN_BAD_SIGNATURE"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("abc", "TOKEN_MALFORMED"),
        ("a.b.c", "TOKEN_MALFORMED"),
        ("not.a.jwt", "TOKEN_MALFORMED"),
        ("eyJhbGciOiJFUzI1NiJ9", "TOKEN_MALFORMED"),
        ("e30.e30.", "TOKEN_BAD_ALGORITHM"),
    ],
)
def test_garbage(verifier: TokenVerifier, token: str, reason: str) -> None:
    assert _reason(verifier, token) == reason


@pytest.mark.parametrize(
    "payload",
    [
        _payload(nbf=None),
        _payload(iat=None),
        _payload(sub=None),
        _payload(aud=None),
        {k: v for k, v in _payload().items() if k != "exp"},
        _payload(sub=""),
        _payload(sub=7),
        _payload(aud=7),
        _payload(exp="tomorrow"),
        _payload(exp=True),
    ],
    ids=repr,
)
def test_properly_signed_but_incomplete_or_ill_typed_claims_are_malformed(
    pki_dir: Path, verifier: TokenVerifier, payload: dict[str, Any]
) -> None:
    key, kid = pki.load_jwt_signing_key(pki_dir)
    token = jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid})
    assert _reason(verifier, token) == "TOKEN_MALFORMED"


def test_subject_must_equal_the_certificate_identity(pki_dir: Path, verifier: TokenVerifier) -> None:
    claims = verifier.verify(_token(pki_dir), "vgi.operator")
    check_subject(claims, OPERATOR)
    for other in (Principal(Role.OPERATOR, "op-2"), Principal(Role.GRID, "op-1")):
        with pytest.raises(Unauthenticated) as caught:
            check_subject(claims, other)
        assert caught.value.reason == "TOKEN_SUBJECT_MISMATCH"


def test_rs256_and_eddsa_keys_are_accepted_when_published(tmp_path: Path, clock: Clock) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    jwks = {
        "keys": [
            {**RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True), "kid": "r1", "alg": "RS256"},
            {**OKPAlgorithm.to_jwk(ed_key.public_key(), as_dict=True), "kid": "e1"},
        ]
    }
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    verifier = TokenVerifier(KeySet(tmp_path / "jwks.json"), ISSUER, clock=clock)
    for key, kid in ((rsa_key, "r1"), (ed_key, "e1")):
        token = issue_token(key, kid, SUBJECT, "vgi.operator", ISSUER, 60, now=NOW)
        assert verifier.verify(token, "vgi.operator").kid == kid


# --- the claims cache ----------------------------------------------------------------


def test_cache_serves_the_same_claims_until_exp_and_never_after(
    pki_dir: Path, verifier: TokenVerifier, clock: Clock
) -> None:
    token = _token(pki_dir, ttl=60)
    first = verifier.verify(token, "vgi.operator")
    clock.now = NOW + 59.9
    assert verifier.verify(token, "vgi.operator") is first
    assert _reason(verifier, token, "vgi.device") == "TOKEN_BAD_AUDIENCE"
    # Past exp but inside the leeway: verified afresh every time, never served from cache.
    clock.now = NOW + 60
    late = verifier.verify(token, "vgi.operator")
    assert late == first
    assert late is not first
    assert verifier.verify(token, "vgi.operator") is not late
    clock.now = NOW + 90
    assert _reason(verifier, token) == "TOKEN_EXPIRED"


def test_cache_is_bounded(pki_dir: Path, clock: Clock) -> None:
    verifier = TokenVerifier(KeySet(pki_dir / "jwks.json"), ISSUER, cache_size=2, clock=clock)
    tokens = [_token(pki_dir, ttl=100 + i) for i in range(3)]
    claims = [verifier.verify(t, "vgi.operator") for t in tokens]
    assert verifier.verify(tokens[2], "vgi.operator") is claims[2]
    assert verifier.verify(tokens[1], "vgi.operator") is claims[1]
    assert verifier.verify(tokens[0], "vgi.operator") is not claims[0]


def test_failures_are_not_cached(pki_dir: Path, verifier: TokenVerifier, clock: Clock) -> None:
    token = _token(pki_dir, now=NOW + 120)
    assert _reason(verifier, token) == "TOKEN_NOT_YET_VALID"
    clock.now = NOW + 120
    assert verifier.verify(token, "vgi.operator").not_before == NOW + 120


# --- rotation ------------------------------------------------------------------------


def test_new_key_is_usable_at_once_and_a_retired_key_stops_at_the_next_check(
    pki_dir: Path, clock: Clock
) -> None:
    monotonic = Clock(0.0)
    keyset = KeySet(pki_dir / "jwks.json", check_interval_s=10, monotonic=monotonic)
    verifier = TokenVerifier(keyset, ISSUER, clock=clock)
    old_token = _token(pki_dir)
    old_kid = pki.load_jwt_signing_key(pki_dir)[1]
    assert verifier.verify(old_token, "vgi.operator").kid == old_kid

    new_kid = pki.rotate_jwt_key(pki_dir)
    new_token = _token(pki_dir)
    # An unknown kid forces a look at the file, interval or not.
    assert verifier.verify(new_token, "vgi.operator").kid == new_kid
    assert verifier.verify(old_token, "vgi.operator").kid == old_kid

    pki.retire_jwt_key(pki_dir, old_kid)
    monotonic.now = 9.9
    assert verifier.verify(old_token, "vgi.operator").kid == old_kid
    monotonic.now = 10.0
    assert _reason(verifier, old_token) == "TOKEN_UNKNOWN_KID"
    assert verifier.verify(new_token, "vgi.operator").kid == new_kid


def test_an_unreadable_key_set_keeps_the_previous_keys(
    pki_dir: Path, verifier: TokenVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    token = _token(pki_dir)
    (pki_dir / "jwks.json").write_text('{"keys": [')
    assert verifier.verify(token, "vgi.operator").subject == SUBJECT
    assert "keeping the previous JWT key set" in caplog.text


# --- key set parsing, helpers ----------------------------------------------------------


def _ec_jwk(**extra: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(
        ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True
    )
    return jwk | extra


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}, "HS256 is not allowed"),
        ({"keys": [_ec_jwk()]}, "every key needs a kid"),
        ({"keys": [_ec_jwk(kid="a"), _ec_jwk(kid="a")]}, "duplicate kid"),
        ({"keys": [_ec_jwk(kid="a", use="enc")]}, "not a signing key"),
        (
            {
                "keys": [
                    RSAAlgorithm.to_jwk(
                        rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key(),
                        as_dict=True,
                    )
                    | {"kid": "short"}
                ]
            },
            "at least 2048 bits",
        ),
        ({"keys": {}}, "not a JWKS document"),
        ([], "not a JWKS document"),
    ],
)
def test_parse_jwks_refuses_unsafe_key_sets(document: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_jwks(json.dumps(document))


def test_empty_key_set_trusts_nothing(tmp_path: Path, clock: Clock) -> None:
    (tmp_path / "jwks.json").write_text('{"keys": []}')
    key = ec.generate_private_key(ec.SECP256R1())
    token = issue_token(key, "k", SUBJECT, "vgi.operator", ISSUER, 60, now=NOW)
    verifier = TokenVerifier(KeySet(tmp_path / "jwks.json"), ISSUER, clock=clock)
    assert _reason(verifier, token) == "TOKEN_UNKNOWN_KID"


@pytest.mark.parametrize(
    ("method", "audience"),
    [
        ("/vgi.dispatch.v1.DispatchService/PublishEvent", "vgi.dispatch"),
        ("/vgi.aggregator.v1.AggregatorService/SubmitBid", "vgi.aggregator"),
        ("/vgi.device.v1.DeviceService/Session", "vgi.device"),
        ("/vgi.operator.v1.OperatorService/CreateAggregator", "vgi.operator"),
        ("/grpc.health.v1.Health/Check", None),
        ("/vgi.common.v1.Nothing/X", None),
        ("garbage", None),
    ],
)
def test_audience_for_method(method: str, audience: str | None) -> None:
    assert audience_for_method(method) == audience


def test_bearer_token_from_metadata() -> None:
    assert bearer_token([("x-request-id", "1"), ("authorization", "Bearer abc.def.ghi")]) == "abc.def.ghi"
    assert bearer_token([("authorization", "bearer abc")]) == "abc"
    for metadata, reason in (
        (None, "TOKEN_MISSING"),
        ([], "TOKEN_MISSING"),
        ([("authorization", "Bearer ")], "TOKEN_MISSING"),
        ([("authorization", "Basic dXNlcjpwdw==")], "TOKEN_MALFORMED"),
        ([("authorization", "Bearer a"), ("authorization", "Bearer b")], "TOKEN_MALFORMED"),
    ):
        with pytest.raises(Unauthenticated) as caught:
            bearer_token(metadata)
        assert caught.value.reason == reason


def test_claims_are_immutable(pki_dir: Path, verifier: TokenVerifier) -> None:
    claims: Claims = verifier.verify(_token(pki_dir), "vgi.operator")
    with pytest.raises(TypeError):
        claims.payload["sub"] = "vgi://grid/grid-1"  # type: ignore[index]


def test_a_token_subjects_claim_of_the_wrong_type_is_refused_in_our_words() -> None:
    """Outside-in finding: an integer aggregator claim answered Python's TypeError text."""
    claims = Claims(
        subject="vgi://device/charger-1",
        issuer="vgi-dev",
        audiences=frozenset({"vgi.device"}),
        expires_at=0.0,
        not_before=0.0,
        issued_at=0.0,
        kid="k",
        payload={AGGREGATOR_CLAIM: 7},
    )
    with pytest.raises(Unauthenticated) as caught:
        _principal_from_claims(claims)
    assert (caught.value.reason, caught.value.message) == (
        "TOKEN_SUBJECT_INVALID",
        f"token subject: the {AGGREGATOR_CLAIM} claim must be a string",
    )
