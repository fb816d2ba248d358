"""Analytic cost of architectures: parameters and FLOPs read off their networks, untrained.

    from surrogate.costs import NB201_CIFAR10, architecture_cost, cost_of

    architecture_cost(space, arch, NB201_CIFAR10)  # Cost(params=..., flops=...)
    cost_of(space, arch)  # {"params": ..., "flops": ...} at the space's default network

What is counted is in `surrogate.costs.counting`; which network each space has is in the
module of that space (`cell`, `nb101`, `darts`, `macro`). For NAS-Bench-201 at its own size
the figures equal the benchmark's published params and FLOPs. NAS-Bench-101's own network,
which differs from the one the worker trains, is priced by `nb101_benchmark_cost`.
"""

from __future__ import annotations

from surrogate.costs.counting import Cost, FeatureMap
from surrogate.costs.exceptions import CostModelError
from surrogate.costs.model import (
    DARTS_NETWORK,
    MACRO_NETWORK,
    NB101_NETWORK,
    architecture_cost,
    cost_of,
    default_network,
)
from surrogate.costs.nb101_benchmark import nb101_benchmark_cost
from surrogate.costs.network import NB201_CIFAR10, NetworkShape
from surrogate.costs.ops import OP_COSTS

__all__ = [
    "DARTS_NETWORK",
    "MACRO_NETWORK",
    "NB101_NETWORK",
    "NB201_CIFAR10",
    "OP_COSTS",
    "Cost",
    "CostModelError",
    "FeatureMap",
    "NetworkShape",
    "architecture_cost",
    "cost_of",
    "default_network",
    "nb101_benchmark_cost",
]
