"""`UniformSampler`: architectures drawn uniformly from the space, the baseline candidate source.

A pool made only of uniform samples is what BONAS itself uses; mixed with the guided samplers it
keeps the pool exploring regions the observations say nothing about.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from surrogate.samplers.base import Sampler

A = TypeVar("A")


class UniformSampler(Sampler[A]):
    """Draws each architecture with `SearchSpace.sample` (uniform, or as close as the space allows).

    It keeps no state: `fit` is a no-op, so the draws depend on the random generator only.
    """

    name = "uniform"

    def sample(self, n: int, rng: np.random.Generator) -> list[A]:
        return [self.space.sample(rng) for _ in range(n)]
