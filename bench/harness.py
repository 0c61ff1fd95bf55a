"""What every benchmark shares: result rows, server processes, the closed-loop load driver, credentials.

A benchmark module exposes ``async def run(bench: Bench) -> list[Row]``; it
asks ``bench`` for the servers it needs (started once per run, each in its
own process so its CPU time and memory are its own) and returns one row per
SPEC target. ``main(run)`` makes a module runnable alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import grpc
import psycopg
import sqlalchemy

from bench.otlp_sink import OtlpSink
from domain.principal import Principal, Role
from infra.security.pki import PkiLayout, init_pki, load_jwt_signing_key
from infra.security.tokens import AUDIENCES, DEV_ISSUER, issue_token

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
IN_FLIGHT = 64  # SPEC section 5: 64 calls in flight
PG_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=2"

OPERATOR = Principal(Role.OPERATOR, "op-1")
GRID = Principal(Role.GRID, "grid-1")
AGGREGATOR = Principal(Role.AGGREGATOR, "agg-1", "agg-1")


# ---------------------------------------------------------------- results


@dataclass
class Row:
    """One SPEC target: what was measured, its ratio to the baseline (or to the limit) and the verdict.

    ``met`` is None when nothing could be measured (``measured`` says why).
    """

    target: str
    goal: str
    measured: str
    ratio: float | None = None
    met: bool | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    error: bool = False  # the benchmark itself failed: the suite is broken, not the platform slow

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "error" if self.error else "not measured"
        return "met" if self.met else "short"


def not_built(target: str, goal: str, missing: str) -> Row:
    return Row(target, goal, f"not built yet ({missing})")


def failed(target: str, goal: str, error: BaseException) -> Row:
    return Row(target, goal, f"error: {type(error).__name__}: {error}", error=True)


def print_table(rows: Sequence[Row], out: Any = sys.stdout) -> None:
    header = ("target", "goal", "measured", "ratio", "result")
    cells = [
        (r.target, r.goal, r.measured, "" if r.ratio is None else f"{r.ratio:.2f}", r.verdict) for r in rows
    ]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    line = "+".join("-" * (w + 2) for w in widths)
    print(line, file=out)
    for values in [header, None, *cells]:
        if values is None:
            print(line, file=out)
            continue
        print(" | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip(), file=out)
    print(line, file=out)


def write_json(
    path: Path, rows: Sequence[Row], *, facts: dict[str, Any], quick: bool, seconds: float
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": facts,
        "quick": quick,
        "duration_s": round(seconds, 1),
        "rows": [{**asdict(r), "verdict": r.verdict} for r in rows],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def machine() -> dict[str, Any]:
    """The facts a figure means nothing without."""
    model = ""
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "postgresql": postgres_version(),
        "commit": commit,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def postgres_version() -> str | None:
    try:
        with psycopg.connect(PG_CONNINFO) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else None


# ---------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Load:
    """A closed-loop run: how many calls completed in how long, their latencies, the server's CPU."""

    calls: int
    seconds: float
    latencies: list[float]
    server_cpu_s: float = 0.0
    # Of the whole machine over the round(s): the share of its CPU time busy (all processes, all
    # cores; /proc/stat), and the benchmark client's own CPU (this process, every thread).
    machine_busy: float = float("nan")
    client_cpu_s: float = 0.0
    # The server processes' own counters over the round(s) (``ServerProcess.counters``): user and system
    # CPU-s (their sum is ``server_cpu_s``), voluntary and involuntary context switches.
    server_counters: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    @property
    def cpu_per_call(self) -> float:
        return self.server_cpu_s / self.calls


async def closed_loop(
    call: Callable[[int], Awaitable[object]], seconds: float, in_flight: int = IN_FLIGHT
) -> Load:
    """``in_flight`` workers each calling ``call(i)`` back to back (i unique across workers) for ``seconds``."""
    counter = itertools.count()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        clock = time.perf_counter
        while clock() < deadline:
            started = clock()
            await call(next(counter))
            latencies.append(clock() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return Load(len(latencies), time.perf_counter() - started, latencies)


class Metered(Protocol):
    """What a variant's CPU is read from: a server process or a group of them."""

    def cpu_seconds(self) -> float: ...

    def counters(self) -> dict[str, float]: ...


@dataclass
class Variant:
    """A named way of making one call, served by ``server`` (whose CPU is charged to it)."""

    name: str
    server: Metered
    call: Callable[[int], Awaitable[object]]
    in_flight: int = IN_FLIGHT


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks (/proc/stat's ``cpu`` line;
    idle and iowait are not busy; guest time is already inside user)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]
    total = sum(fields)
    return total - idle, total


def client_cpu_seconds() -> float:
    """User + system CPU time of this (the client's) process so far, every thread."""
    times = os.times()
    return times.user + times.system


