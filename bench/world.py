"""The data the store benchmarks share: a tenant set up through the platform's own RPCs, and the raw baseline.

``Tenant.ensure`` makes, once per run, a grid node (as the grid), aggregator
``agg-1`` (as the operator) and one of its stations (as the aggregator).
``raw_executemany`` is the baseline of the store targets: plain ``sqlite3``,
WAL mode and ``synchronous=NORMAL`` like the platform's engine, the same
rows into the same table of a freshly migrated file, one transaction per
batch — what the platform's path would cost with nothing of its own around it.
"""

from __future__ import annotations

import importlib
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from vgi.aggregator.v1 import aggregator_service_pb2 as aggregator_pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as aggregator_grpc
from vgi.common.v1 import aggregator_pb2, resources_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as dispatch_grpc
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from bench.harness import AGGREGATOR, GRID, OPERATOR, Bench, ServerProcess
from store import migrate

NODE_ID = "bench-ta-1"
STATION_ID = "bench-st-1"


def implemented(surface: str, method: str) -> bool:
    """Whether the platform's servicer for ``surface`` implements ``method`` (else the generated base answers UNIMPLEMENTED)."""
    service = f"{surface.capitalize()}Service"
    generated = importlib.import_module(f"vgi.{surface}.v1.{surface}_service_pb2_grpc")
    base = getattr(generated, f"{service}Servicer")
    try:
        servicer = getattr(importlib.import_module(f"server.servicers.{surface}"), service)
    except (ModuleNotFoundError, AttributeError):
        return False
    return getattr(servicer, method) is not getattr(base, method)


class Tenant:
    """Channels of the three principals that set up and use one aggregator's resources."""

    def __init__(self, bench: Bench, platform: ServerProcess) -> None:
        credentials = bench.credentials
        self.metadata = credentials.metadata(AGGREGATOR)
        self.channel = credentials.channel(platform.target, AGGREGATOR)
        self.aggregator = aggregator_grpc.AggregatorServiceStub(self.channel)
        self._bench = bench
        self._platform = platform

    async def ensure(self) -> None:
        """The grid node, aggregator ``agg-1`` and its station, once per run and platform (idempotent by request_id)."""
        bench, credentials = self._bench, self._bench.credentials
        fact = f"tenant:{self._platform.name}"
        if bench.facts.get(fact):
            return
        target = self._platform.target
        async with credentials.channel(target, GRID) as grid:
            await dispatch_grpc.DispatchServiceStub(grid).UpsertGridNodes(
                dispatch_pb.UpsertGridNodesRequest(
                    request_id=str(uuid.uuid4()),
                    nodes=[
                        resources_pb2.GridNode(
                            node_id=NODE_ID,
                            kind=resources_pb2.GRID_NODE_KIND_TRANSFORMER_AREA,
                            display_name="bench transformer area",
                            capacity_limit_w=10**11,
                        )
                    ],
                ),
                metadata=credentials.metadata(GRID),
            )
        async with credentials.channel(target, OPERATOR) as operator:
            try:
                await operator_grpc.OperatorServiceStub(operator).CreateAggregator(
                    operator_pb.CreateAggregatorRequest(
                        request_id=str(uuid.uuid4()),
                        aggregator_id=AGGREGATOR.id,
                        aggregator=aggregator_pb2.Aggregator(display_name="Bench aggregator"),
                    ),
                    metadata=credentials.metadata(OPERATOR),
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
        await self.aggregator.BatchUpsertStations(
            aggregator_pb.BatchUpsertStationsRequest(
                request_id=str(uuid.uuid4()),
                stations=[
                    resources_pb2.Station(
                        station_id=STATION_ID,
                        display_name="bench station",
                        grid_node=f"gridNodes/{NODE_ID}",
                        import_limit_w=10**10,
                    )
                ],
            ),
            metadata=self.metadata,
        )
        bench.facts[fact] = True

    async def close(self) -> None:
        await self.channel.close(None)


def charger(charger_id: str) -> resources_pb2.Charger:
    return resources_pb2.Charger(
        charger_id=charger_id,
        station_id=STATION_ID,
        kind=resources_pb2.CHARGER_KIND_DC,
        rated_charge_w=60_000,
        platform_managed=True,
    )


def charger_requests(
    ids: Sequence[str], batch: int = 10_000
) -> list[aggregator_pb.BatchUpsertChargersRequest]:
    """The BatchUpsertChargers requests registering ``ids``, ``batch`` chargers a call, each with its own
    request_id. A benchmark builds them before its timed window, as it builds the raw baseline's rows
    before ``raw_executemany`` times their insert: the client's making of its data is on neither side."""
    return [
        aggregator_pb.BatchUpsertChargersRequest(
            request_id=str(uuid.uuid4()), chargers=[charger(i) for i in ids[start : start + batch]]
        )
        for start in range(0, len(ids), batch)
    ]


async def send_chargers(tenant: Tenant, requests: Sequence[aggregator_pb.BatchUpsertChargersRequest]) -> None:
    """The requests, one call after another (each serialized, sent, answered and the answer parsed)."""
    for request in requests:
        await tenant.aggregator.BatchUpsertChargers(request, metadata=tenant.metadata, timeout=120)


async def upsert_chargers(tenant: Tenant, ids: Sequence[str], batch: int = 10_000) -> None:
    """Register ``ids`` in calls of ``batch`` (requests built, then sent)."""
    await send_chargers(tenant, charger_requests(ids, batch))


def migrated_sqlite(path: Path) -> str:
    """A fresh SQLite file with the platform's schema (every Alembic head); returns its URL."""
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    return url


def sql_time(value: datetime) -> str:
    """A UTC datetime the way SQLAlchemy's SQLite DateTime stores it."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def raw_executemany(path: Path, table: str, batches: Sequence[Sequence[Mapping[str, Any]]]) -> float:
    """Insert the batches with plain ``sqlite3`` (one transaction each); returns rows per second."""
    columns = list(batches[0][0])
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        started = time.perf_counter()
        for rows in batches:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(statement, rows)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    return sum(len(rows) for rows in batches) / elapsed
