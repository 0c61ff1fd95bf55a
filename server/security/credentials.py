"""Credentials the operator surface hands out in development and test deployments (IssueCredentials).

Signing uses the dev PKI directory's CA key and current JWT key, so this only
works where the server holds them (``pki_dir``); a production server is
given its certificate files and a key set, never a CA key.

A token names the audiences of the surfaces where the principal's role may
call at least one RPC, read from the proto's declared roles.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from domain.errors import FieldViolation, InvalidArgument
from domain.principal import Principal, Role
from infra.security import pki
from infra.security.tokens import audience_for_method, issue_token

DEFAULT_TOKEN_TTL = timedelta(hours=1)
DEFAULT_CERTIFICATE_TTL = timedelta(days=30)


@dataclass(frozen=True)
class IssuedCredential:
    expire_time: datetime
    certificate_pem: str = ""
    private_key_pem: str = ""
    token: str = ""


def issue_certificate(
    pki_dir: Path | str, principal: Principal, ttl: timedelta | None, *, now: datetime
) -> IssuedCredential:
    """A client certificate (and its new key) for ``principal``, valid from now for ``ttl``."""
    expires = now + (ttl or DEFAULT_CERTIFICATE_TTL)
    issued = pki.CertificateAuthority.load(pki.PkiLayout(Path(pki_dir))).issue_client(
        principal, not_after=expires
    )
    return IssuedCredential(
        certificate_pem=issued.cert_pem().decode(),
        private_key_pem=issued.key_pem().decode(),
        expire_time=expires,
    )


def issue_role_token(
    pki_dir: Path | str, principal: Principal, ttl: timedelta | None, *, issuer: str, now: datetime
) -> IssuedCredential:
    """A token for ``principal`` with the audiences its role can use, signed by the current key."""
    lifetime = ttl or DEFAULT_TOKEN_TTL
    audiences = audiences_for_role(principal.role)
    if not audiences:
        raise InvalidArgument(
            f"no RPC admits the {principal.role.value} role, so a token for it would open nothing",
            reason="ROLE_HAS_NO_SURFACE",
            violations=[FieldViolation("principal", "its role may call no RPC")],
        )
    key, kid = pki.load_jwt_signing_key(pki_dir)
    token = issue_token(
        key,
        kid,
        principal.uri,
        sorted(audiences),
        issuer,
        lifetime.total_seconds(),
        now=now.timestamp(),
    )
    return IssuedCredential(token=token, expire_time=now.replace(microsecond=0) + lifetime)


@functools.cache
def audiences_for_role(role: Role) -> frozenset[str]:
    """Surfaces with at least one RPC that declares ``role``, as token audiences."""
    # Imported here: the service descriptors are only complete once the app has loaded every surface.
    from google.protobuf import descriptor_pool

    from interceptors.methods import method_info
    from server.surfaces import discover_surfaces

    found = set()
    for surface in discover_surfaces():
        service = descriptor_pool.Default().FindServiceByName(surface.service)
        for method in service.methods:
            full_method = f"/{surface.service}/{method.name}"
            audience = audience_for_method(full_method)
            if audience is not None and role in method_info(full_method).roles:
                found.add(audience)
    return frozenset(found)
