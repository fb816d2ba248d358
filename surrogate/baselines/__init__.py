"""Baseline search strategies: random search, regularized evolution and local search.

They implement `surrogate.strategy.Strategy` like BONAS does, so the service and the benchmark
harness drive them the same way and every comparison is run through one loop.
"""

from __future__ import annotations

from surrogate.baselines.evolution import EvolutionOptions, RegularizedEvolution
from surrogate.baselines.local_search import LocalSearch, LocalSearchOptions
from surrogate.baselines.random_search import RandomSearch, UnseenSampler, seen_keys

__all__ = [
    "EvolutionOptions",
    "LocalSearch",
    "LocalSearchOptions",
    "RandomSearch",
    "RegularizedEvolution",
    "UnseenSampler",
    "seen_keys",
]
