"""Token authentication: a valid bearer JWT for the method's surface, issued to the caller.

The ``authorization: Bearer <jwt>`` metadata is verified by
``infra.security.tokens.TokenVerifier`` (asymmetric algorithms only, the
configured issuer, exp/nbf with leeway, a kid of the rotating key set;
verified claims cached until exp). The audience must be the surface of the
method (``vgi.operator`` for ``/vgi.operator.v1.OperatorService/...``);
handlers embedded beside the four surfaces have none, and accept any.

With mTLS the token's subject must equal the certificate identity set by
``interceptors.identity`` (TOKEN_SUBJECT_MISMATCH otherwise). With
``--insecure`` there is no certificate, so the principal IS the token's
subject; a device's owning aggregator then comes from the
``vgi_aggregator`` claim. Health and reflection are exempt.
"""

from __future__ import annotations

from domain.errors import Unauthenticated
from domain.principal import Principal, Role
from infra.security.identity import PrincipalUriError, parse_principal_uri, split_principal_uri
from infra.security.tokens import (
    AGGREGATOR_CLAIM,
    Claims,
    TokenVerifier,
    audience_for_method,
    bearer_token,
    check_subject,
)
from interceptors.base import Context, Guard
from interceptors.context import current_principal, invocation_metadata, set_principal
from interceptors.exempt import is_exempt
from interceptors.methods import MethodInfo


class TokenAuthInterceptor(Guard):
    """``subject_is_principal``: True only for --insecure, where no certificate names the caller."""

    def __init__(self, verifier: TokenVerifier, *, subject_is_principal: bool = False) -> None:
        super().__init__()
        self._verify = verifier.verify
        self._subject_is_principal = subject_is_principal
        self._audiences: dict[str, str | None] = {}

    def applies(self, method: MethodInfo) -> bool:
        if is_exempt(method):
            return False
        self._audiences[method.full_name] = audience_for_method(method.full_name)
        return True

    def check(self, method: MethodInfo, context: Context) -> None:
        claims = self._verify(bearer_token(invocation_metadata(context)), self._audiences[method.full_name])
        if self._subject_is_principal:
            set_principal(_principal_from_claims(claims))
            return
        principal = current_principal()
        if principal is None:
            raise Unauthenticated("no client certificate was presented", reason="CERT_MISSING")
        check_subject(claims, principal)


def _principal_from_claims(claims: Claims) -> Principal:
    try:
        role, _ = split_principal_uri(claims.subject)
        aggregator = claims.payload.get(AGGREGATOR_CLAIM) if role is Role.DEVICE else None
        return parse_principal_uri(claims.subject, aggregator_id=aggregator)
    except PrincipalUriError as exc:
        raise Unauthenticated(f"token subject: {exc}", reason="TOKEN_SUBJECT_INVALID") from None
    except TypeError:  # the claim is not a string: say so, not Python's words for it
        raise Unauthenticated(
            f"token subject: the {AGGREGATOR_CLAIM} claim must be a string", reason="TOKEN_SUBJECT_INVALID"
        ) from None
