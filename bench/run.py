"""Run every benchmark, print one table, write ``bench/results/latest.json`` (``make bench``, ``make bench-quick``).

Rows come in SPEC section 5 order. A benchmark that fails prints an error
row for each target it measures instead of stopping the run; the exit code
is 1 when a benchmark failed (the suite is broken) and 0 otherwise: thresholds
are reported, not asserted.
"""

from __future__ import annotations

import asyncio
import sys
import time
from types import ModuleType

from bench import capacity, fanout, ingest, ocpp, registry, scale, unary
from bench.harness import RESULTS, Row, bench_run, machine, parse_args, print_table, run_guarded, write_json

MODULES: list[ModuleType] = [unary, ingest, fanout, ocpp, capacity, registry, scale]


async def run_all(quick: bool, keep: bool) -> list[Row]:
    rows: list[Row] = []
    async with bench_run(quick, keep) as bench:
        for module in MODULES:
            started = time.perf_counter()
            rows += await run_guarded(module.run, bench, module.TARGETS)
            print(f"{module.__name__}: {time.perf_counter() - started:.0f} s", flush=True)
    return rows


def main() -> None:
    args = parse_args(__doc__ or "")
    started = time.perf_counter()
    rows = asyncio.run(run_all(args.quick, args.keep))
    elapsed = time.perf_counter() - started
    facts = machine()
    print(
        f"\nmachine: {facts['cores']} cores, {facts['cpu_model']}, Python {facts['python']}, "
        f"grpcio {facts['grpcio']}, SQLite {facts['sqlite']}, PostgreSQL {facts['postgresql'] or 'absent'}; "
        f"commit {facts['commit']}; {'quick' if args.quick else 'full'} run in {elapsed:.0f} s"
    )
    print_table(rows)
    path = RESULTS / ("quick.json" if args.quick else "latest.json")
    write_json(path, rows, facts=facts, quick=args.quick, seconds=elapsed)
    print(f"written {path.relative_to(RESULTS.parent.parent)}")
    if any(row.error for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
