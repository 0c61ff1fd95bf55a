"""Store faults the caller can do something about, told apart from bugs.

A database that cannot be reached (refused or dropped connection, a pool
that cannot hand out a connection, a locked SQLite file) is transient: the
call is answered UNAVAILABLE with RetryInfo and ErrorInfo reason
``STORE_UNAVAILABLE``, and an idempotent call (a read, or a mutating call with
its ``request_id``) may simply be sent again — its transaction was rolled back,
or, if the connection broke during COMMIT, the retry finds the stored answer
(AIP-155). A full disk is not transient in seconds and needs an operator:
RESOURCE_EXHAUSTED with reason ``STORE_FULL``. Everything else is left as it
is (a bug: INTERNAL, logged with its traceback).

The messages name neither the driver nor SQL; the cause stays in the server
log.
"""

from __future__ import annotations

import logging
import sqlite3

import psycopg
import sqlalchemy as sa

from domain.errors import DomainError, ResourceExhausted, Unavailable

STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
STORE_FULL = "STORE_FULL"
#: What RetryInfo suggests after an outage: about one health-check interval.
RETRY_AFTER_S = 1.0

# SQLite primary result codes (sqlite3 exposes them as sqlite_errorcode & 0xFF).
_SQLITE_FULL = 13
_SQLITE_TRANSIENT = frozenset(
    {
        5,  # SQLITE_BUSY: another process holds the lock past busy_timeout
        6,  # SQLITE_LOCKED
        10,  # SQLITE_IOERR: the file system failed under us
        14,  # SQLITE_CANTOPEN: the file or its directory went away
    }
)
# PostgreSQL SQLSTATEs: 53100 disk_full; class 08 connection exceptions, 57P0x
# shutdown/cannot-connect-now, 53300 too many connections.
_PG_FULL = frozenset({"53100"})
_PG_TRANSIENT_PREFIXES = ("08", "57P01", "57P02", "57P03", "53300")
# 40P01 deadlock_detected, 40001 serialization_failure: PostgreSQL rolled the transaction back because of a
# concurrent one (e.g. two writes locking overlapping charger rows in different orders); nothing was written.
_PG_ABORTED = frozenset({"40P01", "40001"})


def classify(exc: BaseException) -> DomainError | None:
    """The domain error a store exception stands for, or None when it is not a store fault."""
    if isinstance(exc, sa.exc.TimeoutError):  # no pooled connection within the pool timeout
        return unavailable()
    if isinstance(exc, psycopg.Error):
        # Raised by the driver itself where the store works on its cursor (the COPY of a telemetry
        # batch), not wrapped by SQLAlchemy.
        return _classify_postgres(exc, invalidated=False)
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    original = exc.orig
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", 0) & 0xFF
        if code == _SQLITE_FULL:
            return full()
        return unavailable() if code in _SQLITE_TRANSIENT else None
    return _classify_postgres(original, invalidated=exc.connection_invalidated)


def _classify_postgres(original: BaseException | None, *, invalidated: bool) -> DomainError | None:
    sqlstate = getattr(original, "sqlstate", None) or ""
    if sqlstate in _PG_FULL:
        return full()
    if invalidated or sqlstate.startswith(_PG_TRANSIENT_PREFIXES):
        return unavailable()
    if sqlstate in _PG_ABORTED:
        return aborted()
    # psycopg reports a refused or dropped connection as OperationalError without a SQLSTATE.
    if isinstance(original, psycopg.OperationalError) and not sqlstate:
        return unavailable()
    return None


def unavailable() -> Unavailable:
    return Unavailable(
        "the store is unreachable; retry later (a call with the same request_id is safe to resend)",
        reason=STORE_UNAVAILABLE,
        retry_after_s=RETRY_AFTER_S,
    )


def aborted() -> Unavailable:
    return Unavailable(
        "the store rolled this call back because of a concurrent write; nothing was written — retry "
        "(a call with the same request_id is safe to resend)",
        reason=STORE_UNAVAILABLE,
        retry_after_s=RETRY_AFTER_S,
    )


def full() -> ResourceExhausted:
    return ResourceExhausted(
        "the store is full; nothing was written — an operator must free space", reason=STORE_FULL
    )


def is_store_fault(exc: BaseException) -> bool:
    """An outage or a full store, as raised by ``Database.read``/``write`` (already classified)."""
    return isinstance(exc, Unavailable | ResourceExhausted) and exc.reason in (STORE_UNAVAILABLE, STORE_FULL)


class OutageLog:
    """For a background loop: one WARNING when the store goes away, one INFO when it answers again.

    A loop ticking every second would otherwise log a traceback a second for
    the whole outage.
    """

    def __init__(self, logger: logging.Logger, task: str) -> None:
        self._log = logger
        self._task = task
        self._down = False

    def failed(self, exc: BaseException) -> bool:
        """Note a failed tick; False when ``exc`` is not a store fault (the caller logs it as a bug)."""
        if not is_store_fault(exc):
            return False
        if not self._down:
            self._down = True
            self._log.warning("%s paused: %s", self._task, exc)
        return True

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            self._log.info("%s resumed: the store answers again", self._task)
