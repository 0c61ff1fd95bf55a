"""Dev PKI files, their chains and SANs, certificate identity parsing, and the CLI."""

from __future__ import annotations

import argparse
import ipaddress
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from domain.errors import Unauthenticated
from domain.principal import Principal, Role
from infra.security import pki
from infra.security.identity import IdentityResolver, aggregator_unit, principal_from_pem
from infra.security.tokens import DEV_ISSUER, KeySet, TokenVerifier
from server.security import cli

AGG1 = Principal(Role.AGGREGATOR, "agg-1", "agg-1")
DEVICE = Principal(Role.DEVICE, "charger-1", "agg-1")


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> pki.PkiLayout:
    return pki.init_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def negative(layout: pki.PkiLayout) -> pki.NegativeFixtures:
    return pki.issue_negative_fixtures(layout.root)


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _client_verifier(ca: Path) -> x509.verification.ClientVerifier:
    return PolicyBuilder().store(Store([_load(ca)])).build_client_verifier()


def _uris(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.UniformResourceIdentifier)


def _units(cert: x509.Certificate) -> list[str | bytes]:
    return [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]


def test_init_writes_the_documented_layout_with_private_keys_0600(tmp_path: Path) -> None:
    layout = pki.init_pki(tmp_path / "fresh")
    files = {str(p.relative_to(layout.root)): p.stat().st_mode & 0o777 for p in layout.root.rglob("*")}
    expected_clients = [
        "grid-grid-1",
        "aggregator-agg-1",
        "aggregator-agg-2",
        "device-charger-1",
        "operator-op-1",
        "internal-sim",
    ]
    expected = {"ca.pem": 0o644, "ca.key": 0o600, "server.pem": 0o644, "server.key": 0o600}
    expected |= {
        "jwks.json": 0o644,
        "jwt-signing.pem": 0o600,
        "server-secret.key": 0o600,
        "clients": files["clients"],
    }
    for stem in expected_clients:
        expected |= {f"clients/{stem}.pem": 0o644, f"clients/{stem}.key": 0o600}
    assert files == expected


