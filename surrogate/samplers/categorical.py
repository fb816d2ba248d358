"""`CategoricalPosteriorSampler`: a Dirichlet posterior over the value of each code position.

The model treats positions as independent categorical variables (for a cell space: the op on each
edge) and asks which values good architectures use. Every observation votes for the values it
contains, with a weight that grows with how good it is; the votes are Dirichlet pseudo-counts on
top of a uniform prior. Sampling is Thompson sampling: draw per-position probabilities from the
Dirichlet posterior, then values from those probabilities, then project the codes onto a valid
architecture.

Weights. An observation of rank-based normal score `z` (see `codes.normal_scores`: robust to
failed architectures and to the objective's scale) gets weight `exp(z / temperature)`; the weights
are rescaled so that each observation contributes `evidence` counts on average. A low temperature
concentrates the posterior on the values of the very best cells; a high one approaches plain
frequencies. With one Dirichlet draw per architecture the samples follow the posterior mean
exactly (a Dirichlet-categorical draw marginalises to the mean), so `archs_per_draw > 1` is what
makes draws differ from one another in a correlated, Thompson-like way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from surrogate.limits import check_maxima
from surrogate.samplers.base import Sampler
from surrogate.samplers.codes import (
    codes_matrix,
    draw_codes,
    finite_observations,
    normal_scores,
    project,
)
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation

A = TypeVar("A")


CATEGORICAL_MAXIMA: dict[str, float] = {
    "archs_per_draw": 1000,
    "max_tries": 1000,
}
"""Largest accepted value of each count of `CategoricalOptions` (docs/limits.md)."""


@dataclass(frozen=True)
class CategoricalOptions:
    """Prior and weighting of the categorical posterior.

    Attributes:
        prior: Dirichlet pseudo-count of every value before any observation (1 = uniform).
        temperature: Softmax temperature on the normal scores of the objective.
        evidence: Average pseudo-count that one observation adds at each position.
        archs_per_draw: Architectures drawn from each Thompson sample of the probabilities.
        max_tries: Rejection rounds for invalid codes before repairing them.
    """

    prior: float = 1.0
    temperature: float = 0.5
    evidence: float = 1.0
    archs_per_draw: int = 1
    max_tries: int = 20

    def __post_init__(self) -> None:
        check_maxima("categorical", self, CATEGORICAL_MAXIMA)
        if self.prior <= 0 or self.temperature <= 0 or self.evidence < 0:
            raise ValueError(f"CategoricalOptions: prior, temperature > 0, evidence >= 0: {self}")
        if self.archs_per_draw < 1 or self.max_tries < 0:
            raise ValueError(f"CategoricalOptions: archs_per_draw >= 1, max_tries >= 0: {self}")


def observation_weights(values: np.ndarray, temperature: float, evidence: float) -> np.ndarray:
    """Weights of observations in the Dirichlet counts, shape `(n,)`, summing to `evidence * n`."""
    if values.size == 0:
        return values.astype(np.float64)
    logits = normal_scores(values) / temperature
    weights = np.exp(logits - logits.max())
    scaled: np.ndarray = weights * (evidence * values.size / weights.sum())
    return scaled


class CategoricalPosteriorSampler(Sampler[A]):
    """Thompson sampling from per-position Dirichlet posteriors fitted to weighted observations.

    Args:
        space: The search space.
        options: Prior, weighting and sampling options.
    """

    name = "categorical"

    def __init__(self, space: SearchSpace[A], options: CategoricalOptions | None = None) -> None:
        super().__init__(space)
        self.options = options or CategoricalOptions()
        self._alpha = [np.full(c, self.options.prior) for c in space.cardinalities]

    @property
    def concentrations(self) -> list[np.ndarray]:
        """Dirichlet parameters per position, each of shape `(c_p,)`."""
        return [a.copy() for a in self._alpha]

    def mean_probabilities(self) -> list[np.ndarray]:
        """Posterior-mean probabilities per position, each of shape `(c_p,)`, summing to 1."""
        return [a / a.sum() for a in self._alpha]

    def fit(self, observations: Sequence[Observation[A]], surrogate: Any | None = None) -> None:
        del surrogate
        finite = finite_observations(observations)
        alpha = [np.full(c, self.options.prior) for c in self.space.cardinalities]
        if finite:
            codes = codes_matrix(self.space, [o.arch for o in finite])
            values = np.asarray([o.value for o in finite], dtype=np.float64)
            weights = observation_weights(values, self.options.temperature, self.options.evidence)
            for position, counts in enumerate(alpha):
                counts += np.bincount(codes[:, position], weights=weights, minlength=counts.size)
        self._alpha = alpha

    def log_prob(self, arch: A) -> float:
        """Log probability of the codes of `arch` under the posterior-mean distribution.

        The product of per-position categoricals is normalised over all code vectors, so for a
        space whose codes are in one-to-one correspondence with its architectures (cell spaces
        such as NAS-Bench-201, macro spaces) the probabilities of all architectures sum to 1.
        For spaces with invalid codes it is the probability before projection.
        """
        codes = self.space.to_codes(arch)
        return float(sum(np.log(a[c] / a.sum()) for a, c in zip(self._alpha, codes, strict=True)))

    def sample(self, n: int, rng: np.random.Generator) -> list[A]:
        if n <= 0:
            return []

        def redraw(m: int) -> np.ndarray:
            return self._draw(m, rng)

        return project(self.space, redraw(n), rng, redraw, self.options.max_tries)

    def _draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Codes of `n` Thompson draws, shape `(n, d)`."""
        per_draw = self.options.archs_per_draw
        groups = -(-n // per_draw)
        probs = [
            np.repeat(rng.dirichlet(a, size=groups), per_draw, axis=0)[:n] for a in self._alpha
        ]
        return draw_codes(probs, n, rng)

    def state_dict(self) -> dict[str, Any]:
        return {"options": asdict(self.options), "alpha": [a.tolist() for a in self._alpha]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        alpha = [np.asarray(a, dtype=np.float64) for a in state["alpha"]]
        if [a.size for a in alpha] != list(self.space.cardinalities):
            raise ValueError(
                f"state has {[a.size for a in alpha]} values per position, the space "
                f"{self.space.name!r} has {list(self.space.cardinalities)}"
            )
        self.options = CategoricalOptions(**state["options"])
        self._alpha = alpha
