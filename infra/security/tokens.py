"""Bearer JWTs: a rotating public key set, a caching verifier and a dev issuer.

Only asymmetric algorithms are accepted, and the algorithm is taken from the
key the ``kid`` names, never from the token: a token whose header ``alg``
differs from its key's is refused before any signature check, which is what
defeats ``alg=none`` and HS256-signed-with-the-public-key forgeries.

Verifying an ES256 signature costs about as much as a whole bare unary call,
so verified claims are cached by the token string until ``exp``. The cache
is emptied whenever the key set changes, so a retired key stops working at
the next key-set check rather than when its tokens expire. All time checks
use the injected clock, so a test's clock and the verifier never disagree.

Every rejection is ``domain.errors.Unauthenticated`` with a TOKEN_* reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from domain.errors import Unauthenticated
from domain.principal import Principal

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = frozenset({"ES256", "RS256", "EdDSA"})
#: One audience per surface; a token may carry several.
AUDIENCES: tuple[str, ...] = ("vgi.dispatch", "vgi.aggregator", "vgi.device", "vgi.operator")
#: Issuer written by ``vgi token issue`` unless told otherwise; the server must be configured to match.
DEV_ISSUER = "vgi-dev"
_MIN_RSA_BITS = 2048
_REQUIRED_CLAIMS = ["exp", "nbf", "iat", "iss", "aud", "sub"]
_SURFACES = {f"{audience}.v1": audience for audience in AUDIENCES}

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def audience_for_method(full_method: str) -> str | None:
    """The audience a call must carry: ``/vgi.operator.v1.OperatorService/X`` → ``vgi.operator``.

    None for methods outside the four surfaces (health, reflection).
    """
    package = full_method.lstrip("/").partition("/")[0].rpartition(".")[0]
    return _SURFACES.get(package)


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The token of the single ``authorization: Bearer <token>`` metadata entry."""
    value: str | bytes | None = None
    for key, item in metadata or ():
        if key == "authorization":
            if value is not None:
                raise _reject("TOKEN_MALFORMED", "more than one authorization metadata entry")
            value = item
    if value is None:
        raise _reject("TOKEN_MISSING", "no authorization metadata")
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        raise _reject("TOKEN_MALFORMED", "authorization is not a Bearer token")
    token = token.strip()
    if not token:
        raise _reject("TOKEN_MISSING", "empty Bearer token")
    return token


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token asserts; ``payload`` holds every claim as received."""

    subject: str
    issuer: str
    audiences: frozenset[str]
    expires_at: float
    not_before: float
    issued_at: float
    kid: str
    payload: Mapping[str, Any]


#: Private claim naming a device's owning aggregator; only read when no certificate names it (--insecure).
AGGREGATOR_CLAIM = "vgi_aggregator"


def check_subject(claims: Claims, principal: Principal) -> None:
    """A token is only good on the connection of the principal it was issued to."""
    if claims.subject != principal.uri:
        raise _reject(
            "TOKEN_SUBJECT_MISMATCH",
            f"token subject {claims.subject!r} is not the certificate identity {principal.uri!r}",
        )


def parse_jwks(data: bytes | str) -> dict[str, jwt.PyJWK]:
    """kid → key from a JWKS document; refuses keys without kid, duplicate kids,
    symmetric or otherwise disallowed keys, and RSA keys under 2048 bits."""
    try:
        document = json.loads(data)
        entries = document["keys"]
        if not isinstance(entries, list):
            raise TypeError("'keys' is not a list")
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a JWKS document: {exc}") from None
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        if not isinstance(kid, str) or not kid:
            raise ValueError("every key needs a kid")
        if kid in keys:
            raise ValueError(f"duplicate kid {kid!r}")
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWKError as exc:
            raise ValueError(f"key {kid!r}: {exc}") from None
        if key.algorithm_name not in ALLOWED_ALGORITHMS:
            raise ValueError(f"key {kid!r}: algorithm {key.algorithm_name} is not allowed")
        if isinstance(key.key, rsa.RSAPublicKey) and key.key.key_size < _MIN_RSA_BITS:
            raise ValueError(f"key {kid!r}: RSA keys need at least {_MIN_RSA_BITS} bits")
        if entry.get("use", "sig") != "sig":
            raise ValueError(f"key {kid!r} is not a signing key")
        keys[kid] = key
    return keys


class KeySet:
    """The trusted public keys, re-read when the JWKS file changes (rotation).

    The file is checked at most every ``check_interval_s`` (one ``stat``), and
    immediately when a token names an unknown kid, so a key published a moment
    ago is usable at once. A file that fails to parse leaves the previous keys
    in force (and is logged) rather than locking everyone out.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        check_interval_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._path = Path(path)
        self._interval = check_interval_s
        self._monotonic = monotonic
        self._signature = self._stat()
        self._keys = parse_jwks(self._path.read_bytes())
        self._generation = 0
        self._next_check = monotonic() + check_interval_s

    @property
    def generation(self) -> int:
        """Bumped on every change of the key set; checks the file first if due."""
        if self._monotonic() >= self._next_check:
            self.refresh()
        return self._generation

    def get(self, kid: str) -> jwt.PyJWK | None:
        key = self._keys.get(kid)
        if key is None:
            self.refresh()
            key = self._keys.get(kid)
        return key

    def refresh(self) -> None:
        """Reload if the file's identity, size or mtime changed."""
        self._next_check = self._monotonic() + self._interval
        signature = self._stat()
        if signature == self._signature:
            return
        self._signature = signature
        try:
            self._keys = parse_jwks(self._path.read_bytes())
        except (OSError, ValueError) as exc:
            log.warning("keeping the previous JWT key set: %s: %s", self._path, exc)
            return
        self._generation += 1

    def _stat(self) -> tuple[int, int, int, int]:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return (0, 0, 0, 0)
        return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)


