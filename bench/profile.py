"""Where the server's time goes under a benchmark's load: py-spy on the server process, summarised.

``python -m bench.profile echo|create|upsert|ingest [--seconds N]`` starts the
platform the way the benchmarks do, drives one workload (echo or CreateAggregator
at 64 calls in flight; BatchUpsertChargers of 10,000 back to back; an
UploadTelemetry stream of batches of 1,000), samples the
server process with ``py-spy record`` (``pip install py-spy``; not needed by
``make bench``) and prints the functions holding the most samples, inclusive
and exclusive. The collapsed stacks are kept in the scratch directory for a
flame graph (``--keep``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import shutil
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vgi.common.v1 import aggregator_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from bench import echo, ingest
from bench.harness import OPERATOR, Bench, ServerProcess, bench_run, closed_loop
from bench.world import Tenant, upsert_chargers


def summarise(collapsed: Path, top: int = 25) -> str:
    """Inclusive and exclusive sample shares per function from py-spy's collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    exclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for text in collapsed.read_text().splitlines():
        stack, _, count_text = text.rpartition(" ")
        count = int(count_text)
        frames = [frame.split(" (")[0] + " " + _short(frame) for frame in stack.split(";")]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        exclusive[frames[-1]] += count
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "exclusive:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in exclusive.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``(path/to/module.py:12)`` → ``module.py``: the line numbers would split one function into many rows."""
    location = frame.partition(" (")[2].rstrip(")")
    return "(" + Path(location.rpartition(":")[0]).name + ")"


async def profile(workload: str, seconds: float, keep: bool, native: bool, bare: bool = False) -> str:
    # The virtualenv's own py-spy first: `make` targets do not put .venv/bin on PATH.
    py_spy = shutil.which(
        "py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if py_spy is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    async with bench_run(quick=False, keep=keep) as bench:
        platform = await (bench.bare(tls=True) if bare else bench.platform())
        drive = await (
            _unary(bench, platform, workload) if workload in UNARY else _store(bench, platform, workload)
        )
        await drive(1.0)
        out = bench.workdir / f"{workload}.collapsed"
        recorder = await asyncio.create_subprocess_exec(
            py_spy,
            "record",
            "--pid",
            str(platform.process.pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
            "--format",
            "raw",
            # Native unwinding needs the target paused at each sample.
            *(["--native"] if native else ["--nonblocking"]),
            "--output",
            str(out),
        )
        rate = await drive(seconds + 1)
        await recorder.wait()
        header = f"{workload}: {rate} under py-spy" + (f"; stacks in {out}" if keep else "")
        return header + "\n" + summarise(out)


Drive = Callable[[float], Awaitable[str]]
UNARY = ("echo", "create")


async def _unary(bench: Bench, platform: ServerProcess, workload: str) -> Drive:
    """64 calls in flight of the echo or of CreateAggregator (``bench/unary.py``)."""
    metadata = bench.credentials.metadata(OPERATOR)
    channel = bench.credentials.channel(platform.target, OPERATOR)
    serial = itertools.count()
    if workload == "echo":
        call = echo.stub(channel)
        request = echo.request()

        async def one(_: int) -> object:
            return await call(request, metadata=metadata)

    else:
        create = operator_grpc.OperatorServiceStub(channel).CreateAggregator

        async def one(_: int) -> object:
            return await create(
                operator_pb.CreateAggregatorRequest(
                    request_id=str(uuid.uuid4()),
                    aggregator_id=f"p-{next(serial)}",
                    aggregator=aggregator_pb2.Aggregator(display_name=f"P {uuid.uuid4().hex}"),
                ),
                metadata=metadata,
            )

    async def drive(seconds: float) -> str:
        load = await closed_loop(one, seconds)
        return f"{load.rate:,.0f} calls/s"

    return drive


async def _store(bench: Bench, platform: ServerProcess, workload: str) -> Drive:
    """Back-to-back BatchUpsertChargers of 10,000 new chargers (``bench/registry.py``), or one
    UploadTelemetry stream of batches of 1,000 readings over 1,000 chargers (``bench/ingest.py``)."""
    tenant = Tenant(bench, platform)
    await tenant.ensure()
    chargers = [f"prof-{i:05d}" for i in range(1_000)]
    if workload == "ingest":
        await upsert_chargers(tenant, chargers)
    calls = itertools.count()
    first_minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=30)

    async def drive(seconds: float) -> str:
        rows, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            call = next(calls)
            if workload == "upsert":
                await upsert_chargers(tenant, [f"prof-{call}-{i:05d}" for i in range(10_000)])
                rows += 10_000
            else:
                readings = ingest.readings(chargers, first_minute + timedelta(minutes=20 * call), 20_000)
                await ingest._upload(tenant, [readings[i : i + 1_000] for i in range(0, 20_000, 1_000)])
                rows += 20_000
        return f"{rows / (time.perf_counter() - started):,.0f} rows/s"

    return drive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workload", choices=(*UNARY, "upsert", "ingest"))
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--native", action="store_true", help="also sample C/Cython frames (grpc's core)")
    parser.add_argument(
        "--bare", action="store_true", help="profile bench.bare (mTLS) under the echo load instead"
    )
    args = parser.parse_args()
    print(asyncio.run(profile(args.workload, args.seconds, args.keep, args.native, args.bare)))


if __name__ == "__main__":
    main()
