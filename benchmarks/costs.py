"""Time of the analytic cost model: params and FLOPs of all 15,625 NAS-Bench-201 cells.

Each cell is priced at NAS-Bench-201's CIFAR-10 network (`NB201_CIFAR10`) through
`surrogate.costs.cost_of`, the call a pool filter makes. The first pass starts from an empty
op cache (`op_cost` memoises an op at one input shape), later passes reuse it; the figure is
the wall time of the whole pass, best and median over the repeats. The same is done for a
sample of DARTS genotypes at DARTS's 20-cell network and of NAS-Bench-101 cells.

    python benchmarks/costs.py              # 5 repeats
    python benchmarks/costs.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from surrogate.costs import cost_of  # noqa: E402
from surrogate.costs.ops import op_cost  # noqa: E402
from surrogate.spaces import get_space  # noqa: E402
from surrogate.spaces.base import SearchSpace  # noqa: E402


def timed_pass(space: SearchSpace[Any], archs: list[Any]) -> float:
    started = time.perf_counter()
    for arch in archs:
        cost_of(space, arch)
    return time.perf_counter() - started


def report(name: str, space: SearchSpace[Any], archs: list[Any], repeats: int) -> None:
    op_cost.cache_clear()
    cold = timed_pass(space, archs)
    warm = [timed_pass(space, archs) for _ in range(repeats)]
    per_arch_us = 1e6 * statistics.median(warm) / len(archs)
    print(
        f"{name}: {len(archs)} architectures, cold pass {cold:.3f} s, warm pass best "
        f"{min(warm):.3f} s, median {statistics.median(warm):.3f} s ({per_arch_us:.0f} us each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sample", type=int, default=2_000, help="DARTS and NB101 archs")
    args = parser.parse_args()
    nb201 = get_space("nb201")
    report("nb201 (all cells)", nb201, list(nb201.enumerate()), args.repeats)
    rng = np.random.default_rng(0)
    for name in ("darts", "nb101"):
        space = get_space(name)
        archs = [space.sample(rng) for _ in range(args.sample)]
        report(f"{name} (random sample)", space, archs, args.repeats)


if __name__ == "__main__":
    main()