def test_server_certificate_names_localhost_and_both_loopback_addresses(layout: pki.PkiLayout) -> None:
    cert = _load(layout.server_cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    store = Store([_load(layout.ca_cert)])
    for subject in (
        x509.verification.DNSName("localhost"),
        x509.verification.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.verification.IPAddress(ipaddress.ip_address("::1")),
    ):
        chain = PolicyBuilder().store(store).build_server_verifier(subject).verify(cert, [])
        assert chain[-1] == _load(layout.ca_cert)


@pytest.mark.parametrize("principal", pki.DEFAULT_PRINCIPALS, ids=lambda p: p.uri)
def test_each_client_certificate_chains_to_the_ca_and_names_exactly_its_principal(
    layout: pki.PkiLayout, principal: Principal
) -> None:
    cert = _load(layout.client_cert(principal))
    verified = _client_verifier(layout.ca_cert).verify(cert, [])
    assert verified.chain[-1] == _load(layout.ca_cert)
    assert _uris(cert) == [principal.uri]
    assert principal_from_pem(layout.client_cert(principal).read_bytes()) == principal


def test_device_certificate_carries_its_owning_aggregator_in_one_subject_ou(layout: pki.PkiLayout) -> None:
    cert = _load(layout.client_cert(DEVICE))
    assert cert.subject.rfc4514_string() == (
        "CN=vgi://device/charger-1,OU=vgi-aggregator:agg-1,O=VGI Platform (development)"
    )
    assert _uris(cert) == [DEVICE.uri]
    assert principal_from_pem(layout.client_cert(DEVICE).read_bytes()).tenant() == "agg-1"


@pytest.mark.parametrize("principal", pki.DEFAULT_PRINCIPALS, ids=lambda p: p.uri)
def test_certificates_have_only_standard_extensions_and_only_devices_an_ou(
    layout: pki.PkiLayout, principal: Principal
) -> None:
    """Nothing a strict parser (Go's crypto/x509) could refuse: no custom extension anywhere."""
    cert = _load(layout.client_cert(principal))
    assert {e.oid for e in cert.extensions} == {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    }
    expected = [f"vgi-aggregator:{principal.aggregator_id}"] if principal.role is Role.DEVICE else []
    assert _units(cert) == expected
    assert _units(_load(layout.server_cert)) == []


def test_aggregator_unit_accepts_only_valid_aggregator_ids(layout: pki.PkiLayout) -> None:
    assert aggregator_unit("agg-1") == "vgi-aggregator:agg-1"
    assert aggregator_unit("x" * 128) == "vgi-aggregator:" + "x" * 128
    for bad in ["", "-agg", "a/b", "agg 1", "x" * 129]:
        with pytest.raises(ValueError, match="invalid aggregator id"):
            aggregator_unit(bad)
    with pytest.raises(ValueError, match="invalid aggregator id"):
        pki.CertificateAuthority.load(layout).issue_client(Principal(Role.DEVICE, "charger-9", "a/b"))


def test_client_key_matches_its_certificate(layout: pki.PkiLayout) -> None:
    key = serialization.load_pem_private_key(layout.client_key(AGG1).read_bytes(), password=None)
    assert key.public_key() == _load(layout.client_cert(AGG1)).public_key()


def test_expired_certificate_is_expired_and_refused(
    layout: pki.PkiLayout, negative: pki.NegativeFixtures
) -> None:
    cert = _load(negative.expired_client_cert)
    assert cert.not_valid_after_utc < datetime.now(UTC)
    with pytest.raises(VerificationError, match="not valid at validation time"):
        _client_verifier(layout.ca_cert).verify(cert, [])
    # Signed by our CA for a real principal: only the validity period makes it fail.
    cert.verify_directly_issued_by(_load(layout.ca_cert))
    assert principal_from_pem(negative.expired_client_cert.read_bytes()) == AGG1


def test_certificate_from_the_unrelated_ca_does_not_verify_against_ours(
    layout: pki.PkiLayout, negative: pki.NegativeFixtures
) -> None:
    cert = _load(negative.foreign_client_cert)
    assert _uris(cert) == [AGG1.uri]
    with pytest.raises(VerificationError, match="candidates exhausted"):
        _client_verifier(layout.ca_cert).verify(cert, [])
    assert _client_verifier(negative.other_ca_cert).verify(cert, []).chain[-1] == _load(
        negative.other_ca_cert
    )


def test_init_refuses_an_existing_pki_and_if_missing_only_adds_what_is_missing(tmp_path: Path) -> None:
    layout = pki.init_pki(tmp_path, principals=[AGG1])
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError):
        pki.init_pki(tmp_path)
    extra = Principal(Role.OPERATOR, "op-9")
    pki.init_pki(tmp_path, if_missing=True, principals=[AGG1, extra])
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert {p: after[p] for p in before} == before
    assert set(after) - set(before) == {layout.client_cert(extra), layout.client_key(extra)}
    assert _client_verifier(layout.ca_cert).verify(_load(layout.client_cert(extra)), [])


def test_issue_client_cert_for_any_principal(layout: pki.PkiLayout) -> None:
    device = Principal(Role.DEVICE, "charger-77", "agg-2")
    cert_path, key_path = pki.issue_client_cert(layout.root, device)
    assert (cert_path, key_path) == (layout.client_cert(device), layout.client_key(device))
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert principal_from_pem(cert_path.read_bytes()) == device
    with pytest.raises(ValueError, match="owning aggregator"):
        pki.issue_client_cert(layout.root, Principal(Role.DEVICE, "charger-78"))


def test_the_longest_ids_get_certificates_named_by_their_san(layout: pki.PkiLayout) -> None:
    """An id of 64 characters (the contract's longest) makes a URI longer than a CN may be (64): the CN is
    then the id alone, and the identity is the SAN URI as for any other (an outside tester's INTERNAL)."""
    longest = "a" * 64
    for principal in (
        Principal(Role.AGGREGATOR, longest, longest),
        Principal(Role.GRID, "g" * 60),
        Principal(Role.DEVICE, "c" * 64, longest),
    ):
        cert_path, _ = pki.issue_client_cert(layout.root, principal)
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        [common_name] = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert common_name.value == principal.id
        assert principal_from_pem(cert_path.read_bytes()) == principal
    short = Principal(Role.AGGREGATOR, "agg-9", "agg-9")
    cert_path, _ = pki.issue_client_cert(layout.root, short)
    [common_name] = x509.load_pem_x509_certificate(cert_path.read_bytes()).subject.get_attributes_for_oid(
        NameOID.COMMON_NAME
    )
    assert common_name.value == short.uri


# --- identity from a grpc auth context -------------------------------------------------


