"""Scale-out over one PostgreSQL: throughput per server CPU-second at 1, 2 and 4 processes, and the audit path's lock waits.

Four platform processes (``bench.platform``: every surface behind the whole
chain, mutual TLS, as ``vgi serve`` runs) on their own ports share one fresh
PostgreSQL schema in database ``test``. The same client (4 channels, 64
calls in flight, balanced by gRPC ``round_robin`` over the first 1, 2 or 4
processes, as the SDK does) drives them with:

* the 100-byte echo behind the whole chain — CPU-bound, what process count
  should scale;
* CreateAggregator — validated, authorized, idempotent, audited and
  committed to PostgreSQL;
* as a control, the same echo on 1, 2 and 4 bare grpcio servers with the
  same mutual TLS (``bench.bare``: no interceptors, no store, no background
  tasks): how far this machine's own per-CPU figure drops when that many
  processes share its cores. It is reported beside the row and is not in its
  ratio.

The nine variants (3 calls × 1/2/4 processes) run in alternation, rounds of
``bench.seconds``; per variant the median-throughput round counts
(``harness.compare``). The CPU of a variant is the user + system time of
the processes it used, read from ``/proc/PID/stat`` (utime + stime) before
and after each round — the client's and PostgreSQL's CPU are not in it.

Rows:

* per server CPU-second: calls / server CPU-second at each process count;
  the ratio is the worst of (n = 2, 4) × (echo, CreateAggregator) of that
  figure relative to 1 process. ≥ 0.90 means a process costs no more per
  call when others run beside it, so total throughput grows with cores.
  Four servers, the client and PostgreSQL on two cores time-share them: a
  process then runs on caches the others have just used, and each call costs
  more CPU, in the bare control as in the platform (docs/PERFORMANCE.md,
  the row's bullet): the control tells what of the drop is the machine's.
  Beside it, per variant, the servers' user and system CPU per call and their
  threads' voluntary and involuntary context switches per call
  (``ProcessGroup.counters``), and one process driven at 32 calls in flight —
  what each of two processes serves — for the echo and CreateAggregator: if
  that process costs what each of two does, the drop is the load split; if
  it costs what one process at 64 does, it is the processes sharing the cores.
* total throughput at 1, 2, 4 processes: calls/s; the ratio is the smaller
  of the two calls' 2-process / 1-process gain. The machine has 2 cores that
  the client shares with the servers and PostgreSQL: 4 processes cannot
  gain over 2 here; reported as measured. Beside each figure, the share of
  the whole machine's CPU time busy over that variant's rounds
  (``/proc/stat``, every process): a second process can add throughput only
  where the first left cores idle, so a 1-process figure near 100 % says
  the machine, not the platform, caps the gain; the bare grpcio control's
  totals are printed beside it for the same reason.
* audit path at 4 processes: lock waits. Every mutating call of every
  process appends an audit row. Until the chains were per process
  (migration 0020) they all appended to one hash chain whose head a
  PostgreSQL advisory lock held for each group commit; now each process
  appends to its own chain, with its head in memory, and takes the
  log-wide seq from a sequence, so no lock of its own is left on that path.
  What the row measures is what is left: one more CreateAggregator round at
  4 processes runs while a separate connection samples, every 5 ms,
  ``pg_stat_activity`` for the platform's own sessions (they connect with an
  ``application_name`` of this run). Of the samples of platform sessions
  busy in a transaction (``active`` or ``idle in transaction``), the share
  waiting for a lock (``wait_event_type`` Lock or LWLock) while running an
  audit statement (one naming ``audit_log``, or the old chain lock's
  ``pg_advisory_xact_lock``, so the same script measures a tree from before
  the change) is the row's ratio (goal ≤ 0.10: the audit path does not
  serialise the writes). Beside it: the share of session-samples waiting for
  any lock in any statement, with the three most frequent wait events (a
  commit waiting to flush the WAL is ``LWLock:WALWrite``), and the share of
  instants at which some platform session was running an audit statement. A platform of another
  run on database ``test`` takes other locks (and a tree from before the
  change, the same advisory lock), so the figure assumes a quiet machine,
  as every figure here does. The sampler's own queries cost PostgreSQL CPU,
  which is why this round is separate from the timed ones.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
import psycopg
from vgi.common.v1 import aggregator_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from bench import echo
from bench.harness import (
    CHANNEL_OPTIONS,
    IN_FLIGHT,
    OPERATOR,
    PG_CONNINFO,
    Bench,
    Load,
    ProcessGroup,
    Row,
    ServerProcess,
    Variant,
    closed_loop,
    compare,
    main,
    postgres_version,
)
from store import migrate

PER_CORE = (
    "scale-out: throughput per server CPU-second, 1 / 2 / 4 processes on one PostgreSQL",
    "within 10 % of 1 process (≥ 0.90)",
)
TOTAL = ("scale-out: total throughput, 1 → 2 → 4 server processes on one PostgreSQL", "grows with processes")
AUDIT = (
    "audit path (per-process chains), CreateAggregator at 4 processes: lock waits",
    "≤ 0.10 of the platform's DB transaction time",
)
TARGETS = [PER_CORE, TOTAL, AUDIT]
COUNTS = (1, 2, 4)
CHANNELS = 4
SAMPLE_EVERY_S = 0.005
Call = Callable[[int], Awaitable[object]]
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def _channels(bench: Bench, ports: Sequence[int]) -> list[grpc.aio.Channel]:
    target = f"ipv4:{','.join(f'127.0.0.1:{port}' for port in ports)}"
    credentials = bench.credentials.channel_credentials(OPERATOR)
    options = [*CHANNEL_OPTIONS, ("grpc.service_config", ROUND_ROBIN), ("grpc.use_local_subchannel_pool", 1)]
    return [grpc.aio.secure_channel(target, credentials, options=options) for _ in range(CHANNELS)]


def _not_measured(why: str) -> list[Row]:
    return [Row(target, goal, f"not measured ({why})") for target, goal in TARGETS]


async def run(bench: Bench) -> list[Row]:
    if postgres_version() is None:
        return _not_measured("PostgreSQL does not answer on 127.0.0.1:5432")
    tag = uuid.uuid4().hex[:12]
    schema, application = f"bench_{tag}", f"vgi-bench-scale-{tag}"
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = (
        f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
        f"&application_name={application}"
    )
    names = [f"scale-{n}" for n in range(1, max(COUNTS) + 1)]
    bare_names = [f"scale-bare-{n}" for n in range(1, max(COUNTS) + 1)]
    channels: dict[int, list[grpc.aio.Channel]] = {}
    bare_channels: dict[int, list[grpc.aio.Channel]] = {}
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        pki = str(bench.credentials.layout.root)
        servers = await asyncio.gather(
            *(bench.server(name, "bench.platform", "--pki", pki, "--database", url) for name in names)
        )
        bare = await asyncio.gather(*(bench.server(name, "bench.bare", "--pki", pki) for name in bare_names))
        channels = {n: _channels(bench, [s.port for s in servers[:n]]) for n in COUNTS}
        bare_channels = {n: _channels(bench, [s.port for s in bare[:n]]) for n in COUNTS}
        return await _measure(bench, servers, channels, bare, bare_channels, application)
    finally:
        for group in [*channels.values(), *bare_channels.values()]:
            for channel in group:
                await channel.close(None)
        for name in [*names, *bare_names]:
            await bench.stop_server(name)
        with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def _measure(
    bench: Bench,
    servers: Sequence[ServerProcess],
    channels: dict[int, list[grpc.aio.Channel]],
    bare: Sequence[ServerProcess],
    bare_channels: dict[int, list[grpc.aio.Channel]],
    application: str,
) -> list[Row]:
    metadata = bench.credentials.metadata(OPERATOR)
    request = echo.request()
    serial = itertools.count()
    tag = uuid.uuid4().hex[:6]

    def echo_on(group: list[grpc.aio.Channel]) -> Call:
        stubs = [echo.stub(c) for c in group]
        return lambda i: stubs[i % CHANNELS](request, metadata=metadata)

    def create_on(group: list[grpc.aio.Channel]) -> Call:
        stubs = [operator_grpc.OperatorServiceStub(c).CreateAggregator for c in group]

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

    calls = {"echo": echo_on, "create": create_on}
    loads = await compare(
        [
            variant
            for n in COUNTS
            for variant in (
                *(
                    Variant(f"{kind}, {n}", ProcessGroup(servers[:n]), make(channels[n]))
                    for kind, make in calls.items()
                ),
                Variant(f"{CONTROL}, {n}", ProcessGroup(bare[:n]), echo_on(bare_channels[n])),
            )
        ]
        + [
            # One process at the calls in flight each of two processes serves: what of the 2-process per-CPU
            # figure is the load split, what is the processes sharing the machine.
            Variant(_split(kind), ProcessGroup(servers[:1]), make(channels[1]), in_flight=IN_FLIGHT // 2)
            for kind, make in calls.items()
        ],
        rounds=bench.rounds,
        seconds=bench.seconds,
    )
    contention = await _audit_contention(bench, servers, create_on(channels[max(COUNTS)]), application)
    return [*_scale_rows(loads), _audit_row(contention, loads)]


def _split(kind: str) -> str:
    return f"{kind}, 1 at {IN_FLIGHT // 2} in flight"


def _per_cpu(load: Load) -> float:
    return load.calls / load.server_cpu_s if load.server_cpu_s > 0 else float("nan")


NAMES = {"echo": "echo", "create": "CreateAggregator"}
CONTROL = "bare echo"


def _scale_rows(loads: dict[str, Load]) -> list[Row]:
    figures = {
        name: {
            "calls_per_s": round(load.rate),
            "calls_per_server_cpu_s": round(_per_cpu(load)),
            "server_cpu_us_per_call": round(load.cpu_per_call * 1e6) if load.calls else None,
            "p99_ms": round(load.p99 * 1e3, 2),
            "machine_busy": round(load.machine_busy, 3),
            "client_cpu_us_per_call": round(load.client_cpu_s / load.calls * 1e6) if load.calls else None,
            **_per_call(load),
        }
        for name, load in loads.items()
    }
    per_cpu = {kind: [_per_cpu(loads[f"{kind}, {n}"]) for n in COUNTS] for kind in [*NAMES, CONTROL]}
    totals = {kind: [loads[f"{kind}, {n}"].rate for n in COUNTS] for kind in [*NAMES, CONTROL]}
    relative = {kind: [v / values[0] for v in values[1:]] for kind, values in per_cpu.items()}
    worst = min(min(relative[kind]) for kind in NAMES)
    gain = min(totals[kind][1] / totals[kind][0] for kind in NAMES)
    counts = "/".join(str(n) for n in COUNTS)

    def series(values: list[float]) -> str:
        return " / ".join(f"{v:,.0f}" for v in values)

    def scaled(kind: str) -> str:
        return f"{series(per_cpu[kind])} calls per CPU-s at {counts} processes " + (
            f"({' / '.join(f'{r:.2f}×' for r in relative[kind])} of 1)"
        )

    def costs(kind: str) -> str:
        parts = []
        for n in COUNTS:
            call = _per_call(loads[f"{kind}, {n}"])
            parts.append(
                f"{call['user_us_per_call']:,.0f} + {call['system_us_per_call']:,.0f} µs,"
                f" {call['voluntary_switches_per_call']:.1f} + {call['involuntary_switches_per_call']:.1f}"
            )
        split = loads[_split(kind)]
        return (
            f"{NAMES[kind]} user + system CPU per call, voluntary + involuntary context switches per call at"
            f" {'/'.join(str(n) for n in COUNTS)} processes: {' / '.join(parts)}; one process at"
            f" {IN_FLIGHT // 2} calls in flight (each of two processes' share) {_per_cpu(split):,.0f} calls per CPU-s"
        )

    per_core_text = "; ".join(f"{NAMES[kind]} {scaled(kind)}" for kind in NAMES) + (
        f"; control, bare grpcio echo with the same mutual TLS (not in the ratio): {scaled(CONTROL)}"
        f"; {'; '.join(costs(kind) for kind in NAMES)}"
    )

    def busy(kind: str) -> str:
        machine = "/".join(f"{loads[f'{kind}, {n}'].machine_busy:.0%}" for n in COUNTS)
        client = "/".join(
            f"{loads[f'{kind}, {n}'].client_cpu_s / loads[f'{kind}, {n}'].seconds:.2f}" for n in COUNTS
        )
        return f"{machine}, the client {client} cores"

    total_text = "; ".join(
        f"{NAMES[kind]} {' → '.join(f'{v:,.0f}/s' for v in totals[kind])} (machine busy {busy(kind)})"
        for kind in NAMES
    ) + (
        f"; control, bare grpcio echo (not in the ratio): {' → '.join(f'{v:,.0f}/s' for v in totals[CONTROL])}"
        f" (machine busy {busy(CONTROL)})"
    )
    return [
        Row(
            *PER_CORE,
            f"{per_core_text}; server CPU from /proc (utime + stime) of the processes in use",
            worst,
            worst >= 0.90,
            {"variants": figures},
        ),
        Row(
            *TOTAL,
            f"{total_text} at {counts} processes; {os.cpu_count()} cores shared by the client, the servers and"
            " PostgreSQL (machine busy: the share of all cores' time busy over the rounds, /proc/stat; the client: its process's CPU-s per second)",
            gain,
            gain > 1.0,
        ),
    ]


def _per_call(load: Load) -> dict[str, float]:
    """The server processes' counters (``ProcessGroup.counters``) per call."""
    counters, calls = load.server_counters, max(load.calls, 1)
    return {
        "user_us_per_call": round(counters.get("user_s", 0.0) / calls * 1e6),
        "system_us_per_call": round(counters.get("system_s", 0.0) / calls * 1e6),
        "voluntary_switches_per_call": round(counters.get("voluntary", 0.0) / calls, 2),
        "involuntary_switches_per_call": round(counters.get("involuntary", 0.0) / calls, 2),
    }


