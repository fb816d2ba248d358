"""`AdditiveThompsonSampler`: Thompson sampling from a Bayesian additive model of the objective.

The objective is modelled as a sum of one effect per `(position, value)` (for a cell space: per
edge and op), optionally plus one per pair of positions and their values:

    y = sum_p w[p, code_p] + sum_{p<q} w[p, q, code_p, code_q] + noise,

a Bayesian linear regression on one-hot features with an isotropic Gaussian prior of precision
`alpha` on the effects and Gaussian noise of precision `beta`, both set by evidence maximisation
(MacKay's fixed-point updates, as in BONAS's own regression head). Each sample draws one set of
effects from the posterior and returns the architecture that maximises it: the per-position
argmax when the model is additive and that argmax is valid, coordinate ascent over valid
architectures otherwise. Draws are independent, so a batch is diverse where the posterior is
uncertain and concentrated where it is not. Exact, fast and interpretable.

Targets are the rank-based normal scores of the objective by default (`codes.normal_scores`), so
that failed architectures do not dominate a linear fit; `target="standardise"` uses the
standardised values instead.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from surrogate.limits import check_maxima
from surrogate.samplers.base import Sampler
from surrogate.samplers.codes import (
    arch_or_none,
    codes_matrix,
    coordinate_ascent,
    feature_offsets,
    finite_observations,
    normal_scores,
    one_hot,
    repair,
)
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation

A = TypeVar("A")

_CHUNK = 1024
"""Coefficient draws materialised at once (bounds memory when there are many features)."""


ADDITIVE_MAXIMA: dict[str, float] = {
    "max_features": 100000,
    "max_iterations": 10000,
    "restarts": 100,
}
"""Largest accepted value of each count of `AdditiveOptions` (docs/limits.md)."""


@dataclass(frozen=True)
class AdditiveOptions:
    """Model and fitting options of `AdditiveThompsonSampler`.

    Attributes:
        pairwise: Add one effect per pair of positions and pair of values.
        target: `"rank"` (normal scores of the ranks) or `"standardise"`.
        max_features: Refuse models with more one-hot features than this (pairwise terms grow
            with the square of the code width).
        max_iterations: Evidence-maximisation iterations.
        restarts: Coordinate ascents (from different repairs) per draw whose unconstrained
            argmax is invalid.
    """

    pairwise: bool = False
    target: Literal["rank", "standardise"] = "rank"
    max_features: int = 5000
    max_iterations: int = 200
    restarts: int = 4

    def __post_init__(self) -> None:
        check_maxima("additive", self, ADDITIVE_MAXIMA)
        if self.target not in ("rank", "standardise"):
            raise ValueError(
                f"AdditiveOptions.target is 'rank' or 'standardise', not {self.target!r}"
            )
        if self.max_features < 1 or self.max_iterations < 1 or self.restarts < 1:
            raise ValueError(
                f"AdditiveOptions: max_features, max_iterations, restarts >= 1: {self}"
            )


def regression_targets(values: np.ndarray, target: str) -> np.ndarray:
    """Centred regression targets, shape `(n,)`: normal scores or standardised values."""
    if values.size == 0:
        return values.astype(np.float64)
    if target == "rank":
        y = normal_scores(values)
    else:
        spread = values.std()
        y = (values - values.mean()) / (spread if spread > 0 else 1.0)
    centred: np.ndarray = y - y.mean()
    return centred


class _Features:
    """One-hot and (optionally) pairwise one-hot features of codes."""

    def __init__(self, cardinalities: Sequence[int], pairwise: bool) -> None:
        self.cardinalities = tuple(int(c) for c in cardinalities)
        self.offsets = feature_offsets(self.cardinalities)
        self.pairs = (
            list(itertools.combinations(range(len(self.cardinalities)), 2)) if pairwise else []
        )
        sizes = [self.cardinalities[p] * self.cardinalities[q] for p, q in self.pairs]
        self.pair_offsets = int(self.offsets[-1]) + feature_offsets(sizes)
        self.width = int(self.pair_offsets[-1])

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        """Features of shape `(n, width)` for codes of shape `(n, d)`."""
        unary = one_hot(codes, self.cardinalities)
        if not self.pairs:
            return unary
        pair = np.zeros((codes.shape[0], self.width - unary.shape[1]))
        rows = np.arange(codes.shape[0])
        base = int(self.offsets[-1])
        for k, (p, q) in enumerate(self.pairs):
            column = self.pair_offsets[k] - base + codes[:, p] * self.cardinalities[q] + codes[:, q]
            pair[rows, column] = 1.0
        return np.concatenate([unary, pair], axis=1)

    def score(self, w: np.ndarray, codes: Sequence[int]) -> float:
        """The model's value of one code vector under coefficients `w` of shape `(width,)`."""
        total = sum(float(w[self.offsets[p] + c]) for p, c in enumerate(codes))
        for k, (p, q) in enumerate(self.pairs):
            total += float(w[self.pair_offsets[k] + codes[p] * self.cardinalities[q] + codes[q]])
        return total


