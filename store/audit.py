"""The audit log in the store: append (hash-chained per process, group-committed), list, verify.

Each ``AuditWriter`` — one per server process — appends to its OWN chain
(``infra.security.audit_chain``): a random chain id made when it starts, the
chain's next place and its head hash kept in memory. No other process ever
appends to that chain, so appending takes no cross-process lock and reads no
head: a group is one bulk insert. A restart starts a new chain. Should a
group's outcome be unknown (its write raised, perhaps after the COMMIT went
through), the next group reads the chain's head back in its transaction;
``(chain, chain_seq)`` is unique, so a writer that got it wrong fails rather
than forks.

The log-wide ``seq`` (list order, primary key, page tokens) is not covered by
a process chain's hashes. It is assigned in the insert itself, without a
lock:

* PostgreSQL: from the sequence ``audit_log_seq`` (migration 0020), the
  group's values taken in one statement and handed out in the group's chain
  order (``RETURNING`` gives them back). Sequence values are never handed
  out twice but can be skipped (a rolled-back group), and a row may commit
  after a higher seq of another process: a page listed meanwhile does not
  show it yet;
* SQLite: writers already run one at a time, so one above the highest.

Every mutating call waits for its audit row, so ``AuditWriter`` commits the
rows of all calls that finished while the previous commit was running in one
transaction (group commit): one statement and one commit per group.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from infra.security.audit_chain import GENESIS_HASH, AuditRecord, Problem, chain_row_hash, verify_chains
from infra.security.audit_checkpoint import AuditCheckpoint
from store import pagination
from store.bulk import execute, execute_values, placeholder, time_param
from store.db import Database
from store.security_tables import AuditLogRow
from store.tables import table_of

_logger = logging.getLogger(__name__)
_log = table_of(AuditLogRow)
_COLUMNS = [_log.c[name] for name in AuditRecord.__dataclass_fields__]
_COLLECTION = "audit_log"
#: Longest the checkpoint file lags the committed head while entries keep arriving (seconds); when the
#: queue empties it is written at once.
CHECKPOINT_INTERVAL = 0.1
#: Rows read per round trip while verifying, so the database's work per query stays bounded.
_VERIFY_CHUNK = 5000
#: Rows per insert statement: 13 values each stay far below either driver's parameter limit.
_INSERT_ROWS = 2000
# On the driver (store.bulk): through SQLAlchemy Core these cost more than running them.
_CHAIN_HEAD = "SELECT chain_seq, hash FROM audit_log WHERE chain = ? ORDER BY chain_seq DESC LIMIT 1"
_SQLITE_TOP = "SELECT COALESCE(MAX(seq), 0) FROM audit_log"
_FIELDS = (
    "chain, chain_seq, time, principal, method, request_id, request_digest, outcome, trace_id,"
    " prev_hash, hash, detail"
)
_SQLITE_INSERT = f"INSERT INTO audit_log (seq, {_FIELDS})"
# PostgreSQL: the group's seqs from the sequence in the same statement, the k-th smallest to the k-th row
# of the chain, so the list order agrees with every chain's order.
_PG_INSERT = (
    "WITH s AS (SELECT nextval('audit_log_seq') AS seq FROM generate_series(1, {count})),"
    " o AS (SELECT seq, row_number() OVER (ORDER BY seq) AS k FROM s)"
    f" INSERT INTO audit_log (seq, {_FIELDS})"
    " SELECT o.seq, v.chain, v.chain_seq, v.time, v.principal, v.method, v.request_id, v.request_digest,"
    " v.outcome, v.trace_id, v.prev_hash, v.hash, v.detail"
    " FROM (VALUES {values}) AS v (k, chain, chain_seq, time, principal, method, request_id, request_digest,"
    " outcome, trace_id, prev_hash, hash, detail) JOIN o ON o.k = v.k"
    " RETURNING seq, chain_seq"
)
_PG_ROW = "(CAST({m} AS bigint), {m}, CAST({m} AS bigint), CAST({m} AS timestamptz), {m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, {m})"


# Bounded: a statement text grows with its row count (up to _INSERT_ROWS rows).
@functools.lru_cache(maxsize=64)
def _pg_insert(count: int, mark: str) -> str:
    return _PG_INSERT.format(count=count, values=", ".join([_PG_ROW.format(m=mark)] * count))


def new_chain_id() -> str:
    """A fresh chain id: 16 random hex digits (64 bits, so two processes' ids never meet in practice)."""
    return secrets.token_hex(8)


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


def chain_head(conn: Connection, chain: str) -> tuple[int, str]:
    """The (chain_seq, hash) of ``chain``'s newest row; (0, genesis) before its first."""
    head = execute(conn, _CHAIN_HEAD, (chain,)).first()
    return (int(head[0]), str(head[1])) if head is not None else (0, GENESIS_HASH)


def append_many(
    conn: Connection, entries: list[AuditEntry], chain: str, head: tuple[int, str] | None = None
) -> list[AuditRecord]:
    """Seal ``entries`` after ``head`` — (chain_seq, hash) of ``chain``'s newest row, read here when None —
    and insert them; call inside a write transaction. Only the chain's owner may call it; it changes
    nothing outside the transaction, so a write run twice (SQLite's group retry) seals the same rows."""
    chain_seq, prev_hash = head if head is not None else chain_head(conn, chain)
    # Each row sealed once, as its fields (its hash does not cover the log-wide seq, known only once it is
    # inserted on PostgreSQL), and made an AuditRecord once with that seq: building it and then
    # ``dataclasses.replace`` for the hash and again for the seq cost ~10 µs a row.
    stamp = time_param(conn)
    rows = []
    for entry in entries:
        chain_seq += 1
        content = (
            entry.principal,
            entry.method,
            entry.request_id,
            entry.request_digest,
            entry.outcome,
            entry.trace_id,
        )
        hash_ = chain_row_hash(prev_hash, chain, chain_seq, entry.time, content, entry.detail)
        rows.append((chain, chain_seq, stamp(entry.time), *content, prev_hash, hash_, entry.detail))
        prev_hash = hash_
    if conn.dialect.name == "postgresql":
        seqs = _insert_pg(conn, rows)
        seq_of = [seqs[row[1]] for row in rows]
    else:
        top = int(execute(conn, _SQLITE_TOP, ()).scalar_one())
        execute_values(conn, _SQLITE_INSERT, [(top + k, *row) for k, row in enumerate(rows, 1)])
        seq_of = list(range(top + 1, top + 1 + len(rows)))
    return [
        AuditRecord(
            seq=seq,
            time=entry.time,
            principal=entry.principal,
            method=entry.method,
            request_id=entry.request_id,
            request_digest=entry.request_digest,
            outcome=entry.outcome,
            trace_id=entry.trace_id,
            prev_hash=row[9],
            hash=row[10],
            detail=entry.detail,
            chain=chain,
            chain_seq=row[1],
        )
        for seq, entry, row in zip(seq_of, entries, rows, strict=True)
    ]


def _insert_pg(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> dict[object, int]:
    """Insert ``rows`` with seqs from the sequence; chain_seq → seq."""
    mark = placeholder(conn)
    seqs: dict[object, int] = {}
    for start in range(0, len(rows), _INSERT_ROWS):
        chunk = rows[start : start + _INSERT_ROWS]
        params = [value for k, row in enumerate(chunk, 1) for value in (k, *row)]
        result = conn.exec_driver_sql(_pg_insert(len(chunk), mark), tuple(params))
        seqs.update((chain_seq, seq) for seq, chain_seq in result.fetchall())
    return seqs


def _record(row: RowMapping) -> AuditRecord:
    return AuditRecord.from_mapping(dict(row))


class AuditWriter:
    """Appends entries with group commit; ``await writer.append(entry)`` returns once it is committed.

    The writer owns one chain, ``chain`` (a new one per writer unless given),
    and keeps its head in memory once known. One flusher task runs while
    entries are pending and ends when none are left, so nothing lingers after
    the server stops. A caller that is cancelled does not take its entry
    back: the call happened.
    """

    def __init__(
        self, db: Database, checkpoint: AuditCheckpoint | None = None, chain: str | None = None
    ) -> None:
        self._db = db
        self._checkpoint = checkpoint
        self.chain = chain if chain is not None else new_chain_id()
        # (chain_seq, hash) of the chain's newest committed row; None when unknown (after a failed
        # write, or a chain given by the caller), so the next group reads it.
        self._head: tuple[int, str] | None = (0, GENESIS_HASH) if chain is None else None
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
                write = functools.partial(append_many, entries=entries, chain=self.chain, head=self._head)
                try:
                    records = await self._db.write(write)
                except Exception as exc:
                    # The COMMIT may have gone through all the same: read the head back next time.
                    self._head = None
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    records = []
                if records:
                    last = records[-1]
                    self._head = (last.position, last.hash)
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
                        await asyncio.to_thread(self._checkpoint.record, self.chain, head.position, head.hash)
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
    chains_checked: int = 0
    #: Chains with rows but no head in the checkpoints given: their truncation is undetectable here.
    chains_unguarded: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_log(conn: Connection, checkpoints: Mapping[str, tuple[int, str]] | None = None) -> Verification:
    """Walk the whole log in seq order, in chunks, and report every sign of tampering in every chain
    (against ``checkpoints``, chain → head kept outside the database, when given: each chain named
    there must still hold its head)."""

    def rows() -> Iterator[AuditRecord]:
        after: int | None = None
        while True:
            query = sa.select(*_COLUMNS).order_by(_log.c.seq).limit(_VERIFY_CHUNK)
            if after is not None:
                query = query.where(_log.c.seq > after)
            chunk = [_record(row) for row in conn.execute(query).mappings()]
            yield from chunk
            if len(chunk) < _VERIFY_CHUNK:
                return
            after = chunk[-1].seq

    found = verify_chains(rows(), checkpoints)
    return Verification(found.records, found.problems, found.chains, found.unguarded)
