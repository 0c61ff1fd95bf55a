"""A/B of two versions of the platform's code under one benchmark's load, in the same run.

``python -m bench.ab echo|create|upsert|ingest --baseline DIR [--rounds N]``
starts the platform of this tree (A) and the platform of the checkout ``DIR``
(B, run with ``DIR/.venv``: ``git worktree add`` or ``git archive`` of the
other commit, then ``make install`` there), each on a fresh SQLite file with
the same PKI, and measures them in alternation, the order flipped every round
so a machine's drift hits both alike:

* ``echo``: the unary chain's echo (``bench/unary.py``) with bare grpcio over
  mTLS beside them: throughput and server CPU per call of each, per round;
* ``create``: CreateAggregator, the same figures (no bare side);
* ``upsert``: BatchUpsertChargers of ``--rows`` new chargers in calls of
  10,000 (``bench/registry.py``; requests built before the window) against raw
  executemany, chargers/s;
* ``ingest``: UploadTelemetry of ``--rows`` readings in batches of 1,000
  (``bench/ingest.py``) against raw executemany, rows/s;
* ``pgingest``: the sustained PostgreSQL ingest of ``bench/ingest.py`` (one
  UploadTelemetry stream, batches of 1,000 readings over 10,000 chargers, at
  most 8 unacknowledged) for ``--seconds`` (default 20) a side and round, each
  side's platform on its own schema of database ``test`` (``pgingest_a_*``,
  ``pgingest_b_*``, migrated by its own tree's code, dropped after), against
  psycopg's COPY of the same batches into a third (``pgingest_copy_*``) in
  the same round: rows/s, server CPU per row and the CPU per row of the
  PostgreSQL backends serving each side (``/proc``, as ``bench/ingest.py``).

The store workloads also give each side's server CPU per row (the platform
process's user+system time, ``/proc``), steadier than rows/s on a loaded machine.

It prints each round's figures, then each ratio's min / median / max over the
rounds: A and B against the baseline of the row and A against B. Nothing is
asserted; on a shared machine quote the medians and the spread.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from vgi.common.v1 import aggregator_pb2, resources_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from bench import echo, ingest
from bench.harness import OPERATOR, PG_CONNINFO, REPO, Bench, ServerProcess, bench_run, closed_loop
from bench.world import (
    STATION_ID,
    Tenant,
    charger_requests,
    migrated_sqlite,
    raw_executemany,
    send_chargers,
    sql_time,
    upsert_chargers,
)
from store import migrate

Figures = dict[str, float]


def spread(values: list[float]) -> str:
    return f"min {min(values):.3f}  median {statistics.median(values):.3f}  max {max(values):.3f}"


async def _unary(
    bench: Bench, a: ServerProcess, b: ServerProcess, workload: str, rounds: int, seconds: float
) -> list[Figures]:
    metadata = bench.credentials.metadata(OPERATOR)
    servers = {"A": a, "B": b}
    if workload == "echo":
        servers["bare"] = await bench.bare(tls=True)
    channels = {name: bench.credentials.channel(server.target, OPERATOR) for name, server in servers.items()}
    serial = itertools.count()
    tag = uuid.uuid4().hex[:6]
    request = echo.request()

    def caller(name: str) -> Callable[[int], Awaitable[object]]:
        if workload == "echo":
            call = echo.stub(channels[name])
            return lambda _: call(request, metadata=metadata)
        create = operator_grpc.OperatorServiceStub(channels[name]).CreateAggregator

        async def one(_: int) -> object:
            n = next(serial)
            return await create(
                operator_pb.CreateAggregatorRequest(
                    request_id=str(uuid.uuid4()),
                    aggregator_id=f"ab{tag}-{n}",
                    aggregator=aggregator_pb2.Aggregator(
                        display_name=f"AB {n}", contact_email="b@example.com"
                    ),
                ),
                metadata=metadata,
            )

        return one

    calls = {name: caller(name) for name in servers}
    for name in servers:
        await closed_loop(calls[name], 1.0)
    results = []
    try:
        for round_index in range(rounds):
            order = list(servers) if round_index % 2 == 0 else list(reversed(servers))
            figures: Figures = {}
            for name in order:
                before = servers[name].cpu_seconds()
                load = await closed_loop(calls[name], seconds)
                cpu = servers[name].cpu_seconds() - before
                figures[f"{name} calls/s"] = load.rate
                figures[f"{name} cpu µs/call"] = cpu / load.calls * 1e6
            results.append(figures)
            print(_line(round_index, figures), flush=True)
    finally:
        for channel in channels.values():
            await channel.close(None)
    return results


async def _store(
    bench: Bench, a: ServerProcess, b: ServerProcess, workload: str, rounds: int, rows: int
) -> list[Figures]:
    tenants = {"A": Tenant(bench, a), "B": Tenant(bench, b)}
    servers = {"A": a, "B": b}
    raw_file = bench.workdir / f"raw-{workload}.db"
    migrated_sqlite(raw_file)
    chargers = [f"abi-{i:05d}" for i in range(1_000)]
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=3)
    results = []
    try:
        for tenant in tenants.values():
            await tenant.ensure()
            if workload == "ingest":
                await upsert_chargers(tenant, chargers)
        for round_index in range(rounds):
            order = list(tenants) if round_index % 2 == 0 else list(reversed(tenants))
            figures: Figures = {}
            if workload == "upsert":
                ids = [f"ab-{round_index}-{i:06d}" for i in range(rows)]
                now = sql_time(datetime.now(UTC))
                raw_rows = [
                    {
                        "charger_id": i,
                        "aggregator_id": "agg-1",
                        "station_id": STATION_ID,
                        "kind": "DC",
                        "rated_charge_w": 60_000,
                        "rated_discharge_w": 0,
                        "bidirectional": False,
                        "platform_managed": True,
                        "status": "UNAVAILABLE",
                        "create_time": now,
                        "update_time": now,
                    }
                    for i in ids
                ]
                raw = [raw_rows[i : i + 10_000] for i in range(0, rows, 10_000)]
                figures["raw rows/s"] = await asyncio.to_thread(raw_executemany, raw_file, "chargers", raw)
                for name in order:
                    requests = charger_requests(ids)  # built before the window, as the raw rows are
                    began, cpu = asyncio.get_running_loop().time(), servers[name].cpu_seconds()
                    await send_chargers(tenants[name], requests)
                    figures[f"{name} rows/s"] = rows / (asyncio.get_running_loop().time() - began)
                    figures[f"{name} cpu µs/row"] = (servers[name].cpu_seconds() - cpu) / rows * 1e6
            else:
                minutes = -(-rows // len(chargers))
                readings = ingest.readings(chargers, start + timedelta(minutes=minutes * round_index), rows)
                batches = [readings[i : i + 1_000] for i in range(0, rows, 1_000)]
                raw = [
                    [
                        {
                            "charger_id": c,
                            "sample_time": sql_time(w),
                            "power_w": p,
                            "energy_register_wh": e,
                            "soc_ppb": round(s * 1e9),
                            "status": resources_pb2.CHARGER_STATUS_CHARGING,
                        }
                        for c, w, p, e, s in chunk
                    ]
                    for chunk in batches
                ]
                figures["raw rows/s"] = await asyncio.to_thread(
                    raw_executemany, raw_file, "meter_values", raw
                )
                for name in order:
                    cpu = servers[name].cpu_seconds()
                    figures[f"{name} rows/s"] = await ingest._upload(tenants[name], batches)
                    figures[f"{name} cpu µs/row"] = (servers[name].cpu_seconds() - cpu) / rows * 1e6
            results.append(figures)
            print(_line(round_index, figures), flush=True)
    finally:
        for tenant in tenants.values():
            await tenant.close()
    return results


PG_CHARGERS = 10_000


async def _migrate(url: str, checkout: Path) -> None:
    """Every Alembic head of ``checkout``'s code on the database ``url`` (its own .venv, in a subprocess)."""
    if checkout == REPO:
        await asyncio.to_thread(migrate.upgrade, url)
        return
    process = await asyncio.create_subprocess_exec(
        str(checkout / ".venv" / "bin" / "python"),
        "-c",
        "import sys; from store import migrate; migrate.upgrade(sys.argv[1])",
        url,
        cwd=checkout,
    )
    if await process.wait() != 0:
        raise RuntimeError(f"migrating {url} with {checkout} failed")


