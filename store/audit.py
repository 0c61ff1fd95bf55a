"""The audit log in the store: append (hash-chained, group-committed), list, verify.

Appending reads the chain head and inserts the next rows in ONE transaction
holding the chain lock, so two writers can never fork the chain:

* PostgreSQL: ``pg_advisory_xact_lock`` on a fixed key serialises appenders of
  every server process; it is released by the commit;
* SQLite: writers already run one at a time (``BEGIN IMMEDIATE``).

``seq`` is also the primary key, so a writer that bypassed the lock would
fail rather than fork.

Every mutating call waits for its audit row, so the chain would serialise
them; ``AuditWriter`` therefore commits the rows of all calls that finished
while the previous commit was running in one transaction (group commit): one
lock, one head read and one bulk insert per batch instead of per call.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from infra.security.audit_chain import GENESIS_HASH, AuditRecord, Problem, seal_next, verify
from infra.security.audit_checkpoint import AuditCheckpoint
from store import pagination
from store.bulk import execute, execute_values, time_param
from store.db import Database
from store.security_tables import AuditLogRow
from store.tables import table_of

_logger = logging.getLogger(__name__)
_log = table_of(AuditLogRow)
_COLUMNS = [_log.c[name] for name in AuditRecord.__dataclass_fields__]
#: Advisory-lock key of the chain head: the first 8 bytes of "vgiaudit" as a signed bigint.
CHAIN_LOCK_KEY = int.from_bytes(b"vgiaudit", "big", signed=True)
_COLLECTION = "audit_log"
#: Longest the checkpoint file lags the committed head while entries keep arriving (seconds); when the
#: queue empties it is written at once.
CHECKPOINT_INTERVAL = 0.1
#: Rows read per round trip while verifying, so memory stays flat on a long log.
_VERIFY_CHUNK = 5000
# append_many's statements, built once: building a Core statement costs more than running it.
_CHAIN_LOCK = sa.select(sa.func.pg_advisory_xact_lock(CHAIN_LOCK_KEY))
# On the driver (store.bulk): through SQLAlchemy Core the head read and the insert cost more than running them.
_HEAD = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
_INSERT_HEAD = (
    "INSERT INTO audit_log (seq, time, principal, method, request_id, request_digest, outcome, trace_id,"
    " prev_hash, hash, detail)"
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What the audit interceptor knows about a finished call; the chain adds seq and hashes."""

    time: datetime
    principal: str
    method: str
    request_id: str
    request_digest: str
    outcome: str
    trace_id: str
    detail: str = ""


