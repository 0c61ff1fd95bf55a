"""Per-process audit chains on both stores (issue 20 item 4).

Two ``AuditWriter`` instances on two ``Database`` objects over one database
stand for two server processes: each appends to its own chain, concurrently
and without a lock between them, and the log still verifies as a whole. The
checkpoint file holds every chain's head, so a chain's tail cut off, a whole
chain deleted or a chain recomputed is detected; without it those are not.
Rows written before migration 0020 stay the legacy chain and keep verifying.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from infra.security.audit_chain import LEGACY_CHAIN, AuditRecord, ProblemKind, row_hash, seal
from infra.security.audit_checkpoint import AuditCheckpoint
from store import migrate
from store.audit import AuditEntry, AuditWriter, append_many, chain_head, verify_log
from store.db import Database, create_engine
from store.security_tables import AuditLogRow
from store.tables import table_of

from waiting import until

pytestmark = pytest.mark.timeout(120)

LOG = table_of(AuditLogRow)
KEY = bytes(range(32))
ROWS = 12
T0 = datetime(2026, 12, 1, 8, 0, 0, 250000, tzinfo=UTC)
Heads = dict[str, tuple[int, str]]


def _entry(i: int, principal: str = "vgi://operator/op-1") -> AuditEntry:
    return AuditEntry(
        time=T0 + timedelta(milliseconds=i),
        principal=principal,
        method="/vgi.operator.v1.OperatorService/CreateAggregator",
        request_id=f"req-{i}",
        request_digest=hashlib.sha256(str(i).encode()).hexdigest(),
        outcome="OK",
        trace_id="",
    )


@pytest.fixture
async def processes(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two databases over one migrated store, as two server processes have."""
    await asyncio.to_thread(migrate.upgrade, database_url)
    first, second = Database(database_url, threads=2), Database(database_url, threads=2)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def _rows(conn: Connection) -> list[AuditRecord]:
    return [
        AuditRecord.from_mapping(dict(r)) for r in conn.execute(sa.select(LOG).order_by(LOG.c.seq)).mappings()
    ]


async def _two_chains(
    processes: tuple[Database, Database], checkpoint: AuditCheckpoint | None
) -> tuple[AuditWriter, AuditWriter]:
    """ROWS entries through each writer, all submitted at once; returns once the checkpoint holds both heads."""
    a, b = (AuditWriter(db, checkpoint) for db in processes)
    await asyncio.gather(
        *(
            writer.append(_entry(i, principal))
            for i in range(ROWS)
            for writer, principal in ((a, "vgi://operator/op-a"), (b, "vgi://operator/op-b"))
        )
    )
    if checkpoint is not None:
        # The file is written just after the commit that emptied each writer's queue.
        await until(
            lambda: (
                {chain: seq for chain, (seq, _) in checkpoint.read().items()}
                == {a.chain: ROWS, b.chain: ROWS}
            ),
            what="both chains' heads in the checkpoint",
        )
    return a, b


async def test_two_writers_append_concurrently_to_two_intact_chains(
    processes: tuple[Database, Database], tmp_path: Path
) -> None:
    checkpoint = AuditCheckpoint(tmp_path / "audit-head.json", KEY)
    a, b = await _two_chains(processes, checkpoint)
    assert a.chain != b.chain and all(len(chain) == 16 for chain in (a.chain, b.chain))

    rows = await processes[0].read(_rows)
    assert len({row.seq for row in rows}) == 2 * ROWS
    for writer, principal in ((a, "vgi://operator/op-a"), (b, "vgi://operator/op-b")):
        chain = [row for row in rows if row.chain == writer.chain]
        # In list (seq) order, each chain is 1..ROWS, every row linked to the one before it in its chain.
        assert [row.chain_seq for row in chain] == list(range(1, ROWS + 1))
        assert {row.principal for row in chain} == {principal}
        assert [row.prev_hash for row in chain[1:]] == [row.hash for row in chain[:-1]]
        assert checkpoint.read()[writer.chain] == (ROWS, chain[-1].hash)

    result = await processes[0].read(lambda conn: verify_log(conn, checkpoint.read()))
    assert (result.intact, result.records_checked, result.chains_checked, result.chains_unguarded) == (
        True,
        2 * ROWS,
        2,
        0,
    )


def _edit(conn: Connection, chain: str) -> None:
    conn.execute(
        sa.update(LOG).where(LOG.c.chain == chain, LOG.c.chain_seq == 3).values(outcome="PERMISSION_DENIED")
    )


def _cut_tail(conn: Connection, chain: str) -> None:
    conn.execute(sa.delete(LOG).where(LOG.c.chain == chain, LOG.c.chain_seq > ROWS - 3))


