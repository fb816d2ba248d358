"""Quality of the weight-sharing estimate: Kendall tau between joint and stand-alone accuracies.

CPU, digits. A batch of 16 random NAS-Bench-201 members is trained (a) each on its own from
scratch, with two seeds (their mean is the reference; the tau between the two seeds measures how
noisy the reference itself is), and (b) jointly in one supernet, for each combination of warm-up
epochs, schedule and joint epochs asked for, with several seeds. Prints the tau of every joint
configuration against the reference.

    nice -n 10 python benchmarks/ws_quality.py --k 16 --standalone-epochs 10 \
        --joint-epochs 10 30 --warmups 0 2 --schedules fair random --seeds 0 1

Goal: tau >= 0.5.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from surrogate.spaces import get_space  # noqa: E402
from workers.datasets import DatasetSpec, load_dataset  # noqa: E402
from workers.training import TrainOptions, train_batch  # noqa: E402


def _distinct_members(space: Any, k: int, seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    members: dict[str, Any] = {}
    while len(members) < k:
        arch = space.sample(rng)
        members.setdefault(space.key(arch), arch)
    return list(members.values())


def _tau(a: list[float], b: list[float]) -> float:
    return float(kendalltau(a, b).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--members-seed", type=int, default=0)
    parser.add_argument("--standalone-epochs", type=int, default=10)
    parser.add_argument("--joint-epochs", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--warmups", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--schedules", nargs="+", default=["fair", "random"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()

    space = get_space("nb201")
    data = load_dataset(DatasetSpec())
    members = _distinct_members(space, args.k, args.members_seed)

    started = time.perf_counter()
    standalone: list[list[float]] = []
    for seed in args.seeds[:2]:
        options = TrainOptions(method="standalone", epochs=args.standalone_epochs, seed=seed)
        results = train_batch(space, members, data, options)
        standalone.append([r.metrics["val_accuracy"] for r in results])
    reference = list(np.mean(standalone, axis=0))
    print(f"stand-alone: {args.standalone_epochs} epochs, {time.perf_counter() - started:.0f} s")
    print("accuracies (mean of seeds):", " ".join(f"{v:.1f}" for v in reference))
    if len(standalone) == 2:
        print(f"tau between the two stand-alone seeds: {_tau(*standalone):.3f}")

    print("| joint epochs | warm-up | schedule | tau per seed | mean tau | joint s |")
    print("|---|---|---|---|---|---|")
    grid = itertools.product(args.joint_epochs, args.warmups, args.schedules)
    for epochs, warmup, schedule in grid:
        taus: list[float] = []
        seconds = 0.0
        for seed in args.seeds:
            options = TrainOptions(
                epochs=epochs, warmup_epochs=warmup, schedule=schedule, seed=seed
            )
            started = time.perf_counter()
            results = train_batch(space, members, data, options)
            seconds += time.perf_counter() - started
            taus.append(_tau([r.metrics["val_accuracy"] for r in results], reference))
        per_seed = " ".join(f"{t:.3f}" for t in taus)
        print(
            f"| {epochs} | {warmup} | {schedule} | {per_seed} | {np.mean(taus):.3f} | "
            f"{seconds / len(args.seeds):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
