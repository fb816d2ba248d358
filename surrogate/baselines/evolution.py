"""`RegularizedEvolution`: aging evolution with tournament selection (Real et al., AAAI 2019).

The population is the `population_size` most recent observations; each child is a one-position
mutation of the winner of a tournament among `tournament_size` members drawn at random from it,
and the oldest member leaves as each child arrives (aging, the "regularization"). Before the
population is full, the strategy proposes random architectures.

Batch form: `propose(k)` runs `k` independent tournaments on the current population. The
population is rebuilt from the observations on every call (the most recent ones, in the order the
caller lists them), so the strategy keeps no state and a restarted service continues exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from surrogate.baselines.random_search import UnseenSampler, seen_keys
from surrogate.limits import check_maxima
from surrogate.samplers.codes import finite_observations
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation, Proposal, ProposalRound, Strategy

A = TypeVar("A")


EVOLUTION_MAXIMA: dict[str, float] = {
    "population_size": 10000,
    "tournament_size": 10000,
    "mutation_tries": 10000,
}
"""Largest accepted value of each count of `EvolutionOptions` (docs/limits.md)."""


@dataclass(frozen=True)
class EvolutionOptions:
    """Options of regularized evolution (defaults as NASLib's: population 30, tournament 10).

    Attributes:
        population_size: Members kept alive (the most recent observations).
        tournament_size: Members drawn for each tournament.
        mutation_tries: Mutations tried per child before falling back to a random unseen
            architecture (a child must be new).
    """

    population_size: int = 30
    tournament_size: int = 10
    mutation_tries: int = 50

    def __post_init__(self) -> None:
        check_maxima("", self, EVOLUTION_MAXIMA)
        if self.population_size < 1 or self.tournament_size < 1:
            raise ValueError(f"EvolutionOptions: population_size, tournament_size >= 1: {self}")
        if self.mutation_tries < 1:
            raise ValueError(f"EvolutionOptions: mutation_tries >= 1: {self}")


class RegularizedEvolution(Strategy[A]):
    """Aging evolution, proposing `k` children per call.

    Args:
        space: The search space.
        options: Population and tournament sizes.
    """

    name = "evolution"

    def __init__(self, space: SearchSpace[A], options: EvolutionOptions | None = None) -> None:
        super().__init__(space)
        self.options = options or EvolutionOptions()
        self._unseen: UnseenSampler[A] = UnseenSampler(space)

    def population(self, observations: Sequence[Observation[A]]) -> list[Observation[A]]:
        """The living members: the last `population_size` observations with a finite value."""
        return finite_observations(observations)[-self.options.population_size :]

    def propose(
        self,
        observations: Sequence[Observation[A]],
        pending: Sequence[A],
        k: int,
        rng: np.random.Generator,
    ) -> ProposalRound[A]:
        exclude = seen_keys(self.space, observations, pending)
        population = self.population(observations)
        in_flight = len(observations) + len(pending)
        num_random = max(0, min(k, self.options.population_size - in_flight))
        if not population:
            num_random = k
        proposals = [
            Proposal(arch=a, source="random") for a in self._unseen.draw(num_random, exclude, rng)
        ]
        exclude.update(self.space.key(p.arch) for p in proposals)
        for _ in range(k - len(proposals)):
            child = self._child(population, exclude, rng)
            if child is None:
                break
            exclude.add(self.space.key(child.arch))
            proposals.append(child)
        return ProposalRound(tuple(proposals))

    def _child(
        self, population: list[Observation[A]], exclude: set[str], rng: np.random.Generator
    ) -> Proposal[A] | None:
        """Mutation of a tournament winner that is new, or a random unseen architecture."""
        size = min(self.options.tournament_size, len(population))
        contestants = rng.choice(len(population), size=size, replace=False)
        parent = max((population[int(i)] for i in contestants), key=lambda o: o.value)
        for _ in range(self.options.mutation_tries):
            child = self.space.mutate(parent.arch, rng)
            if self.space.key(child) not in exclude:
                return Proposal(arch=child, source=self.name)
        fallback = self._unseen.draw(1, exclude, rng)
        return Proposal(arch=fallback[0], source="random") if fallback else None
