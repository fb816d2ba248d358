"""`ArdPruner`: a relevance (ARD) regression that prunes values, in the spirit of BayesNAS.

BayesNAS puts a switch on every (edge, op) and a parent switch on every edge, each with a
Gaussian prior whose variance (relevance) is learned; a child's relevance is combined with its
parent's, so an irrelevant edge takes its ops with it. Here the same hierarchy is fitted to the
table of observations instead of a super-network:

    y = sum_p w[p, code_p] + noise,   w[p, v] ~ N(0, g_p * h_pv),   h_pv ~ Gamma(a, a),

a regression on centred one-hot `(position, value)` features where the prior variance of a value's
effect is its position's group relevance `g_p` times its own relevance `h_pv`. A position whose
values do not matter is switched off as a group (`g_p -> 0`); within a relevant position, values
with no effect are switched off one by one (`h_pv -> 0`); the Gamma hyperprior (mean 1) ties each
value to its group. (A position-level one-hot feature would be constant, since every architecture
has exactly one value per position, so the position level enters through the prior, which is also
how BayesNAS's parent switch acts on its children.) The relevances are fitted by EM: the E-step is
the Gaussian posterior of the effects, the M-step updates `h`, `g` and the noise precision in
closed form.

Pruning uses the sign of the effect, not relevance alone (low relevance means "no effect", not
"bad"). A value is pruned when its effect is credibly negative (`mean + z * std < 0`: harmful),
or when ARD switched it off (nil) while another value of the same position is credibly helpful.
Every position keeps at least one value (the one with the largest mean effect). Sampling is
uniform among the values kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from surrogate.limits import check_maxima
from surrogate.samplers.additive import regression_targets
from surrogate.samplers.base import Sampler
from surrogate.samplers.codes import (
    codes_matrix,
    draw_codes,
    feature_offsets,
    finite_observations,
    one_hot,
    project,
)
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation

A = TypeVar("A")

_MIN_VARIANCE = 1e-10
"""Floor of a prior variance (a value switched off keeps a finite, tiny variance)."""


ARD_MAXIMA: dict[str, float] = {
    "min_observations": 1000000,
    "max_iterations": 10000,
    "max_tries": 1000,
}
"""Largest accepted value of each count of `ArdOptions` (docs/limits.md)."""


@dataclass(frozen=True)
class ArdOptions:
    """Fitting and pruning options of `ArdPruner`.

    Attributes:
        target: `"rank"` (normal scores of the ranks) or `"standardise"`.
        value_shape: Shape `a` of the Gamma(a, a) hyperprior on value relevances. Below 1.5 a
            value can be switched off on its own; larger values tie it more to its position.
        credible_z: Width of the credible interval on effects (1.645: one-sided 95 %).
        nil_relevance: A value is "switched off" when its relevance is below this fraction of
            the largest relevance in the model.
        prune_nil: Prune switched-off values when their position has a credibly helpful value
            (False: prune harmful values only).
        min_observations: Prune nothing until this many observations exist.
        max_iterations: EM iterations.
        tolerance: EM stops when no log relevance changes by more than this.
        max_tries: Rejection rounds for invalid codes before repairing them.
    """

    target: Literal["rank", "standardise"] = "rank"
    value_shape: float = 1.0
    credible_z: float = 1.645
    nil_relevance: float = 1e-3
    prune_nil: bool = True
    min_observations: int = 20
    max_iterations: int = 300
    tolerance: float = 1e-4
    max_tries: int = 20

    def __post_init__(self) -> None:
        check_maxima("ard", self, ARD_MAXIMA)
        if self.target not in ("rank", "standardise"):
            raise ValueError(f"ArdOptions.target is 'rank' or 'standardise', not {self.target!r}")
        if self.value_shape <= 0 or self.credible_z < 0 or self.nil_relevance < 0:
            raise ValueError(f"ArdOptions: value_shape > 0, credible_z, nil_relevance >= 0: {self}")


@dataclass(frozen=True)
class ArdFit:
    """The fitted hierarchical ARD model; arrays are indexed by one-hot column.

    Attributes:
        mean: Posterior mean effect of each value, shape `(p,)`.
        std: Posterior standard deviation of each effect, shape `(p,)`.
        relevance: Prior variance `g_p * h_pv` of each effect, shape `(p,)`.
        group_relevance: Relevance of each position, shape `(d,)`: the mean relevance of its
            values (the split of `g_p * h_pv` between its factors is only weakly identified, so
            the product is what is reported).
        noise_precision: Fitted noise precision.
    """

    mean: np.ndarray
    std: np.ndarray
    relevance: np.ndarray
    group_relevance: np.ndarray
    noise_precision: float


def fit_hierarchical_ard(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, options: ArdOptions
) -> ArdFit:
    """EM for the hierarchical ARD regression.

    Args:
        X: Centred one-hot features, shape `(n, p)`.
        y: Centred targets, shape `(n,)`.
        groups: Position of each feature column, shape `(p,)`.
        options: Hyperprior and stopping rule.
    """
    n, p = X.shape
    num_groups = int(groups.max()) + 1
    group_sizes = np.bincount(groups, minlength=num_groups)
    a = options.value_shape
    g, h = np.ones(num_groups), np.ones(p)
    variance = np.ones(p)
    beta = 1.0 / max(float(np.var(y)), 1e-6)
    gram, xty = X.T @ X, X.T @ y
    for _ in range(options.max_iterations):
        precision = np.diag(1.0 / variance) + beta * gram
        covariance = np.linalg.inv(precision)
        mean = beta * covariance @ xty
        second_moment = mean**2 + np.diag(covariance)
        for _ in range(5):
            ratio = second_moment / g[groups]
            h = ((a - 1.5) + np.sqrt((a - 1.5) ** 2 + 2.0 * a * ratio)) / (2.0 * a)
            h = np.maximum(h, _MIN_VARIANCE)
            g = np.bincount(groups, weights=second_moment / h, minlength=num_groups) / group_sizes
            g = np.maximum(g, _MIN_VARIANCE)
        residual = float(np.sum((y - X @ mean) ** 2)) + float(np.sum(gram * covariance))
        beta = n / max(residual, 1e-12)
        new_variance = np.maximum(g[groups] * h, _MIN_VARIANCE)
        change = float(np.max(np.abs(np.log(new_variance / variance))))
        variance = new_variance
        if change < options.tolerance:
            break
    precision = np.diag(1.0 / variance) + beta * gram
    covariance = np.linalg.inv(precision)
    mean = beta * covariance @ xty
    return ArdFit(
        mean=mean,
        std=np.sqrt(np.clip(np.diag(covariance), 0.0, None)),
        relevance=variance,
        group_relevance=np.bincount(groups, weights=variance, minlength=num_groups) / group_sizes,
        noise_precision=beta,
    )


class ArdPruner(Sampler[A]):
    """Samples uniformly among the values that a hierarchical ARD regression does not prune.

    Args:
        space: The search space.
        options: Fitting and pruning options.
    """

    name = "ard"

    def __init__(self, space: SearchSpace[A], options: ArdOptions | None = None) -> None:
        super().__init__(space)
        self.options = options or ArdOptions()
        self._offsets = feature_offsets(space.cardinalities)
        self._fit: ArdFit | None = None
        self._kept = [np.ones(c, dtype=bool) for c in space.cardinalities]
        self._reasons: dict[tuple[int, int], str] = {}

    def fit(self, observations: Sequence[Observation[A]], surrogate: Any | None = None) -> None:
        del surrogate
        finite = finite_observations(observations)
        self._kept = [np.ones(c, dtype=bool) for c in self.space.cardinalities]
        self._reasons = {}
        self._fit = None
        if len(finite) < max(self.options.min_observations, 2):
            return
        cardinalities = self.space.cardinalities
        X = one_hot(codes_matrix(self.space, [o.arch for o in finite]), cardinalities)
        X -= X.mean(axis=0)
        y = regression_targets(np.asarray([o.value for o in finite]), self.options.target)
        groups = np.repeat(np.arange(len(cardinalities)), cardinalities)
        self._fit = fit_hierarchical_ard(X, y, groups, self.options)
        self._decide()

    def _decide(self) -> None:
        """Set `_kept` and `_reasons` from the fitted model."""
        assert self._fit is not None
        fit, z = self._fit, self.options.credible_z
        nil_level = self.options.nil_relevance * float(fit.relevance.max())
        for position, kept in enumerate(self._kept):
            columns = slice(self._offsets[position], self._offsets[position + 1])
            mean, std, relevance = fit.mean[columns], fit.std[columns], fit.relevance[columns]
            harmful = mean + z * std < 0
            helpful = mean - z * std > 0
            nil = (relevance < nil_level) & ~helpful & helpful.any() & self.options.prune_nil
            pruned = harmful | nil
            if pruned.all():
                pruned[int(np.argmax(mean))] = False
            kept[:] = ~pruned
            for value in np.flatnonzero(pruned):
                self._reasons[(position, int(value))] = "harmful" if harmful[value] else "nil"

    def pruned_values(self) -> list[tuple[int, int]]:
        """`(position, value)` pairs currently pruned, in order."""
        return sorted(self._reasons)

    def kept_mask(self) -> list[np.ndarray]:
        """For each position, a boolean array of shape `(c_p,)`: True where the value is kept."""
        return [k.copy() for k in self._kept]

    def report(self) -> list[dict[str, Any]]:
        """One JSON-ready row per `(position, value)`: effect, its std, relevance, verdict.

        Effects are on the regression-target scale (normal scores by default) and measured
        against the values the model treats as having no effect. Empty before the first fit
        with enough observations.
        """
        if self._fit is None:
            return []
        rows = []
        for position in range(len(self._kept)):
            for value in range(len(self._kept[position])):
                column = int(self._offsets[position]) + value
                rows.append(
                    {
                        "position": position,
                        "value": value,
                        "effect": float(self._fit.mean[column]),
                        "effect_std": float(self._fit.std[column]),
                        "relevance": float(self._fit.relevance[column]),
                        "group_relevance": float(self._fit.group_relevance[position]),
                        "pruned": (position, value) in self._reasons,
                        "reason": self._reasons.get((position, value), ""),
                    }
                )
        return rows

    def sample(self, n: int, rng: np.random.Generator) -> list[A]:
        if n <= 0:
            return []
        probs = [k / k.sum() for k in self._kept]

        def redraw(m: int) -> np.ndarray:
            return draw_codes(probs, m, rng)

        return project(self.space, redraw(n), rng, redraw, self.options.max_tries)

    def state_dict(self) -> dict[str, Any]:
        fit = None
        if self._fit is not None:
            fit = {
                "mean": self._fit.mean.tolist(),
                "std": self._fit.std.tolist(),
                "relevance": self._fit.relevance.tolist(),
                "group_relevance": self._fit.group_relevance.tolist(),
                "noise_precision": self._fit.noise_precision,
            }
        return {
            "options": asdict(self.options),
            "kept": [k.tolist() for k in self._kept],
            "pruned": [[p, v, reason] for (p, v), reason in sorted(self._reasons.items())],
            "fit": fit,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        kept = [np.asarray(k, dtype=bool) for k in state["kept"]]
        if [k.size for k in kept] != list(self.space.cardinalities) or not all(
            k.any() for k in kept
        ):
            raise ValueError(
                f"state's kept values do not fit space {self.space.name!r} "
                f"(cardinalities {list(self.space.cardinalities)}) or leave a position empty"
            )
        self.options = ArdOptions(**state["options"])
        self._kept = kept
        self._reasons = {(int(p), int(v)): str(reason) for p, v, reason in state["pruned"]}
        fit = state.get("fit")
        self._fit = None
        if fit is not None:
            self._fit = ArdFit(
                mean=np.asarray(fit["mean"], dtype=np.float64),
                std=np.asarray(fit["std"], dtype=np.float64),
                relevance=np.asarray(fit["relevance"], dtype=np.float64),
                group_relevance=np.asarray(fit["group_relevance"], dtype=np.float64),
                noise_precision=float(fit["noise_precision"]),
            )
