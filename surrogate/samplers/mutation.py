"""`MutationSampler`: random mutations of the best architectures observed so far.

Local exploitation for the pool: most good architectures of a tabular benchmark sit a few edits
from other good ones (the premise of local search and regularized evolution), so a pool that
includes the neighbourhood of the incumbents lets the acquisition function pick refinements a
uniform pool would almost never contain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from surrogate.limits import check_maxima
from surrogate.samplers.base import Sampler
from surrogate.samplers.codes import finite_observations
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation

A = TypeVar("A")


MUTATION_MAXIMA: dict[str, float] = {
    "top_m": 10000,
    "max_steps": 100,
}
"""Largest accepted value of each count of `MutationOptions` (docs/limits.md)."""


@dataclass(frozen=True)
class MutationOptions:
    """How `MutationSampler` chooses parents and mutates them.

    Attributes:
        top_m: Number of best observations used as parents.
        max_steps: Largest number of successive one-position mutations applied to a parent.
        step_decay: `P(steps = s)` is proportional to `step_decay ** (s - 1)` for
            `s = 1 .. max_steps`, so small edits dominate but longer jumps occur.
    """

    top_m: int = 10
    max_steps: int = 2
    step_decay: float = 0.5

    def __post_init__(self) -> None:
        check_maxima("mutation", self, MUTATION_MAXIMA)
        if self.top_m < 1 or self.max_steps < 1 or not 0.0 < self.step_decay <= 1.0:
            raise ValueError(
                "MutationOptions: top_m >= 1, max_steps >= 1 and 0 < step_decay <= 1 are "
                f"required, got {self}"
            )


class MutationSampler(Sampler[A]):
    """Mutates the `top_m` best observed architectures, the better ones more often.

    Parent weights follow linear ranking: the `r`-th best of `m` parents (`r = 0` is the best)
    is chosen with probability proportional to `m - r`. Each candidate applies 1 to `max_steps`
    calls of `SearchSpace.mutate`; a candidate that comes back to its parent is mutated once
    more. Before any observation exists it samples uniformly.

    Args:
        space: The search space.
        options: Parent count and mutation lengths.
    """

    name = "mutation"

    def __init__(self, space: SearchSpace[A], options: MutationOptions | None = None) -> None:
        super().__init__(space)
        self.options = options or MutationOptions()
        self._parents: list[A] = []

    @property
    def parents(self) -> list[A]:
        """The current parents, best first."""
        return list(self._parents)

    def fit(self, observations: Sequence[Observation[A]], surrogate: Any | None = None) -> None:
        del surrogate
        ranked = sorted(finite_observations(observations), key=lambda o: o.value, reverse=True)
        parents: list[A] = []
        seen: set[str] = set()
        for observation in ranked:
            key = self.space.key(observation.arch)
            if key not in seen:
                seen.add(key)
                parents.append(observation.arch)
            if len(parents) == self.options.top_m:
                break
        self._parents = parents

    def sample(self, n: int, rng: np.random.Generator) -> list[A]:
        if not self._parents:
            return [self.space.sample(rng) for _ in range(n)]
        m = len(self._parents)
        parent_weights = np.arange(m, 0, -1, dtype=np.float64)
        parent_weights /= parent_weights.sum()
        step_weights = self.options.step_decay ** np.arange(self.options.max_steps)
        step_weights /= step_weights.sum()
        chosen = rng.choice(m, size=n, p=parent_weights)
        steps = 1 + rng.choice(self.options.max_steps, size=n, p=step_weights)
        return [
            self._mutate(self._parents[int(i)], int(s), rng)
            for i, s in zip(chosen, steps, strict=True)
        ]

    def _mutate(self, parent: A, steps: int, rng: np.random.Generator) -> A:
        parent_key = self.space.key(parent)
        child = parent
        for _ in range(steps):
            child = self.space.mutate(child, rng)
        if self.space.key(child) == parent_key:
            child = self.space.mutate(child, rng)
        return child

    def state_dict(self) -> dict[str, Any]:
        return {
            "options": asdict(self.options),
            "parents": [self.space.to_json(a) for a in self._parents],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.options = MutationOptions(**state["options"])
        self._parents = [self.space.from_json(value) for value in state["parents"]]
