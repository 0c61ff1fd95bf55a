"""Telemetry ingest end to end: batched meter values over the aggregator's UploadTelemetry stream → committed rows.

SQLite row: the aggregator keeps one stream open and sends batches back to
back (gRPC flow control is the only window); the figure is rows acknowledged
per second from the first write to the last acknowledgement — each
acknowledgement means the batch is committed. The baseline is
``sqlite3.executemany`` of the very same rows into the same ``meter_values``
table of a freshly migrated file, one transaction per batch. Rounds
alternate the two.

PostgreSQL row (sustained ingest, SPEC §5): a platform process served on a
fresh migrated schema of database ``test`` at 127.0.0.1:5432 (dropped
after), 10,000 chargers (1,000 in quick mode), one stream sending batches of
1,000 readings for ``SUSTAINED_S`` seconds (3 s in quick mode), at most
``IN_FLIGHT_BATCHES`` (8) unacknowledged at a time, so the time is the
platform's and not a backlog buffered in gRPC's windows — reading k is charger k mod C at minute k div C after a start two days
back, so no reading repeats. The figure is rows acknowledged per second from
the first write to the last acknowledgement. The baseline is psycopg 3
``cursor.copy`` (``COPY meter_values … FROM STDIN``) of exactly the same
rows, in the same batches, one transaction per batch, into the same table of
a second fresh migrated schema (from migration 0018 on, both go into the
day-partitioned ``meter_values``). The per-core rate is the platform's rows
per server CPU-second: its process's user + system time from
``/proc/PID/stat`` over the stream (PostgreSQL's own CPU is not in it); the
province figure (1,000,000 chargers reporting every minute ≈ 16,700 rows/s)
divided by it, rounded up, is how many such processes — a core each — would
carry the province; divided by the process's own rows/s (one stream, bound
by its commits' latency as much as by CPU), how many at the rate reached
here. Beside it, the CPU of the PostgreSQL backends serving the platform's
connections (found by their ``application_name`` in ``pg_stat_activity``)
and of the COPY's backend, from ``/proc`` when PostgreSQL runs on this
machine (its background writers are in neither). PostgreSQL absent: the
row says so.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from google.protobuf.timestamp_pb2 import Timestamp
from vgi.aggregator.v1 import aggregator_service_pb2 as aggregator_pb
from vgi.common.v1 import resources_pb2, telemetry_pb2

from bench.harness import PG_CONNINFO, Bench, Row, failed, main, not_built, postgres_version
from bench.world import Tenant, implemented, migrated_sqlite, raw_executemany, sql_time, upsert_chargers
from store import migrate

INGEST = ("telemetry ingest end to end (stream → committed rows)", "≥ 0.60 × raw executemany")
INGEST_PG = ("telemetry ingest on PostgreSQL, sustained 60 s", "≥ 0.5 × raw COPY")
TARGETS = [INGEST, INGEST_PG]
SUSTAINED_S = 60.0
PROVINCE_ROWS_PER_S = 16_700  # 1,000,000 chargers × one reading a minute
PG_BATCH = 1_000
IN_FLIGHT_BATCHES = 8  # unacknowledged batches the aggregator keeps on the stream
_PPB = 1_000_000_000


def readings(
    chargers: list[str], first_minute: datetime, count: int
) -> list[tuple[str, datetime, int, int, float]]:
    """``count`` distinct (charger, minute) readings: every charger at each minute in turn."""
    return [reading(chargers, first_minute, k) for k in range(count)]


def reading(chargers: list[str], first_minute: datetime, k: int) -> tuple[str, datetime, int, int, float]:
    """Reading ``k``: charger k mod C at minute k div C after ``first_minute``."""
    minute, index = divmod(k, len(chargers))
    return (chargers[index], first_minute + timedelta(minutes=minute), 7_000 + (k % 50_000), 1_000 * k, 0.5)


async def run(bench: Bench) -> list[Row]:
    if not implemented("aggregator", "UploadTelemetry"):
        return [not_built(target, goal, "AggregatorService.UploadTelemetry") for target, goal in TARGETS]
    rows = [await _sqlite(bench)]
    try:
        rows.append(await _postgres(bench))
    except Exception as exc:
        rows.append(failed(*INGEST_PG, exc))
    return rows


async def _sqlite(bench: Bench) -> Row:
    batch = bench.scaled(1_000, 500)
    total = bench.scaled(200_000, 10_000)
    chargers = [f"ing-{i:05d}" for i in range(bench.scaled(1_000, 100))]
    platform = await bench.platform()
    tenant = Tenant(bench, platform)
    baseline_file = bench.workdir / "raw-ingest.db"
    migrated_sqlite(baseline_file)
    try:
        await tenant.ensure()
        await upsert_chargers(tenant, chargers)
        # Whole minutes in the past, one block of minutes per round so no reading repeats.
        minutes_per_round = -(-total // len(chargers))
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(
            minutes=minutes_per_round * (bench.rounds + 1)
        )
        raw_rates, platform_rates = [], []
        for round_index in range(bench.rounds):
            rows = readings(chargers, start + timedelta(minutes=minutes_per_round * round_index), total)
            batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
            raw_batches = [
                [
                    {
                        "charger_id": charger,
                        "sample_time": sql_time(when),
                        "power_w": power,
                        "energy_register_wh": energy,
                        "soc_ppb": round(soc * _PPB),
                        "status": resources_pb2.CHARGER_STATUS_CHARGING,
                    }
                    for charger, when, power, energy, soc in chunk
                ]
                for chunk in batches
            ]
            raw_rates.append(
                await asyncio.to_thread(raw_executemany, baseline_file, "meter_values", raw_batches)
            )
            platform_rates.append(await _upload(tenant, batches))
    finally:
        await tenant.close()
    raw, measured = statistics.median(raw_rates), statistics.median(platform_rates)
    ratio = measured / raw
    return Row(
        *INGEST,
        f"{measured:,.0f} rows/s vs raw executemany {raw:,.0f} rows/s ({total:,} rows in batches of {batch:,})",
        ratio,
        ratio >= 0.60,
        {
            "platform_rows_per_s": round(measured),
            "raw_rows_per_s": round(raw),
            "rows": total,
            "batch": batch,
        },
    )


async def _postgres(bench: Bench) -> Row:
    if postgres_version() is None:
        return Row(*INGEST_PG, "not measured (PostgreSQL does not answer on 127.0.0.1:5432)")
    seconds = SUSTAINED_S if not bench.quick else 3.0
    chargers = [f"pgi-{i:05d}" for i in range(bench.scaled(10_000, 1_000))]
    tag = uuid.uuid4().hex[:12]
    schemas = [f"bench_ingest_{tag}", f"bench_copy_{tag}"]
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    application = f"vgi-bench-ingest-{tag}"
    urls = [
        f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{s}&application_name={application}"
        for s in schemas
    ]
    name = f"platform-pg-ingest-{tag}"
    try:
        for url in urls:  # one at a time: Alembic's run is not thread-safe
            await asyncio.to_thread(migrate.upgrade, url)
        platform = await bench.server(
            name, "bench.platform", "--pki", str(bench.credentials.layout.root), "--database", urls[0]
        )
        tenant = Tenant(bench, platform)
        try:
            await tenant.ensure()
            await upsert_chargers(tenant, chargers)
            first_minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
            warm = 5  # batches sent before the measured stream: connections, caches
            await _stream(tenant, chargers, first_minute, range(warm), None)
            cpu_before, backends_before = platform.cpu_seconds(), _backend_cpu(_backends(application))
            batches, elapsed = await _stream(tenant, chargers, first_minute, itertools.count(warm), seconds)
            cpu = platform.cpu_seconds() - cpu_before
            pg_cpu = _cpu_since(_backend_cpu(_backends(application)), backends_before)
        finally:
            await tenant.close()
        await bench.stop_server(name)
        measured = batches.stop * PG_BATCH - batches.start * PG_BATCH
        raw, raw_pg_cpu = await asyncio.to_thread(_raw_copy, schemas[1], chargers, first_minute, batches)
    finally:
        await bench.stop_server(name)
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    rate = measured / elapsed
    ratio = rate / raw
    backends = (
        "PostgreSQL backend CPU not readable from /proc"
        if pg_cpu is None or raw_pg_cpu is None
        else f"PostgreSQL backends {pg_cpu:.1f} CPU-s for the platform's rows, {raw_pg_cpu:.1f} for COPY's"
    )
    per_core = measured / cpu if cpu > 0 else float("nan")
    processes = math.ceil(PROVINCE_ROWS_PER_S / per_core) if cpu > 0 else None
    return Row(
        *INGEST_PG,
        f"{rate:,.0f} rows/s vs raw COPY {raw:,.0f} rows/s ({measured:,} rows over {elapsed:.0f} s in batches "
        f"of {PG_BATCH:,}, {len(chargers):,} chargers); per core {per_core:,.0f} rows per server CPU-s "
        f"({cpu:.1f} CPU-s over the stream, PostgreSQL's own not counted): the province's "
        f"{PROVINCE_ROWS_PER_S:,} rows/s needs {processes} such process{'' if processes == 1 else 'es'} at a "
        f"core each; this one process, one stream, reached {rate / PROVINCE_ROWS_PER_S:.2f}× of it "
        f"({math.ceil(PROVINCE_ROWS_PER_S / rate)} at that rate); {backends}",
        ratio,
        ratio >= 0.5,
        {
            "platform_rows_per_s": round(rate),
            "raw_copy_rows_per_s": round(raw),
            "rows": measured,
            "seconds": round(elapsed, 1),
            "server_cpu_s": round(cpu, 2),
            "rows_per_server_cpu_s": round(per_core),
            "processes_for_province": processes,
            "postgres_backend_cpu_s": None if pg_cpu is None else round(pg_cpu, 2),
            "raw_copy_postgres_backend_cpu_s": None if raw_pg_cpu is None else round(raw_pg_cpu, 2),
            "processes_for_province_at_this_rate": math.ceil(PROVINCE_ROWS_PER_S / rate),
        },
    )


def _batch(chargers: list[str], first_minute: datetime, index: int) -> aggregator_pb.UploadTelemetryRequest:
    """Batch ``index`` of readings ``index × PG_BATCH`` onwards (``reading``), as the aggregator sends it."""
    first = index * PG_BATCH
    values = []
    for k in range(first, first + PG_BATCH):
        charger, when, power, energy, soc = reading(chargers, first_minute, k)
        values.append(
            telemetry_pb2.MeterValue(
                charger_id=charger,
                sample_time=Timestamp(seconds=int(when.timestamp())),
                power_w=power,
                energy_register_wh=energy,
                soc=soc,
                status=resources_pb2.CHARGER_STATUS_CHARGING,
            )
        )
    return aggregator_pb.UploadTelemetryRequest(
        batch=aggregator_pb.TelemetryBatch(batch_id=str(uuid.uuid4()), meter_values=values)
    )


async def _stream(
    tenant: Tenant,
    chargers: list[str],
    first_minute: datetime,
    indexes: Iterator[int] | range,
    seconds: float | None,
) -> tuple[range, float]:
    """Send batches ``indexes`` on one stream (for ``seconds`` when given), wait for every acknowledgement;
    (the batch indexes sent, seconds from the first write to the last acknowledgement)."""
    sent: list[int] = []
    window = asyncio.Semaphore(IN_FLIGHT_BATCHES)
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else math.inf

    async def send() -> AsyncIterator[aggregator_pb.UploadTelemetryRequest]:
        for index in indexes:
            await window.acquire()
            if time.perf_counter() >= deadline:
                return
            sent.append(index)
            yield _batch(chargers, first_minute, index)

    stored = 0
    async for ack in tenant.aggregator.UploadTelemetry(send(), metadata=tenant.metadata, timeout=600):
        stored += ack.stored_points
        window.release()
    elapsed = time.perf_counter() - started
    if not sent or stored != len(sent) * PG_BATCH:
        raise RuntimeError(f"platform stored {stored} of {len(sent) * PG_BATCH} readings")
    return range(sent[0], sent[-1] + 1), elapsed


_COPY = "COPY meter_values (charger_id, sample_time, power_w, energy_register_wh, soc_ppb, status) FROM STDIN"


def _raw_copy(
    schema: str, chargers: list[str], first_minute: datetime, batches: range
) -> tuple[float, float | None]:
    """The same rows as batches ``batches`` with psycopg's COPY, one transaction per batch;
    (rows per second, CPU seconds of its PostgreSQL backend or None)."""
    status = resources_pb2.CHARGER_STATUS_CHARGING
    with psycopg.connect(PG_CONNINFO, options=f"-csearch_path={schema}") as conn:
        backend = [conn.info.backend_pid]
        before = _backend_cpu(backend)
        started = time.perf_counter()
        for index in batches:
            with conn.cursor() as cursor, cursor.copy(_COPY) as copy:
                for k in range(index * PG_BATCH, (index + 1) * PG_BATCH):
                    charger, when, power, energy, soc = reading(chargers, first_minute, k)
                    copy.write_row((charger, when, power, energy, round(soc * _PPB), status))
            conn.commit()
        elapsed = time.perf_counter() - started
        cpu = _cpu_since(_backend_cpu(backend), before)
    return len(batches) * PG_BATCH / elapsed, cpu


def _backends(application: str) -> list[int]:
    """Process ids of the PostgreSQL backends serving connections named ``application``."""
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application,))
        return [pid for (pid,) in rows]


def _backend_cpu(pids: list[int]) -> dict[int, float | None]:
    """utime + stime of each PostgreSQL backend from /proc; None when it is not a local ``postgres``
    process (a server in another PID namespace or machine) or is gone."""
    cpu: dict[int, float | None] = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            cpu[pid] = None
            continue
        name, _, rest = stat.partition(" (")[2].rpartition(")")
        fields = rest.split()
        cpu[pid] = (
            (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if name == "postgres" else None
        )
    return cpu


def _cpu_since(after: dict[int, float | None], before: dict[int, float | None]) -> float | None:
    """CPU the backends in ``after`` used since ``before`` (a backend new since then: all of its); None if
    any is unreadable."""
    if not after or any(value is None for value in after.values()):
        return None
    return sum((value or 0.0) - (before.get(pid) or 0.0) for pid, value in after.items())


async def _upload(tenant: Tenant, batches: list[list[tuple[str, datetime, int, int, float]]]) -> float:
    """Stream the batches, wait for every acknowledgement; rows per second."""
    requests = [
        aggregator_pb.UploadTelemetryRequest(
            batch=aggregator_pb.TelemetryBatch(
                batch_id=str(uuid.uuid4()),
                meter_values=[
                    telemetry_pb2.MeterValue(
                        charger_id=charger,
                        sample_time=_stamp(when),
                        power_w=power,
                        energy_register_wh=energy,
                        soc=soc,
                        status=resources_pb2.CHARGER_STATUS_CHARGING,
                    )
                    for charger, when, power, energy, soc in chunk
                ],
            )
        )
        for chunk in batches
    ]

    async def send() -> AsyncIterator[aggregator_pb.UploadTelemetryRequest]:
        for request in requests:
            yield request

    started = time.perf_counter()
    stored = 0
    async for ack in tenant.aggregator.UploadTelemetry(send(), metadata=tenant.metadata, timeout=600):
        stored += ack.stored_points
    elapsed = time.perf_counter() - started
    expected = sum(len(chunk) for chunk in batches)
    if stored != expected:
        raise RuntimeError(f"platform stored {stored} of {expected} readings")
    return stored / elapsed


def _stamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


if __name__ == "__main__":
    main(run, __doc__ or "")
