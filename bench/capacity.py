"""Adjustable capacity at scale: node-level GetAdjustableCapacity over 1,000,000 chargers and 100,000 active sessions.

The registry is seeded once per run with raw ``executemany`` into a freshly
migrated SQLite file — a region node over 10 transformer areas, 1,000
stations (100 per area), 1,000 chargers per station, an active session on
every 10th charger (half of them with a recent meter value), the
capacity rows the store keeps derived from them (``store.capacity_rows``: the
rows bypassed the store), then ``ANALYZE`` as an operator would after a bulk load — and a platform process
is started on that file. The grid asks for the real-time capacity of the
region (every session) and of one transformer area (a tenth); the figure is
the median and worst latency of repeated calls, client-side, against the
SPEC's 500 ms per node-level query. When PostgreSQL answers, the same rows
go with COPY into a freshly migrated schema, ANALYZE follows, and a platform
on that schema is measured the same way: a row of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as dispatch_grpc

from bench.harness import GRID, PG_CONNINFO, Bench, Row, main, not_built, postgres_version
from bench.world import implemented, migrated_sqlite, sql_time
from store import capacity_rows, migrate

QUERY = ("adjustable capacity, 1,000,000 chargers / 100,000 sessions", "≤ 500 ms per node query")
QUERY_PG = ("adjustable capacity, the same on PostgreSQL", "≤ 500 ms per node query")
TARGETS = [QUERY, QUERY_PG]
REGION = "cap-region"
AREAS = 10
CALLS = 5
_PPB = 1_000_000_000


Table = tuple[str, Sequence[str], Iterable[tuple[Any, ...]]]


def tables(chargers: int, session_every: int, when: Callable[[datetime], Any]) -> tuple[list[Table], int]:
    """The registry described in the module docstring, table by table (times through ``when``); and its
    number of active sessions."""
    now = datetime.now(UTC)
    stamp, recent = when(now), when(now - timedelta(seconds=20))
    departure = when(now + timedelta(hours=3))
    per_station = 1_000 if chargers >= 100_000 else 100
    stations = chargers // per_station
    active = range(0, chargers, session_every)
    nodes = [(REGION, "REGION", None)] + [(f"cap-ta-{a}", "TRANSFORMER_AREA", REGION) for a in range(AREAS)]
    return [
        (
            "grid_nodes",
            (
                "node_id",
                "kind",
                "parent_id",
                "display_name",
                "capacity_limit_w",
                "base_load_w",
                "create_time",
                "update_time",
            ),
            ((*row, "", 0, 0, stamp, stamp) for row in nodes),
        ),
        (
            "stations",
            (
                "aggregator_id",
                "station_id",
                "display_name",
                "grid_node_id",
                "import_limit_w",
                "export_limit_w",
                "create_time",
                "update_time",
            ),
            (("agg-cap", f"st-{s}", "", f"cap-ta-{s % AREAS}", 0, 0, stamp, stamp) for s in range(stations)),
        ),
        (
            "chargers",
            (
                "charger_id",
                "aggregator_id",
                "station_id",
                "kind",
                "rated_charge_w",
                "rated_discharge_w",
                "bidirectional",
                "platform_managed",
                "status",
                "last_power_w",
                "last_meter_time",
                "create_time",
                "update_time",
            ),
            (
                (
                    f"ch-{c:07d}",
                    "agg-cap",
                    f"st-{c // per_station}",
                    "DC",
                    60_000,
                    60_000,
                    c % 3 == 0,
                    True,
                    "CHARGING",
                    (7_000 + c % 40_000) if c % 20 == 0 else None,
                    recent if c % 20 == 0 else None,
                    stamp,
                    stamp,
                )
                for c in range(chargers)
            ),
        ),
        (
            "ev_sessions",
            (
                "aggregator_id",
                "session_id",
                "charger_id",
                "plug_in_time",
                "expected_departure_time",
                "battery_wh",
                "soc_ppb",
                "target_soc_ppb",
                "v2g_floor_soc_ppb",
                "max_charge_w",
                "max_discharge_w",
                "bidirectional",
                "state",
                "create_time",
                "update_time",
            ),
            (
                (
                    "agg-cap",
                    f"se-{c:07d}",
                    f"ch-{c:07d}",
                    stamp,
                    departure,
                    60_000,
                    (20 + c % 50) * _PPB // 100,
                    9 * _PPB // 10,
                    _PPB // 5,
                    11_000,
                    11_000,
                    c % 3 == 0,
                    "ACTIVE",
                    stamp,
                    stamp,
                )
                for c in active
            ),
        ),
    ], len(active)


def seed_sqlite(path: Path, chargers: int, session_every: int) -> int:
    """``tables`` written with plain sqlite3 ``executemany`` in one transaction, then ANALYZE; returns active sessions."""
    rows, sessions = tables(chargers, session_every, sql_time)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN")
        for table, columns, values in rows:
            marks = ", ".join("?" for _ in columns)
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values)
        # The rows bypassed the store, so the capacity rows it keeps are derived here, as after any bulk load.
        conn.execute(capacity_rows.insert_sql("sqlite"))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return sessions


def seed_postgres(schema: str, chargers: int, session_every: int) -> int:
    """``tables`` written with COPY into ``schema`` in one transaction, then ANALYZE; returns active sessions."""
    rows, sessions = tables(chargers, session_every, lambda value: value)
    with psycopg.connect(PG_CONNINFO, options=f"-csearch_path={schema}") as conn:
        with conn.cursor() as cursor:
            for table, columns, values in rows:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for value in values:
                        copy.write_row(value)
            cursor.execute(capacity_rows.insert_sql("postgresql"))
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
    return sessions


async def run(bench: Bench) -> list[Row]:
    if not implemented("dispatch", "GetAdjustableCapacity"):
        return [not_built(*target, "DispatchService.GetAdjustableCapacity") for target in TARGETS]
    chargers = bench.scaled(1_000_000, 20_000)
    path = bench.workdir / "capacity.db"
    migrated_sqlite(path)
    started = time.perf_counter()
    sessions = await asyncio.to_thread(seed_sqlite, path, chargers, 10)
    figures = await _measure(bench, f"sqlite:///{path}", chargers, sessions, time.perf_counter() - started)
    rows = [_row(QUERY, figures, "SQLite after ANALYZE")]
    if postgres_version() is None:
        return [*rows, Row(*QUERY_PG, "not measured (PostgreSQL does not answer on 127.0.0.1:5432)")]
    schema = f"bench_cap_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        started = time.perf_counter()
        sessions = await asyncio.to_thread(seed_postgres, schema, chargers, 10)
        figures = await _measure(bench, url, chargers, sessions, time.perf_counter() - started)
    finally:
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return [*rows, _row(QUERY_PG, figures, "PostgreSQL after ANALYZE")]


async def _measure(bench: Bench, url: str, chargers: int, sessions: int, seeded_s: float) -> dict[str, Any]:
    """Start a platform on the seeded store and time the region and one area, client-side."""
    platform = await bench.server(
        "platform-capacity", "bench.platform", "--pki", str(bench.credentials.layout.root), "--database", url
    )
    figures: dict[str, Any] = {
        "chargers": chargers,
        "active_sessions": sessions,
        "seed_s": round(seeded_s, 1),
    }
    try:
        async with bench.credentials.channel(platform.target, GRID) as channel:
            stub = dispatch_grpc.DispatchServiceStub(channel)
            metadata = bench.credentials.metadata(GRID)
            for label, node, expected in (("region", REGION, sessions), ("area", "cap-ta-0", None)):
                latencies = []
                for _ in range(CALLS + 1):  # the first call warms the page cache and the statement cache
                    began = time.perf_counter()
                    answer = await stub.GetAdjustableCapacity(
                        dispatch_pb.GetAdjustableCapacityRequest(scope=f"gridNodes/{node}"),
                        metadata=metadata,
                        timeout=120,
                    )
                    latencies.append(time.perf_counter() - began)
                counted = answer.capacity.active_sessions
                if expected is not None and counted != expected:
                    raise RuntimeError(f"the region counted {counted} active sessions, not {expected}")
                figures[label] = {
                    "sessions": counted,
                    "first_ms": round(latencies[0] * 1e3, 1),
                    "median_ms": round(statistics.median(latencies[1:]) * 1e3, 1),
                    "max_ms": round(max(latencies[1:]) * 1e3, 1),
                }
    finally:
        await bench.stop_server("platform-capacity")
    return figures


def _row(target: tuple[str, str], figures: dict[str, Any], store: str) -> Row:
    region, area = figures["region"], figures["area"]
    worst = region["max_ms"]
    return Row(
        *target,
        f"region ({region['sessions']:,} sessions) median {region['median_ms']:.0f} ms, max {worst:.0f} ms "
        f"(first {region['first_ms']:.0f} ms); one area ({area['sessions']:,}) median "
        f"{area['median_ms']:.0f} ms; {figures['chargers']:,} chargers, {store}",
        worst / 500,
        worst <= 500,
        figures,
    )


if __name__ == "__main__":
    main(run, __doc__ or "")
