"""Ranking quality of the surrogate against training-set size (`bonas bench predictor`).

For each training size and seed: draw that many distinct architectures of a benchmark table at
random, fit the surrogate on their objective values, and compare its predicted means with the
true values of held-out architectures (a random sample of the others) by Kendall's tau and
Spearman's rho. A surrogate that ranks well is what the acquisition function needs; the BONAS
paper and most predictor studies report the same statistic.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from scipy.stats import spearmanr

from surrogate.gcn import GraphFeaturizer
from surrogate.models.fit import FitOptions, fit_surrogate
from surrogate.ranking import kendall_tau
from surrogate.spaces.base import SearchSpace
from surrogate.tables import ArchFormat, MetricTable, TableError, TableOptions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictorRun:
    """One fit and its held-out scores.

    Attributes:
        dataset: Label of the table and objective.
        train_size: Training architectures.
        seed: Seed of the split and of the fit.
        test_size: Held-out architectures scored.
        kendall_tau: Kendall's tau-b between predicted means and true values.
        spearman: Spearman's rho between them.
        fit_seconds: Wall-clock time of the fit.
    """

    dataset: str
    train_size: int
    seed: int
    test_size: int
    kendall_tau: float
    spearman: float
    fit_seconds: float


@dataclass(frozen=True)
class PredictorSummary:
    """Mean and standard deviation over seeds at one training size."""

    dataset: str
    train_size: int
    runs: int
    tau_mean: float
    tau_std: float
    spearman_mean: float
    spearman_std: float
    fit_seconds: float


def evaluate_predictor(
    space: SearchSpace[Any],
    archs: Sequence[Any],
    values: Sequence[float],
    train_sizes: Sequence[int],
    seeds: Sequence[int],
    *,
    dataset: str = "",
    test_size: int | None = 5000,
    options: FitOptions | None = None,
    progress: Callable[[PredictorRun], None] | None = None,
    prune_dead: bool = True,
) -> list[PredictorRun]:
    """Fit the surrogate on random subsets and score it on held-out architectures.

    Args:
        space: The space of `archs`.
        archs: Distinct architectures with finite objective values.
        values: Their objective values (user units).
        train_sizes: Training-set sizes to try (each must leave at least two held out).
        seeds: One split and fit per seed and size.
        dataset: Label stored in each row.
        test_size: Held-out architectures per run (None: all the others).
        options: Surrogate fit options (default `FitOptions()`).
        progress: Called after every run.
        prune_dead: Encode only live nodes (the default; see `GraphFeaturizer`).
    """
    y = np.asarray(values, dtype=np.float64)
    if len(archs) != len(y):
        raise ValueError(f"{len(archs)} architectures but {len(y)} values")
    featurizer = GraphFeaturizer(space, prune_dead=prune_dead)
    X_all = space.encode_many(list(archs))
    runs: list[PredictorRun] = []
    for size in train_sizes:
        if size < 2 or size > len(archs) - 2:
            raise ValueError(f"train size {size} must lie in [2, {len(archs) - 2}]")
        for seed in seeds:
            order = np.random.default_rng(seed).permutation(len(archs))
            train = order[:size]
            rest = order[size:]
            test = rest if test_size is None else rest[:test_size]
            start = time.perf_counter()
            model, _ = fit_surrogate(
                space,
                [archs[i] for i in train],
                torch.from_numpy(y[train]),
                options,
                featurizer=featurizer,
                seed=seed,
            )
            seconds = time.perf_counter() - start
            mean, _ = model.predict_user(X_all[test])
            predicted = mean.detach().numpy()
            tau = kendall_tau(predicted.tolist(), y[test].tolist())
            run = PredictorRun(
                dataset=dataset,
                train_size=size,
                seed=seed,
                test_size=len(test),
                kendall_tau=math.nan if tau is None else tau,
                spearman=float(spearmanr(predicted, y[test]).statistic),
                fit_seconds=seconds,
            )
            logger.info("%s", run)
            runs.append(run)
            if progress is not None:
                progress(run)
    return runs


def summarise(runs: Sequence[PredictorRun]) -> list[PredictorSummary]:
    """Mean and std over seeds, per dataset and training size (in first-seen order)."""
    groups: dict[tuple[str, int], list[PredictorRun]] = {}
    for run in runs:
        groups.setdefault((run.dataset, run.train_size), []).append(run)
    result = []
    for (dataset, size), group in groups.items():
        taus = np.array([r.kendall_tau for r in group])
        rhos = np.array([r.spearman for r in group])
        result.append(
            PredictorSummary(
                dataset=dataset,
                train_size=size,
                runs=len(group),
                tau_mean=float(taus.mean()),
                tau_std=float(taus.std()),
                spearman_mean=float(rhos.mean()),
                spearman_std=float(rhos.std()),
                fit_seconds=float(np.mean([r.fit_seconds for r in group])),
            )
        )
    return result


def format_summary(summaries: Sequence[PredictorSummary]) -> str:
    """A plain-text table of the summaries."""
    lines = [f"{'dataset':<40} {'train':>6} {'runs':>5} {'tau':>15} {'spearman':>15} {'fit s':>7}"]
    for s in summaries:
        lines.append(
            f"{s.dataset:<40} {s.train_size:>6} {s.runs:>5} "
            f"{s.tau_mean:>8.3f} ± {s.tau_std:<4.3f} "
            f"{s.spearman_mean:>8.3f} ± {s.spearman_std:<4.3f} {s.fit_seconds:>7.2f}"
        )
    return "\n".join(lines)


def write_runs_csv(runs: Sequence[PredictorRun], path: str | Path) -> Path:
    """Every run as one CSV row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = list(PredictorRun.__dataclass_fields__)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for run in runs:
            writer.writerow(asdict(run))
    return path


def plot_summary(summaries: Sequence[PredictorSummary], path: str | Path) -> Path:
    """Kendall tau (mean +- std over seeds) against training size, one line per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for dataset in dict.fromkeys(s.dataset for s in summaries):
        rows = [s for s in summaries if s.dataset == dataset]
        sizes = [s.train_size for s in rows]
        means = np.array([s.tau_mean for s in rows])
        stds = np.array([s.tau_std for s in rows])
        ax.plot(sizes, means, marker="o", label=dataset)
        ax.fill_between(sizes, means - stds, means + stds, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("training architectures")
    ax.set_ylabel("Kendall tau on held-out architectures")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def table_data(
    csv_path: str | Path,
    space: SearchSpace[Any],
    objective: str,
    *,
    arch_column: str = "arch_str",
    arch_format: str = "string",
    ops_column: str = "ops",
) -> tuple[list[Any], list[float]]:
    """Distinct architectures of a benchmark CSV with a finite `objective`, and its values.

    Rows that name the same architecture are averaged (`MetricTable`'s default).

    Raises:
        TableError: The file or a column is missing, or a row cannot be read.
    """
    table = MetricTable.from_csv(
        csv_path,
        space,
        TableOptions(
            arch_column=arch_column,
            # Not checked here: `TableOptions` reads any value it does not name as matrix_ops.
            arch_format=cast(ArchFormat, arch_format),
            ops_column=ops_column,
        ),
    )
    if objective not in table.columns:
        raise TableError(f"column {objective!r} is not a metric of {csv_path}: {table.columns}")
    archs, values = [], []
    for arch in table.archs():
        value = table.value(arch, objective)
        if math.isfinite(value):
            archs.append(arch)
            values.append(value)
    return archs, values
