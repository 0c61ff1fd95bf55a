"""OCPP gateway fan-out: 1,000 stations connected, one setpoint each, from the grid's call to SetChargingProfile.

The platform runs as its own process like ``vgi serve --insecure`` (gRPC
plaintext on loopback, principals from bearer tokens) with the OCPP gateway
on (wss with the dev PKI's server certificate). Each station is a
platform-managed 7 kW charger of ``agg-fan`` registered through the
platform's RPCs (the fan-out benchmark's setup), admitted with security
profile 3 (its own client certificate from the dev PKI — profile 2's
deliberately slow scrypt check would measure the password hash, not the
gateway), speaking OCPP 2.0.1 as raw JSON frames from client processes of
their own (``WORKERS``): BootNotification, then TransactionEvent Started
(the gateway's default needs: each can shed 7 kW).

The grid submits one real-time instruction for ``aggregators/agg-fan`` of
3.5 kW per station (most laxity first: half of them to 0 W, half
kept at 7 kW; the limits must add up to 3.5 kW per station); each station records ``time.time()`` when its
SetChargingProfile arrives (and answers Accepted). Latency is that minus the
time the grid's call was sent (same machine, same clock); the row reports
p99, with p50 and the last arrival beside it. No SPEC threshold exists for
this row; it is held to the device streams' 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import socket
import ssl
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bench.fanout import FLEET, Caller
from bench.harness import Bench, Row, main, percentile
from domain.principal import Principal, Role
from infra.security.pki import CertificateAuthority

TARGET = (
    "OCPP gateway, 1,000 stations, one setpoint each: p99 grid call → SetChargingProfile",
    "≤ 2 s (as device streams)",
)
LIMIT_S = 2.0
TARGETS = [TARGET]

WORKERS = 2
OPEN_AT_ONCE = 50  # connections a worker opens concurrently
WAIT_S = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _frame(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, unique_id, action, payload])


async def _station(
    url: str,
    station_id: str,
    tls: ssl.SSLContext,
    opened: asyncio.Semaphore,
    received: dict[str, tuple[float, int]],
    everyone: asyncio.Event,
    expected: int,
) -> Any:
    async with opened:
        connection = await connect(
            f"{url}/{station_id}", subprotocols=[Subprotocol("ocpp2.0.1")], ssl=tls, open_timeout=WAIT_S
        )
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        await connection.send(
            _frame(
                "b",
                "BootNotification",
                {"reason": "PowerUp", "chargingStation": {"model": "b", "vendorName": "b"}},
            )
        )
        await connection.recv()
        await connection.send(
            _frame(
                "t",
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": now,
                    "triggerReason": "Authorized",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": "tx-1"},
                },
            )
        )
        await connection.recv()

    async def listen() -> None:
        async for raw in connection:
            message = json.loads(raw)
            if message[0] == 2 and message[2] == "SetChargingProfile":
                received[station_id] = (
                    time.time(),
                    int(
                        message[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0][
                            "limit"
                        ]
                    ),
                )
                await connection.send(json.dumps([3, message[1], {"status": "Accepted"}]))
                if len(received) == expected:
                    everyone.set()

    return connection, asyncio.create_task(listen())


async def _serve_parent(url: str, stations: list[str], certs: str, ca: str, pipe: Connection) -> None:
    received: dict[str, tuple[float, int]] = {}
    everyone = asyncio.Event()
    opened = asyncio.Semaphore(OPEN_AT_ONCE)
    contexts = []
    for station_id in stations:
        tls = ssl.create_default_context(cafile=ca)
        tls.load_cert_chain(Path(certs) / f"{station_id}.pem", Path(certs) / f"{station_id}.key")
        contexts.append(tls)
    started = time.perf_counter()
    links = await asyncio.gather(
        *(
            _station(url, s, t, opened, received, everyone, len(stations))
            for s, t in zip(stations, contexts, strict=True)
        )
    )
    pipe.send(("opened", time.perf_counter() - started))
    await asyncio.to_thread(pipe.recv)  # collect
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WAIT_S):
            await everyone.wait()
    pipe.send(("received", dict(received)))
    for connection, listener in links:
        listener.cancel()
        await connection.close()


def _worker(url: str, stations: list[str], certs: str, ca: str, pipe: Connection) -> None:
    try:
        asyncio.run(_serve_parent(url, stations, certs, ca, pipe))
    except BaseException as exc:
        pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise


def _issue(bench: Bench, stations: Sequence[str]) -> Path:
    """A client certificate for every station (profile 3), bound to the fleet's aggregator."""
    folder = bench.workdir / "ocpp-certs"
    folder.mkdir(exist_ok=True)
    authority = CertificateAuthority.load(bench.credentials.layout)
    for station_id in stations:
        issued = authority.issue_client(Principal(Role.DEVICE, station_id, FLEET))
        (folder / f"{station_id}.pem").write_bytes(issued.cert_pem())
        (folder / f"{station_id}.key").write_bytes(issued.key_pem())
    return folder


