"""Who is calling, read from the client certificate the TLS handshake already verified.

A client certificate names its principal with exactly one SAN URI
``vgi://{role}/{id}``. A device certificate also names the aggregator that
owns its charger, as exactly one subject organizationalUnitName
``vgi-aggregator:{aggregator_id}`` (``aggregator_unit``). The subject is a
standard field every X.509 parser reads, so the same certificate works in Go
(grpcurl, Go gateways), OpenSSL, BoringSSL and ``cryptography``. (A custom
extension would not: Go's ``crypto/x509`` refuses a whole certificate whose
extension OID has an arc wider than 64 bits, such as a ``2.25.<uuid>`` one.)
It is not a second SAN URI on purpose: a certificate must carry one identity,
so nothing that scans SANs (this module, a proxy, ``grpc``'s ``peer_uri``)
can read a device certificate as an aggregator's.

The binding rules, each a ``Unauthenticated`` reason:

* a device certificate without such an OU → ``CERT_DEVICE_UNBOUND``;
* two or more such OUs (on any certificate, even naming the same aggregator)
  → ``CERT_IDENTITY_AMBIGUOUS``, as for two SAN URIs;
* such an OU on a certificate of any other role → ``CERT_IDENTITY_INVALID``;
* an aggregator id that is not a valid id → ``CERT_IDENTITY_INVALID``.

Only OUs starting with exactly ``vgi-aggregator:`` are read; other OUs are
ignored. Ids longer than 49 characters make the OU exceed RFC 5280's
64-character upper bound, which no parser used here enforces on reading.

gRPC checks the chain and validity period during the handshake; this module
only turns the verified leaf into a ``Principal``. Parsing X.509 costs tens of
microseconds, so results (rejections included) are cached by the PEM bytes in
a bounded LRU and a repeat caller costs one dictionary lookup.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from domain.errors import Unauthenticated
from domain.principal import Principal, Role

#: How a subject organizationalUnitName binding a device to its aggregator starts.
AGGREGATOR_UNIT_PREFIX = "vgi-aggregator:"

#: The auth-context key under which grpc exposes the verified peer leaf (PEM).
PEM_CERT_KEY = "x509_pem_cert"

_ID = r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}"
_ID_RE = re.compile(_ID)
_URI_RE = re.compile(rf"vgi://([a-z]+)/({_ID})")
_ROLES = {role.value: role for role in Role}


class PrincipalUriError(ValueError):
    """A string is not a principal URI; ``reason`` says which rule it broke."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def split_principal_uri(uri: str) -> tuple[Role, str]:
    """``vgi://{role}/{id}`` → (role, id), exactly: no port, query, fragment or extra segment."""
    match = _URI_RE.fullmatch(uri)
    if match is None:
        raise PrincipalUriError(f"{uri!r} is not of the form vgi://{{role}}/{{id}}", "CERT_IDENTITY_INVALID")
    role = _ROLES.get(match.group(1))
    if role is None:
        raise PrincipalUriError(f"unknown role {match.group(1)!r} in {uri!r}", "CERT_UNKNOWN_ROLE")
    return role, match.group(2)


def parse_principal_uri(uri: str, *, aggregator_id: str | None = None) -> Principal:
    """The principal a URI names.

    ``aggregator_id`` is required for a device (the owner of its charger) and
    refused for every other role; an aggregator is bound to its own id.
    """
    role, ident = split_principal_uri(uri)
    if role is Role.DEVICE:
        if aggregator_id is None:
            raise PrincipalUriError(f"device {uri!r} names no owning aggregator", "CERT_DEVICE_UNBOUND")
        if _ID_RE.fullmatch(aggregator_id) is None:
            raise PrincipalUriError(f"invalid aggregator id {aggregator_id!r}", "CERT_IDENTITY_INVALID")
        return Principal(role, ident, aggregator_id)
    if aggregator_id is not None:
        raise PrincipalUriError(
            f"only a device names an owning aggregator, not {uri!r}", "CERT_IDENTITY_INVALID"
        )
    return Principal(role, ident, ident if role is Role.AGGREGATOR else None)


def aggregator_unit(aggregator_id: str) -> str:
    """The subject organizationalUnitName binding a device certificate to ``aggregator_id``."""
    if _ID_RE.fullmatch(aggregator_id) is None:
        raise ValueError(f"invalid aggregator id {aggregator_id!r}")
    return AGGREGATOR_UNIT_PREFIX + aggregator_id


def _aggregator_units(subject: x509.Name) -> list[str]:
    """The aggregator ids of every binding OU in ``subject``, in order (unvalidated)."""
    return [
        value.removeprefix(AGGREGATOR_UNIT_PREFIX)
        for attribute in subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        if isinstance(value := attribute.value, str) and value.startswith(AGGREGATOR_UNIT_PREFIX)
    ]


def principal_from_pem(pem: bytes) -> Principal:
    """The principal a PEM client certificate names; raises ``Unauthenticated`` otherwise.

    Uncached; ``IdentityResolver`` is what the request path uses.
    """
    try:
        cert = x509.load_pem_x509_certificate(pem)
        extensions = cert.extensions
        units = _aggregator_units(cert.subject)
    except ValueError:  # the parser's own text (Rust's ParseError) is not for the caller
        raise Unauthenticated(
            "client certificate is malformed: not a parseable X.509 certificate", reason="CERT_MALFORMED"
        ) from None
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    if not uris:
        raise Unauthenticated("client certificate names no principal URI", reason="CERT_IDENTITY_MISSING")
    if len(uris) > 1:
        raise Unauthenticated(
            f"client certificate names {len(uris)} URIs, exactly one is allowed",
            reason="CERT_IDENTITY_AMBIGUOUS",
        )
    if len(units) > 1:
        raise Unauthenticated(
            f"client certificate names {len(units)} owning aggregators, at most one is allowed",
            reason="CERT_IDENTITY_AMBIGUOUS",
        )
    try:
        return parse_principal_uri(uris[0], aggregator_id=units[0] if units else None)
    except PrincipalUriError as exc:
        raise Unauthenticated(f"client certificate: {exc}", reason=exc.reason) from None


@dataclass(frozen=True)
class _Rejection:
    message: str
    reason: str


def _examine(pem: bytes) -> Principal | _Rejection:
    try:
        return principal_from_pem(pem)
    except Unauthenticated as exc:
        return _Rejection(exc.message, exc.reason)


class IdentityResolver:
    """Maps a grpc auth context to the caller's ``Principal``, caching by certificate.

    Rejections are cached too (a fresh exception is raised each time, so
    tracebacks do not pile up on a shared instance).
    """

    def __init__(self, maxsize: int = 16384):
        self._examine = functools.lru_cache(maxsize=maxsize)(_examine)

    def resolve(self, auth_context: Mapping[str, Sequence[bytes]]) -> Principal:
        """``context.auth_context()`` → Principal, or ``Unauthenticated`` with a CERT_* reason."""
        pems = auth_context.get(PEM_CERT_KEY)
        if not pems:
            raise Unauthenticated("no client certificate was presented", reason="CERT_MISSING")
        if len(pems) != 1:
            raise Unauthenticated("expected exactly one peer certificate", reason="CERT_MALFORMED")
        outcome = self._examine(pems[0])
        if isinstance(outcome, _Rejection):
            raise Unauthenticated(outcome.message, reason=outcome.reason)
        return outcome
