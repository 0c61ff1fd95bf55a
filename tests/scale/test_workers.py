"""`vgi serve --workers 2`: two worker processes on one port (SO_REUSEPORT), supervised.

The kernel spreads connections over the workers; a worker killed with
SIGKILL is replaced on the same port; SIGTERM to the supervisor stops every
worker gracefully and it exits 0. With a fixed admin port P, worker i serves
its probes on P + i, a restarted one too (each worker checks only its own
port at start, not its siblings', which are taken).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import urllib.request
from pathlib import Path

import pytest
from conftest import OPERATOR, DevCredentials

from clients.sdk import OperatorClient, channel_options

from .conftest import Serve, Server, channel

pytestmark = pytest.mark.timeout(120)

CHANNELS = 16


def _two_free_ports() -> int:
    """P with P and P + 1 free (worker i of two listens on P + i)."""
    while True:
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port


def _healthz(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        return int(response.status)


def _workers(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return sorted(int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes())


def _established(port: int) -> set[int]:
    """Socket inodes of the connections accepted on ``port``."""
    inodes = set()
    # gRPC listens on a dual-stack socket: IPv4 clients show up in tcp6, v4-mapped.
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED
                inodes.add(int(fields[9]))
    return inodes


def _connections_per_worker(workers: list[int], port: int) -> list[int]:
    accepted = _established(port)
    counts = []
    for pid in workers:
        held = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = fd.readlink().name
            except OSError:
                continue
            if target.startswith("socket:["):
                held.add(int(target[len("socket:[") : -1]))
        counts.append(len(held & accepted))
    return counts


async def _call_on_fresh_connections(dev_credentials: DevCredentials, server: Server) -> list[object]:
    # A local subchannel pool per channel: each gets its own TCP connection.
    channels = [
        channel(
            dev_credentials,
            OPERATOR,
            server.target,
            options=channel_options(extra=[("grpc.use_local_subchannel_pool", 1)]),
        )
        for _ in range(CHANNELS)
    ]
    answers = await asyncio.gather(*(OperatorClient(c).list_aggregators() for c in channels))
    counts = _connections_per_worker(_workers(server.process.pid), server.port)
    for c in channels:
        await c.close(None)
    return [answers, counts]


async def test_workers_share_the_port_are_restarted_and_stop_together(
    database_url: str, serve: Serve, dev_credentials: DevCredentials
) -> None:
    admin = _two_free_ports()
    [supervisor] = await serve(
        database_url, 1, "--workers", "2", grace_seconds=2, admin_listen=f"127.0.0.1:{admin}"
    )
    assert supervisor.banner.endswith(f"on port {supervisor.port} (2 workers)")
    assert [await asyncio.to_thread(_healthz, port) for port in (admin, admin + 1)] == [200, 200]
    first = _workers(supervisor.process.pid)
    assert len(first) == 2

    answers, counts = await _call_on_fresh_connections(dev_credentials, supervisor)
    assert len(answers) == CHANNELS
    assert sum(counts) == CHANNELS and min(counts) > 0, counts  # both workers took connections

    killed = first[0]
    os.kill(killed, signal.SIGKILL)
    async with asyncio.timeout(60):
        while True:
            current = _workers(supervisor.process.pid)
            if len(current) == 2 and killed not in current:
                answers, counts = await _call_on_fresh_connections(dev_credentials, supervisor)
                if min(counts) > 0:
                    break
            await asyncio.sleep(0.2)
    assert current[0] != killed and first[1] in current
    assert [await asyncio.to_thread(_healthz, port) for port in (admin, admin + 1)] == [200, 200]

    supervisor.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(supervisor.process.wait, 15) == 0
    assert _workers_alive(current) == []


def _workers_alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]
