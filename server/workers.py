"""``vgi serve --workers N``: N server processes on one port, supervised by the parent.

Python runs one core per process, so the platform scales on a machine by
processes: each worker is a whole ``Platform`` (its own event loop, store
pool, Dispatcher, rate-limit buckets) listening on the same port with
SO_REUSEPORT, and the kernel spreads incoming connections over them (a gRPC
client keeps one connection, so balancing is per connection, not per call).
What one worker commits reaches streams held by the others through the
store and the cross-process wake-up (``server.wakeup_pg``).

The parent never starts gRPC (it must not: gRPC does not survive a fork, and
workers are spawned, not forked). It applies the migrations once, holds the
port (a bound, non-listening SO_REUSEPORT socket, so port 0 becomes one
concrete port for all and a restarted worker gets the same one), starts the
workers, prints ``vgi: serving … on port P (N workers)`` once every worker
serves, restarts a worker that dies, and on SIGTERM or SIGINT forwards
SIGTERM to all of them and waits for their graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import signal
import socket
import sys
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from server.config import Settings

log = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0
START_TIMEOUT_S = 120.0

_context = multiprocessing.get_context("spawn")


@contextlib.contextmanager
def reserve_port(host: str, port: int) -> Iterator[int]:
    """Hold ``host:port`` (port 0: a free one) for SO_REUSEPORT listeners; yields the port."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        yield int(sock.getsockname()[1])


def _worker(settings: Settings, index: int, ready: Connection) -> None:
    """One worker process: the platform, telling the supervisor its services once it serves."""
    from server.app import Platform, serve
    from server.observe import setup_observability_for

    # Ctrl-C reaches the whole process group; the supervisor turns it into one SIGTERM each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One port cannot be served by several processes: worker i's admin listeners take port + i.
    settings = dataclasses.replace(
        settings,
        admin_listen=_offset(settings.admin_listen, index),
        admin_grpc_listen=_offset(settings.admin_grpc_listen, index),
    )
    obs = setup_observability_for(settings, worker=index)

    def announce(platform: Platform) -> None:
        ready.send(platform.services)
        ready.close()

    try:
        asyncio.run(
            serve(
                settings, ready=announce, metrics_registry=obs.prometheus.registry if obs.prometheus else None
            )
        )
    finally:
        obs.shutdown()


def _offset(address: str, index: int) -> str:
    host, _, port = address.rpartition(":")
    return f"{host}:{int(port) + index}" if address and int(port) else address


class Supervisor:
    """Starts, watches, restarts and stops the workers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._workers: dict[int, BaseProcess] = {}
        self._restarting: dict[Connection, int] = {}  # restarted workers not yet serving
        self._stopping = False

    def run(self) -> int:
        from server import preflight
        from server.app import serving_line

        settings = self.settings
        preflight.before_migrating(settings, processes=settings.workers)
        preflight.schema_revision(settings.database_url, will_migrate=settings.migrate_on_start)
        if settings.migrate_on_start:
            from store import migrate

            migrate.upgrade(settings.database_url)
        host = settings.listen_host()
        with reserve_port(host, int(settings.listen.rpartition(":")[2])) as port:
            listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            self.settings = dataclasses.replace(settings, listen=listen, migrate_on_start=False)
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self._on_signal)
            try:
                services = self._start_all()
            except RuntimeError as exc:
                print(f"vgi serve: {exc}", file=sys.stderr)
                self._stop_all()
                return 1
            print(
                serving_line(settings, services, port, workers=f" ({settings.workers} workers)"), flush=True
            )
            self._watch()
            return self._stop_all()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def _spawn(self, index: int) -> Connection:
        receive, send = _context.Pipe(duplex=False)
        process = _context.Process(
            target=_worker, args=(self.settings, index, send), name=f"vgi-worker-{index}", daemon=False
        )
        process.start()
        send.close()
        self._workers[index] = process
        return receive

    def _start_all(self) -> list[str]:
        """Start every worker and wait until each serves; RuntimeError if one cannot."""
        pending = {self._spawn(index): index for index in range(self.settings.workers)}
        services: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT_S
        while pending:
            if self._stopping or time.monotonic() > deadline:
                raise RuntimeError("stopped before every worker was serving")
            for receive in wait(list(pending), timeout=0.2):
                assert isinstance(receive, Connection)
                index = pending.pop(receive)
                try:
                    services = receive.recv()
                except EOFError:
                    code = self._workers[index].exitcode
                    raise RuntimeError(f"worker {index} exited before serving (exit code {code})") from None
                finally:
                    receive.close()
        return services

    def _watch(self) -> None:
        """Until a signal: restart any worker that exits (after RESTART_DELAY_S)."""
        while not self._stopping:
            sentinels = {process.sentinel: index for index, process in self._workers.items()}
            for ready in wait([*sentinels, *self._restarting], timeout=0.2):
                if isinstance(ready, Connection):
                    index = self._restarting.pop(ready)
                    with contextlib.suppress(EOFError):
                        ready.recv()
                        log.info("worker %d is serving again", index)
                    ready.close()
                    continue
                assert isinstance(ready, int)
                index = sentinels[ready]
                process = self._workers[index]
                process.join()
                if self._stopping:
                    break
                log.error("worker %d exited with %s; restarting it", index, process.exitcode)
                time.sleep(RESTART_DELAY_S)
                self._restarting[self._spawn(index)] = index

    def _stop_all(self) -> int:
        """SIGTERM every worker, wait for their graceful shutdown, then kill what is left; the exit code."""
        for receive in self._restarting:
            receive.close()
        for process in self._workers.values():
            if process.exitcode is None and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
        deadline = time.monotonic() + self.settings.grace_seconds + 5.0
        for process in self._workers.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                process.kill()
                process.join()
        return 0 if all(process.exitcode == 0 for process in self._workers.values()) else 1


def supervise(settings: Settings) -> int:
    """Serve ``settings.workers`` processes until SIGTERM or SIGINT; the exit code."""
    return Supervisor(settings).run()
