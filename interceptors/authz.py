"""Authorization: the caller's role must be among the roles the proto declares for the RPC.

Roles come from the ``(vgi.common.v1.policy)`` method option via
``interceptors.methods.method_info`` — resolved once per method, never typed
by hand. Any other role gets PERMISSION_DENIED with ErrorInfo reason
ROLE_NOT_ALLOWED. A contract RPC declaring no roles is closed to everyone.

Runs after authentication and before validation, so a denied caller learns
nothing about the request shape. Health and reflection are exempt; handlers
embedded beside the contracts (no descriptor, hence no policy) are open to
any authenticated caller — the contracts' own RPCs all declare roles, which
tests/contracts checks.
"""

from __future__ import annotations

from domain.errors import PermissionDenied, Unauthenticated
from interceptors.base import Context, Guard
from interceptors.context import current_principal
from interceptors.exempt import is_exempt
from interceptors.methods import MethodInfo

ROLE_NOT_ALLOWED = "ROLE_NOT_ALLOWED"


class AuthorizationInterceptor(Guard):
    def applies(self, method: MethodInfo) -> bool:
        return not is_exempt(method) and method.descriptor is not None

    def check(self, method: MethodInfo, context: Context) -> None:
        principal = current_principal()
        if principal is None:
            # Defence in depth: authentication further out must have refused already.
            raise Unauthenticated("the call is not authenticated", reason="UNAUTHENTICATED")
        if principal.role not in method.roles:
            raise PermissionDenied(
                f"role {principal.role.value} may not call {method.full_name}",
                reason=ROLE_NOT_ALLOWED,
                metadata={"method": method.full_name, "role": principal.role.value},
            )
