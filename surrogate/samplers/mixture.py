"""`SamplerMixture`: several samplers feeding one candidate pool in chosen proportions.

A pool mixes exploration (uniform), exploitation (mutations of the incumbents) and posterior
guidance (categorical, additive, ARD, surrogate-based samplers). The mixture fits every
component on the same observations (passing the surrogate through), splits the requested count
among them by a multinomial draw on the weights, and returns the union; duplicates are allowed
because the pool builder removes them by key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from surrogate.samplers.additive import AdditiveOptions, AdditiveThompsonSampler
from surrogate.samplers.ard import ArdOptions, ArdPruner
from surrogate.samplers.base import Sampler
from surrogate.samplers.categorical import CategoricalOptions, CategoricalPosteriorSampler
from surrogate.samplers.mutation import MutationOptions, MutationSampler
from surrogate.samplers.uniform import UniformSampler
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation

A = TypeVar("A")

SamplerFactory = Callable[[SearchSpace[Any], dict[str, Any]], Sampler[Any]]


def _no_options(space: SearchSpace[Any], options: dict[str, Any]) -> Sampler[Any]:
    if options:
        raise ValueError(f"the uniform sampler takes no options, got {sorted(options)}")
    return UniformSampler(space)


SAMPLER_FACTORIES: dict[str, SamplerFactory] = {
    "uniform": _no_options,
    "mutation": lambda space, o: MutationSampler(space, MutationOptions(**o)),
    "categorical": lambda space, o: CategoricalPosteriorSampler(space, CategoricalOptions(**o)),
    "additive": lambda space, o: AdditiveThompsonSampler(space, AdditiveOptions(**o)),
    "ard": lambda space, o: ArdPruner(space, ArdOptions(**o)),
}
"""Samplers that `mixture_from_spec` can build by name (other modules may register more)."""


class SamplerMixture(Sampler[A]):
    """A weighted mixture of samplers of one space.

    Args:
        space: The search space; every component must serve it.
        components: `(sampler, weight)` pairs; weights are non-negative with a positive sum.

    Raises:
        ValueError: No component, a negative weight, all weights zero, or a component of
            another space.
    """

    name = "mixture"

    def __init__(
        self, space: SearchSpace[A], components: Sequence[tuple[Sampler[A], float]]
    ) -> None:
        super().__init__(space)
        if not components:
            raise ValueError("a sampler mixture needs at least one component")
        weights = np.asarray([float(w) for _, w in components], dtype=np.float64)
        if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
            raise ValueError(
                f"mixture weights must be finite, >= 0 and not all 0, got {weights.tolist()}"
            )
        for sampler, _ in components:
            if sampler.space is not space and sampler.space != space:
                raise ValueError(
                    f"component {sampler.name!r} serves another space than {space.name!r}"
                )
        self.samplers = [s for s, _ in components]
        self.weights = weights / weights.sum()

    def fit(self, observations: Sequence[Observation[A]], surrogate: Any | None = None) -> None:
        for sampler in self.samplers:
            sampler.fit(observations, surrogate)

    def counts(self, n: int, rng: np.random.Generator) -> list[int]:
        """How many of `n` draws each component makes (multinomial on the weights)."""
        return [int(c) for c in rng.multinomial(n, self.weights)]

    def sample(self, n: int, rng: np.random.Generator) -> list[A]:
        return [arch for arch, _ in self.sample_with_sources(n, rng)]

    def sample_with_sources(self, n: int, rng: np.random.Generator) -> list[tuple[A, str]]:
        """Like `sample`, each architecture paired with the name of the component that drew it."""
        result: list[tuple[A, str]] = []
        for sampler, count in zip(self.samplers, self.counts(max(n, 0), rng), strict=True):
            if count:
                result.extend((arch, sampler.name) for arch in sampler.sample(count, rng))
        return result

    def state_dict(self) -> dict[str, Any]:
        return {
            "components": [
                {"name": s.name, "weight": float(w), "state": s.state_dict()}
                for s, w in zip(self.samplers, self.weights, strict=True)
            ]
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore every component's state.

        Raises:
            ValueError: The state lists other components than this mixture holds.
        """
        entries = state["components"]
        names = [e["name"] for e in entries]
        if names != [s.name for s in self.samplers]:
            raise ValueError(
                f"state holds components {names}, this mixture {[s.name for s in self.samplers]}"
            )
        for sampler, entry in zip(self.samplers, entries, strict=True):
            sampler.load_state_dict(entry["state"])
        weights = np.asarray([e["weight"] for e in entries], dtype=np.float64)
        self.weights = weights / weights.sum()


def mixture_from_spec(
    space: SearchSpace[A],
    spec: Mapping[str, Any],
    factories: Mapping[str, SamplerFactory] | None = None,
) -> SamplerMixture[A]:
    """Build a mixture from plain data (JSON from the CLI, a file or the API).

    Args:
        space: The search space.
        spec: Sampler name to either its weight or `{"weight": w, "options": {...}}` (the
            format of `BonasOptions.samplers`), e.g.
            `{"uniform": 1, "mutation": {"weight": 2, "options": {"top_m": 5}}}`.
        factories: Builders by name (default `SAMPLER_FACTORIES`).

    Raises:
        ValueError: An unknown sampler name, bad options or bad weights.
    """
    known = SAMPLER_FACTORIES if factories is None else factories
    components: list[tuple[Sampler[A], float]] = []
    for name, entry in spec.items():
        if name not in known:
            raise ValueError(f"unknown sampler {name!r}; known: {', '.join(sorted(known))}")
        if isinstance(entry, Mapping):
            unknown = set(entry) - {"weight", "options"}
            if unknown:
                raise ValueError(
                    f"sampler {name!r}: expected 'weight' and 'options', got {sorted(unknown)}"
                )
            options, weight = dict(entry.get("options", {})), entry.get("weight", 1.0)
        else:
            options, weight = {}, entry
        try:
            sampler = known[name](space, options)
        except TypeError as error:
            raise ValueError(f"bad options for sampler {name!r}: {error}") from error
        components.append((sampler, float(weight)))
    return SamplerMixture(space, components)
