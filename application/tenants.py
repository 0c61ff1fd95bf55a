"""The aggregator lifecycle as calls see it: which tenants exist and whether they may take new dispatch.

An aggregator exists on the platform only once an operator created it
(OperatorService.CreateAggregator). Every call made by an aggregator
principal, or by a device on behalf of an aggregator's charger, is admitted
only for an aggregator that exists (``interceptors.tenants`` refuses the
others with PERMISSION_DENIED ``AGGREGATOR_NOT_ONBOARDED``). A SUSPENDED one
keeps its data and its reads, telemetry, execution reports, acks and
settlement, but may not add new dispatch inputs: ``require_active`` refuses
its bids and capacity declarations with FAILED_PRECONDITION
``AGGREGATOR_SUSPENDED``, and dispatch allocation leaves its sessions out
(``store.registry``'s candidate queries join the aggregator's state).

Reading the aggregator row on every call would cost a database round trip
per call, so each process keeps the states it has read in ``TenantStates``
for ``max_age_s`` seconds (setting ``tenant_state_max_age_seconds``, 2 s by
default). The process that creates or updates an aggregator drops its entry
as soon as the write committed (``forget``): the next call there reads the
new state. Another process serving the same database sees the change when
its entry expires: at most ``max_age_s`` later. Absence is remembered for the
same time, so a certificate of an aggregator that was never onboarded cannot
make each of its calls a query.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from application.uow import UnitOfWork
from domain.errors import FailedPrecondition, PermissionDenied, PreconditionViolation
from store import aggregators
from store.aggregators import AggregatorState
from store.db import Database

AGGREGATOR_NOT_ONBOARDED = "AGGREGATOR_NOT_ONBOARDED"
AGGREGATOR_SUSPENDED = "AGGREGATOR_SUSPENDED"

#: Past this many remembered aggregators the expired entries are dropped (ids come from certificates the
#: platform's CA issued, so this is a bound on memory, not a working-set size).
_MAX_ENTRIES = 10_000


def not_onboarded(aggregator_id: str) -> PermissionDenied:
    """The refusal of a call for an aggregator no operator created (or one since deleted)."""
    return PermissionDenied(
        f"aggregator {aggregator_id} is not onboarded on this platform: an operator must create it "
        "(OperatorService.CreateAggregator) before its certificates may call",
        reason=AGGREGATOR_NOT_ONBOARDED,
        metadata={"aggregator_id": aggregator_id},
    )


def require_active(uow: UnitOfWork, action: str) -> None:
    """Refuse ``action`` (a new dispatch input: a bid, a capacity declaration) of a SUSPENDED aggregator.

    The state is the one the tenant gate admitted the call with (``uow.tenant_state``), so this costs no
    query; a call made by no tenant (operator, grid, a use case run directly) has none and passes.
    """
    if uow.tenant_state is not AggregatorState.SUSPENDED:
        return
    aggregator_id = uow.principal.tenant() if uow.principal is not None else None
    raise suspended(aggregator_id or "", action)


def suspended(aggregator_id: str, action: str) -> FailedPrecondition:
    """The refusal of ``action`` by or for a SUSPENDED aggregator (FAILED_PRECONDITION with a
    PreconditionFailure naming the aggregator)."""
    return FailedPrecondition(
        f"aggregator {aggregator_id} is suspended: it keeps its data but may not {action} until an "
        "operator sets it ACTIVE again (OperatorService.UpdateAggregator)",
        reason=AGGREGATOR_SUSPENDED,
        metadata={"aggregator_id": aggregator_id},
        violations=[
            PreconditionViolation(
                type="AGGREGATOR_STATE",
                subject=f"aggregators/{aggregator_id}",
                description="the aggregator is SUSPENDED; it must be ACTIVE",
            )
        ],
    )


class TenantStates:
    """Aggregator id → state (None: not onboarded), each read kept for ``max_age_s`` seconds.

    ``entries`` is read directly by the tenant gate on every call: ``(expires_at, state)`` per id, on
    ``clock`` (monotonic seconds). A missing or expired entry is read with ``load``: one query per id at a
    time, however many calls wait for it.
    """

    def __init__(
        self, db: Database, *, max_age_s: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self.max_age_s = max_age_s
        self.clock = clock
        self.entries: dict[str, tuple[float, AggregatorState | None]] = {}
        self._pending: dict[str, asyncio.Future[AggregatorState | None]] = {}
        self._epoch = 0

    def cached(self, aggregator_id: str) -> tuple[bool, AggregatorState | None]:
        """(True, state) when a fresh entry is kept, else (False, None)."""
        entry = self.entries.get(aggregator_id)
        if entry is not None and entry[0] > self.clock():
            return True, entry[1]
        return False, None

    async def load(self, aggregator_id: str) -> AggregatorState | None:
        """The state read from the store now (shared with any read of the same id already under way)."""
        pending = self._pending.get(aggregator_id)
        if pending is None:
            pending = asyncio.ensure_future(self._read(aggregator_id, self._epoch))
            self._pending[aggregator_id] = pending
            pending.add_done_callback(lambda done: self._done(aggregator_id, done))
        # shield: one waiter cancelled (its call ended) must not cancel the read the others wait for.
        return await asyncio.shield(pending)

    async def _read(self, aggregator_id: str, epoch: int) -> AggregatorState | None:
        started = self.clock()
        state = await self._db.read(lambda conn: aggregators.state_of(conn, aggregator_id))
        if epoch == self._epoch:  # no ``forget`` since the read began: it may be kept
            if len(self.entries) >= _MAX_ENTRIES:
                now = self.clock()
                self.entries = {key: entry for key, entry in self.entries.items() if entry[0] > now}
            self.entries[aggregator_id] = (started + self.max_age_s, state)
        return state

    def _done(self, aggregator_id: str, done: asyncio.Future[AggregatorState | None]) -> None:
        if self._pending.get(aggregator_id) is done:
            del self._pending[aggregator_id]
        if not done.cancelled():
            done.exception()  # retrieved: a failed read is the waiters' error, not a loop warning

    def forget(self, aggregator_id: str) -> None:
        """Drop what is known of ``aggregator_id``; call it once a write to that aggregator committed."""
        self._epoch += 1
        self.entries.pop(aggregator_id, None)
        self._pending.pop(aggregator_id, None)
