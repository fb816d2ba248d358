"""Ranking quality of the BONAS surrogate on held-out cells, against training-set size.

NAS-Bench-201 CIFAR-10 (objective `cifar10valid_val_200ep_1seed`, 15,625 cells) and the
NAS-Bench-101 subsets (`val_acc_108ep`, 1,291 distinct cells), with the proposer's default
surrogate (`surrogate.proposer.DEFAULT_FIT`). For each size and seed a random training set is
drawn, the surrogate is fitted, and Kendall tau / Spearman rho are measured on random other
cells. Prints one table and writes predictor_runs.csv, predictor_summary.txt and
predictor_tau.png.

    nice -n 10 python benchmarks/predictor.py                       # both tables, 5 seeds
    nice -n 10 python benchmarks/predictor.py --datasets nb201 --train-sizes 100,1000

The tables are read from ../shared/data beside the checkout (never copied into the repository).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from surrogate.bench.predictor import (  # noqa: E402
    evaluate_predictor,
    format_summary,
    plot_summary,
    summarise,
    table_data,
    write_runs_csv,
)
from surrogate.proposer import DEFAULT_FIT  # noqa: E402
from surrogate.spaces import get_space  # noqa: E402

DATA = REPO.parent / "shared" / "data"
DATASETS = {
    "nb201": {
        "space": "nb201",
        "csv": DATA / "nasbench201" / "nb201_cifar10.csv",
        "objective": "cifar10valid_val_200ep_1seed",
        "arch_column": "arch_str",
        "arch_format": "string",
        "sizes": "25,50,100,200,500,1000",
    },
    "nb101": {
        "space": "nb101",
        "csv": DATA / "nasbench101" / "nb101_subsets.csv",
        "objective": "val_acc_108ep",
        "arch_column": "adjacency",
        "arch_format": "matrix_ops",
        "sizes": "25,50,100,200,500,1000",
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--datasets", default="nb201,nb101")
    parser.add_argument("--train-sizes", default=None, help="Override every dataset's sizes.")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--test-size", type=int, default=5000)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (more oversubscribe a busy CPU)"
    )
    parser.add_argument(
        "--fit",
        default="{}",
        help="JSON overrides of the surrogate's fit options, e.g. '{\"blr_gcns\": 2}'",
    )
    parser.add_argument(
        "--keep-dead",
        action="store_true",
        help="encode zero ops and the nodes they cut off (BONAS's graph) instead of masking them",
    )
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench" / "predictor")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = dataclasses.replace(DEFAULT_FIT, **json.loads(args.fit))

    runs = []
    for name in args.datasets.split(","):
        spec = DATASETS[name]
        csv = spec["csv"]
        assert isinstance(csv, Path)
        if not csv.is_file():
            parser.error(f"{csv} not found: the shared data must sit beside the checkout")
        space = get_space(str(spec["space"]))
        archs, values = table_data(
            csv,
            space,
            str(spec["objective"]),
            arch_column=str(spec["arch_column"]),
            arch_format=str(spec["arch_format"]),
        )
        sizes = [int(s) for s in (args.train_sizes or str(spec["sizes"])).split(",")]
        sizes = [s for s in sizes if s <= len(archs) - 100]
        label = f"{name}:{spec['objective']}"
        start = time.perf_counter()
        runs += evaluate_predictor(
            space,
            archs,
            values,
            sizes,
            range(args.seeds),
            dataset=label,
            test_size=args.test_size,
            options=options,
            prune_dead=not args.keep_dead,
            progress=lambda run: print(
                f"  {run.dataset} train={run.train_size} seed={run.seed} "
                f"tau={run.kendall_tau:.3f} ({run.fit_seconds:.1f}s)",
                flush=True,
            ),
        )
        print(f"{label}: {len(archs)} cells, {time.perf_counter() - start:.0f}s", flush=True)
    summaries = summarise(runs)
    text = format_summary(summaries)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "predictor_summary.txt").write_text(text + "\n")
    write_runs_csv(runs, args.out / "predictor_runs.csv")
    plot_summary(summaries, args.out / "predictor_tau.png")
    print(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