def _evidence_maximisation(
    X: np.ndarray, y: np.ndarray, max_iterations: int
) -> tuple[float, float]:
    """Prior precision `alpha` and noise precision `beta` maximising the marginal likelihood."""
    eigenvalues, vectors = np.linalg.eigh(X.T @ X)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    projected = vectors.T @ (X.T @ y)
    n = y.size
    alpha, beta = 1.0, 1.0
    for _ in range(max_iterations):
        scaled = beta * eigenvalues
        mean_in_basis = beta * projected / (alpha + scaled)
        gamma = float(np.sum(scaled / (alpha + scaled)))
        residual = float(np.sum((y - X @ (vectors @ mean_in_basis)) ** 2))
        new_alpha = gamma / max(float(np.sum(mean_in_basis**2)), 1e-12)
        new_beta = max(n - gamma, 1e-6) / max(residual, 1e-12)
        new_alpha, new_beta = min(max(new_alpha, 1e-6), 1e6), min(max(new_beta, 1e-6), 1e6)
        converged = abs(np.log(new_alpha / alpha)) < 1e-6 and abs(np.log(new_beta / beta)) < 1e-6
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    return alpha, beta


class AdditiveThompsonSampler(Sampler[A]):
    """Draws effects from a Bayesian additive model and returns each draw's best architecture.

    Args:
        space: The search space.
        options: Model and fitting options.

    Raises:
        ValueError: The model would have more than `options.max_features` features.
    """

    name = "additive"

    def __init__(self, space: SearchSpace[A], options: AdditiveOptions | None = None) -> None:
        super().__init__(space)
        self.options = options or AdditiveOptions()
        self._features = _Features(space.cardinalities, self.options.pairwise)
        if self._features.width > self.options.max_features:
            raise ValueError(
                f"the additive model of space {space.name!r} would have {self._features.width} "
                f"features, more than max_features={self.options.max_features}; disable pairwise "
                "terms or raise the limit"
            )
        self._codes = np.zeros((0, len(space.cardinalities)), dtype=np.int64)
        self._values = np.zeros(0)
        self.alpha, self.beta = 1.0, 1.0
        self._posterior()

    def fit(self, observations: Sequence[Observation[A]], surrogate: Any | None = None) -> None:
        del surrogate
        finite = finite_observations(observations)
        self._codes = codes_matrix(self.space, [o.arch for o in finite])
        self._values = np.asarray([o.value for o in finite], dtype=np.float64)
        if finite:
            X = self._features(self._codes)
            y = regression_targets(self._values, self.options.target)
            self.alpha, self.beta = _evidence_maximisation(X, y, self.options.max_iterations)
        else:
            self.alpha, self.beta = 1.0, 1.0
        self._posterior()

    def _posterior(self) -> None:
        """Posterior mean, shape `(width,)`, and a factor `L` of the covariance `L @ L.T`."""
        width = self._features.width
        if self._codes.shape[0] == 0:
            self._mean = np.zeros(width)
            self._factor = np.eye(width) / np.sqrt(self.alpha)
            return
        X = self._features(self._codes)
        y = regression_targets(self._values, self.options.target)
        eigenvalues, vectors = np.linalg.eigh(X.T @ X)
        precision = self.alpha + self.beta * np.clip(eigenvalues, 0.0, None)
        self._mean = vectors @ (self.beta * (vectors.T @ (X.T @ y)) / precision)
        self._factor = vectors / np.sqrt(precision)

    def effects(self) -> list[np.ndarray]:
        """Posterior-mean effect of each value, per position (shape `(c_p,)`), target scale."""
        offsets = self._features.offsets
        return [self._mean[offsets[p] : offsets[p + 1]].copy() for p in range(len(offsets) - 1)]

    def sample(self, n: int, rng: np.random.Generator) -> list[A]:
        result: list[A] = []
        for start in range(0, n, _CHUNK):
            size = min(_CHUNK, n - start)
            W = self._mean + rng.standard_normal((size, self._features.width)) @ self._factor.T
            result.extend(self._maximise(W, rng))
        return result

    def _maximise(self, W: np.ndarray, rng: np.random.Generator) -> list[A]:
        """Best valid architecture under each row of coefficients `W` of shape `(m, width)`."""
        features = self._features
        codes = np.stack(
            [
                np.argmax(W[:, features.offsets[p] : features.offsets[p + 1]], axis=1)
                for p in range(len(features.cardinalities))
            ],
            axis=1,
        )
        if features.pairs:
            codes = self._pairwise_ascent(W, codes)
        result: list[A] = []
        for row, w in zip(codes, W, strict=True):
            arch = arch_or_none(self.space, row)
            if arch is None:
                arch = self._constrained_argmax(row, w, rng)
            result.append(arch)
        return result

    def _constrained_argmax(self, codes: np.ndarray, w: np.ndarray, rng: np.random.Generator) -> A:
        """Best of `options.restarts` coordinate ascents over valid architectures under `w`.

        Each ascent starts from a different random repair of the (invalid) unconstrained argmax
        `codes`, since one ascent can stop at a local optimum of the constrained problem.
        """
        score = functools.partial(self._features.score, w)
        best: A | None = None
        best_score = -np.inf
        for _ in range(self.options.restarts):
            start = self.space.to_codes(repair(self.space, codes, rng))
            arch = coordinate_ascent(self.space, start, score)
            value = score(self.space.to_codes(arch))
            if value > best_score:
                best, best_score = arch, value
        assert best is not None
        return best

    def _pairwise_ascent(
        self, W: np.ndarray, codes: np.ndarray, max_sweeps: int = 20
    ) -> np.ndarray:
        """Vectorised coordinate ascent of the pairwise model over all rows at once."""
        features = self._features
        rows = np.arange(W.shape[0])[:, None]
        codes = codes.copy()
        for _ in range(max_sweeps):
            changed = False
            for p, c_p in enumerate(features.cardinalities):
                total = W[:, features.offsets[p] : features.offsets[p + 1]].copy()
                for k, (i, j) in enumerate(features.pairs):
                    if p == i:
                        columns = (
                            features.pair_offsets[k]
                            + np.arange(c_p)[None, :] * features.cardinalities[j]
                            + codes[:, j : j + 1]
                        )
                    elif p == j:
                        columns = (
                            features.pair_offsets[k]
                            + codes[:, i : i + 1] * c_p
                            + np.arange(c_p)[None, :]
                        )
                    else:
                        continue
                    total += W[rows, columns]
                best = np.argmax(total, axis=1)
                current = total[rows[:, 0], codes[:, p]]
                improve = total[rows[:, 0], best] > current + 1e-12
                if improve.any():
                    codes[improve, p] = best[improve]
                    changed = True
            if not changed:
                break
        return codes

    def state_dict(self) -> dict[str, Any]:
        return {
            "options": asdict(self.options),
            "codes": self._codes.tolist(),
            "values": self._values.tolist(),
            "alpha": self.alpha,
            "beta": self.beta,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the fitted model (the posterior is recomputed from the stored data)."""
        self.options = AdditiveOptions(**state["options"])
        self._features = _Features(self.space.cardinalities, self.options.pairwise)
        width = len(self.space.cardinalities)
        self._codes = np.asarray(state["codes"], dtype=np.int64).reshape(-1, width)
        self._values = np.asarray(state["values"], dtype=np.float64)
        self.alpha, self.beta = float(state["alpha"]), float(state["beta"])
        self._posterior()
