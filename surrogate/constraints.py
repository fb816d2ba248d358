"""Constraints that steer the proposals: pool filtering for analytic metrics, modelled
feasibility for measured ones.

A constraint bounds one metric (`MetricConstraint`: `min <= value <= max`). What the proposer
can do with it depends on when the metric is known:

* An *analytic* metric (parameters or FLOPs, computed from the architecture alone by a
  `CostFn`) is known before anything is trained, so `PoolFilter` removes every infeasible
  candidate from the pool (and from every sampler's draws and related-batch walks) before
  acquisition: an infeasible architecture is never proposed.
* A *measured* metric (latency on a device, read from a table or timed by a worker) is known only
  after evaluation. `fit_feasibility` fits a second surrogate to the observed values (the
  `Observation.metrics` of each result) and `FeasibilityModel` gives its Gaussian posterior on
  the metric; the acquisition then weighs each candidate by its probability of feasibility, as
  BoTorch's constrained acquisitions do: the objective and the metrics form one `ModelList`
  whose joint Monte Carlo samples feed qLogEI/qLogNEI's `constraints=` callables (feasible when
  `<= 0`), the same callables weighing qUCB's samples (`FeasibleUpperConfidenceBound`), and a
  feasibility draw beside each function draw for Thompson sampling. Pending points and the
  members already chosen join each candidate's joint batch, so the batch's feasibility is
  judged together.

The feasibility model is, by default, its own GCN + Bayesian linear regression (`"gcn"`), fitted
by the project's `fit_surrogate` on the standardised metric: the objective's GCN is trained to
rank accuracy and may discard exactly the features a latency depends on (a pooling op and a skip
connection cost the same accuracy-wise, not latency-wise). `"head"` instead fits a second
regression on the objective GCN's embedding, at the cost of one linear solve instead of a GCN
fit, for metrics the accuracy embedding already explains.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.logei import qLogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.acquisition.monte_carlo import (
    SampleReducingMCAcquisitionFunction,
    qUpperConfidenceBound,
)
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.ensemble import EnsembleModel
from botorch.models.model import Model, ModelList
from botorch.sampling.base import MCSampler
from botorch.sampling.index_sampler import IndexSampler
from botorch.sampling.list_sampler import ListSampler
from botorch.sampling.normal import SobolQMCNormalSampler
from torch import Tensor

from surrogate.acquisition import (
    AcquisitionOptions,
    AllowedFn,
    Selection,
    _nei_baseline,
    function_samples,
)
from surrogate.gcn import GCNRegressor, GraphFeaturizer
from surrogate.models.blr import BlrSurrogate, fit_blr
from surrogate.models.fit import FitOptions, Surrogate, fit_surrogate, load_surrogate
from surrogate.models.targets import TargetTransform
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation

A = TypeVar("A")

CostFn = Callable[[Any], Mapping[str, float]]
"""`cost_of(arch) -> {metric: value}`: analytic metrics of an architecture, computed without
training (for example `params` and `flops`)."""

FeasibilityKind = Literal["gcn", "head"]


@dataclass(frozen=True)
class MetricConstraint:
    """`min <= metrics[metric] <= max` (either bound may be absent, not both).

    Attributes:
        metric: The metric's name (an analytic cost or a reported measurement).
        min: Smallest allowed value (inclusive), or None.
        max: Largest allowed value (inclusive), or None.
    """

    metric: str
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ValueError(f"constraint on {self.metric!r} needs min, max or both")
        for bound in (self.min, self.max):
            if bound is not None and not math.isfinite(bound):
                raise ValueError(f"constraint bounds on {self.metric!r} must be finite")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"constraint on {self.metric!r}: min {self.min} > max {self.max}")

    def admits(self, value: float) -> bool:
        """Whether `value` is finite and within the bounds."""
        if not math.isfinite(value):
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def satisfied_by(self, metrics: Mapping[str, float]) -> bool:
        """Whether `metrics` meet this constraint (a missing metric does not)."""
        value = metrics.get(self.metric)
        return value is not None and self.admits(float(value))


def analytic_metrics(space: SearchSpace[Any], cost_of: CostFn | None) -> frozenset[str]:
    """The metrics `cost_of` computes (read off one architecture of `space`)."""
    if cost_of is None:
        return frozenset()
    probe = space.sample(np.random.default_rng(0))
    return frozenset(cost_of(probe))


# --- analytic constraints: the pool filter ------------------------------------------------------


class PoolFilter(Generic[A]):
    """Which architectures meet every analytic constraint (each key's answer cached).

    Args:
        space: The search space (for keys).
        constraints: Constraints on metrics that `cost_of` computes.
        cost_of: The analytic metrics of an architecture (None: no constraint can apply).
    """

    def __init__(
        self,
        space: SearchSpace[A],
        constraints: Sequence[MetricConstraint] = (),
        cost_of: CostFn | None = None,
    ) -> None:
        if constraints and cost_of is None:
            raise ValueError("analytic constraints need a cost function")
        self.space = space
        self.constraints = tuple(constraints)
        self.cost_of = cost_of
        self._known: dict[str, bool] = {}

    @property
    def active(self) -> bool:
        return bool(self.constraints)

    def feasible(self, arch: A) -> bool:
        """Whether `arch` meets every analytic constraint."""
        if not self.constraints:
            return True
        key = self.space.key(arch)
        answer = self._known.get(key)
        if answer is None:
            assert self.cost_of is not None
            costs = self.cost_of(arch)
            answer = all(c.satisfied_by(costs) for c in self.constraints)
            self._known[key] = answer
        return answer


# --- measured constraints: the feasibility model ------------------------------------------------


@dataclass(frozen=True)
class ConstraintOptions:
    """How constraints steer `BonasStrategy`.

    Attributes:
        feasibility_model: `"gcn"`: a GCN + BLR of its own per measured metric (the
            strategy's fit options on a standardised target); `"head"`: a second regression on
            the objective GCN's embedding (see the module docstring).
        fit: Fit options of the `"gcn"` model (None: the strategy's, with a standardised,
            unweighted target).
        min_observations: Observations with the metric needed before it is modelled; until
            then the constraint does not steer.
        eta: Temperature of BoTorch's smoothed feasibility indicator, on the metric's
            standardised scale.
    """

    feasibility_model: FeasibilityKind = "gcn"
    fit: FitOptions | None = None
    min_observations: int = 3
    eta: float = 1e-3

    def __post_init__(self) -> None:
        if isinstance(self.fit, dict):
            object.__setattr__(self, "fit", FitOptions(**self.fit))
        if self.feasibility_model not in ("gcn", "head"):
            raise ValueError(
                f"unknown feasibility_model {self.feasibility_model!r}; accepted: gcn, head"
            )
        if self.min_observations < 2 or self.eta <= 0:
            raise ValueError(f"min_observations must be >= 2 and eta > 0, got {self}")


@dataclass(frozen=True)
class FeasibilityModel:
    """The posterior of one measured metric and its constraint's bounds on the model's scale.

    Attributes:
        constraint: The constraint.
        model: A surrogate of the metric (larger `z`, larger metric: the transform is monotone).
        lower, upper: The constraint's bounds mapped to the model's internal scale (None where
            the constraint has none).
    """

    constraint: MetricConstraint
    model: BlrSurrogate
    lower: float | None
    upper: float | None

    def outcome_constraints(self, output: int) -> list[Callable[[Tensor], Tensor]]:
        """BoTorch constraint callables on output `output` of joint samples (`<= 0`: met)."""
        found: list[Callable[[Tensor], Tensor]] = []
        if self.upper is not None:
            upper = self.upper
            found.append(lambda Y: Y[..., output] - upper)
        if self.lower is not None:
            lower = self.lower
            found.append(lambda Y: lower - Y[..., output])
        return found

    def probability(self, X: Tensor, observation_noise: bool = True) -> Tensor:
        """`P(lower <= metric <= upper)` of each `(n, d)` code row under the Gaussian posterior."""
        mean, var = self.model.moments_from_features(self.model.embed(X), observation_noise)
        std = var.clamp(min=1e-12).sqrt()
        above = torch.special.ndtr((self.upper - mean) / std) if self.upper is not None else 1.0
        below = torch.special.ndtr((self.lower - mean) / std) if self.lower is not None else 0.0
        return torch.as_tensor(above - below).clamp(min=0.0, max=1.0)

    def violation(self, samples: Tensor) -> Tensor:
        """How far samples on the model's scale lie outside the bounds (0 inside)."""
        out = torch.zeros_like(samples)
        if self.upper is not None:
            out = out + (samples - self.upper).clamp(min=0)
        if self.lower is not None:
            out = out + (self.lower - samples).clamp(min=0)
        return out


def metric_values(
    observations: Sequence[Observation[A]], metric: str
) -> tuple[list[A], list[float]]:
    """The architectures whose observation carries a finite `metric`, and its values."""
    archs: list[A] = []
    values: list[float] = []
    for o in observations:
        value = o.metrics.get(metric)
        if value is not None and math.isfinite(float(value)):
            archs.append(o.arch)
            values.append(float(value))
    return archs, values


def fit_feasibility(
    space: SearchSpace[A],
    observations: Sequence[Observation[A]],
    constraint: MetricConstraint,
    options: ConstraintOptions,
    base_fit: FitOptions,
    *,
    objective_model: Surrogate | None = None,
    previous: FeasibilityModel | None = None,
    featurizer: GraphFeaturizer | None = None,
    seed: int = 0,
) -> FeasibilityModel | None:
    """A model of `constraint.metric` fitted to the observations that report it.

    Returns None while fewer than `options.min_observations` report it, or (`"head"`) when
    the objective model has no GCN embedding to share.
    """
    archs, values = metric_values(observations, constraint.metric)
    if len(archs) < options.min_observations:
        return None
    model: BlrSurrogate | None
    if options.feasibility_model == "head":
        model = _fit_head(space, archs, values, objective_model)
    else:
        fit = options.fit or dataclasses.replace(
            base_fit, model="blr", target="standardize", weighted_loss=False
        )
        warm = previous.model if previous is not None else None
        fitted, _ = fit_surrogate(
            space, archs, values, fit, previous=warm, featurizer=featurizer, seed=seed
        )
        model = fitted if isinstance(fitted, BlrSurrogate) else None
    if model is None:
        return None
    return FeasibilityModel(
        constraint,
        model,
        _on_scale(model.transform, constraint.min),
        _on_scale(model.transform, constraint.max),
    )


def _fit_head(
    space: SearchSpace[A],
    archs: Sequence[A],
    values: Sequence[float],
    objective_model: Surrogate | None,
) -> BlrSurrogate | None:
    """A second Bayesian linear regression on the objective model's GCN embedding."""
    if not isinstance(objective_model, BlrSurrogate):
        return None
    y = torch.tensor(values, dtype=torch.float64)
    transform = TargetTransform.fit(y, "standardize")
    Phi = objective_model.embed(space.encode_many(list(archs)))
    if not objective_model.blr.intercept:  # the head has its own intercept (a metric's offset)
        Phi = torch.cat([Phi, torch.ones_like(Phi[..., :1])], dim=-1)
    blr = fit_blr(Phi, transform.forward(y), intercept=True)
    return BlrSurrogate(
        objective_model.featurizer,
        [r for r in objective_model.regressors if isinstance(r, GCNRegressor)],
        blr,
        transform,
    )


def _on_scale(transform: TargetTransform, bound: float | None) -> float | None:
    if bound is None:
        return None
    return float(transform.forward(torch.tensor([bound], dtype=torch.float64))[0])


def probability_of_feasibility(models: Sequence[FeasibilityModel], X: Tensor) -> Tensor:
    """Product over `models` of each `(n, d)` row's probability of feasibility (`(n,)`)."""
    p = torch.ones(X.shape[0], dtype=torch.float64)
    for feasibility in models:
        p = p * feasibility.probability(X)
    return p


def observed_feasible(
    observations: Sequence[Observation[A]], constraints: Sequence[MetricConstraint]
) -> list[bool]:
    """Whether each observation met every constraint (a missing metric does not)."""
    return [all(c.satisfied_by(o.metrics) for c in constraints) for o in observations]


# --- constrained acquisition ------------------------------------------------------------------


def _objective_output(Y: Tensor, X: Tensor | None = None) -> Tensor:
    """Output 0 of the joint samples: the objective."""
    return Y[..., 0]


class FeasibleUpperConfidenceBound(qUpperConfidenceBound):
    """qUCB whose per-sample values, shifted to be positive, are weighted by each joint sample's
    smoothed feasibility before the maximum over the batch and the mean over samples.

    `ConstrainedMCObjective` under qUCB would instead put the infeasible cost inside the
    `|Y - mean|` bonus, so that a candidate of uncertain feasibility earns a large *bonus* for
    it: optimism about the constraint. Here feasibility only ever lowers a candidate's value,
    as in BoTorch's constrained qLogEI.

    Args:
        model: The joint model (objective first).
        beta: UCB's `beta`.
        sampler: The joint sampler.
        constraints: BoTorch constraint callables on the joint samples (`<= 0`: met).
        eta: Temperature of the smoothed indicator.
        shift: Added to every UCB sample (clamped at 0) so that weighting by feasibility
            lowers it; a bound on how far below zero the samples reach.
    """

    def __init__(
        self,
        model: Model,
        beta: float,
        sampler: MCSampler,
        constraints: list[Callable[[Tensor], Tensor]],
        eta: float,
        shift: float,
    ) -> None:
        SampleReducingMCAcquisitionFunction.__init__(
            self,
            model=model,
            sampler=sampler,
            objective=GenericMCObjective(_objective_output),
            constraints=constraints,
            eta=eta,
        )
        self.beta_prime = self._get_beta_prime(beta=beta)
        self.shift = shift

    def _sample_forward(self, obj: Tensor) -> Tensor:
        shifted: Tensor = (super()._sample_forward(obj) + self.shift).clamp(min=0.0)
        return shifted


def build_constrained_acquisition(
    model: Surrogate,
    feasibility: Sequence[FeasibilityModel],
    options: AcquisitionOptions,
    X_observed: Tensor,
    z_observed: Tensor,
    feasible_observed: Tensor,
    X_pending: Tensor | None = None,
    seed: int = 0,
    eta: float = 1e-3,
) -> AcquisitionFunction:
    """The acquisition of `options` weighted by the probability of feasibility.

    Output 0 of the joint model is the objective, output `i + 1` the metric of
    `feasibility[i]`; each sample's feasibility is BoTorch's smoothed indicator of its
    constraint callables.

    Args:
        model: The objective's surrogate.
        feasibility: One fitted model per measured constraint (not empty).
        options: Which acquisition (`"ucb"`, `"logei"` or `"lognei"`).
        X_observed: `(n, d)` codes of the observations.
        z_observed: `(n,)` their objective on the surrogate's internal scale.
        feasible_observed: `(n,)` bool, whether each observation met the constraints (qLogEI's
            incumbent is the best feasible one).
        X_pending: `(p, d)` codes in flight, or None.
        seed: Seed of the quasi-MC base samples.
        eta: Temperature of the smoothed feasibility indicator.
    """
    joint = ModelList(model, *(f.model for f in feasibility))
    shape = torch.Size([options.mc_samples])
    first: MCSampler = (  # an ensemble's samples are draws of members, not normal deviates
        IndexSampler(sample_shape=shape, seed=seed)
        if isinstance(model, EnsembleModel)
        else SobolQMCNormalSampler(sample_shape=shape, seed=seed)
    )
    sampler = ListSampler(
        first,
        *(
            SobolQMCNormalSampler(sample_shape=shape, seed=seed + i + 1)
            for i in range(len(feasibility))
        ),
    )
    constraints = [c for i, f in enumerate(feasibility) for c in f.outcome_constraints(i + 1)]
    pending = X_pending if X_pending is not None and X_pending.shape[0] > 0 else None
    acqf: AcquisitionFunction
    if options.name == "ucb":
        floor = (
            float(z_observed.min()) - 6.0 * float(z_observed.std())
            if z_observed.numel() > 1
            else -6.0
        )
        acqf = FeasibleUpperConfidenceBound(
            joint, options.ucb_beta, sampler, constraints, eta, shift=max(0.0, -floor)
        )
    elif options.name == "logei":
        feasible_z = z_observed[feasible_observed]
        best = feasible_z.max() if feasible_z.numel() else z_observed.min()
        acqf = qLogExpectedImprovement(
            joint,
            best_f=float(best),
            sampler=sampler,
            objective=GenericMCObjective(_objective_output),
            constraints=constraints,
            eta=eta,
        )
    elif options.name == "lognei":
        acqf = qLogNoisyExpectedImprovement(
            joint,
            X_baseline=_nei_baseline(model, X_observed, options.nei_baseline),
            sampler=sampler,
            objective=GenericMCObjective(_objective_output),
            constraints=constraints,
            eta=eta,
            prune_baseline=True,
            cache_root=False,
            incremental=False,
        )
    else:
        raise ValueError(f"{options.name!r} has no constrained BoTorch acquisition here")
    if pending is not None:
        acqf.set_X_pending(pending)
    return acqf


def constrained_thompson_select(
    model: Surrogate,
    feasibility: Sequence[FeasibilityModel],
    choices: Tensor,
    k: int,
    generator: torch.Generator,
    allowed: AllowedFn | None = None,
) -> Selection:
    """Constrained Thompson sampling: member `j` maximises the `j`-th objective draw among
    the choices whose `j`-th metric draws meet every bound; when no choice does, the one whose
    draws break them least (as in SCBO)."""
    n = choices.shape[0]
    k = min(k, n)
    if k == 0:
        return Selection([], [])
    samples = function_samples(model, choices, k, generator)
    violation = torch.zeros_like(samples)
    for f in feasibility:
        violation = violation + f.violation(function_samples(f.model, choices, k, generator))
    available = torch.ones(n, dtype=torch.bool)
    chosen: list[int] = []
    values: list[float] = []
    inf = torch.tensor(float("inf"), dtype=samples.dtype)
    for j in range(k):
        mask = available if allowed is None else available & allowed(chosen)
        if not bool(mask.any()):
            break
        feasible = mask & (violation[j] <= 0)
        if bool(feasible.any()):
            index = int(torch.argmax(torch.where(feasible, samples[j], -inf)))
        else:
            index = int(torch.argmin(torch.where(mask, violation[j], inf)))
        chosen.append(index)
        values.append(float(samples[j, index]))
        available[index] = False
    return Selection(chosen, values)


# --- what the strategy holds ------------------------------------------------------------------


class ConstraintSet(Generic[A]):
    """A strategy's constraints, split by when their metric is known.

    Args:
        space: The search space.
        constraints: Every constraint of the search.
        cost_of: Analytic metrics of an architecture; a constraint on a metric it computes
            filters the pool, any other constraint is modelled from the observations.
        options: How measured constraints are modelled.
    """

    def __init__(
        self,
        space: SearchSpace[A],
        constraints: Sequence[MetricConstraint] = (),
        cost_of: CostFn | None = None,
        options: ConstraintOptions | None = None,
    ) -> None:
        metrics = [c.metric for c in constraints]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"one constraint per metric, got {metrics}")
        self.space = space
        self.options = options or ConstraintOptions()
        self.all = tuple(constraints)
        known = analytic_metrics(space, cost_of) if constraints else frozenset()
        self.analytic = tuple(c for c in constraints if c.metric in known)
        self.measured = tuple(c for c in constraints if c.metric not in known)
        self.pool_filter: PoolFilter[A] = PoolFilter(space, self.analytic, cost_of)
        self.models: dict[str, FeasibilityModel] = {}

    def fit(
        self,
        observations: Sequence[Observation[A]],
        objective_model: Surrogate,
        base_fit: FitOptions,
        featurizer: GraphFeaturizer,
        seed: int,
        warm: bool = True,
    ) -> list[FeasibilityModel]:
        """Refit the model of every measured constraint that has enough observations
        (`warm`: from the previous round's GCN, as the objective's refit did)."""
        fitted: dict[str, FeasibilityModel] = {}
        for i, constraint in enumerate(self.measured):
            model = fit_feasibility(
                self.space,
                observations,
                constraint,
                self.options,
                base_fit,
                objective_model=objective_model,
                previous=self.models.get(constraint.metric) if warm else None,
                featurizer=featurizer,
                seed=seed + 1000 * (i + 1),
            )
            if model is not None:
                fitted[constraint.metric] = model
        self.models = fitted
        return list(fitted.values())

    def state_dict(self) -> dict[str, Any]:
        return {
            metric: {
                "model": f.model.to_state(),
                "lower": f.lower,
                "upper": f.upper,
                "head": self.options.feasibility_model == "head",
            }
            for metric, f in self.models.items()
        }

    def load_state_dict(self, state: dict[str, Any], featurizer: GraphFeaturizer) -> None:
        by_metric = {c.metric: c for c in self.measured}
        models: dict[str, FeasibilityModel] = {}
        for metric, entry in state.items():
            constraint = by_metric.get(metric)
            model = load_surrogate(featurizer, entry["model"])
            if constraint is not None and isinstance(model, BlrSurrogate):
                models[metric] = FeasibilityModel(constraint, model, entry["lower"], entry["upper"])
        self.models = models
