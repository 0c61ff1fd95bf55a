"""The platform under test, as ``make run`` configures it, in its own process.

``python -m bench.platform --pki DIR --database URL [--config FILE] [--insecure]``
loads settings exactly as ``vgi serve`` does (defaults ← TOML ← ``VGI_*`` ←
flags; mutual TLS from the dev PKI), sets up observability as ``vgi serve``
does (tracing at the default sampling ratio, metrics, JSON logs to stderr;
the benchmark starts it with ``OTEL_EXPORTER_OTLP_ENDPOINT`` naming its OTLP
receiver, ``bench.otlp_sink``, so traces and metrics are exported as with a
collector and the tracing stage is in the chain),
starts ``server.app.Platform`` — every surface behind the whole interceptor
chain of ``build_interceptors`` — plus the benchmark echo service behind that
same chain, and prints ``port N``. The only settings the benchmark changes
are the listen port (0) and rate limits high enough not to throttle it
(``bench/platform.toml``). ``--insecure`` is ``vgi serve --insecure``:
plaintext on loopback, the principal taken from the bearer token's subject
(the fan-out benchmark's 10,000 devices).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
from pathlib import Path

from bench import echo
from server import config
from server.app import Platform, freeze_startup_heap
from server.observe import setup_observability_for

CONFIG = Path(__file__).with_name("platform.toml")


def settings(pki: Path, database_url: str, config_file: Path | None, *, insecure: bool) -> config.Settings:
    """What ``vgi serve --pki DIR --database URL --config FILE --listen 127.0.0.1:0 [--insecure]`` would run with."""
    return config.load(
        config_file,
        listen="127.0.0.1:0",
        database_url=database_url,
        pki_dir=str(pki),
        insecure=insecure or None,
    )


async def serve(chosen: config.Settings, *, gc_off: bool = False) -> None:
    """The platform with the benchmark's echo, as ``server.app.serve`` runs it, until SIGTERM/SIGINT;
    ``gc_off`` (``bench.ladder``'s ``platform+gcoff``) turns the collector off after start-up instead."""
    platform = Platform(chosen, extra_handlers=[echo.handler()])
    await platform.start()
    freeze_startup_heap()  # as server.app.serve does
    if gc_off:
        gc.disable()
    else:
        platform.collect_between_deliveries()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    print(f"port {platform.port}", flush=True)
    await stopping.wait()
    await platform.stop(grace=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pki", type=Path, required=True, help="dev PKI directory (vgi pki init)")
    parser.add_argument("--database", required=True, help="SQLAlchemy database URL")
    parser.add_argument("--config", type=Path, default=CONFIG, help="TOML settings file")
    parser.add_argument(
        "--insecure", action="store_true", help="plaintext on loopback, principal from the token"
    )
    args = parser.parse_args()
    chosen = settings(
        args.pki, args.database, args.config if args.config.exists() else None, insecure=args.insecure
    )
    chosen.validate()
    obs = setup_observability_for(chosen)
    try:
        asyncio.run(serve(chosen))
    finally:
        obs.shutdown()


if __name__ == "__main__":
    main()
