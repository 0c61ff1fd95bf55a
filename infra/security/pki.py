"""Development PKI: one CA, a localhost server certificate, per-principal client
certificates and the JWT signing key set, all made by ``vgi pki init``.

Layout of a PKI directory (``PkiLayout``)::

    ca.pem, ca.key                      the CA (EC P-256, 10 years)
    server.pem, server.key              SAN DNS:localhost, IP:127.0.0.1, IP:::1
    clients/{role}-{id}.pem, .key       one per principal; SAN URI vgi://{role}/{id}, and for
                                        a device the subject OU vgi-aggregator:{aggregator_id}
    jwks.json                           {"keys": [public JWK, ...]} – every key still trusted
    jwt-signing.pem                     the current ES256 signing key; kid = its RFC 7638 thumbprint
    test/...                            only after issue_negative_fixtures(): an unrelated CA,
                                        a client certificate it signed, an expired client certificate

Private keys are PKCS#8 PEM, mode 0600. A device certificate carries its
owning aggregator in its subject's organizationalUnitName, as described in
``identity``; no certificate has a custom extension, so Go's X.509 parser
(grpcurl, Go gateways) reads them all.
Certificates pass the strict WebPKI-style checks of ``cryptography``'s
verifier (critical basic constraints and key usage, EKU, SKI/AKI), so what
works here also works in BoringSSL.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from domain.principal import Principal, Role
from infra.security.identity import aggregator_unit

DEFAULT_PRINCIPALS: tuple[Principal, ...] = (
    Principal(Role.GRID, "grid-1"),
    Principal(Role.AGGREGATOR, "agg-1", "agg-1"),
    Principal(Role.AGGREGATOR, "agg-2", "agg-2"),
    Principal(Role.DEVICE, "charger-1", "agg-1"),
    Principal(Role.OPERATOR, "op-1"),
    Principal(Role.INTERNAL, "sim"),
)
SERVER_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")

CA_VALIDITY = timedelta(days=3650)
LEAF_VALIDITY = timedelta(days=825)
#: Leaves start a little in the past so a peer whose clock lags still accepts them.
_BACKDATE = timedelta(minutes=5)
_ORG = "VGI Platform (development)"


@dataclass(frozen=True)
class PkiLayout:
    """Where each file of a PKI directory lives; the server and tests use it to find them."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def jwks(self) -> Path:
        return self.root / "jwks.json"

    @property
    def jwt_signing_key(self) -> Path:
        return self.root / "jwt-signing.pem"

    @property
    def server_secret(self) -> Path:
        """The server's secret (page tokens, keyed audit chain, credentials at rest); never in the store."""
        return self.root / "server-secret.key"

    @property
    def test_dir(self) -> Path:
        return self.root / "test"

    def client_cert(self, principal: Principal) -> Path:
        return self.root / "clients" / f"{principal.role.value}-{principal.id}.pem"

    def client_key(self, principal: Principal) -> Path:
        return self.client_cert(principal).with_suffix(".key")