class TokenVerifier:
    """Verifies bearer tokens for one issuer, caching verified claims until ``exp``.

    Not thread-safe: one instance per event loop (grpc.aio serves a process on one loop).
    """

    def __init__(
        self,
        keyset: KeySet,
        issuer: str,
        *,
        leeway_s: float = 30.0,
        cache_size: int = 65536,
        clock: Callable[[], float] = time.time,
    ):
        self._keyset = keyset
        self._issuer = issuer
        self._leeway = leeway_s
        self._cache_size = cache_size
        self._clock = clock
        self._cache: OrderedDict[str, Claims] = OrderedDict()
        self._cache_generation = keyset.generation

    def verify(self, token: str, audience: str | None) -> Claims:
        """Claims of a valid token that names ``audience``, else ``Unauthenticated``.

        ``audience`` None accepts any audience: for methods outside the four
        surfaces (handlers embedded next to them), which have none of their own.
        """
        if not token:
            raise _reject("TOKEN_MISSING", "no token")
        now = self._clock()
        generation = self._keyset.generation
        if generation != self._cache_generation:
            self._cache.clear()
            self._cache_generation = generation
        claims = self._cache.get(token)
        if claims is None or now >= claims.expires_at:
            if claims is not None:
                del self._cache[token]
            claims = self._verify_uncached(token, now)
            if now < claims.expires_at:
                if len(self._cache) >= self._cache_size:
                    self._cache.popitem(last=False)
                self._cache[token] = claims
        if audience is not None and audience not in claims.audiences:
            raise _reject("TOKEN_BAD_AUDIENCE", f"token is not for {audience!r}")
        return claims

    def _verify_uncached(self, token: str, now: float) -> Claims:
        header = _header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise _reject("TOKEN_BAD_ALGORITHM", f"algorithm {_shown(alg)} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _reject("TOKEN_UNKNOWN_KID", "token header has no kid string")
        if "crit" in header:
            # RFC 7515 §4.1.11: a recipient must refuse critical extensions it does not implement (all).
            raise _reject("TOKEN_MALFORMED", "token header names critical extensions, none are supported")
        key = self._keyset.get(kid)
        if key is None:
            raise _reject("TOKEN_UNKNOWN_KID", f"no trusted key has kid {_shown(kid)}")
        if key.algorithm_name != alg:
            raise _reject("TOKEN_BAD_ALGORITHM", f"key {kid!r} is for {key.algorithm_name}, token says {alg}")
        try:
            payload = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                issuer=self._issuer,
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": True,
                },
            )
        except jwt.InvalidSignatureError:
            raise _reject("TOKEN_BAD_SIGNATURE", "signature does not verify") from None
        except jwt.InvalidIssuerError:
            raise _reject("TOKEN_BAD_ISSUER", f"issuer is not {self._issuer!r}") from None
        except jwt.InvalidAlgorithmError:
            raise _reject(
                "TOKEN_BAD_ALGORITHM", f"algorithm {alg} is not accepted for key {_shown(kid)}"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise _reject("TOKEN_MALFORMED", f"token has no {_shown(exc.claim)} claim") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            # Anything else the library refuses (or trips over) is a malformed
            # token; its own text names codecs and classes, so none of it is echoed.
            raise _reject("TOKEN_MALFORMED", "the token payload or signature is not well formed") from None
        return self._claims(payload, kid, now)

    def _claims(self, payload: dict[str, Any], kid: str, now: float) -> Claims:
        exp, nbf, iat = (_number(payload, name) for name in ("exp", "nbf", "iat"))
        if now >= exp + self._leeway:
            raise _reject("TOKEN_EXPIRED", "token has expired")
        if now < nbf - self._leeway or now < iat - self._leeway:
            raise _reject("TOKEN_NOT_YET_VALID", "token is not valid yet")
        subject = payload["sub"]
        if not isinstance(subject, str) or not subject:
            raise _reject("TOKEN_MALFORMED", "sub is not a non-empty string")
        aud = payload["aud"]
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise _reject("TOKEN_MALFORMED", "aud is not a string or a list of strings")
        if not audiences:
            raise _reject("TOKEN_BAD_AUDIENCE", "the token names no audience (aud is an empty list)")
        return Claims(
            subject=subject,
            issuer=payload["iss"],
            audiences=frozenset(audiences),
            expires_at=exp,
            not_before=nbf,
            issued_at=iat,
            kid=kid,
            payload=MappingProxyType(payload),
        )


def issue_token(
    signing_key: PrivateKey,
    kid: str,
    subject: str,
    audience: str | Sequence[str],
    issuer: str,
    ttl: float,
    *,
    now: float | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """A signed token for development and tests (``vgi token issue``); ``claims`` adds private claims."""
    if isinstance(signing_key, ec.EllipticCurvePrivateKey):
        if not isinstance(signing_key.curve, ec.SECP256R1):
            raise ValueError("EC signing keys must be P-256 (ES256)")
        algorithm = "ES256"
    elif isinstance(signing_key, rsa.RSAPrivateKey):
        algorithm = "RS256"
    else:
        algorithm = "EdDSA"
    issued = int(time.time() if now is None else now)
    payload = {
        "iss": issuer,
        "sub": subject,
        "aud": audience if isinstance(audience, str) else list(audience),
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl),
        "jti": uuid.uuid4().hex,
        **(claims or {}),
    }
    return jwt.encode(payload, signing_key, algorithm=algorithm, headers={"kid": kid})


def _header(token: str) -> dict[str, Any]:
    """The token's JOSE header, read here rather than by the library, whose refusals are less
    precise (a non-string kid is "invalid header") and whose messages name codecs and offsets."""
    segments = token.split(".")
    if len(segments) != 3:
        raise _reject("TOKEN_MALFORMED", "a token has three dot-separated segments")
    try:
        header = json.loads(base64.urlsafe_b64decode(segments[0] + "=" * (-len(segments[0]) % 4)))
    except (ValueError, binascii.Error):
        raise _reject("TOKEN_MALFORMED", "the token header is not base64url-encoded JSON") from None
    if not isinstance(header, dict):
        raise _reject("TOKEN_MALFORMED", "the token header is not a JSON object")
    return header


def _number(payload: Mapping[str, Any], name: str) -> float:
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _reject("TOKEN_MALFORMED", f"{name} is not a number")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise _reject("TOKEN_MALFORMED", f"{name} is not a finite number")
    return seconds


def _shown(value: object) -> str:
    """A header value quoted for a message, cut short: attacker-chosen text stays small."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _reject(reason: str, message: str) -> Unauthenticated:
    return Unauthenticated(message, reason=reason)
