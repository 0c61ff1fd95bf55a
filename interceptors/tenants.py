"""Tenant gate: a call made for an aggregator is admitted only if an operator onboarded that aggregator.

A certificate (or, with --insecure, a token) can name any aggregator id the
CA signed; the aggregator exists on the platform only once an operator
created it (OperatorService.CreateAggregator). For every call of an
aggregator principal, and of a device principal (on behalf of the
aggregator owning its charger), the aggregator must exist: otherwise
PERMISSION_DENIED with ErrorInfo reason AGGREGATOR_NOT_ONBOARDED, before
anything is decoded or changed. Streams are checked when they open. Other
roles (operator, grid, internal) are no tenant and pass untouched.

The state the call is admitted with is published in a contextvar
(``interceptors.context.current_tenant_state``) for the use cases that
refuse a SUSPENDED aggregator's new dispatch inputs
(``application.tenants.require_active``).

The states come from ``application.tenants.TenantStates``: a dictionary
lookup per call, a query only when this process has no entry younger than
``tenant_state_max_age_seconds`` for the aggregator. Runs after
authorization and the rate limit (a throttled or disallowed caller costs no
lookup) and is fused with those guards.
"""

from __future__ import annotations

from collections.abc import Awaitable

from application.tenants import TenantStates, not_onboarded
from interceptors.base import Context, Guard
from interceptors.context import current_principal, set_tenant_state
from interceptors.exempt import is_exempt
from interceptors.methods import MethodInfo


class TenantGateInterceptor(Guard):
    def __init__(self, states: TenantStates) -> None:
        super().__init__()
        self._states = states
        self._clock = states.clock

    def applies(self, method: MethodInfo) -> bool:
        return not is_exempt(method)

    def check(self, method: MethodInfo, context: Context) -> Awaitable[None] | None:
        principal = current_principal()
        tenant = principal.tenant() if principal is not None else None
        if tenant is None:
            return None
        entry = self._states.entries.get(tenant)
        if entry is not None and entry[0] > self._clock():
            state = entry[1]
            if state is None:
                raise not_onboarded(tenant)
            set_tenant_state(state)
            return None
        return self._load(tenant)

    async def _load(self, tenant: str) -> None:
        state = await self._states.load(tenant)
        if state is None:
            raise not_onboarded(tenant)
        set_tenant_state(state)
