"""Quality of the weight-sharing estimate: Kendall tau between joint and stand-alone accuracies.

CPU, digits. A batch of 16 distinct random NAS-Bench-201 members is trained (a) each on its
own from scratch with several seeds, whose mean accuracy is the reference, and (b) jointly in
one supernet for each combination of warm-up epochs and schedule asked for, with several seeds.
Prints the tau of every joint run against the reference, on validation accuracy and on
validation loss.

The digits are easy and the networks small, so stand-alone accuracies of different members lie
close together and a single stand-alone run is itself a noisy ranking. The script therefore
also prints the reference's own reliability: the tau between one stand-alone seed and the mean
of the others (leave one out), which a joint estimate can hardly be expected to beat.

    nice -n 10 python benchmarks/ws_quality.py --channels 4 --val-fraction 0.5 \
        --standalone-epochs 10 --standalone-seeds 0 1 2 3 --joint-epochs 30 \
        --warmups 0 2 --schedules fair random --seeds 0 1 2

Goal: tau >= 0.5.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from surrogate.ranking import kendall_tau  # noqa: E402
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


def _tau(a: Any, b: Any) -> float:
    """The project's one Kendall tau-b; NaN where it is undefined, so that table means show it."""
    tau = kendall_tau(np.asarray(a, dtype=float).tolist(), np.asarray(b, dtype=float).tolist())
    return math.nan if tau is None else tau


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--members-seed", type=int, default=0)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--val-fraction", type=float, default=0.5)
    parser.add_argument("--standalone-epochs", type=int, default=10)
    parser.add_argument("--standalone-seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--joint-epochs", type=int, nargs="+", default=[30])
    parser.add_argument("--warmups", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--schedules", nargs="+", default=["fair", "random"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    space = get_space("nb201")
    data = load_dataset(DatasetSpec(val_fraction=args.val_fraction))
    members = _distinct_members(space, args.k, args.members_seed)
    base = TrainOptions(channels=args.channels)

    started = time.perf_counter()
    accuracy, loss = [], []
    for seed in args.standalone_seeds:
        options = replace(base, method="standalone", epochs=args.standalone_epochs, seed=seed)
        results = train_batch(space, members, data, options)
        accuracy.append([r.metrics["val_accuracy"] for r in results])
        loss.append([-r.metrics["val_loss"] for r in results])
    reference_acc, reference_loss = np.mean(accuracy, axis=0), np.mean(loss, axis=0)
    elapsed = time.perf_counter() - started
    print(
        f"stand-alone: {args.standalone_epochs} epochs x {len(accuracy)} seeds, "
        f"channels {args.channels}, {data.num_train} train / {data.num_val} val, {elapsed:.0f} s"
    )
    print("reference accuracies:", " ".join(f"{v:.1f}" for v in reference_acc))
    if len(accuracy) > 1:
        loo_acc = [
            _tau(accuracy[i], np.mean(np.delete(accuracy, i, axis=0), axis=0))
            for i in range(len(accuracy))
        ]
        loo_loss = [
            _tau(loss[i], np.mean(np.delete(loss, i, axis=0), axis=0)) for i in range(len(loss))
        ]
        print(
            f"reliability, one stand-alone seed vs the mean of the others: tau(acc) "
            f"{np.mean(loo_acc):.3f} (per seed {' '.join(f'{t:.2f}' for t in loo_acc)}), "
            f"tau(loss) {np.mean(loo_loss):.3f}"
        )

    print("| joint epochs | warm-up | schedule | tau(acc) per seed | mean tau(acc) | "
          "mean tau(loss) | joint s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    grid = itertools.product(args.joint_epochs, args.warmups, args.schedules)
    for epochs, warmup, schedule in grid:
        taus: list[float] = []
        loss_taus: list[float] = []
        seconds = 0.0
        for seed in args.seeds:
            options = replace(
                base, epochs=epochs, warmup_epochs=warmup, schedule=schedule, seed=seed
            )
            started = time.perf_counter()
            results = train_batch(space, members, data, options)
            seconds += time.perf_counter() - started
            taus.append(_tau([r.metrics["val_accuracy"] for r in results], reference_acc))
            loss_taus.append(_tau([-r.metrics["val_loss"] for r in results], reference_loss))
        per_seed = " ".join(f"{t:.2f}" for t in taus)
        print(
            f"| {epochs} | {warmup} | {schedule} | {per_seed} | {np.mean(taus):.3f} | "
            f"{np.mean(loss_taus):.3f} | {seconds / len(args.seeds):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
