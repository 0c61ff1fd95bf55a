"""Where a platform process's CPU per unary call goes when its chain is not the cause: a ladder of servers.

``python -m bench.ladder [--levels bare,opts,...] [--rounds N] [--seconds S]``
starts one server process per level, each adding one thing the platform has
to the bare grpcio mTLS echo server (``bench.bare``), and drives the same
echo at 64 in flight against each in alternation (order flipped each round),
printing each round's calls/s and server CPU per call (``/proc``) and then
each level's min / median / max ratio to bare in the same round:

* ``bare``     — ``bench.bare`` (echo + the fan-out handlers, generic);
* ``opts``     — the same with the platform's server options instead of bare's;
* ``services`` — + every surface's generated servicer registered (the generated
  ``add_*Servicer_to_server`` calls: registered methods), health, reflection;
  the echo stays a generic handler, as the platform serves it; ``services+table``
  the same through one ``server.method_table.MethodTable`` (no registered methods);
* ``heap``     — + every platform module imported, then ``gc.freeze()``;
* ``observe``  — + ``setup_observability_for`` as ``vgi serve`` (logs, tracing
  exporting to the benchmark's OTLP receiver, metrics);
* ``platform-nochain`` — ``server.app.Platform`` with no interceptor at all;
* ``platform`` — the platform as ``bench.platform`` runs it; ``platform+empty`` with an
  empty ``Chain``, ``platform+drop-TracingInterceptor:MetricsInterceptor`` without those stages,
  ``platform+gcoff`` with the collector off after start-up, ``platform+nootel`` exporting nothing.

``python -m bench.ladder serve LEVEL --pki DIR --database URL`` is one such server.
Nothing is asserted; it is a diagnostic.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
from pathlib import Path
from typing import Any

import grpc

from bench import bare, echo
from bench.harness import OPERATOR, ServerProcess, bench_run, closed_loop

LEVELS = ("bare", "opts", "services", "heap", "observe", "platform-nochain", "platform")


def _platform_options() -> list[tuple[str, Any]]:
    from server import config

    settings = config.load(None)
    return [
        ("grpc.max_receive_message_length", settings.max_receive_message_bytes),
        ("grpc.so_reuseport", 0),
        ("grpc.server.max_pending_requests", settings.max_pending_calls),
        ("grpc.server.max_pending_requests_hard_limit", settings.max_pending_calls),
    ]


async def _serve_ladder(level: str, pki: Path, database: str, extra: list[str]) -> None:
    index = LEVELS.index(level)
    options = _platform_options() if index >= 1 else [("grpc.max_concurrent_streams", 1 << 20)]
    server = grpc.aio.server(options=options)
    if index >= 2:
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        from grpc_health.v1._async import HealthServicer

        from server.method_table import MethodTable
        from server.reflection import enable_reflection
        from server.surfaces import discover_surfaces

        # "+table": the services through one MethodTable (as the platform since), else as generated.
        table = MethodTable()
        target: Any = table if "table" in extra else server
        services = []
        for surface in discover_surfaces():
            surface.add_to_server(surface.base_servicer(), target)
            services.append(surface.service)
        health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), target)
        server.add_generic_rpc_handlers([table, echo.handler(), bare.Fanout().handler()])
        enable_reflection([*services, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name], server)
    else:
        server.add_generic_rpc_handlers([echo.handler(), bare.Fanout().handler()])
    if index >= 3:
        import importlib

        for module in ("bench.platform", "server.app"):  # the platform's whole import graph
            importlib.import_module(module)

    port = server.add_secure_port("127.0.0.1:0", bare.mtls_credentials(pki))
    await server.start()
    if index >= 3:
        gc.collect()
        gc.freeze()
    print(f"port {port}", flush=True)
    await server.wait_for_termination()


async def _serve_platform(chosen: Any, extra: list[str]) -> None:
    from bench import platform

    await platform.serve(chosen, gc_off="gcoff" in extra)


def _without(build: Any, extra: list[str]) -> Any:
    """``build_interceptors`` with its Chain's stages named in ``drop-A:B`` left out (``empty``: all)."""
    from interceptors.base import Chain

    drop = {name for flag in extra if flag.startswith("drop-") for name in flag[5:].split(":")}

    def built(*args: Any) -> list[Any]:
        [chain] = build(*args)
        if "empty" in extra:
            return [Chain([])]
        return [Chain([stage for stage in chain.stages if type(stage).__name__ not in drop])]

    return built