def _delete_chain(conn: Connection, chain: str) -> None:
    conn.execute(sa.delete(LOG).where(LOG.c.chain == chain))


def _recompute(conn: Connection, chain: str) -> None:
    """Edit the chain's place 2, then re-seal it and every later row of the chain, so the chain alone verifies."""
    rows = [row for row in _rows(conn) if row.chain == chain]
    previous = rows[0].hash
    for row in rows[1:]:
        changed = replace(row, principal="vgi://operator/mallory" if row.chain_seq == 2 else row.principal)
        changed = replace(changed, prev_hash=previous)
        changed = replace(changed, hash=row_hash(changed))
        conn.execute(
            sa.update(LOG)
            .where(LOG.c.seq == row.seq)
            .values(principal=changed.principal, prev_hash=changed.prev_hash, hash=changed.hash)
        )
        previous = changed.hash


def _move_to_other_chain(conn: Connection, chain: str) -> None:
    """Relabel the chain's place 3 as the next place of the other chain, listed last (after that head)."""
    other = conn.execute(sa.select(LOG.c.chain).where(LOG.c.chain != chain).limit(1)).scalar_one()
    last = conn.execute(sa.select(sa.func.max(LOG.c.seq))).scalar_one()
    conn.execute(
        sa.update(LOG)
        .where(LOG.c.chain == chain, LOG.c.chain_seq == 3)
        .values(chain=other, chain_seq=ROWS + 1, seq=last + 1)
    )


