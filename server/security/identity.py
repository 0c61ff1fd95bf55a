"""Who is calling, read from the client certificate the TLS handshake already verified.

A client certificate names its principal with exactly one SAN URI
``vgi://{role}/{id}``. A device certificate also names the aggregator that
owns its charger, in a custom non-critical extension (``AGGREGATOR_BINDING_OID``)
holding the aggregator id as a DER UTF8String. It is not a second SAN URI on
purpose: a certificate must carry one identity, so nothing that scans SANs
(this module, a proxy, ``grpc``'s ``peer_uri``) can read a device certificate
as an aggregator's.

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

from domain.errors import Unauthenticated
from domain.principal import Principal, Role

#: OID of the device→aggregator binding extension: an X.667 UUID arc
#: (2.25.<uuid>), which needs no registration and cannot collide.
AGGREGATOR_BINDING_OID = x509.ObjectIdentifier("2.25.310799410154577730318049372289134229719")

#: The auth-context key under which grpc exposes the verified peer leaf (PEM).
PEM_CERT_KEY = "x509_pem_cert"

_ID = r"[A-Za-z0-9][A-Za-z0-9._~-]{0,127}"
_ID_RE = re.compile(_ID)
_URI_RE = re.compile(rf"vgi://([a-z]+)/({_ID})")
_ROLES = {role.value: role for role in Role}
_UTF8STRING_TAG = 0x0C


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


def encode_aggregator_binding(aggregator_id: str) -> bytes:
    """DER UTF8String of the aggregator id: the value of the binding extension."""
    value = aggregator_id.encode()
    length = len(value)
    if length < 0x80:
        header = bytes([_UTF8STRING_TAG, length])
    else:
        size = (length.bit_length() + 7) // 8
        header = bytes([_UTF8STRING_TAG, 0x80 | size]) + length.to_bytes(size, "big")
    return header + value


def decode_aggregator_binding(der: bytes) -> str:
    """Inverse of ``encode_aggregator_binding``; anything but one canonical UTF8String is refused."""
    if len(der) < 2 or der[0] != _UTF8STRING_TAG:
        raise ValueError("aggregator binding is not a DER UTF8String")
    first = der[1]
    if first < 0x80:
        start, length = 2, first
    else:
        size = first & 0x7F
        start = 2 + size
        length = int.from_bytes(der[2:start], "big")
        if size == 0 or length < 0x80 or der[2] == 0:
            raise ValueError("aggregator binding length is not minimally encoded")
    if len(der) != start + length:
        raise ValueError("aggregator binding length does not match its content")
    return der[start:].decode()


def principal_from_pem(pem: bytes) -> Principal:
    """The principal a PEM client certificate names; raises ``Unauthenticated`` otherwise.

    Uncached; ``IdentityResolver`` is what the request path uses.
    """
    try:
        cert = x509.load_pem_x509_certificate(pem)
        extensions = cert.extensions
    except ValueError as exc:
        raise Unauthenticated(f"client certificate is malformed: {exc}", reason="CERT_MALFORMED") from None
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
    aggregator_id = None
    try:
        binding = extensions.get_extension_for_oid(AGGREGATOR_BINDING_OID).value
    except x509.ExtensionNotFound:
        pass
    else:
        assert isinstance(binding, x509.UnrecognizedExtension)
        try:
            aggregator_id = decode_aggregator_binding(binding.value)
        except ValueError as exc:
            raise Unauthenticated(f"client certificate: {exc}", reason="CERT_MALFORMED") from None
    try:
        return parse_principal_uri(uris[0], aggregator_id=aggregator_id)
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