@dataclass
class Contention:
    """Samples of the platform's PostgreSQL sessions during a CreateAggregator round."""

    samples: int = 0  # sampling instants
    in_transaction: int = 0  # session-samples busy in a transaction
    waiting: int = 0  # session-samples waiting for a lock in an audit statement
    waiting_any: int = 0  # session-samples waiting for a lock in any statement
    busy: int = 0  # instants at which some platform session ran an audit statement
    events: Counter[str] = field(default_factory=Counter)  # session-samples per lock wait event
    load: Load | None = None


_SAMPLE = """
SELECT state, wait_event_type IN ('Lock', 'LWLock'),
       state = 'active' AND (query ILIKE '%%audit_log%%' OR query ILIKE '%%pg_advisory_xact_lock%%'),
       wait_event_type || ':' || wait_event
FROM pg_stat_activity
WHERE application_name = %s
"""


def _sample(application: str, stop: threading.Event, into: Contention) -> None:
    with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute(_SAMPLE, (application,)).fetchall()
            into.samples += 1
            into.in_transaction += sum(state in ("active", "idle in transaction") for state, _, _, _ in rows)
            into.waiting += sum(bool(locked and audit) for _, locked, audit, _ in rows)
            into.waiting_any += sum(bool(locked) for _, locked, _, _ in rows)
            into.busy += any(audit for _, _, audit, _ in rows)
            into.events.update(event for _, locked, _, event in rows if locked)
            stop.wait(SAMPLE_EVERY_S)


