"""Servicers: one module per surface (``server/servicers/<surface>.py``), thin proto ⇄ domain adapters.

A surface module defines a class named like the proto service (e.g.
``OperatorService``) subclassing the generated ``*Servicer`` base and taking
``Deps``; ``server.app`` finds it by that name. RPCs it does not override
fall through to the generated base, which raises NotImplementedError →
UNIMPLEMENTED with ErrorInfo reason NOT_IMPLEMENTED.

A mutating RPC parses its request, then ``return await write_once(self.deps.db,
request, XResponse, effect)`` where ``effect(uow)`` calls a use case
(``application.<capability>``) and encodes its record (``wire``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from application.tenants import TenantStates
from application.uow import UnitOfWork
from domain.errors import Unauthenticated
from domain.principal import Principal
from infra.observability.tracing import link_from_current
from infra.security.server_secret import ServerSecret
from interceptors.context import current_call, current_principal, current_tenant_state
from server import clock
from server.config import Settings
from server.delivery import Dispatcher
from store import idempotency
from store.audit import AuditWriter
from store.db import Database
from store.idempotency import Encoded, IdempotencyKey, Message

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Deps:
    """What servicers are built with."""

    settings: Settings
    db: Database
    dispatcher: Dispatcher
    #: The server's secret (kept outside the database), for what must not be stored in clear.
    secret: ServerSecret
    #: The audit log's writer (group commit), shared with the audit interceptor.
    audit: AuditWriter
    #: The aggregator states the tenant gate admits calls by; forget one once a write to it committed.
    tenants: TenantStates


def caller() -> Principal:
    """The principal of the current call, authenticated by the interceptor chain.

    Every call reaching a servicer has one (certificate and token, or the
    token alone with --insecure); finding none is a wiring bug, refused
    rather than served as anybody.
    """
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("the call is not authenticated", reason="UNAUTHENTICATED")
    return principal


class MutatingRequest(Message, Protocol):
    """A mutating RPC's request: AIP-155 ``request_id`` (empty: not idempotent)."""

    @property
    def request_id(self) -> str: ...


async def write_once(
    db: Database,
    request: MutatingRequest,
    response_type: type[M],
    effect: Callable[[UnitOfWork], M | Encoded[M]],
    *,
    now: datetime | None = None,
) -> M:
    """Run ``effect`` in one write transaction, at most once per caller, RPC and ``request.request_id``.

    The unit of work: the transaction, ``now`` (default: the business clock
    read here), the caller and the call's trace carrier. The key's method is
    the RPC being served (``/package.Service/Method``), so a servicer only
    declares its request, response type and effect; a retry gets the stored
    response (``store.idempotency``).
    """
    principal, carrier, tenant_state = caller(), link_from_current(), current_tenant_state()
    at = clock.now() if now is None else now
    call = current_call()
    if call is None:
        raise RuntimeError("write_once outside an RPC (the interceptor chain opens the call)")
    key = IdempotencyKey(principal.uri, call.method.full_name, request.request_id)
    return await idempotency.write_once(
        db,
        key,
        request,
        response_type,
        lambda conn: effect(UnitOfWork(conn, at, principal, carrier, tenant_state)),
    )