@dataclass(frozen=True)
class IssuedCert:
    """A certificate with its private key, not yet on disk."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return _private_pem(self.key)

    def write(self, cert_path: Path, key_path: Path) -> None:
        _write_file(key_path, self.key_pem(), secret=True)
        _write_file(cert_path, self.cert_pem(), secret=False)


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA key pair able to sign server and client certificates."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(
        cls, common_name: str = "VGI Dev CA", *, now: datetime | None = None
    ) -> CertificateAuthority:
        now = now or datetime.now(UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name(common_name)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def load(cls, layout: PkiLayout) -> CertificateAuthority:
        cert = x509.load_pem_x509_certificate(layout.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(layout.ca_key.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{layout.ca_key} is not an EC private key")
        return cls(cert, key)

    def issue_server(self, hosts: Sequence[str] = SERVER_HOSTS, *, now: datetime | None = None) -> IssuedCert:
        """A TLS server certificate for ``hosts`` (DNS names or IP literals)."""
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        now = now or datetime.now(UTC)
        return self._issue(
            hosts[0], names, ExtendedKeyUsageOID.SERVER_AUTH, now - _BACKDATE, now + LEAF_VALIDITY
        )

    def issue_client(
        self,
        principal: Principal,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> IssuedCert:
        """A client certificate naming ``principal`` (and a device's owning aggregator, in its subject OU)."""
        unit = None
        if principal.role is Role.DEVICE:
            if principal.aggregator_id is None:
                raise ValueError(f"device {principal.uri} needs its owning aggregator id")
            unit = aggregator_unit(principal.aggregator_id)
        now = datetime.now(UTC)
        return self._issue(
            _client_common_name(principal),
            [x509.UniformResourceIdentifier(principal.uri)],
            ExtendedKeyUsageOID.CLIENT_AUTH,
            not_before or now - _BACKDATE,
            not_after or now + LEAF_VALIDITY,
            unit=unit,
        )

    def _issue(
        self,
        common_name: str,
        san: list[x509.GeneralName],
        usage: x509.ObjectIdentifier,
        not_before: datetime,
        not_after: datetime,
        *,
        unit: str | None = None,
    ) -> IssuedCert:
        key = ec.generate_private_key(ec.SECP256R1())
        ca_ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, unit))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return IssuedCert(cert, key)


def init_pki(
    pki_dir: Path | str,
    *,
    if_missing: bool = False,
    principals: Iterable[Principal] = DEFAULT_PRINCIPALS,
) -> PkiLayout:
    """Create a complete dev PKI in ``pki_dir``.

    Without ``if_missing`` an existing CA is an error, so a second run never
    silently replaces credentials others already hold. With it, every file
    already present is kept and only the missing ones are made (signed by the
    existing CA), which is what ``make run`` wants on every start.
    """
    layout = PkiLayout(Path(pki_dir))
    if layout.ca_cert.exists() and not if_missing:
        raise FileExistsError(f"{layout.ca_cert} exists; pass --if-missing to complete it or use a new dir")
    layout.root.mkdir(parents=True, exist_ok=True)
    if layout.ca_cert.exists():
        ca = CertificateAuthority.load(layout)
    else:
        ca = CertificateAuthority.generate()
        _write_file(layout.ca_key, _private_pem(ca.key), secret=True)
        _write_file(layout.ca_cert, ca.cert.public_bytes(serialization.Encoding.PEM), secret=False)
    if not layout.server_cert.exists():
        ca.issue_server().write(layout.server_cert, layout.server_key)
    for principal in principals:
        if not layout.client_cert(principal).exists():
            ca.issue_client(principal).write(layout.client_cert(principal), layout.client_key(principal))
    if not layout.jwt_signing_key.exists():
        rotate_jwt_key(layout.root)
    if not layout.server_secret.exists():
        _write_file(layout.server_secret, secrets.token_hex(32).encode(), secret=True)
    return layout