async def _audit_contention(
    bench: Bench, servers: Sequence[ServerProcess], call: Call, application: str
) -> Contention:
    contention = Contention()
    stop = threading.Event()
    sampler = asyncio.create_task(asyncio.to_thread(_sample, application, stop, contention))
    group = ProcessGroup(servers)
    try:
        cpu_before = group.cpu_seconds()
        contention.load = await closed_loop(call, bench.seconds)
        contention.load.server_cpu_s = group.cpu_seconds() - cpu_before
    finally:
        stop.set()
        await sampler
    return contention


def _audit_row(contention: Contention, loads: dict[str, Load]) -> Row:
    n = max(COUNTS)
    if not contention.samples or not contention.in_transaction:
        return Row(*AUDIT, "not measured (no sample saw a platform session in a transaction)")
    share = contention.waiting / contention.in_transaction
    share_any = contention.waiting_any / contention.in_transaction
    busy = contention.busy / contention.samples
    top = ", ".join(
        f"{event} {count / contention.in_transaction:.1%}"
        for event, count in contention.events.most_common(3)
    )
    per_cpu = _per_cpu(loads[f"create, {n}"]) / _per_cpu(loads["create, 1"])
    load = contention.load
    rate = f"{load.rate:,.0f}/s" if load is not None else "?"
    return Row(
        *AUDIT,
        f"{share:.1%} of the platform sessions' in-transaction samples wait for a lock in an audit "
        f"statement ({share_any:.1%} for any lock in any statement{': ' + top if top else ''}); an audit "
        "statement running in "
        f"{busy:.0%} of {contention.samples:,} samples (every {SAMPLE_EVERY_S * 1e3:.0f} ms); "
        f"CreateAggregator {rate} at {n} processes while sampled; per CPU-s {per_cpu:.2f}× of 1 process",
        share,
        share <= 0.10,
        {
            "samples": contention.samples,
            "in_transaction_session_samples": contention.in_transaction,
            "waiting_session_samples": contention.waiting,
            "waiting_any_lock_session_samples": contention.waiting_any,
            "audit_busy_samples": contention.busy,
            "lock_wait_events": dict(contention.events.most_common()),
            "calls_per_s": round(load.rate) if load is not None else None,
            "calls_per_server_cpu_s": round(_per_cpu(load)) if load is not None else None,
        },
    )


if __name__ == "__main__":
    main(run, __doc__ or "")
