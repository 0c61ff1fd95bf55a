"""Hunt flaky tests: the whole suite again and again, in random order, optionally on a loaded machine.

    python tools/hunt.py --runs 5 --load 2 [-- PYTEST ARGS]

Each run is ``pytest -p randomly`` (a new order every run; the seed is printed
so a failing order can be replayed with ``pytest -p randomly --randomly-seed=N``),
with ``--load`` busy processes spinning beside it for the whole run (the
equivalent of ``yes > /dev/null`` per core). One line per run: exit code,
wall time, pytest's summary and the seed; the failing tests of a failed run
are listed under it and its whole output is kept in ``var/hunt/run-N.log``.
Exit status: the number of failed runs (0 = every run green).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"^=*\s*(\d+ (passed|failed).*) in [\d.]+s")


def _spin() -> None:
    while True:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="how many full runs (default 5)")
    parser.add_argument("--load", type=int, default=0, help="busy processes beside each run (default 0)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    args = parser.parse_args(argv)

    logs = REPO / "var" / "hunt"
    logs.mkdir(parents=True, exist_ok=True)
    failed_runs = 0
    for run in range(1, args.runs + 1):
        spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.load)]
        for spinner in spinners:
            spinner.start()
        seed = random.randrange(2**32)
        started = time.monotonic()
        try:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-p",
                    "randomly",
                    f"--randomly-seed={seed}",
                    "-q",
                    *args.pytest_args,
                ],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            for spinner in spinners:
                spinner.terminate()
                spinner.join()
        output = result.stdout + result.stderr
        (logs / f"run-{run}.log").write_text(output)
        summary = next(
            (m.group(1) for line in output.splitlines() if (m := SUMMARY.match(line))), "no summary"
        )
        print(
            f"run {run}/{args.runs}: exit {result.returncode}, {time.monotonic() - started:.0f} s, "
            f"{summary}, load {args.load}, seed {seed}",
            flush=True,
        )
        if result.returncode != 0:
            failed_runs += 1
            for line in output.splitlines():
                if line.startswith(("FAILED", "ERROR")):
                    print(f"    {line}", flush=True)
    return failed_runs


if __name__ == "__main__":
    sys.exit(main())