def serve(level: str, pki: Path, database: str, extra: list[str]) -> None:
    index = LEVELS.index(level)
    obs = None
    if "nootel" in extra:
        for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_INSECURE"):
            os.environ.pop(variable, None)
    if index >= 4:
        from bench.platform import CONFIG, settings
        from server.observe import setup_observability_for

        chosen = settings(pki, database, CONFIG, insecure=False)
        chosen.validate()
        obs = setup_observability_for(chosen)
    try:
        if index >= 5:
            from server import app

            if level == "platform-nochain":
                app.build_interceptors = lambda *_: []  # type: ignore[assignment]
            elif extra:
                app.build_interceptors = _without(app.build_interceptors, extra)  # type: ignore[assignment]
            asyncio.run(_serve_platform(chosen, extra))
        else:
            asyncio.run(_serve_ladder(level, pki, database, extra))
    finally:
        if obs is not None:
            obs.shutdown()


async def ladder(levels: list[str], rounds: int, seconds: float, extra: list[str]) -> None:
    async with bench_run(quick=False) as bench:
        pki = str(bench.credentials.layout.root)
        bench.otlp.start()
        servers: dict[str, ServerProcess] = {}
        try:
            for name in levels:
                level, _, flags = name.partition("+")
                servers[name] = await ServerProcess.start(
                    name,
                    "bench.ladder",
                    [
                        "serve",
                        level,
                        "--pki",
                        pki,
                        "--database",
                        f"sqlite:///{bench.workdir / (name + '.db')}",
                        *(["--extra", flags] if flags else []),
                    ],
                    bench.workdir / f"{name}.log",
                    env=bench.otlp.environment(),
                )
        except BaseException:
            for server in servers.values():  # a level that failed to start: stop those that did
                await server.stop()
            raise
        metadata = bench.credentials.metadata(OPERATOR)
        request = echo.request()
        channels = {name: bench.credentials.channel(s.target, OPERATOR) for name, s in servers.items()}
        calls = {
            name: (lambda stub: lambda _: stub(request, metadata=metadata))(echo.stub(channel))
            for name, channel in channels.items()
        }
        results: list[dict[str, tuple[float, float]]] = []
        try:
            for name in servers:
                await closed_loop(calls[name], 1.0)
            for round_index in range(rounds):
                order = list(servers) if round_index % 2 == 0 else list(reversed(servers))
                figures = {}
                for name in order:
                    before = servers[name].cpu_seconds()
                    load = await closed_loop(calls[name], seconds)
                    cpu = servers[name].cpu_seconds() - before
                    figures[name] = (load.rate, cpu / load.calls * 1e6)
                results.append(figures)
                print(
                    f"round {round_index + 1}: "
                    + ", ".join(f"{n} {figures[n][0]:,.0f}/s {figures[n][1]:.0f}µs" for n in servers),
                    flush=True,
                )
        finally:
            for channel in channels.values():
                await channel.close(None)
            for server in servers.values():
                await server.stop()
        base = levels[0]
        print(f"{rounds} rounds of {seconds:g} s; ratio to {base} in the same round, min / median / max")
        for name in levels:
            cpus = [r[name][1] / r[base][1] for r in results]
            rates = [r[name][0] / r[base][0] for r in results]
            print(
                f"  {name:>22}: cpu/call {min(cpus):.3f} / {statistics.median(cpus):.3f} / {max(cpus):.3f}"
                f"   calls/s {min(rates):.3f} / {statistics.median(rates):.3f} / {max(rates):.3f}"
                f"   (median {statistics.median(r[name][1] for r in results):.0f} µs)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("serve")
    one.add_argument("level", choices=LEVELS)
    one.add_argument("--pki", type=Path, required=True)
    one.add_argument("--database", required=True)
    one.add_argument("--extra", default="")
    parser.add_argument("--levels", default=",".join(LEVELS), help="comma-separated; LEVEL+flag for variants")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.level, args.pki, args.database, [x for x in args.extra.split(",") if x])
        return
    asyncio.run(ladder(args.levels.split(","), args.rounds, args.seconds, []))


if __name__ == "__main__":
    main()