def issue_client_cert(
    pki_dir: Path | str,
    principal: Principal,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> tuple[Path, Path]:
    """Sign a client certificate for any principal with the directory's CA; returns (cert, key) paths."""
    layout = PkiLayout(Path(pki_dir))
    issued = CertificateAuthority.load(layout).issue_client(
        principal, not_before=not_before, not_after=not_after
    )
    issued.write(layout.client_cert(principal), layout.client_key(principal))
    return layout.client_cert(principal), layout.client_key(principal)


@dataclass(frozen=True)
class NegativeFixtures:
    """Credentials a TLS test expects to be refused."""

    other_ca_cert: Path
    foreign_client_cert: Path
    foreign_client_key: Path
    expired_client_cert: Path
    expired_client_key: Path


def issue_negative_fixtures(
    pki_dir: Path | str, principal: Principal = DEFAULT_PRINCIPALS[1]
) -> NegativeFixtures:
    """Under ``test/``: an unrelated CA, a client cert for ``principal`` it signed, and an
    expired client cert for ``principal`` signed by the real CA.

    The foreign certificate names a real principal so a test proves the chain,
    not the name, is what gets it refused.
    """
    layout = PkiLayout(Path(pki_dir))
    test_dir = layout.test_dir
    other = CertificateAuthority.generate("Unrelated CA")
    fixtures = NegativeFixtures(
        other_ca_cert=test_dir / "other-ca.pem",
        foreign_client_cert=test_dir / "foreign-client.pem",
        foreign_client_key=test_dir / "foreign-client.key",
        expired_client_cert=test_dir / "expired-client.pem",
        expired_client_key=test_dir / "expired-client.key",
    )
    _write_file(fixtures.other_ca_cert, other.cert.public_bytes(serialization.Encoding.PEM), secret=False)
    other.issue_client(principal).write(fixtures.foreign_client_cert, fixtures.foreign_client_key)
    now = datetime.now(UTC)
    expired = CertificateAuthority.load(layout).issue_client(
        principal, not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
    )
    expired.write(fixtures.expired_client_cert, fixtures.expired_client_key)
    return fixtures


def jwk_thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url): a kid anyone can recompute from the key."""
    jwk = _public_jwk_members(public_key)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def rotate_jwt_key(pki_dir: Path | str) -> str:
    """Make a new ES256 signing key, publish its public key, keep the old ones; returns the new kid.

    The key set is written before the signing key so no token can be signed
    by a key verifiers have not been offered yet. Old public keys stay until
    ``retire_jwt_key`` (once tokens they signed have expired).
    """
    layout = PkiLayout(Path(pki_dir))
    key = ec.generate_private_key(ec.SECP256R1())
    kid = jwk_thumbprint(key.public_key())
    keys = _read_jwks(layout) if layout.jwks.exists() else []
    keys.append({**_public_jwk_members(key.public_key()), "kid": kid, "alg": "ES256", "use": "sig"})
    _write_jwks(layout, keys)
    _write_file(layout.jwt_signing_key, _private_pem(key), secret=True)
    return kid


def retire_jwt_key(pki_dir: Path | str, kid: str) -> None:
    """Stop trusting ``kid``; tokens it signed then fail with TOKEN_UNKNOWN_KID."""
    layout = PkiLayout(Path(pki_dir))
    if kid == load_jwt_signing_key(layout.root)[1]:
        raise ValueError(f"{kid} is the current signing key; rotate first")
    keys = _read_jwks(layout)
    remaining = [key for key in keys if key.get("kid") != kid]
    if len(remaining) == len(keys):
        raise KeyError(kid)
    _write_jwks(layout, remaining)


def load_jwt_signing_key(pki_dir: Path | str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """The current signing key and its kid."""
    path = PkiLayout(Path(pki_dir)).jwt_signing_key
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return key, jwk_thumbprint(key.public_key())


def _public_jwk_members(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }


def _read_jwks(layout: PkiLayout) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = json.loads(layout.jwks.read_text())["keys"]
    return keys


def _write_jwks(layout: PkiLayout, keys: list[dict[str, Any]]) -> None:
    _write_file(layout.jwks, (json.dumps({"keys": keys}, indent=2) + "\n").encode(), secret=False)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# X.520's upper bound for a commonName (cryptography enforces it).
_MAX_COMMON_NAME = 64


def _client_common_name(principal: Principal) -> str:
    """The subject CN of a client certificate: its identity URI, or where that is longer than a CN may be
    (an id of more than 64 - len("vgi://{role}/") characters) the id alone. Informational only: the
    identity is the SAN URI (``infra.security.identity``), which has no such bound."""
    return principal.uri if len(principal.uri) <= _MAX_COMMON_NAME else principal.id


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    """O, then the organizationalUnitName if any, then CN."""
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG)]
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_file(path: Path, data: bytes, *, secret: bool) -> None:
    """Write through a temporary file and rename, so a reader (the server reloading
    jwks.json) never sees half a file; keys are created 0600 and never readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o600 if secret else 0o644
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)
