"""AIP-155 request idempotency, stored with the effect in the same transaction.

Use it inside ``db.write``::

    await db.write(lambda conn: idempotency.run_once(
        conn, key, request, CreateFooResponse, lambda: CreateFooResponse(foo=create(conn, ...))))

or the shorthand ``await idempotency.write_once(db, key, request, CreateFooResponse, effect)``
where ``effect(conn)`` returns the response message.

The key row is claimed BEFORE the effect runs, by one
``INSERT … ON CONFLICT DO NOTHING RETURNING id``. Two racing calls with one
request_id therefore meet at the key's unique constraint, not inside the
effect (where the loser would see e.g. a spurious ALREADY_EXISTS): on SQLite
the writers are serialised and the second one's INSERT finds the key; on
PostgreSQL the second INSERT waits for the first transaction and then does
nothing, and the loser returns the winner's committed answer. No savepoint
is needed, as nothing fails. This works across server processes because the
only coordination is the database constraint.

The statements are built once (per dialect) with bind parameters: building
a Core statement per call costs more than executing it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, Self, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.errors import FieldViolation, InvalidArgument
from store.bulk import execute, time_param
from store.db import Database
from store.tables import IdempotencyKeyRow, table_of


class Message(Protocol):
    """What the store needs of a request or response message: its bytes, and back (protobuf's API)."""

    def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...

    @classmethod
    def FromString(cls, s: bytes) -> Self: ...


M = TypeVar("M", bound=Message)

_keys = table_of(IdempotencyKeyRow)

REQUEST_ID_REUSED = "REQUEST_ID_REUSED"


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """Who made the call (principal URI), which RPC (full method name) and its request_id."""

    principal: str
    method: str
    request_id: str


def digest(request: Message) -> bytes:
    """A fingerprint of the request, to tell a retry from a different call reusing the id."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).digest()


@dataclass(frozen=True, slots=True)
class Encoded(Generic[M]):
    """An effect's response together with its serialized bytes (``response.SerializeToString()``), when the
    effect assembled those bytes itself: the record stores them instead of serializing the response again
    (a batch's answer of 10,000 items is ~1 MB)."""

    response: M
    data: bytes


def run_once(
    conn: Connection,
    key: IdempotencyKey,
    request: Message,
    response_type: type[M],
    effect: Callable[[], M | Encoded[M]],
) -> M:
    """Run ``effect`` at most once per key in the caller's transaction and return its (stored) response.

    An empty request_id opts out of idempotency: the effect simply runs.
    """
    if not key.request_id:
        done = effect()
        return done.response if isinstance(done, Encoded) else done
    request_digest = digest(request)
    row_id = execute(
        conn,
        _CLAIM,
        (key.principal, key.method, key.request_id, request_digest, time_param(conn)(datetime.now(UTC))),
    ).scalar()
    if row_id is None:
        # The key is taken by a committed call (under READ COMMITTED this
        # statement sees what a racing transaction committed while we waited).
        stored = _lookup(conn, key, request_digest, response_type)
        if stored is None:
            raise RuntimeError("idempotency key neither claimed nor found")
        return stored
    done = effect()
    if isinstance(done, Encoded):
        execute(conn, _ANSWER, (done.data, row_id))
        return done.response
    execute(conn, _ANSWER, (done.SerializeToString(), row_id))
    return done


# On the driver (store.bulk.execute): through SQLAlchemy Core the two statements cost more than running them.
_CLAIM = (
    "INSERT INTO idempotency_keys (principal, method, request_id, request_digest, response, create_time)"
    " VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (principal, method, request_id) DO NOTHING RETURNING id"
)
_ANSWER = "UPDATE idempotency_keys SET response = ? WHERE id = ?"
_LOOKUP = sa.select(_keys.c.request_digest, _keys.c.response).where(
    _keys.c.principal == sa.bindparam("principal"),
    _keys.c.method == sa.bindparam("method"),
    _keys.c.request_id == sa.bindparam("request_id"),
)


async def write_once(
    db: Database,
    key: IdempotencyKey,
    request: Message,
    response_type: type[M],
    effect: Callable[[Connection], M | Encoded[M]],
) -> M:
    """``run_once`` in its own write transaction."""
    return await db.write(lambda conn: run_once(conn, key, request, response_type, lambda: effect(conn)))


def _lookup(conn: Connection, key: IdempotencyKey, request_digest: bytes, response_type: type[M]) -> M | None:
    row = conn.execute(
        _LOOKUP, {"principal": key.principal, "method": key.method, "request_id": key.request_id}
    ).first()
    if row is None:
        return None
    if bytes(row.request_digest) != request_digest:
        raise InvalidArgument(
            "request_id was already used for a different request",
            reason=REQUEST_ID_REUSED,
            violations=[FieldViolation("request_id", "already used with a different request body")],
            metadata={"request_id": key.request_id},
        )
    if row.response is None:
        # Only the transaction that claimed the key can see it unanswered.
        raise RuntimeError("idempotency key seen without its response")
    return response_type.FromString(bytes(row.response))
