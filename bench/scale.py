"""Scale-out: throughput with 1 and with 2 server processes over one PostgreSQL (SPEC section 5).

Two platform processes (``bench.platform``: every surface behind the whole
chain, mutual TLS) on their own ports share one fresh PostgreSQL schema.
The same client (4 channels, 64 calls in flight, balanced by gRPC
``round_robin`` as the SDK does) drives them with:

* the 100-byte echo behind the whole chain — CPU-bound, what process count
  should scale;
* CreateAggregator — validated, authorized, idempotent, audited and
  committed to PostgreSQL.

Each first against process 1 alone, then against both, alternating rounds.
The machine has 2 cores that the client shares with the servers, so the
gain is whatever is left after the load generator's own share: reported as
measured.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence

import grpc
import psycopg
from vgi.common.v1 import aggregator_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from bench import echo
from bench.harness import (
    CHANNEL_OPTIONS,
    OPERATOR,
    PG_CONNINFO,
    Bench,
    Row,
    ServerProcess,
    Variant,
    compare,
    main,
    postgres_version,
)
from store import migrate

TARGET = ("scale-out: throughput, 1 → 2 server processes on one PostgreSQL", "grows with processes")
TARGETS = [TARGET]
CHANNELS = 4
Call = Callable[[int], Awaitable[object]]
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def _channels(bench: Bench, ports: Sequence[int]) -> list[grpc.aio.Channel]:
    target = f"ipv4:{','.join(f'127.0.0.1:{port}' for port in ports)}"
    credentials = bench.credentials.channel_credentials(OPERATOR)
    options = [*CHANNEL_OPTIONS, ("grpc.service_config", ROUND_ROBIN), ("grpc.use_local_subchannel_pool", 1)]
    return [grpc.aio.secure_channel(target, credentials, options=options) for _ in range(CHANNELS)]


async def run(bench: Bench) -> list[Row]:
    if postgres_version() is None:
        return [Row(*TARGET, "not measured (PostgreSQL does not answer on 127.0.0.1:5432)")]
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    channels: list[grpc.aio.Channel] = []
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        pki = str(bench.credentials.layout.root)
        first = await bench.server("scale-1", "bench.platform", "--pki", pki, "--database", url)
        second = await bench.server("scale-2", "bench.platform", "--pki", pki, "--database", url)
        alone, both = _channels(bench, [first.port]), _channels(bench, [first.port, second.port])
        channels = [*alone, *both]
        return [await _measure(bench, first, alone, both)]
    finally:
        for channel in channels:
            await channel.close(None)
        await bench.stop_server("scale-1")
        await bench.stop_server("scale-2")
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def _measure(
    bench: Bench, first: ServerProcess, alone: list[grpc.aio.Channel], both: list[grpc.aio.Channel]
) -> Row:
    metadata = bench.credentials.metadata(OPERATOR)
    request = echo.request()
    serial = itertools.count()
    tag = uuid.uuid4().hex[:6]

    def echo_on(channels: list[grpc.aio.Channel]) -> Call:
        stubs = [echo.stub(c) for c in channels]
        return lambda i: stubs[i % CHANNELS](request, metadata=metadata)

    def create_on(channels: list[grpc.aio.Channel]) -> Call:
        stubs = [operator_grpc.OperatorServiceStub(c).CreateAggregator for c in channels]

        def call(i: int) -> Awaitable[object]:
            n = next(serial)
            return stubs[i % CHANNELS](
                operator_pb.CreateAggregatorRequest(
                    request_id=str(uuid.uuid4()),
                    aggregator_id=f"s{tag}-{n}",
                    aggregator=aggregator_pb2.Aggregator(display_name=f"Scale {n}"),
                ),
                metadata=metadata,
            )

        return call

    # Server CPU is not compared here; the harness charges it to the first process.
    loads = await compare(
        [
            Variant("echo, 1 process", first, echo_on(alone)),
            Variant("echo, 2 processes", first, echo_on(both)),
            Variant("create, 1 process", first, create_on(alone)),
            Variant("create, 2 processes", first, create_on(both)),
        ],
        rounds=bench.rounds,
        seconds=bench.seconds,
    )
    figures = {
        name: {"calls_per_s": round(load.rate), "p99_ms": round(load.p99 * 1e3, 2)}
        for name, load in loads.items()
    }
    echo_gain = loads["echo, 2 processes"].rate / loads["echo, 1 process"].rate
    create_gain = loads["create, 2 processes"].rate / loads["create, 1 process"].rate
    return Row(
        *TARGET,
        f"echo {loads['echo, 1 process'].rate:,.0f}/s → {loads['echo, 2 processes'].rate:,.0f}/s "
        f"({echo_gain:.2f}×); CreateAggregator {loads['create, 1 process'].rate:,.0f}/s → "
        f"{loads['create, 2 processes'].rate:,.0f}/s ({create_gain:.2f}×); 2 cores shared with the client",
        echo_gain,
        echo_gain > 1.0,
        figures,
    )


if __name__ == "__main__":
    main(run, __doc__ or "")
