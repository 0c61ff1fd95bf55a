"""The unit of work a use case runs in: one transaction's connection, the time, the caller, the trace carrier.

A use case is ``def use_case(uow: UnitOfWork, ...) -> record``. It writes
through store functions on ``uow.conn`` and records what the parties'
streams must be told with ``uow.notify(notice)``; the Database publishes the
notices (``wire.notices``) in the same transaction, before it commits. The
caller owns the transaction (``await db.write(lambda conn: use_case(UnitOfWork(conn, ...), ...))``,
or the idempotent-write helper), so a use case never commits on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from domain.notices import Notice
from domain.principal import Principal
from store.aggregators import AggregatorState
from store.db import notify, notify_all


@dataclass(frozen=True, slots=True)
class UnitOfWork:
    """``conn``: the open transaction; ``now``: the time the use case acts at; ``carrier``: the call's trace link;
    ``tenant_state``: the state of the caller's aggregator as the tenant gate admitted the call with
    (``application.tenants``; None when the caller is no tenant or the use case runs outside a call)."""

    conn: Connection
    now: datetime
    principal: Principal | None = None
    carrier: str | None = None
    tenant_state: AggregatorState | None = None

    def notify(self, notice: Notice) -> None:
        """Tell the parties' streams, in this transaction (see ``store.db.notify``)."""
        notify(self.conn, notice, self.carrier)

    def notify_all(self, notices: Iterable[Notice]) -> None:
        """``notify`` each of ``notices``, in order."""
        notify_all(self.conn, notices, self.carrier)
