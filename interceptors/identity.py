"""Identity: the principal named by the client certificate the mTLS handshake verified.

gRPC has already checked the chain to the client CA and the validity period
(the server requires a client certificate); this interceptor turns the peer
leaf into a ``Principal`` (cached per certificate by ``IdentityResolver``) and
publishes it in the principal contextvar. A certificate that names no valid
principal is refused with UNAUTHENTICATED and a CERT_* reason.

With ``--insecure`` (plaintext, loopback only) there is no certificate: the
chain leaves this interceptor out and ``interceptors.auth`` takes the
principal from the verified token's subject alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from infra.security.identity import IdentityResolver
from interceptors.base import Context, Guard
from interceptors.context import set_principal
from interceptors.exempt import is_exempt
from interceptors.methods import MethodInfo

AuthContext = Mapping[str, Sequence[bytes]]


class IdentityInterceptor(Guard):
    def __init__(self, resolver: IdentityResolver | None = None) -> None:
        super().__init__()
        self._resolve = (resolver or IdentityResolver()).resolve

    def applies(self, method: MethodInfo) -> bool:
        return not is_exempt(method)

    def check(self, method: MethodInfo, context: Context) -> None:
        # grpc hands back lists; its stubs only promise iterables.
        set_principal(self._resolve(cast(AuthContext, context.auth_context())))