async def compare(variants: Sequence[Variant], *, rounds: int, seconds: float) -> dict[str, Load]:
    """Measure the variants in alternation, ``rounds`` times each, so drift on a shared
    machine hits them alike; returns per variant the median-throughput round's rate and
    the pooled latencies, server CPU, client CPU and machine busy share of all rounds."""
    for variant in variants:  # warm-up: connections, handler caches, JIT-less but cache-warm paths
        await closed_loop(variant.call, min(1.0, seconds / 2), variant.in_flight)
    runs: dict[str, list[Load]] = {v.name: [] for v in variants}
    jiffies: dict[str, list[int]] = {v.name: [0, 0] for v in variants}
    for _ in range(rounds):
        for variant in variants:
            counters_before, client_before = variant.server.counters(), client_cpu_seconds()
            busy_before, total_before = machine_jiffies()
            load = await closed_loop(variant.call, seconds, variant.in_flight)
            busy, total = machine_jiffies()
            load.server_counters = {
                key: value - counters_before[key] for key, value in variant.server.counters().items()
            }
            load.server_cpu_s = load.server_counters["user_s"] + load.server_counters["system_s"]
            load.client_cpu_s = client_cpu_seconds() - client_before
            jiffies[variant.name][0] += busy - busy_before
            jiffies[variant.name][1] += total - total_before
            runs[variant.name].append(load)
    merged = {}
    for name, loads in runs.items():
        rate = statistics.median(load.rate for load in loads)
        calls = sum(load.calls for load in loads)
        share = round(rate * seconds) / calls  # the pooled CPU scaled to the median round's calls
        busy, total = jiffies[name]
        merged[name] = Load(
            calls=round(rate * seconds),
            seconds=seconds,
            latencies=[x for load in loads for x in load.latencies],
            server_cpu_s=sum(load.server_cpu_s for load in loads) * share,
            machine_busy=busy / total if total else float("nan"),
            client_cpu_s=sum(load.client_cpu_s for load in loads) * share,
            server_counters={
                key: sum(load.server_counters.get(key, 0.0) for load in loads) * share
                for key in loads[0].server_counters
            },
        )
    return merged


# ---------------------------------------------------------------- processes


class ServerProcess:
    """A server started as ``python -m <module> <args>`` that prints ``port N`` once it listens."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.name = name
        self.process = process
        self.port = port
        self.log = log

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    async def start(
        cls,
        name: str,
        module: str,
        args: Iterable[str],
        log: Path,
        checkout: Path = REPO,
        env: Mapping[str, str] | None = None,
    ) -> ServerProcess:
        """``checkout``: the tree (and its ``.venv``) to run the module from; another one for an A/B of code.
        ``env``: variables added to this process's environment."""
        python = sys.executable if checkout == REPO else str(checkout / ".venv" / "bin" / "python")
        environment = {**os.environ, **env} if env else None
        with log.open("wb") as err:
            process = await asyncio.create_subprocess_exec(
                python,
                "-m",
                module,
                *args,
                cwd=checkout,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=environment,
            )
        assert process.stdout is not None
        try:
            async with asyncio.timeout(60):
                while True:
                    line = await process.stdout.readline()
                    if not line:
                        raise RuntimeError(f"{name} exited before listening: {_last_line(log)}")
                    if line.startswith(b"port "):
                        return cls(name, process, int(line.split()[1]), log)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise

    def _cpu(self) -> tuple[float, float]:
        """(user, system) CPU-s of the server process so far, all its threads (``/proc/PID/stat``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (all its threads)."""
        return sum(self._cpu())

    def counters(self) -> dict[str, float]:
        """User and system CPU-s of the process so far, and its threads' voluntary and involuntary context
        switches (``/proc/PID/task/*/status``: the threads alive now; an ended thread's switches drop out)."""
        user, system = self._cpu()
        switches = {"voluntary": 0.0, "involuntary": 0.0}
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                for line in (task / "status").read_text().splitlines():
                    key, _, value = line.partition(":")
                    if key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                        switches["voluntary" if key[0] == "v" else "involuntary"] += int(value)
        return {"user_s": user, "system_s": system, **switches}

    def memory(self) -> tuple[int, int]:
        """(resident bytes now, peak resident bytes) of the server process."""
        values = {}
        for text in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = text.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
        return values["VmRSS"], values["VmHWM"]

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                async with asyncio.timeout(15):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class ProcessGroup:
    """Server processes serving one load together: their CPU is the sum of theirs."""

    def __init__(self, servers: Sequence[ServerProcess]) -> None:
        self.servers = list(servers)

    def cpu_seconds(self) -> float:
        return sum(server.cpu_seconds() for server in self.servers)

    def counters(self) -> dict[str, float]:
        """``ServerProcess.counters`` summed over the group."""
        total: dict[str, float] = {}
        for server in self.servers:
            for key, value in server.counters().items():
                total[key] = total.get(key, 0.0) + value
        return total


