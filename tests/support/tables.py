"""An NB201 benchmark table for tests: the shared CSV when present, else random values.

The end-to-end, demo and browser tests must always run in CI, where ``../shared/data`` may be
absent, so they fall back to a CSV of the same shape: every one of the 15,625 NAS-Bench-201 cells
with a random validation accuracy, a "test" accuracy one point above it, and random parameter and
FLOP counts (FLOPs proportional to parameters), the columns the shared table has.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from surrogate.spaces import get_space

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_NB201 = REPO_ROOT.parent / "shared" / "data" / "nasbench201" / "nb201_cifar10.csv"
OBJECTIVE = "cifar10valid_val_200ep_1seed"
REPORT = "cifar10_test_200ep"
REPORTED = (REPORT, "params_M_cifar10", "flops_M_cifar10")


def random_nb201_csv(path: Path, seed: int = 0) -> Path:
    """Write an NB201-shaped CSV with random values for every cell to `path` and return it."""
    space = get_space("nb201")
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch_str", OBJECTIVE, *REPORTED])
        for arch in space.enumerate():
            value = float(rng.uniform(10, 92))
            params = float(rng.uniform(0.07, 1.5))
            row = [value, value + 1, params, params * 140]
            writer.writerow([space.to_json(arch)["cell"], *(f"{v:.4f}" for v in row)])
    return path


def nb201_csv(directory: Path) -> Path:
    """The shared NB201 CSV, or a random one written into `directory`."""
    if SHARED_NB201.is_file():
        return SHARED_NB201
    return random_nb201_csv(directory / "nb201_random.csv")


__all__ = ["OBJECTIVE", "REPORT", "REPORTED", "SHARED_NB201", "nb201_csv", "random_nb201_csv"]