def append_many(conn: Connection, entries: list[AuditEntry]) -> list[AuditRecord]:
    """Seal ``entries`` after the current head and insert them; call inside a write transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(_CHAIN_LOCK)
    head = execute(conn, _HEAD, ()).first()
    # seal() takes only the head's seq and hash from the previous row.
    seq, prev_hash = (head[0], head[1]) if head is not None else (0, GENESIS_HASH)
    stamp = time_param(conn)
    records = []
    rows = []
    for entry in entries:
        seq += 1
        record = seal_next(
            seq,
            prev_hash,
            time=entry.time,
            principal=entry.principal,
            method=entry.method,
            request_id=entry.request_id,
            request_digest=entry.request_digest,
            outcome=entry.outcome,
            trace_id=entry.trace_id,
            detail=entry.detail,
        )
        prev_hash = record.hash
        records.append(record)
        rows.append(
            (
                record.seq,
                stamp(record.time),
                record.principal,
                record.method,
                record.request_id,
                record.request_digest,
                record.outcome,
                record.trace_id,
                record.prev_hash,
                record.hash,
                record.detail,
            )
        )
    execute_values(conn, _INSERT_HEAD, rows)
    return records


def _record(row: RowMapping) -> AuditRecord:
    return AuditRecord.from_mapping(dict(row))


def _values(record: AuditRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in AuditRecord.__dataclass_fields__}


class AuditWriter:
    """Appends entries with group commit; ``await writer.append(entry)`` returns once it is committed.

    One flusher task runs while entries are pending and ends when none are
    left, so nothing lingers after the server stops. A caller that is
    cancelled does not take its entry back: the call happened.
    """

    def __init__(self, db: Database, checkpoint: AuditCheckpoint | None = None) -> None:
        self._db = db
        self._checkpoint = checkpoint
        self._pending: list[tuple[AuditEntry, asyncio.Future[AuditRecord]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def append(self, entry: AuditEntry) -> AuditRecord:
        return await self.submit(entry)

    def submit(self, entry: AuditEntry) -> asyncio.Future[AuditRecord]:
        """Queue ``entry``; the future resolves once it is committed. Usable where awaiting is not
        (a cancelled call still gets its row)."""
        future: asyncio.Future[AuditRecord] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="vgi-audit-flush")
        return future

    async def _flush(self) -> None:
        # The newest committed head not yet in the checkpoint file. The file is written when no entries
        # are queued, or at least every CHECKPOINT_INTERVAL under a steady queue, rather than after every
        # group: each write (lock, read, HMAC, replace) held the next group back and cost the server
        # more than the group's rows.
        unrecorded: AuditRecord | None = None
        loop = asyncio.get_running_loop()
        recorded_at = loop.time()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                entries = [entry for entry, _ in batch]
                try:
                    records = await self._db.write(functools.partial(append_many, entries=entries))
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    records = []
                if records:
                    for (_, future), record in zip(batch, records, strict=True):
                        if not future.done():
                            future.set_result(record)
                    unrecorded = records[-1]
                if (
                    self._checkpoint is not None
                    and unrecorded is not None
                    and (not self._pending or loop.time() - recorded_at >= CHECKPOINT_INTERVAL)
                ):
                    # After the commit, so the checkpoint never names a row the log lacks.
                    head, unrecorded = unrecorded, None
                    recorded_at = loop.time()
                    try:
                        await asyncio.to_thread(self._checkpoint.record, head.seq, head.hash)
                    except OSError:
                        _logger.exception("cannot record the audit checkpoint in %s", self._checkpoint.path)
        finally:
            self._flusher = None


@dataclass(frozen=True)
class AuditPage:
    records: list[AuditRecord]
    next_page_token: str


def list_page(
    conn: Connection, *, page_size: int, page_token: str, principal: str = "", method: str = ""
) -> AuditPage:
    """Records in seq order, optionally of one principal and/or one method; keyset pagination.

    The filters are part of the token, so a token cannot be replayed with other filters.
    """
    collection = f"{_COLLECTION}:{_token_scope(principal, method)}"
    query = sa.select(*_COLUMNS)
    if principal:
        query = query.where(_log.c.principal == principal)
    if method:
        query = query.where(_log.c.method == method)
    rows, token = pagination.keyset(
        conn,
        query,
        [pagination.Key(_log.c.seq, int)],
        collection=collection,
        page_size=page_size,
        page_token=page_token,
    )
    return AuditPage([_record(row._mapping) for row in rows], token)


def _token_scope(principal: str, method: str) -> str:
    # Base64 keeps the separator unambiguous whatever the filter strings hold.
    return ".".join(base64.urlsafe_b64encode(part.encode()).decode() for part in (principal, method))


@dataclass(frozen=True)
class Verification:
    records_checked: int
    problems: list[Problem]

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_log(conn: Connection, checkpoint: tuple[int, str] | None = None) -> Verification:
    """Walk the whole log in seq order, in chunks, and report every sign of tampering (against
    ``checkpoint``, the head kept outside the database, when given)."""
    counted = 0

    def rows() -> Iterator[AuditRecord]:
        nonlocal counted
        after: int | None = None
        while True:
            query = sa.select(*_COLUMNS).order_by(_log.c.seq).limit(_VERIFY_CHUNK)
            if after is not None:
                query = query.where(_log.c.seq > after)
            chunk = [_record(row) for row in conn.execute(query).mappings()]
            counted += len(chunk)
            yield from chunk
            if len(chunk) < _VERIFY_CHUNK:
                return
            after = chunk[-1].seq

    problems = verify(rows(), checkpoint=checkpoint)
    return Verification(counted, problems)