async def run(bench: Bench) -> list[Row]:
    count = bench.scaled(1_000, 50)
    stations = [f"ocpp-ch-{n:04d}" for n in range(count)]
    certs = await asyncio.to_thread(_issue, bench, stations)
    ocpp_port = _free_port()
    # bench.platform loads settings as vgi serve does, the environment included.
    os.environ["VGI_OCPP_LISTEN"] = f"127.0.0.1:{ocpp_port}"
    try:
        platform = await bench.server(
            "platform-ocpp",
            "bench.platform",
            "--pki",
            str(bench.credentials.layout.root),
            "--database",
            f"sqlite:///{bench.workdir / 'ocpp.db'}",
            "--insecure",
        )
    finally:
        del os.environ["VGI_OCPP_LISTEN"]
    caller = Caller(bench, platform)
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    processes = []
    try:
        await caller.setup(stations, [])
        url = f"wss://localhost:{ocpp_port}/ocpp"
        ca = str(bench.credentials.layout.ca_cert)
        workers = min(WORKERS, count)
        for w in range(workers):
            parent, child = context.Pipe()
            process = context.Process(
                target=_worker, args=(url, stations[w::workers], str(certs), ca, child), daemon=True
            )
            process.start()
            child.close()
            pipes.append(parent)
            processes.append(process)
        opened = max(await _answers(pipes, "opened"))
        started, returned, _ = await caller.dispatch(count)
        for pipe in pipes:
            pipe.send("collect")
        received: dict[str, tuple[float, int]] = {}
        for answer in await _answers(pipes, "received"):
            received.update(answer)
    finally:
        await caller.close()
        await bench.stop_server("platform-ocpp")
        for process in processes:
            await asyncio.to_thread(process.join, 30)
            if process.is_alive():
                process.kill()
    if len(received) < count:
        raise RuntimeError(f"{count - len(received)} of {count} stations received no SetChargingProfile")
    # Most laxity first (F6): the sessions that plugged in first shed their 7 kW, the rest none.
    total = sum(limit for _, limit in received.values())
    if total != count * 3_500:
        raise RuntimeError(f"the stations' limits add up to {total} W, expected {count * 3_500} W")
    latencies = [at - started for at, _ in received.values()]
    p99 = percentile(latencies, 99)
    return [
        Row(
            TARGET[0],
            TARGET[1],
            f"p99 {p99 * 1e3:.0f} ms (p50 {percentile(latencies, 50) * 1e3:.0f} ms, last "
            f"{max(latencies) * 1e3:.0f} ms; call {1e3 * (returned - started):.0f} ms; {count} stations opened in "
            f"{opened:.1f} s)",
            ratio=p99 / LIMIT_S,
            met=p99 <= LIMIT_S,
            figures={"stations": count, "p99_ms": round(p99 * 1e3, 1), "opened_s": round(opened, 1)},
        )
    ]


async def _answers(pipes: Sequence[Connection], expected: str) -> list[Any]:
    answers = await asyncio.gather(*(asyncio.to_thread(pipe.recv) for pipe in pipes))
    for what, value in answers:
        if what != expected:
            raise RuntimeError(f"a station process answered {what}: {value}")
    return [value for _, value in answers]


if __name__ == "__main__":
    main(run, __doc__ or "")
