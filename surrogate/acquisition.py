"""Scoring a discrete candidate pool with BoTorch acquisition functions and picking a batch.

The pool is a finite set of code rows, so a batch of `k` is chosen by sequential greedy
selection: each step takes the candidate that maximises the acquisition value given the members
already chosen (and the architectures running on workers) as pending points. This is
`botorch.optim.optimize_acqf_discrete`; when the members of a batch must stay within an edit
distance of one another (related batches, so that the weight-sharing super-network of a batch
stays small) the same loop runs here with the choice set shrinking after every pick.

Acquisition functions (all on the surrogate's internal target scale):

* `"ucb"`: `qUpperConfidenceBound`; for one point `mean + sqrt(beta) * std`.
* `"logei"`: `qLogExpectedImprovement` over the best observed value.
* `"lognei"`: `qLogNoisyExpectedImprovement`, baseline = the observations with the highest
  predicted means, pending points included.
* `"ts"`: Thompson sampling: batch member `j` is the argmax, over the choices left, of its own
  posterior function sample (for `BlrSurrogate` a draw of the regression weights, exact and
  cheap for any pool size; for an ensemble a randomly drawn member).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.logei import qLogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.acquisition.monte_carlo import qUpperConfidenceBound
from botorch.models.ensemble import EnsembleModel
from botorch.models.model import Model
from botorch.optim.optimize import optimize_acqf_discrete
from botorch.sampling.base import MCSampler
from botorch.sampling.index_sampler import IndexSampler
from botorch.sampling.normal import SobolQMCNormalSampler
from torch import Tensor

from surrogate.limits import check_maxima
from surrogate.models.blr import BlrSurrogate
from surrogate.models.ensemble import EnsembleSurrogate

AcquisitionName = Literal["ucb", "logei", "lognei", "ts"]
ACQUISITION_NAMES: tuple[str, ...] = get_args(AcquisitionName)

AllowedFn = Callable[[list[int]], Tensor]
"""Given the pool indices chosen so far, a `(n,)` bool mask of the choices still allowed."""


ACQUISITION_MAXIMA: dict[str, float] = {
    "mc_samples": 4096,
    "nei_baseline": 1000,
    "chunk_size": 65536,
    "prescreen": 100000,
}
"""Largest accepted value of each count of `AcquisitionOptions` (docs/limits.md)."""


@dataclass(frozen=True)
class AcquisitionOptions:
    """Which acquisition function, and how it is evaluated.

    Attributes:
        name: `"ucb"`, `"logei"`, `"lognei"` or `"ts"`.
        ucb_beta: BoTorch's UCB `beta` (the single-point bonus is `sqrt(beta) * std`; BONAS's
            `E + 0.5 std` corresponds to 0.25).
        mc_samples: Quasi-MC samples of the MC acquisition functions.
        nei_baseline: Observations (highest predicted mean first) used as qLogNEI's baseline.
        chunk_size: Choices evaluated at once (bounds memory).
        prescreen: After the first greedy step has scored every choice, later steps re-score
            only the best `prescreen` of them (None: all). For the batch criteria here (the
            expectation of a maximum over the batch) adding a point to a batch gains at most
            its value alone, so the choices left out are those whose best case already trails;
            this cuts a batch of 10 from a pool of 10,000 to one full pass.
    """

    name: AcquisitionName = "ucb"
    ucb_beta: float = 1.0
    mc_samples: int = 128
    nei_baseline: int = 20
    chunk_size: int = 2048
    prescreen: int | None = 1000

    def __post_init__(self) -> None:
        check_maxima("acquisition", self, ACQUISITION_MAXIMA)
        if self.name not in ACQUISITION_NAMES:
            raise ValueError(
                f"unknown acquisition {self.name!r}; accepted: {', '.join(ACQUISITION_NAMES)}"
            )


@dataclass(frozen=True)
class Selection:
    """A chosen batch.

    Attributes:
        indices: Positions in the pool, in the order chosen.
        values: The acquisition value of each member when it was chosen.
    """

    indices: list[int]
    values: list[float]


def build_acquisition(
    model: Model,
    options: AcquisitionOptions,
    X_observed: Tensor,
    z_observed: Tensor,
    X_pending: Tensor | None = None,
    seed: int = 0,
) -> AcquisitionFunction:
    """A BoTorch MC acquisition function for `options.name` (not `"ts"`).

    Args:
        model: The fitted surrogate.
        options: Which function and its parameters.
        X_observed: `(n, d)` codes of the observations.
        z_observed: `(n,)` their values on the surrogate's internal scale.
        X_pending: `(p, d)` codes of architectures being evaluated, or None.
        seed: Seed of the quasi-MC base samples.
    """
    shape = torch.Size([options.mc_samples])
    sampler: MCSampler
    if isinstance(model, EnsembleModel):  # samples are draws of members, not normal deviates
        sampler = IndexSampler(sample_shape=shape, seed=seed)
    else:
        sampler = SobolQMCNormalSampler(sample_shape=shape, seed=seed)
    pending = X_pending if X_pending is not None and X_pending.shape[0] > 0 else None
    acqf: AcquisitionFunction
    if options.name == "ucb":
        acqf = qUpperConfidenceBound(model, beta=options.ucb_beta, sampler=sampler)
    elif options.name == "logei":
        acqf = qLogExpectedImprovement(model, best_f=float(z_observed.max()), sampler=sampler)
    elif options.name == "lognei":
        acqf = qLogNoisyExpectedImprovement(
            model,
            X_baseline=_nei_baseline(model, X_observed, options.nei_baseline),
            sampler=sampler,
            prune_baseline=True,
            cache_root=False,
            # Pending points then join each candidate's joint batch (as in the other MC
            # functions) instead of the baseline, so sequential greedy selection can add and
            # remove them without losing the caller's.
            incremental=False,
        )
    else:
        raise ValueError(f"{options.name!r} is not a BoTorch acquisition function here")
    if pending is not None:
        acqf.set_X_pending(pending)
    return acqf


def _nei_baseline(model: Model, X_observed: Tensor, size: int) -> Tensor:
    """The `size` observations with the highest predicted means (unique rows)."""
    X: Tensor = torch.unique(X_observed, dim=0)
    if X.shape[0] <= size:
        return X
    with torch.no_grad():
        # BoTorch's `Posterior` ABC does not declare `mean`/`variance`, though every concrete
        # posterior (and BoTorch's own acquisition code) has and uses them.
        mean: Tensor = model.posterior(X.unsqueeze(-2)).mean.reshape(-1)  # type: ignore[attr-defined]
    best: Tensor = X[torch.topk(mean, size).indices]
    return best


def _score(acqf: AcquisitionFunction, choices: Tensor, chunk_size: int) -> Tensor:
    """Acquisition value of each `(n, d)` choice as a batch of one (plus pending points)."""
    X = choices.unsqueeze(-2)
    with torch.no_grad():
        return torch.cat([acqf(X[i : i + chunk_size]) for i in range(0, len(X), chunk_size)])


def select_batch(
    acqf: AcquisitionFunction,
    choices: Tensor,
    k: int,
    allowed: AllowedFn | None = None,
    chunk_size: int = 2048,
    prescreen: int | None = None,
) -> Selection:
    """Sequential greedy selection of `k` distinct choices.

    Args:
        acqf: The acquisition function (its own pending points count; chosen members are
            added as pending after each step and removed again at the end).
        choices: `(n, d)` candidate codes, distinct rows.
        k: Batch size (fewer are returned when the choices run out).
        allowed: Optional related-batch constraint; without it BoTorch's
            `optimize_acqf_discrete` does the loop.
        chunk_size: Choices evaluated at once.
        prescreen: Keep only the best `prescreen` choices (by their value alone, among those
            allowed at the start) for the greedy steps; see `AcquisitionOptions.prescreen`.
    """
    n = choices.shape[0]
    k = min(k, n)
    if k == 0:
        return Selection([], [])
    if prescreen is not None and k > 1 and n > prescreen:
        scores = _score(acqf, choices, chunk_size)
        if allowed is not None:
            scores = torch.where(allowed([]), scores, torch.tensor(-torch.inf, dtype=scores.dtype))
        top = torch.topk(scores, prescreen).indices
        top = top[torch.isfinite(scores[top])]
        inner = None if allowed is None else _restricted(allowed, top)
        sub = select_batch(acqf, choices[top], k, inner, chunk_size, None)
        return Selection([int(top[i]) for i in sub.indices], sub.values)
    if allowed is None:
        X, values = optimize_acqf_discrete(
            acqf, q=k, choices=choices, max_batch_size=chunk_size, unique=True
        )
        assert values is not None
        return Selection(_row_positions(choices, X), values.reshape(-1).tolist())
    base_pending = acqf.X_pending
    chosen: list[int] = []
    values_out: list[float] = []
    available = torch.ones(n, dtype=torch.bool)
    try:
        for _ in range(k):
            candidates = (available & allowed(chosen)).nonzero().reshape(-1)
            if candidates.numel() == 0:
                break
            scores = _score(acqf, choices[candidates], chunk_size)
            best = int(torch.argmax(scores))
            index = int(candidates[best])
            chosen.append(index)
            values_out.append(float(scores[best]))
            available[index] = False
            picked = choices[chosen]
            acqf.set_X_pending(
                picked if base_pending is None else torch.cat([base_pending, picked])
            )
    finally:
        acqf.set_X_pending(base_pending)
    return Selection(chosen, values_out)


def _restricted(allowed: AllowedFn, subset: Tensor) -> AllowedFn:
    """`allowed` seen through a subset of the choices (indices into `subset`)."""

    def inner(chosen: list[int]) -> Tensor:
        return allowed([int(subset[i]) for i in chosen])[subset]

    return inner


def _row_positions(choices: Tensor, X: Tensor) -> list[int]:
    """Index in `choices` of each row of `X` (rows of `X` are rows of `choices`)."""
    lookup = {tuple(row): i for i, row in enumerate(choices.tolist())}
    return [lookup[tuple(row)] for row in X.tolist()]


def function_samples(
    model: Model, X: Tensor, num_samples: int, generator: torch.Generator
) -> Tensor:
    """Posterior function samples over `(n, d)` codes: `(num_samples, n)`.

    For `BlrSurrogate`, `Phi w` with `w` drawn from the weights' posterior (exact joint samples
    at the cost of one matrix product); for `EnsembleSurrogate`, randomly drawn members.
    Other models fall back to independent marginal draws (not joint).
    """
    samples: Tensor
    if isinstance(model, BlrSurrogate):
        W = model.sample_weights(num_samples, generator)  # (s, D)
        samples = W @ model.embed(X).T
    elif isinstance(model, EnsembleSurrogate):
        values = model.forward(X)[..., 0]  # (members, n)
        picks = torch.randint(values.shape[0], (num_samples,), generator=generator)
        samples = values[picks]
    else:
        with torch.no_grad():
            posterior = model.posterior(X.unsqueeze(-2))
            # `Posterior` declares no `mean`/`variance` (see `_nei_baseline`).
            mean: Tensor = posterior.mean.reshape(-1)  # type: ignore[attr-defined]
            var: Tensor = posterior.variance.reshape(-1)  # type: ignore[attr-defined]
        eps = torch.randn(num_samples, X.shape[0], dtype=mean.dtype, generator=generator)
        samples = mean + var.clamp(min=0).sqrt() * eps
    return samples


def thompson_select(
    model: Model,
    choices: Tensor,
    k: int,
    generator: torch.Generator,
    allowed: AllowedFn | None = None,
) -> Selection:
    """Thompson sampling: member `j` maximises the `j`-th posterior function sample.

    Each draw is an independent sample of the whole function, so the batch is diverse without
    any pending-point bookkeeping; the related-batch constraint restricts each step's choices.
    """
    n = choices.shape[0]
    k = min(k, n)
    if k == 0:
        return Selection([], [])
    samples = function_samples(model, choices, k, generator)
    available = torch.ones(n, dtype=torch.bool)
    chosen: list[int] = []
    values: list[float] = []
    for j in range(k):
        mask = available if allowed is None else available & allowed(chosen)
        if not bool(mask.any()):
            break
        scores = torch.where(mask, samples[j], torch.tensor(float("-inf"), dtype=samples.dtype))
        index = int(torch.argmax(scores))
        chosen.append(index)
        values.append(float(samples[j, index]))
        available[index] = False
    return Selection(chosen, values)
