"""Plots of search benchmarks (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from surrogate.bench.search import SearchBenchResult


def plot_best_so_far(result: SearchBenchResult, path: str | Path, z: float = 1.96) -> None:
    """Mean reported metric of the best-by-objective cell against queries, one line per method.

    Bands are `mean +- z * standard error` over seeds (a 95 % confidence interval of the mean by
    default). A dashed line marks the reported metric of the table's best-objective cell.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budget = result.config.budget
    queries = np.arange(1, budget + 1)
    figure, axes = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    lows: list[float] = []
    highs: list[float] = [result.best_report]
    for spec in result.config.methods:
        runs = [t for t in result.traces if t.method == spec.display]
        if not runs:
            continue
        curves = np.stack([t.best_so_far(budget)[1] for t in runs])
        valid = np.isfinite(curves).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nanmean(np.where(np.isfinite(curves), curves, np.nan), axis=0)
            sem = np.nanstd(curves, axis=0, ddof=1) / np.sqrt(valid) if len(runs) > 1 else 0 * mean
        sem = np.nan_to_num(sem)
        line = axes.plot(queries, mean, label=f"{spec.display} (n={len(runs)})", linewidth=1.6)[0]
        axes.fill_between(
            queries, mean - z * sem, mean + z * sem, color=line.get_color(), alpha=0.2
        )
        start = min(budget - 1, max(0, budget // 10))
        lows.append(float(np.nanmin(mean[start:] - z * sem[start:])))
        highs.append(float(np.nanmax(mean[start:] + z * sem[start:])))
    axes.axhline(
        result.best_report,
        color="black",
        linestyle="--",
        linewidth=1.0,
        label="best-objective cell",
    )
    if lows:
        low, high = min(lows), max(highs)
        margin = 0.05 * max(high - low, 1e-6)
        axes.set_ylim(low - margin, high + margin)
    axes.set_xlim(1, budget)
    axes.set_xlabel("queries")
    axes.set_ylabel(f"{result.config.report} of best-by-{result.config.objective}")
    axes.set_title(f"best so far (k = {result.config.k}, 95 % CI of the mean)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
