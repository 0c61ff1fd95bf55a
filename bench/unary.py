"""Unary calls: the whole chain against bare grpcio (throughput, p99, server CPU per call), and a real mutating RPC.

Every variant is driven by the same client code, 64 calls in flight, each
carrying the same bearer-token metadata, against a server in its own process:

* bare, plaintext — the SPEC's reference figure (about 4,100 calls/s there);
* bare, mTLS — the same server with the platform's mutual TLS: the
  baseline of the ratios, since the chain cannot shed its transport;
* platform echo — the same 100-byte echo behind the platform's whole
  interceptor chain (as ``build_interceptors`` composes it);
* platform CreateAggregator — a real mutating RPC: validated, authorized,
  idempotent by request_id, committed to SQLite (and audited once the
  audit interceptor is in the chain).

Server CPU per call is the server process's user+system time over a round
divided by the calls it served.
"""

from __future__ import annotations

import itertools
import uuid

from vgi.common.v1 import aggregator_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from bench import echo
from bench.harness import OPERATOR, Bench, Row, Variant, compare, insecure_channel, main

THROUGHPUT = ("unary RPC through the whole chain: throughput", "≥ 0.80 × bare")
P99 = ("unary RPC through the whole chain: p99 latency", "≤ 1.5 × bare p99")
CPU = ("server CPU per unary call, whole chain", "≤ 1.3 × bare")
MUTATING = ("mutating RPC (validated, authorized, idempotent, committed)", "≥ 0.40 × bare")
TARGETS = [THROUGHPUT, P99, CPU, MUTATING]


async def run(bench: Bench) -> list[Row]:
    credentials = bench.credentials
    metadata = credentials.metadata(OPERATOR)
    bare_plain, bare_tls, platform = (
        await bench.bare(tls=False),
        await bench.bare(tls=True),
        await bench.platform(),
    )
    channels = [
        insecure_channel(bare_plain.target),
        credentials.channel(bare_tls.target, OPERATOR),
        credentials.channel(platform.target, OPERATOR),
    ]
    request = echo.request()
    echo_plain, echo_tls, echo_chain = (echo.stub(channel) for channel in channels)
    create = operator_grpc.OperatorServiceStub(channels[2]).CreateAggregator
    serial = itertools.count()
    run_tag = uuid.uuid4().hex[:6]

    async def create_one(_: int) -> object:
        n = next(serial)
        return await create(
            operator_pb.CreateAggregatorRequest(
                request_id=str(uuid.uuid4()),
                aggregator_id=f"b{run_tag}-{n}",
                aggregator=aggregator_pb2.Aggregator(
                    display_name=f"Bench {n}", contact_email="b@example.com"
                ),
            ),
            metadata=metadata,
        )

    try:
        loads = await compare(
            [
                Variant("bare plaintext", bare_plain, lambda _: echo_plain(request, metadata=metadata)),
                Variant("bare mTLS", bare_tls, lambda _: echo_tls(request, metadata=metadata)),
                Variant("chain echo", platform, lambda _: echo_chain(request, metadata=metadata)),
                Variant("CreateAggregator", platform, create_one),
            ],
            rounds=bench.rounds,
            seconds=bench.seconds,
        )
    finally:
        for channel in channels:
            await channel.close(None)
    plain, tls, chain, mutating = (
        loads[name] for name in ("bare plaintext", "bare mTLS", "chain echo", "CreateAggregator")
    )
    figures = {
        name: {
            "calls_per_s": round(load.rate),
            "p50_ms": round(load.p50 * 1e3, 3),
            "p99_ms": round(load.p99 * 1e3, 3),
            "server_cpu_us_per_call": round(load.cpu_per_call * 1e6, 1),
        }
        for name, load in loads.items()
    }
    throughput = chain.rate / tls.rate
    p99 = chain.p99 / tls.p99
    cpu = chain.cpu_per_call / tls.cpu_per_call
    writes = mutating.rate / tls.rate
    return [
        Row(
            *THROUGHPUT,
            f"{chain.rate:,.0f}/s vs bare mTLS {tls.rate:,.0f}/s "
            f"(bare plaintext {plain.rate:,.0f}/s: {chain.rate / plain.rate:.2f}×); tracing exporting to an "
            f"OTLP receiver, {bench.otlp.spans:,} spans received so far",
            throughput,
            throughput >= 0.80,
            figures,
        ),
        Row(
            *P99,
            f"{chain.p99 * 1e3:.1f} ms vs bare mTLS {tls.p99 * 1e3:.1f} ms "
            f"(plaintext {plain.p99 * 1e3:.1f} ms; p50 {chain.p50 * 1e3:.1f} vs {tls.p50 * 1e3:.1f})",
            p99,
            p99 <= 1.5,
        ),
        Row(
            *CPU,
            f"{chain.cpu_per_call * 1e6:.0f} µs vs bare mTLS {tls.cpu_per_call * 1e6:.0f} µs "
            f"(plaintext {plain.cpu_per_call * 1e6:.0f} µs)",
            cpu,
            cpu <= 1.3,
        ),
        Row(
            *MUTATING,
            f"CreateAggregator {mutating.rate:,.0f}/s vs bare mTLS {tls.rate:,.0f}/s "
            f"(p99 {mutating.p99 * 1e3:.1f} ms)",
            writes,
            writes >= 0.40,
        ),
    ]


if __name__ == "__main__":
    main(run, __doc__ or "")