def _last_line(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines()
    return lines[-1] if lines else "(no output)"


# ---------------------------------------------------------------- credentials and channels


class Credentials:
    """The dev PKI of this run and what a client needs to call as a given principal."""

    def __init__(self, layout: PkiLayout) -> None:
        self.layout = layout
        self._signing_key, self._kid = load_jwt_signing_key(layout.root)

    def channel_credentials(self, principal: Principal) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.layout.ca_cert.read_bytes(),
            private_key=self.layout.client_key(principal).read_bytes(),
            certificate_chain=self.layout.client_cert(principal).read_bytes(),
        )

    def metadata(self, principal: Principal) -> tuple[tuple[str, str], ...]:
        """``authorization: Bearer`` for ``principal``, good on every surface for the whole run."""
        token = issue_token(
            self._signing_key, self._kid, principal.uri, list(AUDIENCES), DEV_ISSUER, 4 * 3600
        )
        return (("authorization", f"Bearer {token}"),)

    def channel(self, target: str, principal: Principal) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(target, self.channel_credentials(principal), options=CHANNEL_OPTIONS)


# One client setup for baseline and platform alike, so only the server side differs.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.ssl_target_name_override", "localhost"),
]


def insecure_channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


# ---------------------------------------------------------------- the run


class Bench:
    """One benchmark run: sizes (quick or full), a scratch directory, the PKI and the servers, started once."""

    def __init__(self, *, quick: bool, workdir: Path) -> None:
        self.quick = quick
        self.workdir = workdir
        self.credentials = Credentials(init_pki(workdir / "pki"))
        self._servers: dict[str, asyncio.Task[ServerProcess]] = {}
        self.facts: dict[str, Any] = {}  # what earlier benchmarks of the run already set up
        self._lock = asyncio.Lock()
        # Every platform process exports its traces and metrics here, as with a collector (bench.otlp_sink).
        self.otlp = OtlpSink()

    def scaled(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    @property
    def seconds(self) -> float:
        """Length of one measured round."""
        return 1.0 if self.quick else 4.0

    @property
    def rounds(self) -> int:
        return 1 if self.quick else 3

    async def server(self, name: str, module: str, *args: str, checkout: Path = REPO) -> ServerProcess:
        """The server ``name``, started on first use; servers asked for at once start at once."""
        async with self._lock:
            if name not in self._servers:
                env = None
                if module == "bench.platform":
                    if not self.otlp.port:
                        self.otlp.start()
                    env = self.otlp.environment()
                self._servers[name] = asyncio.create_task(
                    ServerProcess.start(name, module, args, self.workdir / f"{name}.log", checkout, env)
                )
            task = self._servers[name]
        try:
            return await asyncio.shield(task)
        except Exception:
            async with self._lock:
                if self._servers.get(name) is task:
                    del self._servers[name]
            raise

    async def bare(self, *, tls: bool) -> ServerProcess:
        """The bare grpcio echo/stream server, plaintext or with the platform's mTLS."""
        if tls:
            return await self.server("bare-mtls", "bench.bare", "--pki", str(self.credentials.layout.root))
        return await self.server("bare-plaintext", "bench.bare")

    async def platform(self, checkout: Path = REPO, name: str = "platform") -> ServerProcess:
        """The platform as ``make run`` configures it, on a fresh SQLite file in the scratch directory
        (``checkout``: the code of another tree, for an A/B; ``name`` keeps its server and file apart)."""
        database = self.workdir / ("vgi.db" if name == "platform" else f"{name}.db")
        return await self.server(
            name,
            "bench.platform",
            "--pki",
            str(self.credentials.layout.root),
            "--database",
            f"sqlite:///{database}",
            checkout=checkout,
        )

    async def stop_server(self, name: str) -> None:
        task = self._servers.pop(name, None)
        if task is None:
            return
        try:
            server = await task
        except Exception:
            return  # it never started
        await server.stop()

    async def close(self) -> None:
        for name in list(self._servers):
            await self.stop_server(name)
        self.otlp.stop()


RunFn = Callable[[Bench], Awaitable[list[Row]]]


@contextlib.asynccontextmanager
async def bench_run(quick: bool, keep: bool = False) -> Any:
    workdir = Path(tempfile.mkdtemp(prefix="vgi-bench-"))
    bench = Bench(quick=quick, workdir=workdir)
    try:
        yield bench
    finally:
        await bench.close()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


async def run_guarded(fn: RunFn, bench: Bench, targets: Sequence[tuple[str, str]]) -> list[Row]:
    """``fn(bench)``, or one error row per target it was to measure when it fails."""
    try:
        return await fn(bench)
    except Exception as exc:
        return [failed(target, goal, exc) for target, goal in targets]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute in all (CI)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (server logs)")
    return parser.parse_args()


def main(fn: RunFn, description: str) -> None:
    """Run one benchmark module alone and print its rows."""
    args = parse_args(description)

    async def go() -> list[Row]:
        async with bench_run(args.quick, args.keep) as bench:
            return await fn(bench)

    print_table(asyncio.run(go()))
