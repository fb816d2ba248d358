"""The `Sampler` interface: probabilistic models over architectures that generate candidates.

Samplers shape the candidate pool; the surrogate and the acquisition function still choose
what is evaluated, so a weak sampler costs exploration, never correctness. Every sampler is
refitted from the whole table of observations (`fit` is called after each reported batch) and
its state can be saved and restored so that a restarted service continues exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation

A = TypeVar("A")


class Sampler(ABC, Generic[A]):
    """Generates candidate architectures of one space.

    Call order: `fit` after every change to the observations (it may be called with none, before
    anything is measured), then `sample` any number of times.
    """

    name: str = "sampler"

    def __init__(self, space: SearchSpace[A]) -> None:
        self.space = space

    def fit(self, observations: Sequence[Observation[A]], surrogate: Any | None = None) -> None:
        """Refit from all observations. `surrogate`, when given, is the current fitted surrogate
        (some samplers use it; the default ignores both)."""
        del observations, surrogate

    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> list[A]:
        """Draw `n` architectures (duplicates allowed; the pool builder removes them)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state
