"""Per-call context for interceptors and servicers, carried in contextvars.

grpc.aio runs each RPC in its own asyncio task, so a value set here by an
interceptor is seen by the servicer (and anything it awaits) of that call
only. The error-mapping interceptor opens the call (``set_call``); the
identity/token interceptors set the principal (``set_principal``).
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

import grpc

from domain.principal import Principal
from infra.observability import logs
from interceptors.methods import MethodInfo


@dataclass(frozen=True, slots=True)
class CallInfo:
    """The RPC being served: its method and its ServicerContext (metadata, peer, auth context)."""

    method: MethodInfo
    context: grpc.aio.ServicerContext

    def metadata(self, key: str) -> str | bytes | None:
        """The first value of request metadata ``key`` (lowercase), or None."""
        for item_key, value in self.context.invocation_metadata() or ():
            if item_key == key:
                return value
        return None


_call: ContextVar[CallInfo | None] = ContextVar("vgi_call", default=None)
_principal: ContextVar[Principal | None] = ContextVar("vgi_principal", default=None)


def current_call() -> CallInfo | None:
    return _call.get()


def set_call(call: CallInfo) -> Token[CallInfo | None]:
    return _call.set(call)


def current_principal() -> Principal | None:
    """The authenticated caller of the current RPC, or None when no one has authenticated it."""
    return _principal.get()


def set_principal(principal: Principal | None) -> Token[Principal | None]:
    return _principal.set(principal)


def _log_fields() -> tuple[str | None, str | None]:
    """(principal URI, full method) of the RPC being served, for the JSON log lines."""
    principal = current_principal()
    call = current_call()
    return (
        principal.uri if principal is not None else None,
        call.method.full_name if call is not None else None,
    )


logs.use_call_fields(_log_fields)
