"""``vgi simulate``: start a platform on a temporary store, run the simulation against it, write the report.

The platform runs in this process (so the simulator can advance its
scheduler's clock, see ``clients.simulate.timeline``) but is reached like any
other: over mutual TLS on a loopback port, with the full interceptor chain,
each party presenting its own certificate and token. A fresh dev PKI and
SQLite store live in a temporary directory unless ``--database`` names
another store (e.g. a PostgreSQL URL).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clients.simulate.report import Report
    from clients.simulate.run import Config
    from server.app import Platform
    from server.config import Settings

SKEW = timedelta(days=3)
"""How far ahead of the wall clock the demo platform accepts telemetry: the event day is tomorrow."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a full demand-response day (grid, aggregators, EVs) against an in-process platform",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7): same seed, same run")
    parser.add_argument("--chargers", type=int, default=1000, help="chargers in total (default 1000)")
    parser.add_argument("--aggregators", type=int, default=3, help="aggregators (default 3)")
    parser.add_argument("--history-days", type=int, default=60, help="days of history uploaded (default 60)")
    parser.add_argument(
        "--out", default="var/sim", help="directory for report.md and chart.png (default var/sim)"
    )
    parser.add_argument(
        "--database", help="SQLAlchemy URL of the store (default: SQLite in a temporary directory)"
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.set_defaults(func=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    # Imported here: `vgi` loads every subcommand, and numpy/matplotlib are only this one's.
    from clients.simulate import report as rpt
    from clients.simulate.run import Config

    config = Config(
        seed=args.seed,
        chargers=args.chargers,
        aggregators=args.aggregators,
        history_days=args.history_days,
        progress=args.progress,
    )
    if config.chargers < config.aggregators or config.aggregators < 1 or config.history_days < 12:
        print(
            "vgi simulate: need aggregators ≥ 1, chargers ≥ aggregators, history days ≥ 12", file=sys.stderr
        )
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = asyncio.run(run_embedded(config, database_url=args.database))
    report.timings["total"] = time.perf_counter() - started
    write(report, out)
    print(rpt.to_text(report))
    print(f"wrote {out / 'report.md'} and {out / 'chart.png'}")
    return 0


def write(report: Report, out: Path) -> None:
    from clients.simulate import chart
    from clients.simulate import report as rpt

    chart.draw(report.series, out / "chart.png")
    (out / "report.md").write_text(rpt.to_markdown(report, "chart.png"), encoding="utf-8")


async def run_embedded(config: Config, *, database_url: str | None = None) -> Report:
    """Start a platform on a temporary store and dev PKI, simulate against it, stop it."""
    from server.config import Settings
    from server.security.pki import init_pki

    # The platform's INFO lines would scroll the progress bars away.
    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="vgi-sim-") as tmp:
        pki = init_pki(Path(tmp) / "pki")
        settings = Settings(
            listen="127.0.0.1:0",
            database_url=database_url or f"sqlite:///{tmp}/vgi.db",
            pki_dir=str(pki.root),
            telemetry_max_skew_seconds=SKEW.total_seconds(),
            grace_seconds=1.0,
        )
        return await run_against(config, settings, pki.root)


async def run_against(config: Config, settings: Settings, pki_dir: Path) -> Report:
    """Start a platform with ``settings`` (its dev PKI in ``pki_dir``), simulate against it, stop it."""
    from server.app import Platform

    platform = Platform(settings)
    started = time.perf_counter()
    await platform.start()
    try:
        return await simulate_on(platform, pki_dir, config, started_in=time.perf_counter() - started)
    finally:
        await platform.stop(grace=1.0)


async def simulate_on(
    platform: Platform, pki_dir: Path, config: Config, *, started_in: float = 0.0
) -> Report:
    """Simulate against a started in-process ``platform``, advancing its scheduler on the simulated clock."""
    from clients.simulate.parties import bootstrap_operator
    from clients.simulate.run import Access, simulate

    settings = platform.settings
    assert platform.scheduler is not None, "the platform is not started"
    access = Access(
        target=f"127.0.0.1:{platform.port}",
        ca_pem=(pki_dir / "ca.pem").read_bytes(),
        operator=bootstrap_operator(pki_dir, settings.token_issuer),
        description=f"in-process, mutual TLS on 127.0.0.1:{platform.port}, store "
        f"{settings.database_url.split(':', 1)[0]}, started in {started_in:.1f} s",
    )
    skew = settings.telemetry_max_skew_seconds
    return await simulate(
        config,
        access,
        platform.scheduler.tick,
        wall_now=datetime.now(UTC),
        skew=f"{skew / 86400:g} days" if skew >= 86400 else f"{skew:g} s",
    )
