"""``vgi simulate``: run a full demand-response day against a running platform and write the report.

The platform is a separate process started with a simulated clock, e.g.::

    vgi pki init --dir DIR
    vgi serve --pki DIR --simulated-clock --listen 127.0.0.1:50061 --database sqlite:///DIR/vgi.db
    vgi simulate --target 127.0.0.1:50061 --pki DIR

(``make demo`` does exactly that on a temporary directory). It is reached
like any other: over mutual TLS with the full interceptor chain, each party
presenting its own certificate and token. From the dev PKI the simulator
takes only the CA certificate and the operator's certificate and token key;
the operator issues everybody else's credentials with IssueCredentials and
moves the platform's time with AdvanceClock (see ``clients.simulate.timeline``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.security.tokens import DEV_ISSUER

if TYPE_CHECKING:
    from clients.simulate.report import Report
    from clients.simulate.run import Config


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a full demand-response day (grid, aggregators, EVs) against a running platform",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--target", required=True, help="host:port of a platform serving with --simulated-clock"
    )
    parser.add_argument(
        "--pki", required=True, help="the platform's dev PKI directory (vgi pki init): CA, operator keys"
    )
    parser.add_argument(
        "--token-issuer", default=DEV_ISSUER, help=f"the platform's token issuer (default {DEV_ISSUER})"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7): same seed, same run")
    parser.add_argument("--chargers", type=int, default=1000, help="chargers in total (default 1000)")
    parser.add_argument("--aggregators", type=int, default=3, help="aggregators (default 3)")
    parser.add_argument("--history-days", type=int, default=60, help="days of history uploaded (default 60)")
    parser.add_argument(
        "--out", default="var/sim", help="directory for report.md and chart.png (default var/sim)"
    )
    parser.add_argument(
        "--ocpp",
        default="",
        help="host:port of the platform's OCPP gateway: two managed chargers speak OCPP 2.0.1",
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
    report = asyncio.run(
        run_against(config, args.target, Path(args.pki), issuer=args.token_issuer, ocpp_target=args.ocpp)
    )
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


async def run_against(
    config: Config, target: str, pki_dir: Path, *, issuer: str = DEV_ISSUER, ocpp_target: str = ""
) -> Report:
    """Simulate against the platform at ``target``, whose dev PKI is ``pki_dir`` (CA and the operator's keys)."""
    from clients.simulate.parties import bootstrap_operator
    from clients.simulate.run import Access, simulate

    access = Access(
        target=target,
        ca_pem=(pki_dir / "ca.pem").read_bytes(),
        operator=bootstrap_operator(pki_dir, issuer),
        description=f"{target}, mutual TLS, simulated clock"
        + (f"; OCPP gateway {ocpp_target}" if ocpp_target else ""),
        ocpp_target=ocpp_target,
    )
    return await simulate(config, access)