def _signed(
    layout: pki.PkiLayout,
    san: Sequence[x509.GeneralName] | None,
    units: Sequence[str] = (),
) -> bytes:
    """A CA-signed client certificate with arbitrary SANs and subject OUs, for the identity rules."""
    ca = pki.CertificateAuthority.load(layout)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    subject = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit) for unit in units]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([*subject, x509.NameAttribute(NameOID.COMMON_NAME, "test")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
    )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _reason(resolver: IdentityResolver, auth_context: dict[str, list[bytes]]) -> str:
    with pytest.raises(Unauthenticated) as caught:
        resolver.resolve(auth_context)
    return caught.value.reason


def _uri(value: str) -> x509.UniformResourceIdentifier:
    return x509.UniformResourceIdentifier(value)


DEVICE_URI = [_uri("vgi://device/charger-1")]
AGG_URI = [_uri("vgi://aggregator/agg-1")]


@pytest.mark.parametrize(
    ("san", "units", "reason"),
    [
        (None, (), "CERT_IDENTITY_MISSING"),
        ([x509.DNSName("agg-1.example")], (), "CERT_IDENTITY_MISSING"),
        ([_uri("vgi://aggregator/agg-1"), _uri("vgi://grid/grid-1")], (), "CERT_IDENTITY_AMBIGUOUS"),
        ([_uri("vgi://aggregator/agg-1"), _uri("spiffe://x/y")], (), "CERT_IDENTITY_AMBIGUOUS"),
        ([_uri("vgi://admin/root")], (), "CERT_UNKNOWN_ROLE"),
        ([_uri("vgi://Aggregator/agg-1")], (), "CERT_IDENTITY_INVALID"),
        ([_uri("vgi://aggregator/agg-1/x")], (), "CERT_IDENTITY_INVALID"),
        ([_uri("vgi://aggregator/agg-1?x=1")], (), "CERT_IDENTITY_INVALID"),
        ([_uri("vgi://aggregator:443/agg-1")], (), "CERT_IDENTITY_INVALID"),
        ([_uri("vgi://aggregator/")], (), "CERT_IDENTITY_INVALID"),
        ([_uri("https://aggregator/agg-1")], (), "CERT_IDENTITY_INVALID"),
        # A device needs exactly one vgi-aggregator: OU; other OUs (or look-alikes) do not bind it.
        (DEVICE_URI, (), "CERT_DEVICE_UNBOUND"),
        (DEVICE_URI, ("engineering",), "CERT_DEVICE_UNBOUND"),
        (DEVICE_URI, ("VGI-Aggregator:agg-1",), "CERT_DEVICE_UNBOUND"),
        (DEVICE_URI, ("vgi-aggregator agg-1",), "CERT_DEVICE_UNBOUND"),
        (DEVICE_URI, ("vgi-aggregator:agg-1", "vgi-aggregator:agg-2"), "CERT_IDENTITY_AMBIGUOUS"),
        (DEVICE_URI, ("vgi-aggregator:agg-1", "vgi-aggregator:agg-1"), "CERT_IDENTITY_AMBIGUOUS"),
        (DEVICE_URI, ("vgi-aggregator:",), "CERT_IDENTITY_INVALID"),
        (DEVICE_URI, ("vgi-aggregator:a/b",), "CERT_IDENTITY_INVALID"),
        (DEVICE_URI, ("vgi-aggregator:-agg",), "CERT_IDENTITY_INVALID"),
        (DEVICE_URI, ("vgi-aggregator:" + "x" * 129,), "CERT_IDENTITY_INVALID"),
        # Only a device names an owning aggregator.
        (AGG_URI, ("vgi-aggregator:agg-2",), "CERT_IDENTITY_INVALID"),
        (AGG_URI, ("vgi-aggregator:agg-1",), "CERT_IDENTITY_INVALID"),
        ([_uri("vgi://grid/grid-1")], ("vgi-aggregator:agg-1",), "CERT_IDENTITY_INVALID"),
        ([_uri("vgi://operator/op-1")], ("vgi-aggregator:agg-1",), "CERT_IDENTITY_INVALID"),
        (AGG_URI, ("vgi-aggregator:agg-1", "vgi-aggregator:agg-2"), "CERT_IDENTITY_AMBIGUOUS"),
    ],
)
def test_identity_rules_are_strict(
    layout: pki.PkiLayout,
    san: list[x509.GeneralName] | None,
    units: tuple[str, ...],
    reason: str,
) -> None:
    pem = _signed(layout, san, units)
    assert _reason(IdentityResolver(), {"x509_pem_cert": [pem]}) == reason


@pytest.mark.parametrize(
    ("units", "principal"),
    [
        (("vgi-aggregator:agg-2",), Principal(Role.DEVICE, "charger-1", "agg-2")),
        (
            ("engineering", "vgi-aggregator:agg-2", "VGI-Aggregator:agg-1"),
            Principal(Role.DEVICE, "charger-1", "agg-2"),
        ),
        (("vgi-aggregator:" + "x" * 128,), Principal(Role.DEVICE, "charger-1", "x" * 128)),
    ],
)
def test_a_device_is_bound_by_its_single_binding_ou_whatever_other_ous_it_has(
    layout: pki.PkiLayout, units: tuple[str, ...], principal: Principal
) -> None:
    assert principal_from_pem(_signed(layout, DEVICE_URI, units)) == principal


def test_other_ous_do_not_bother_a_non_device_certificate(layout: pki.PkiLayout) -> None:
    assert principal_from_pem(_signed(layout, AGG_URI, ("engineering", "VGI-Aggregator:agg-2"))) == AGG1


def test_a_binding_ou_that_is_not_valid_utf8_is_malformed(layout: pki.PkiLayout) -> None:
    der = x509.load_pem_x509_certificate(_signed(layout, DEVICE_URI, ("vgi-aggregator:agg-1",))).public_bytes(
        serialization.Encoding.DER
    )
    assert der.count(b"vgi-aggregator:agg-1") == 1
    broken = x509.load_der_x509_certificate(der.replace(b"vgi-aggregator:agg-1", b"vgi-aggregator:agg\xff1"))
    pem = broken.public_bytes(serialization.Encoding.PEM)
    assert _reason(IdentityResolver(), {"x509_pem_cert": [pem]}) == "CERT_MALFORMED"


def test_identity_of_every_role(layout: pki.PkiLayout) -> None:
    resolver = IdentityResolver()
    got = {
        p.uri: resolver.resolve({"x509_pem_cert": [layout.client_cert(p).read_bytes()]})
        for p in pki.DEFAULT_PRINCIPALS
    }
    assert got == {
        "vgi://grid/grid-1": Principal(Role.GRID, "grid-1", None),
        "vgi://aggregator/agg-1": Principal(Role.AGGREGATOR, "agg-1", "agg-1"),
        "vgi://aggregator/agg-2": Principal(Role.AGGREGATOR, "agg-2", "agg-2"),
        "vgi://device/charger-1": Principal(Role.DEVICE, "charger-1", "agg-1"),
        "vgi://operator/op-1": Principal(Role.OPERATOR, "op-1", None),
        "vgi://internal/sim": Principal(Role.INTERNAL, "sim", None),
    }


def test_identity_without_a_certificate_or_with_garbage(layout: pki.PkiLayout) -> None:
    resolver = IdentityResolver()
    assert _reason(resolver, {}) == "CERT_MISSING"
    assert _reason(resolver, {"transport_security_type": [b"insecure"]}) == "CERT_MISSING"
    assert _reason(resolver, {"x509_pem_cert": []}) == "CERT_MISSING"
    assert _reason(resolver, {"x509_pem_cert": [b"-----BEGIN CERTIFICATE-----\nAAAA\n"]}) == "CERT_MALFORMED"
    # The parser's own text (a Rust ParseError) stays inside: the caller reads what is wrong, not how.
    with pytest.raises(Unauthenticated) as caught:
        resolver.resolve(
            {"x509_pem_cert": [b"-----BEGIN CERTIFICATE-----\nMAAA\n-----END CERTIFICATE-----\n"]}
        )
    assert caught.value.message == "client certificate is malformed: not a parseable X.509 certificate"
    pem = layout.client_cert(AGG1).read_bytes()
    assert _reason(resolver, {"x509_pem_cert": [pem, pem]}) == "CERT_MALFORMED"


def test_identity_is_cached_by_pem_including_rejections(layout: pki.PkiLayout) -> None:
    resolver = IdentityResolver(maxsize=1)
    pem = layout.client_cert(AGG1).read_bytes()
    first = resolver.resolve({"x509_pem_cert": [pem]})
    # A new bytes object with the same content, as grpc hands over on every call.
    assert resolver.resolve({"x509_pem_cert": [bytes(bytearray(pem))]}) is first
    bad = _signed(layout, [_uri("vgi://admin/root")])
    errors = []
    for _ in range(2):
        with pytest.raises(Unauthenticated) as caught:
            resolver.resolve({"x509_pem_cert": [bad]})
        errors.append(caught.value)
    assert errors[0] is not errors[1]
    assert [e.reason for e in errors] == ["CERT_UNKNOWN_ROLE", "CERT_UNKNOWN_ROLE"]
    # maxsize=1: the rejection evicted the principal, which is parsed again (equal, new object).
    again = resolver.resolve({"x509_pem_cert": [pem]})
    assert again == first
    assert again is not first


# --- JWT signing keys ----------------------------------------------------------------


def test_jwks_publishes_the_signing_key_under_its_thumbprint(layout: pki.PkiLayout) -> None:
    key, kid = pki.load_jwt_signing_key(layout.root)
    (published,) = json.loads(layout.jwks.read_text())["keys"]
    assert published["kid"] == kid == pki.jwk_thumbprint(key.public_key())
    assert {k: published[k] for k in ("kty", "crv", "alg", "use")} == {
        "kty": "EC",
        "crv": "P-256",
        "alg": "ES256",
        "use": "sig",
    }
    assert "d" not in published


def test_rotation_keeps_old_public_keys_and_retire_removes_one(tmp_path: Path) -> None:
    pki.init_pki(tmp_path, principals=[])
    _, first = pki.load_jwt_signing_key(tmp_path)
    second = pki.rotate_jwt_key(tmp_path)
    assert pki.load_jwt_signing_key(tmp_path)[1] == second != first
    kids = [k["kid"] for k in json.loads((tmp_path / "jwks.json").read_text())["keys"]]
    assert kids == [first, second]
    with pytest.raises(ValueError, match="current signing key"):
        pki.retire_jwt_key(tmp_path, second)
    pki.retire_jwt_key(tmp_path, first)
    assert [k["kid"] for k in json.loads((tmp_path / "jwks.json").read_text())["keys"]] == [second]
    with pytest.raises(KeyError):
        pki.retire_jwt_key(tmp_path, first)


# --- CLI -----------------------------------------------------------------------------


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vgi")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_cli_pki_and_token_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "pki")
    assert _run(["pki", "init", "--dir", d]) == 0
    assert _run(["pki", "init", "--dir", d]) == 1
    assert "--if-missing" in capsys.readouterr().err
    assert _run(["pki", "init", "--dir", d, "--if-missing"]) == 0
    assert capsys.readouterr().out == f"PKI ready in {d}\n"

    assert (
        _run(["pki", "issue", "--dir", d, "--principal", "vgi://device/ch-9", "--aggregator", "agg-2"]) == 0
    )
    cert_path = capsys.readouterr().out.splitlines()[0]
    assert principal_from_pem(Path(cert_path).read_bytes()) == Principal(Role.DEVICE, "ch-9", "agg-2")
    assert _run(["pki", "issue", "--dir", d, "--principal", "vgi://device/ch-10"]) == 1
    assert "no owning aggregator" in capsys.readouterr().err
    assert _run(["pki", "issue", "--dir", d, "--principal", "vgi://boss/x"]) == 1

    assert _run(["pki", "rotate-jwt-key", "--dir", d]) == 0
    new_kid = capsys.readouterr().out.strip()
    assert pki.load_jwt_signing_key(d)[1] == new_kid

    argv = ["token", "issue", "--pki", d, "--subject", "vgi://operator/op-1", "--audience", "vgi.operator"]
    assert _run([*argv, "--audience", "vgi.dispatch", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    claims = TokenVerifier(KeySet(Path(d) / "jwks.json"), DEV_ISSUER).verify(token, "vgi.dispatch")
    assert (claims.subject, claims.audiences, claims.kid) == (
        "vgi://operator/op-1",
        frozenset({"vgi.operator", "vgi.dispatch"}),
        new_kid,
    )
    assert claims.expires_at - claims.issued_at == 60
    assert _run(["token", "issue", "--pki", d, "--subject", "op-1", "--audience", "vgi.operator"]) == 1
    with pytest.raises(SystemExit):
        _run(["token", "issue", "--pki", d, "--subject", "vgi://operator/op-1", "--audience", "vgi.nope"])

    old_kid = json.loads((Path(d) / "jwks.json").read_text())["keys"][0]["kid"]
    assert _run(["pki", "retire-jwt-key", "--dir", d, f"--kid={old_kid}"]) == 0
    assert _run(["pki", "retire-jwt-key", "--dir", d, f"--kid={old_kid}"]) == 1
