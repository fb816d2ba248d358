"""Cost of training a batch of k NAS-Bench-201 members jointly (weight sharing) against one by one.

CPU, digits. Both sides go through `train_batch` with a `DatasetSpec`, as a worker daemon would
(so each separate run loads the data, builds its network, calibrates and evaluates on its own).
Two accountings are measured side by side:

* equal steps per member: the joint run gives every member `--steps` steps of its own path
  (plus warm-up on the union if `--warmup` > 0); each separate run trains its member for the
  same `--steps` steps. The joint run has k times the steps of one separate run, each of the
  same cost (one path per step), so it can only save the per-run overheads;
* equal schedule (BONAS's accounting): the joint run trains the batch for `--epochs` epochs in
  all (members share them, about 1/k of the steps each); each separate run trains its member for
  `--epochs` epochs.

    nice -n 10 python benchmarks/joint_vs_separate.py --ks 1 4 8 16 --steps 20 --epochs 2

Prints a table of seconds and ratios (target: joint <= 2/k of separate for k >= 4).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from surrogate.spaces import get_space  # noqa: E402
from workers.datasets import DatasetSpec  # noqa: E402
from workers.training import TrainOptions, train_batch  # noqa: E402


def _timed(space: Any, archs: list[Any], options: TrainOptions) -> float:
    started = time.perf_counter()
    train_batch(space, archs, DatasetSpec(), options)
    return time.perf_counter() - started


def _separate(space: Any, archs: list[Any], options: TrainOptions) -> float:
    return sum(_timed(space, [arch], options) for arch in archs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--steps", type=int, default=20, help="steps per member (equal steps)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs (equal schedule)")
    parser.add_argument("--warmup", type=int, default=0, help="warm-up epochs of joint runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    space = get_space("nb201")
    rng = np.random.default_rng(args.seed)
    pool = [space.sample(rng) for _ in range(max(args.ks))]
    base = TrainOptions(seed=args.seed, warmup_epochs=args.warmup)
    steps = TrainOptions(**{**base.to_dict(), "steps_per_member": args.steps})
    epochs = TrainOptions(**{**base.to_dict(), "epochs": args.epochs})
    alone_steps = TrainOptions(**{**steps.to_dict(), "method": "standalone"})
    alone_epochs = TrainOptions(**{**epochs.to_dict(), "method": "standalone"})
    _timed(space, pool[:1], steps)  # warm caches (imports, first-call overheads)

    print(f"steps/member={args.steps}  epochs={args.epochs}  warm-up epochs={args.warmup}")
    print(
        "| k | equal steps: joint s | separate s | ratio | "
        "equal schedule: joint s | separate s | ratio | target 2/k |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for k in args.ks:
        archs = pool[:k]
        joint_steps = _timed(space, archs, steps)
        separate_steps = _separate(space, archs, alone_steps)
        joint_epochs = _timed(space, archs, epochs)
        separate_epochs = _separate(space, archs, alone_epochs)
        print(
            f"| {k} | {joint_steps:.2f} | {separate_steps:.2f} | "
            f"{joint_steps / separate_steps:.3f} | {joint_epochs:.2f} | {separate_epochs:.2f} | "
            f"{joint_epochs / separate_epochs:.3f} | {2 / k:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
