"""The issue's search protocol on NAS-Bench-201 CIFAR-10, with every method in one run.

Objective `cifar10valid_val_200ep_1seed` (validation accuracy, the only thing search sees);
reported `cifar10_test_200ep` of the best-by-validation cell; k = 10, budget 300, 30 seeds.
Prints the summary table and writes runs.csv, summary.json/.txt and best_so_far.png.

    nice -n 10 python benchmarks/search_nb201.py --methods random,evolution,local --jobs 2
    nice -n 10 python benchmarks/search_nb201.py --methods bonas \
        --bonas-options '{"pool_size": 10000}'

The table is read from ../shared/data beside the checkout (never copied into the repository).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from surrogate.bench.search import (  # noqa: E402
    METHOD_NAMES,
    MethodSpec,
    SearchBenchConfig,
    run_benchmark,
    write_outputs,
)

DATA = REPO.parent / "shared" / "data" / "nasbench201" / "nb201_cifar10.csv"
OBJECTIVE = "cifar10valid_val_200ep_1seed"
REPORT = "cifar10_test_200ep"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--methods", default="random,evolution,local,bonas")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--csv", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench" / "search_nb201")
    parser.add_argument(
        "--options",
        default="{}",
        help='JSON options per method, e.g. \'{"evolution": {"population_size": 20}}\'',
    )
    parser.add_argument("--bonas-options", default=None, help="JSON options of BonasStrategy.")
    args = parser.parse_args()

    if not args.csv.is_file():
        parser.error(
            f"{args.csv} not found: the shared benchmark data must sit beside the checkout"
        )
    options = json.loads(args.options)
    if args.bonas_options:
        options["bonas"] = json.loads(args.bonas_options)
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHOD_NAMES]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {METHOD_NAMES}")
    config = SearchBenchConfig(
        csv=str(args.csv),
        objective=OBJECTIVE,
        report=REPORT,
        space="nb201",
        arch_column="arch_str",
        arch_format="string",
        k=args.k,
        budget=args.budget,
        seeds=tuple(range(args.seeds)),
        methods=tuple(MethodSpec(name, options.get(name, {})) for name in names),
        checkpoints=(50, 100, 150, 200, 300),
        jobs=args.jobs,
    )
    result = run_benchmark(config, show_progress=True)
    paths = write_outputs(result, args.out)
    print(result.format_table())
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