async def _pgingest(bench: Bench, baseline: Path, rounds: int, seconds: float) -> list[Figures]:
    """``bench/ingest.py``'s sustained PostgreSQL ingest, A and B in alternation, raw COPY of the same
    batches in each round (module docstring)."""
    tag = uuid.uuid4().hex[:8]
    schemas = {"A": f"pgingest_a_{tag}", "B": f"pgingest_b_{tag}", "raw": f"pgingest_copy_{tag}"}
    applications = {name: f"vgi-pgingest-{name}-{tag}" for name in ("A", "B")}
    urls = {
        name: f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
        + (f"&application_name={applications[name]}" if name in applications else "")
        for name, schema in schemas.items()
    }
    checkouts = {"A": REPO, "B": baseline, "raw": REPO}
    chargers = [f"pgi-{i:05d}" for i in range(PG_CHARGERS)]
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        for schema in schemas.values():
            conn.execute(f'CREATE SCHEMA "{schema}"')
    servers: dict[str, ServerProcess] = {}
    tenants: dict[str, Tenant] = {}
    results = []
    try:
        for name, url in urls.items():  # one at a time: Alembic's run is not thread-safe
            await _migrate(url, checkouts[name])
        for name in ("A", "B"):
            servers[name] = await bench.server(
                f"pgingest-{name}",
                "bench.platform",
                "--pki",
                str(bench.credentials.layout.root),
                "--database",
                urls[name],
                checkout=checkouts[name],
            )
            tenants[name] = Tenant(bench, servers[name])
            await tenants[name].ensure()
            await upsert_chargers(tenants[name], chargers)
        first_minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
        warm = 5  # batches each side sends before the rounds: connections, caches
        for name in tenants:
            await ingest._stream(tenants[name], chargers, first_minute, range(warm), None)
        start = warm
        for round_index in range(rounds):
            order = ["A", "B"] if round_index % 2 == 0 else ["B", "A"]
            figures: Figures = {}
            sent: list[range] = []
            for name in order:
                pids = ingest._backends(applications[name])
                cpu, backends = servers[name].cpu_seconds(), ingest._backend_cpu(pids)
                batches, elapsed = await ingest._stream(
                    tenants[name], chargers, first_minute, itertools.count(start), seconds
                )
                rows = len(batches) * ingest.PG_BATCH
                pg = ingest._cpu_since(ingest._backend_cpu(ingest._backends(applications[name])), backends)
                figures[f"{name} rows/s"] = rows / elapsed
                figures[f"{name} cpu µs/row"] = (servers[name].cpu_seconds() - cpu) / rows * 1e6
                figures[f"{name} pg µs/row"] = float("nan") if pg is None else pg / rows * 1e6
                sent.append(batches)
            # The same batches as the side that sent more, into the third schema.
            copied = range(start, max(batches.stop for batches in sent))
            raw, raw_pg = await asyncio.to_thread(
                ingest._raw_copy, schemas["raw"], chargers, first_minute, copied
            )
            figures["raw rows/s"] = raw
            figures["raw pg µs/row"] = (
                float("nan") if raw_pg is None else raw_pg / (len(copied) * ingest.PG_BATCH) * 1e6
            )
            start = copied.stop
            results.append(figures)
            print(_line(round_index, figures), flush=True)
    finally:
        for tenant in tenants.values():
            await tenant.close()
        for name in ("A", "B"):
            await bench.stop_server(f"pgingest-{name}")
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            for schema in schemas.values():
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return results