# What each tampering shows in the chain it hit, and in the other chain; and whether the chains
# alone (no checkpoint) catch it.
TAMPERING: dict[str, tuple[Callable[[Connection, str], None], set[ProblemKind], set[ProblemKind], bool]] = {
    "row edited": (_edit, {ProblemKind.HASH_MISMATCH}, set(), True),
    "chain's tail deleted": (_cut_tail, {ProblemKind.CHECKPOINT_MISSING}, set(), False),
    "whole chain deleted": (_delete_chain, {ProblemKind.CHECKPOINT_MISSING}, set(), False),
    "chain recomputed": (_recompute, {ProblemKind.CHECKPOINT_MISMATCH}, set(), False),
    "row moved to the other chain": (
        _move_to_other_chain,
        {ProblemKind.SEQ_GAP},
        {ProblemKind.HASH_MISMATCH, ProblemKind.BROKEN_LINK},
        True,
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
async def test_tampering_with_one_chain_is_detected_in_that_chain(
    processes: tuple[Database, Database], tmp_path: Path, tampering: str
) -> None:
    checkpoint = AuditCheckpoint(tmp_path / "audit-head.json", KEY)
    a, b = await _two_chains(processes, checkpoint)
    tamper, in_hit, in_other, chains_alone = TAMPERING[tampering]
    await processes[0].write(lambda conn: tamper(conn, a.chain))

    result = await processes[0].read(lambda conn: verify_log(conn, checkpoint.read()))
    assert not result.intact
    assert {p.kind for p in result.problems if p.chain == a.chain} == in_hit
    assert {p.kind for p in result.problems if p.chain == b.chain} == in_other
    assert {p.chain for p in result.problems} <= {a.chain, b.chain}
    assert all(str(p).startswith(f"chain {p.chain} seq {p.seq}: {p.kind}: ") for p in result.problems)
    if tampering == "whole chain deleted":
        (problem,) = result.problems
        assert (problem.seq, problem.description) == (
            ROWS,
            f"no row of the chain is left, but the checkpoint kept outside the database records seq {ROWS} "
            "(the whole chain deleted)",
        )
    alone = await processes[0].read(verify_log)
    assert alone.intact is not chains_alone


async def test_a_second_writer_on_a_chain_fails_rather_than_forks_it(
    processes: tuple[Database, Database],
) -> None:
    a, _ = await _two_chains(processes, None)
    stale = await processes[0].read(lambda conn: chain_head(conn, a.chain))
    assert stale[0] == ROWS
    # A writer given the chain (its head unknown) reads the head back and continues the chain.
    again = AuditWriter(processes[1], chain=a.chain)
    record = await again.append(_entry(99))
    assert (record.chain, record.chain_seq) == (a.chain, ROWS + 1)
    # A writer with a stale head would fork it: (chain, chain_seq) is unique, so its write fails.
    with pytest.raises(sa.exc.IntegrityError):
        await asyncio.to_thread(_append_directly, processes[0], [_entry(100)], a.chain, stale)
    result = await processes[0].read(verify_log)
    assert (result.intact, result.records_checked) == (True, 2 * ROWS + 1)
    assert await processes[0].read(lambda conn: chain_head(conn, a.chain)) == (ROWS + 1, record.hash)


def _append_directly(db: Database, entries: list[AuditEntry], chain: str, head: tuple[int, str]) -> None:
    """``append_many`` in a transaction of its own, bypassing the writer (and the store's error mapping)."""
    with db.engine.begin() as conn:
        append_many(conn, entries, chain, head)


# -- rows from before migration 0020: the legacy chain ------------------------------------------


def _legacy_rows(n: int) -> list[AuditRecord]:
    rows: list[AuditRecord] = []
    for i in range(n):
        entry = _entry(i, "vgi://operator/before")
        rows.append(
            seal(
                rows[-1] if rows else None,
                time=entry.time,
                principal=entry.principal,
                method=entry.method,
                request_id=entry.request_id,
                request_digest=entry.request_digest,
                outcome=entry.outcome,
                trace_id=entry.trace_id,
                detail="points=1/1" if i == 1 else "",
            )
        )
    return rows


def _old_checkpoint(path: Path, seq: int, head: str) -> None:
    """The single-head file as the code before per-process chains wrote it."""
    mac = hmac.new(KEY, f"{seq}:{head}".encode(), hashlib.sha256).hexdigest()
    path.write_text(json.dumps({"seq": seq, "hash": head, "mac": mac}))


_OLD_COLUMNS = (
    "seq",
    "time",
    "principal",
    "method",
    "request_id",
    "request_digest",
    "outcome",
    "trace_id",
    "prev_hash",
    "hash",
    "detail",
)


def _insert_old(url: str, rows: list[AuditRecord]) -> None:
    """Insert ``rows`` with the columns of revision 0019, as its code did."""
    engine = create_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            old = sa.table("audit_log", *(sa.column(name, LOG.c[name].type) for name in _OLD_COLUMNS))
            conn.execute(
                sa.insert(old), [{name: getattr(row, name) for name in _OLD_COLUMNS} for row in rows]
            )
    finally:
        engine.dispose()


async def test_legacy_rows_keep_verifying_beside_the_new_chains_and_the_migration_goes_both_ways(
    database_url: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url, "0019_capacity_sessions")
    legacy = _legacy_rows(3)
    await asyncio.to_thread(_insert_old, database_url, legacy)
    path = tmp_path / "audit-head.json"
    _old_checkpoint(path, 3, legacy[-1].hash)
    await asyncio.to_thread(migrate.upgrade, database_url)

    checkpoint = AuditCheckpoint(path, KEY)
    assert checkpoint.read() == {LEGACY_CHAIN: (3, legacy[-1].hash)}
    db = Database(database_url, threads=2)
    try:
        stored = await db.read(_rows)
        assert stored == legacy  # chain "" and no chain_seq: the legacy chain, hashes as they were
        writer = AuditWriter(db, checkpoint)
        records = [await writer.append(_entry(i)) for i in range(3)]
        # The log-wide seq goes on after the legacy rows; the new chain starts at place 1 from the genesis.
        assert [(r.seq, r.chain_seq) for r in records] == [(4, 1), (5, 2), (6, 3)]
        await until(
            lambda: checkpoint.read().get(writer.chain, (0, ""))[0] == 3,
            what="the new chain's head in the checkpoint",
        )
        assert checkpoint.read() == {LEGACY_CHAIN: (3, legacy[-1].hash), writer.chain: (3, records[-1].hash)}
        result = await db.read(lambda conn: verify_log(conn, checkpoint.read()))
        assert (result.intact, result.records_checked, result.chains_checked) == (True, 6, 2)

        # The legacy chain is still guarded by its checkpointed head.
        await db.write(lambda conn: conn.execute(sa.delete(LOG).where(LOG.c.seq == 3)))
        result = await db.read(lambda conn: verify_log(conn, checkpoint.read()))
        assert [str(p) for p in result.problems] == [
            "seq 3: CHECKPOINT_MISSING: log ends at seq 2, but the checkpoint kept outside the database "
            "records seq 3 (newest rows deleted)"
        ]
    finally:
        await db.close()

    # The single-chain code could not verify the process chain's rows: a downgrade that keeps the log
    # refuses while they exist; one to base drops the whole log anyway (as 0002's downgrade always did).
    with pytest.raises(RuntimeError, match="per-process chains"):
        await asyncio.to_thread(migrate.downgrade, database_url, "0019_capacity_sessions")
    await asyncio.to_thread(migrate.downgrade, database_url, "base")
    await asyncio.to_thread(migrate.upgrade, database_url)
