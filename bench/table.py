"""The published figures: median, min and max of each row's ratio over several full runs.

``python -m bench.table RUN1.json RUN2.json RUN3.json`` (files ``make bench``
wrote as ``bench/results/latest.json``) prints the Markdown table of
docs/PERFORMANCE.md: per row the median ratio with min and max, the median
run's verdict and its measured text. A row counts as met only if the run
with the median ratio met it.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| target | goal | median | min | max | result (median run) | measured in the median run |",
        "|---|---|---|---|---|---|---|",
    ]
    targets = [row["target"] for row in runs[0]["rows"]]
    for target in targets:
        found = [row for run in runs for row in run["rows"] if row["target"] == target]
        rated = sorted((row for row in found if row.get("ratio") is not None), key=lambda row: row["ratio"])
        if not rated:
            lines.append(
                f"| {target} | {found[0]['goal']} | – | – | – | not measured | {found[0]['measured']} |"
            )
            continue
        ratios = [row["ratio"] for row in rated]
        middle = rated[(len(rated) - 1) // 2] if len(rated) % 2 else rated[len(rated) // 2 - 1]
        median = statistics.median(ratios) if len(rated) % 2 else middle["ratio"]
        lines.append(
            f"| {target} | {middle['goal']} | {median:.2f} | {ratios[0]:.2f} | {ratios[-1]:.2f} "
            f"| {middle['verdict']} | {middle['measured']} |"
        )
    return "\n".join(lines)


def main(paths: list[str]) -> None:
    runs = [json.loads(Path(path).read_text()) for path in paths]
    print(table(runs))


if __name__ == "__main__":
    main(sys.argv[1:])
