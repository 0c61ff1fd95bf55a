"""Servicers: one module per surface (``server/servicers/<surface>.py``), thin proto ⇄ domain adapters.

A surface module defines a class named like the proto service (e.g.
``OperatorService``) subclassing the generated ``*Servicer`` base and taking
``Deps``; ``server.app`` finds it by that name. RPCs it does not override
fall through to the generated base, which raises NotImplementedError →
UNIMPLEMENTED with ErrorInfo reason NOT_IMPLEMENTED.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import Unauthenticated
from domain.principal import Principal
from infra.security.server_secret import ServerSecret
from interceptors.context import current_principal
from server.config import Settings
from server.delivery import Dispatcher
from store.audit import AuditWriter
from store.db import Database


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
