"""Per-call context for interceptors and servicers, carried in contextvars.

grpc.aio runs each RPC in its own asyncio task, so a value set here by an
interceptor is seen by the servicer (and anything it awaits) of that call
only. The error-mapping interceptor opens the call (``set_call``); the
identity/token interceptors set the principal (``set_principal``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar, Token
from typing import Any, NamedTuple

import grpc

from domain.principal import Principal
from infra.observability import logs
from interceptors.methods import MethodInfo
from store.aggregators import AggregatorState


class CallInfo(NamedTuple):
    """The RPC being served: its method and its ServicerContext (metadata, peer, auth context).

    A NamedTuple (immutable, made once per call): a frozen dataclass costs ~4 times as much to make.
    """

    method: MethodInfo
    context: grpc.aio.ServicerContext

    def metadata(self, key: str) -> str | bytes | None:
        """The first value of request metadata ``key`` (lowercase), or None."""
        for item_key, value in invocation_metadata(self.context):
            if item_key == key:
                return value
        return None


Metadata = Sequence[tuple[str, str | bytes]]
_last_metadata: tuple[Any, Metadata] = (None, ())


def invocation_metadata(context: grpc.aio.ServicerContext) -> Metadata:
    """``context.invocation_metadata()`` (``()`` for None), read from grpc once per call.

    grpc.aio builds a new tuple of ``_Metadatum`` every time it is asked (a few µs); the tracing and
    token stages both need it on every call. A call's metadata never changes, so the last context's
    is kept, with a reference to that context (it cannot be freed and its address reused meanwhile).
    """
    global _last_metadata
    last = _last_metadata
    if last[0] is context:
        return last[1]
    # grpc's stubs type it as its own Metadata; the values are (key, value) pairs.
    metadata: Metadata = context.invocation_metadata() or ()  # type: ignore[assignment]
    _last_metadata = (context, metadata)
    return metadata


_call: ContextVar[CallInfo | None] = ContextVar("vgi_call", default=None)
_principal: ContextVar[Principal | None] = ContextVar("vgi_principal", default=None)
_tenant_state: ContextVar[AggregatorState | None] = ContextVar("vgi_tenant_state", default=None)


def current_call() -> CallInfo | None:
    return _call.get()


def set_call(call: CallInfo) -> Token[CallInfo | None]:
    return _call.set(call)


def current_principal() -> Principal | None:
    """The authenticated caller of the current RPC, or None when no one has authenticated it."""
    return _principal.get()


def set_principal(principal: Principal | None) -> Token[Principal | None]:
    return _principal.set(principal)


def current_tenant_state() -> AggregatorState | None:
    """The state of the calling tenant's aggregator the tenant gate admitted the call with (None: no tenant)."""
    return _tenant_state.get()


def set_tenant_state(state: AggregatorState | None) -> Token[AggregatorState | None]:
    return _tenant_state.set(state)


def _log_fields() -> tuple[str | None, str | None]:
    """(principal URI, full method) of the RPC being served, for the JSON log lines."""
    principal = current_principal()
    call = current_call()
    return (
        principal.uri if principal is not None else None,
        call.method.full_name if call is not None else None,
    )


logs.use_call_fields(_log_fields)
