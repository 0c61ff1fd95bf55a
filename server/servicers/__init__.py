"""Servicers: one module per surface (``server/servicers/<surface>.py``), thin proto ⇄ domain adapters.

A surface module defines a class named like the proto service (e.g.
``OperatorService``) subclassing the generated ``*Servicer`` base and taking
``Deps``; ``server.app`` finds it by that name. RPCs it does not override
fall through to the generated base, which raises NotImplementedError →
UNIMPLEMENTED with ErrorInfo reason NOT_IMPLEMENTED.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.principal import Principal, Role
from interceptors.context import current_principal
from server.config import Settings
from store.db import Database

DEV_OPERATOR = Principal(role=Role.OPERATOR, id="dev")


@dataclass(frozen=True)
class Deps:
    """What servicers are built with."""

    settings: Settings
    db: Database


def caller() -> Principal:
    """The principal of the current call.

    Until token/mTLS authentication is in the interceptor chain, a call nobody
    authenticated (insecure development mode) acts as the operator
    ``vgi://operator/dev``. This function is the only place that fallback lives.
    """
    return current_principal() or DEV_OPERATOR
