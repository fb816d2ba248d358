"""The whole BONAS loop in memory, in one page: space -> GCN surrogate -> proposer -> table.

No database, no HTTP, no workers: a small user-declared cell space, a benchmark table written to a
temporary CSV (a synthetic objective with interactions between edges, so that the surrogate has
something to learn), and `BonasStrategy` proposing batches that are "evaluated" by table lookup.
Random search runs beside it on the same budget for comparison.

    python examples/minimal_loop.py               # synthetic table, a few minutes on a CPU
    python examples/minimal_loop.py --table ../shared/data/nasbench201/nb201_cifar10.csv
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

from surrogate.baselines import RandomSearch
from surrogate.proposer import BonasOptions, BonasStrategy
from surrogate.spaces import get_space, space_from_spec
from surrogate.strategy import Observation, Strategy
from surrogate.tables import MetricTable

CELL = {"type": "cell", "name": "toy-cell", "num_nodes": 4, "ops": ["none", "skip", "conv", "pool"]}


def synthetic_table(path: Path) -> tuple[MetricTable, str]:
    """Write a benchmark CSV over every cell of the toy space; return the table and its column."""
    space = space_from_spec(CELL)
    rng = np.random.default_rng(7)
    unary = rng.normal(size=(space.encoding_width, 4))
    pairwise = rng.normal(scale=0.5, size=(space.encoding_width, 4, space.encoding_width, 4))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["cell", "accuracy"])
        for arch in space.enumerate():
            codes = space.to_codes(arch)
            score = sum(unary[i, c] for i, c in enumerate(codes))
            score += sum(
                pairwise[i, a, j, b]
                for i, a in enumerate(codes)
                for j, b in enumerate(codes)
                if i < j
            )
            writer.writerow([space.to_json(arch)["cell"], f"{80 + 2 * np.tanh(score / 4):.4f}"])
    return MetricTable.from_csv(path, space, arch_column="cell"), "accuracy"


def run(
    strategy: Strategy, table: MetricTable, column: str, budget: int, k: int, seed: int
) -> list[float]:
    """Propose k at a time, look each proposal up, and return the best-so-far after each query."""
    rng = np.random.default_rng(seed)
    observations: list[Observation] = []
    best: list[float] = []
    while len(observations) < budget:
        wanted = min(k, budget - len(observations))
        for proposal in strategy.propose(observations, [], wanted, rng).proposals:
            value = table.value(proposal.arch, column)
            observations.append(Observation(proposal.arch, value))
            best.append(max(value, best[-1]) if best else value)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, help="a NAS-Bench-201 CSV (default: synthetic)")
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        if args.table:
            space = get_space("nb201")
            table = MetricTable.from_csv(args.table, space, arch_column="arch_str")
            column = "cifar10valid_val_200ep_1seed"
        else:
            table, column = synthetic_table(Path(scratch) / "toy.csv")
            space = table.space
        optimum = table.best(column)[1]
        options = BonasOptions(n_init=args.k, pool_size=2_000)
        for name, strategy in [
            ("bonas", BonasStrategy(space, options)),
            ("random", RandomSearch(space)),
        ]:
            best = run(strategy, table, column, args.budget, args.k, args.seed)
            marks = ", ".join(f"@{q}: {best[q - 1]:.2f}" for q in range(20, len(best) + 1, 20))
            print(f"{name:>6}  best {column} {marks}  (table optimum {optimum:.2f})")


if __name__ == "__main__":
    main()
