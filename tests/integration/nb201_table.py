"""An NB201 benchmark table for tests: the shared CSV when present, else random values.

The end-to-end and demo tests must always run in CI, where ``../shared/data`` may be absent, so
they fall back to a CSV of the same shape: every one of the 15,625 NAS-Bench-201 cells with a
random validation accuracy (and a "test" accuracy one point above it).
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


def nb201_csv(directory: Path) -> Path:
    """The shared NB201 CSV, or a random one written into `directory`."""
    if SHARED_NB201.is_file():
        return SHARED_NB201
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    path = directory / "nb201_random.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch_str", OBJECTIVE, REPORT])
        for arch in space.enumerate():
            value = float(rng.uniform(10, 92))
            writer.writerow([space.to_json(arch)["cell"], f"{value:.4f}", f"{value + 1:.4f}"])
    return path