def _line(round_index: int, figures: Figures) -> str:
    return f"round {round_index + 1}: " + ", ".join(f"{k} {v:,.1f}" for k, v in figures.items())


def summary(workload: str, results: list[Figures]) -> str:
    def ratio(top: str, bottom: str) -> list[float]:
        return [r[top] / r[bottom] for r in results]

    lines = [f"{workload}: {len(results)} rounds, ratios min / median / max"]
    if workload == "echo":
        pairs = [
            ("A calls/s", "bare calls/s"),
            ("B calls/s", "bare calls/s"),
            ("A calls/s", "B calls/s"),
            ("A cpu µs/call", "bare cpu µs/call"),
            ("B cpu µs/call", "bare cpu µs/call"),
            ("A cpu µs/call", "B cpu µs/call"),
        ]
    elif workload == "create":
        pairs = [("A calls/s", "B calls/s"), ("A cpu µs/call", "B cpu µs/call")]
    elif workload == "pgingest":
        pairs = [
            ("A rows/s", "raw rows/s"),
            ("B rows/s", "raw rows/s"),
            ("A rows/s", "B rows/s"),
            ("A cpu µs/row", "B cpu µs/row"),
            ("A pg µs/row", "B pg µs/row"),
            ("A pg µs/row", "raw pg µs/row"),
            ("B pg µs/row", "raw pg µs/row"),
        ]
    else:
        pairs = [
            ("A rows/s", "raw rows/s"),
            ("B rows/s", "raw rows/s"),
            ("A rows/s", "B rows/s"),
            ("A cpu µs/row", "B cpu µs/row"),
        ]
    lines += [f"  {top} / {bottom}: {spread(ratio(top, bottom))}" for top, bottom in pairs]
    lines += [f"  {key}: {spread([r[key] for r in results])}" for key in results[0] if key.endswith("/row")]
    return "\n".join(lines)


async def ab(workload: str, baseline: Path, rounds: int, seconds: float, rows: int, keep: bool) -> str:
    async with bench_run(quick=False, keep=keep) as bench:
        if workload == "pgingest":
            return summary(workload, await _pgingest(bench, baseline, rounds, seconds))
        a, b = await asyncio.gather(bench.platform(), bench.platform(baseline, name="baseline"))
        if workload in ("echo", "create"):
            results = await _unary(bench, a, b, workload, rounds, seconds)
        else:
            results = await _store(bench, a, b, workload, rounds, rows)
    return summary(workload, results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workload", choices=("echo", "create", "upsert", "ingest", "pgingest"))
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout (with its .venv)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, help="length of a round a side (unary 4, pgingest 20)")
    parser.add_argument("--rows", type=int, help="rows per store round (upsert 50,000, ingest 200,000)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    rows = args.rows or (50_000 if args.workload == "upsert" else 200_000)
    seconds = args.seconds or (20.0 if args.workload == "pgingest" else 4.0)
    print(asyncio.run(ab(args.workload, args.baseline.resolve(), args.rounds, seconds, rows, args.keep)))


if __name__ == "__main__":
    main()
