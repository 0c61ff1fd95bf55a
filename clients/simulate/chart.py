"""The chart: target vs baseline vs actual power for each event (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render straight to a file, also on headless machines

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from clients.simulate.population import SHANGHAI, SLOT
from clients.simulate.report import Series

LABELS = ("actual", "baseline", "target")


def draw(series: Sequence[Series], path: Path) -> list[list[str]]:
    """One panel per event: the three series as steps over the instructed aggregators, the window shaded.

    Returns each panel's legend labels.
    """
    figure, axes = plt.subplots(len(series), 1, figsize=(10, 3.4 * len(series)), squeeze=False)
    for ax, s in zip(axes[:, 0], series, strict=True):
        times = [s.start + i * SLOT for i in range(len(s.actual_w) + 1)]
        # stairs() takes the n + 1 slot edges.
        ax.stairs(
            [w / 1000 for w in s.actual_w],
            times,
            baseline=None,
            label=LABELS[0],
            color="tab:blue",
            linewidth=1.8,
        )
        for values, label, colour, style in (
            (s.baseline_w, LABELS[1], "tab:gray", "--"),
            (s.target_w, LABELS[2], "tab:red", "-"),
        ):
            ax.stairs(
                [float("nan") if v is None else v / 1000 for v in values],
                times,
                baseline=None,
                label=label,
                color=colour,
                linestyle=style,
                linewidth=1.8,
            )
        ax.axvspan(s.window_start, s.window_end, color="tab:orange", alpha=0.12, label="event window")
        ax.set_title(f"{s.event_id} ({s.kind}) — {', '.join(s.aggregators)}")
        ax.set_ylabel("kW")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=SHANGHAI))
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    axes[-1, 0].set_xlabel("local time (Asia/Shanghai)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    labels = [[text.get_text() for text in ax.get_legend().get_texts()] for ax in axes[:, 0]]
    plt.close(figure)
    return labels
