"""Fitting the surrogates: GCN training with BONAS's weighted loss, then the regression on top.

Fitting lives outside the model classes (as in BoTorch): `fit_surrogate` takes the observations
and options and returns a fresh, immutable model plus a `FitReport`. The service refits after
every batch, so a warm start is offered: with `previous`, the GCN weights start from the previous
model's and train for `warm_epochs` instead of `epochs`; the regression and the target scale are
always recomputed from all observations.

The loss is BONAS's `mean(exp(g - 1) * (zhat - z)^2)`, with `z` the internal target (see
`surrogate.models.targets`) and `g` in `[0, 1]` the observation's position in the observed range,
which weighs good architectures up to `e` times more than the worst ones. Adam, as in BONAS.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from surrogate.gcn import DenseGraphs, GCNConfig, GCNRegressor, GraphFeaturizer, embed_in_chunks
from surrogate.limits import SEED_MAX, check_maxima
from surrogate.models.blr import BlrSurrogate, design_matrix, fit_blr
from surrogate.models.ensemble import EnsembleSurrogate
from surrogate.models.targets import TargetKind, TargetTransform
from surrogate.spaces.base import SearchSpace

logger = logging.getLogger(__name__)

ModelKind = Literal["blr", "ensemble"]
Surrogate = BlrSurrogate | EnsembleSurrogate

FIT_MAXIMA: dict[str, float] = {
    "epochs": 5_000,
    "warm_epochs": 5_000,
    "min_steps": 100_000,
    "max_steps": 1_000_000,
    "batch_size": 4_096,
    "ensemble_size": 32,
    "blr_gcns": 8,
    "blr_max_iter": 10_000,
    "seed": SEED_MAX,
}
"""Largest accepted value of each count of `FitOptions` (docs/limits.md)."""


@dataclass(frozen=True)
class FitOptions:
    """How to fit a surrogate.

    The defaults are BONAS's published settings (with the copula target); the proposer's tuned
    defaults are `surrogate.proposer.DEFAULT_FIT`.

    Attributes:
        model: `"blr"` (GCN + Bayesian linear regression, BONAS's default) or `"ensemble"`.
        gcn: Encoder shape.
        target: Internal target scale (`"rank"`, `"standardize"` or `"logit"`).
        target_scale: The objective value that means 100 % (logit only).
        epochs: Training epochs from scratch (BONAS: 100).
        warm_epochs: Training epochs of a warm-started refit.
        min_steps: Fewest gradient steps of a fit from scratch: with few observations an
            epoch is one or two steps, and 100 epochs leave the GCN undertrained, so the epochs
            are raised until this many steps are taken (a warm refit takes its share,
            `min_steps * warm_epochs / epochs`).
        max_steps: Optional cap on gradient steps per fit (bounds the cost with many
            observations); `None` for no cap.
        batch_size: Minibatch size (BONAS: 128).
        lr: Adam learning rate (BONAS: 1e-3).
        weight_decay: Adam weight decay.
        weighted_loss: Use `exp(g - 1)` weights (BONAS) rather than a plain mean square.
        rank_loss_weight: Weight of a pairwise logistic ranking loss added to the mean square
            (0 disables it): within each minibatch, every pair ordered by `z` contributes
            `log(1 + exp(-(zhat_i - zhat_j)))` for `z_i > z_j`.
        lr_schedule: `"constant"` (BONAS) or `"cosine"` decay to zero over the fit's steps.
        ensemble_size: Members of an ensemble.
        blr_gcns: GCNs trained (from different initialisations) for the BLR model, whose
            embeddings side by side are the regression's features (1: BONAS's single GCN).
        blr_intercept: Append a constant feature to the embedding (BONAS has none).
        blr_max_iter: Evidence-maximisation iterations (BONAS: 200).
        seed: Seed of initialisation, data order and dropout (the caller may override it).
    """

    model: ModelKind = "blr"
    gcn: GCNConfig = field(default_factory=GCNConfig)
    target: TargetKind = "rank"
    target_scale: float = 100.0
    epochs: int = 100
    warm_epochs: int = 30
    min_steps: int = 0
    max_steps: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    weighted_loss: bool = True
    rank_loss_weight: float = 0.0
    lr_schedule: Literal["constant", "cosine"] = "constant"
    ensemble_size: int = 5
    blr_gcns: int = 1
    blr_intercept: bool = False
    blr_max_iter: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.gcn, dict):  # plain JSON options
            object.__setattr__(self, "gcn", GCNConfig(**self.gcn))
        if self.epochs < 1 or self.warm_epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs, warm_epochs and batch_size must be positive, got {self}")
        if self.blr_gcns < 1 or self.ensemble_size < 1:
            raise ValueError(f"blr_gcns and ensemble_size must be positive, got {self}")
        check_maxima("fit", self, FIT_MAXIMA)


@dataclass(frozen=True)
class FitReport:
    """What a fit did.

    Attributes:
        num_observations: Training set size.
        warm_started: Whether the GCN weights started from a previous model.
        epochs: Epochs run (per member for an ensemble).
        steps: Gradient steps run (all members together).
        final_loss: Mean training loss of the last epoch (averaged over members).
        seconds: Wall-clock time of the whole fit.
        alpha, beta: The regression's precisions (`None` for an ensemble).
    """

    num_observations: int
    warm_started: bool
    epochs: int
    steps: int
    final_loss: float
    seconds: float
    alpha: float | None = None
    beta: float | None = None


def loss_weights(transform: TargetTransform, y: Tensor, weighted: bool) -> Tensor:
    """BONAS's per-observation loss weights `exp(g - 1)` (ones when not `weighted`)."""
    if not weighted:
        return torch.ones_like(y, dtype=torch.float32)
    return torch.exp(transform.goodness(y) - 1.0).to(torch.float32)


def train_regressor(
    regressor: GCNRegressor,
    graphs: DenseGraphs,
    z: Tensor,
    weights: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    max_steps: int | None = None,
    rank_loss_weight: float = 0.0,
    cosine: bool = False,
) -> tuple[int, int, float]:
    """Train `regressor` in place on a weighted mean-square loss (uses the global torch RNG).

    Args:
        regressor: The network; left in eval mode.
        graphs: `n` training graphs.
        z: `(n,)` targets on the internal scale.
        weights: `(n,)` per-observation loss weights.

    Returns:
        `(epochs_run, steps_run, last_epoch_mean_loss)`.
    """
    n = len(graphs)
    z = z.to(torch.float32)
    # The fused kernel updates every parameter in one call: the networks are small, so
    # per-tensor overhead would otherwise dominate a step.
    optimizer = torch.optim.Adam(
        regressor.parameters(), lr=lr, weight_decay=weight_decay, fused=True
    )
    regressor.train()
    steps, last_loss, epochs_run = 0, float("nan"), 0
    total_steps = epochs * math.ceil(n / batch_size)
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    for _ in range(epochs):
        if max_steps is not None and steps >= max_steps:
            break
        order = torch.randperm(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2 and n >= 2:  # a single graph makes BatchNorm's statistics degenerate
                continue
            if cosine:
                for group in optimizer.param_groups:
                    group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * steps / total_steps))
            optimizer.zero_grad()
            pred = regressor(graphs.index(idx))
            loss = (weights[idx] * (pred - z[idx]) ** 2).mean()
            if rank_loss_weight > 0:
                loss = loss + rank_loss_weight * pairwise_rank_loss(pred, z[idx])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            steps += 1
        epochs_run += 1
        last_loss = total / n
    regressor.eval()
    return epochs_run, steps, last_loss


def pairwise_rank_loss(pred: Tensor, z: Tensor) -> Tensor:
    """Mean logistic loss over the pairs of a minibatch that `z` orders strictly.

    Shapes:
        - pred `(b,)`, z `(b,)` -> scalar.
    """
    better = z.unsqueeze(1) > z.unsqueeze(0)  # better[i, j]: i should outrank j
    if not bool(better.any()):
        return pred.sum() * 0.0
    margin = pred.unsqueeze(1) - pred.unsqueeze(0)
    return nn.functional.softplus(-margin[better]).mean()


def _epochs(options: FitOptions, n: int, warm: bool) -> int:
    """Epochs of a fit: the option, raised to reach `min_steps` (scaled down when warm)."""
    epochs = options.warm_epochs if warm else options.epochs
    min_steps = options.min_steps * epochs / options.epochs if warm else options.min_steps
    steps_per_epoch = math.ceil(n / options.batch_size)
    return max(epochs, math.ceil(min_steps / steps_per_epoch))


def _compatible(previous: Surrogate | None, options: FitOptions, num_features: int) -> bool:
    if previous is None:
        return False
    kind = "blr" if isinstance(previous, BlrSurrogate) else "ensemble"
    if kind != options.model or previous.gcn_config != options.gcn:
        logger.info("previous surrogate does not match the options; fitting from scratch")
        return False
    if isinstance(previous, EnsembleSurrogate) and len(previous.members) != options.ensemble_size:
        return False
    if isinstance(previous, BlrSurrogate) and len(previous.regressors) != options.blr_gcns:
        return False
    return previous.featurizer.num_features == num_features


def fit_surrogate(
    space: SearchSpace[Any],
    archs: Sequence[Any],
    y: Sequence[float] | Tensor,
    options: FitOptions | None = None,
    previous: Surrogate | None = None,
    *,
    featurizer: GraphFeaturizer | None = None,
    seed: int | None = None,
) -> tuple[Surrogate, FitReport]:
    """Fit a surrogate to observed architectures.

    Args:
        space: The search space of `archs`.
        archs: The `n` observed architectures (repeats allowed).
        y: Their `n` objective values in the user's units, larger is better.
        options: How to fit (defaults: `FitOptions()`).
        previous: A model of the same kind and shape to warm-start the GCN from; it is not
            modified. Ignored (with a log line) when its shape differs.
        featurizer: A featurizer of `space` to share (and its cache); a new one otherwise.
        seed: Overrides `options.seed`.

    Returns:
        The fitted model and a report.
    """
    options = options or FitOptions()
    start = time.perf_counter()
    if len(archs) == 0:
        raise ValueError("cannot fit a surrogate to zero observations")
    featurizer = featurizer or GraphFeaturizer(space)
    y_t = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
    if y_t.shape[0] != len(archs):
        raise ValueError(f"{len(archs)} architectures but {y_t.shape[0]} objective values")
    transform = TargetTransform.fit(y_t, options.target, options.target_scale)
    z = transform.forward(y_t)
    weights = loss_weights(transform, y_t, options.weighted_loss)
    graphs = featurizer.featurize(archs)
    warm = _compatible(previous, options, featurizer.num_features)
    epochs = _epochs(options, len(archs), warm)
    model: Surrogate
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed if seed is None else seed)
        if options.model == "blr":
            model, stats = _fit_blr_model(
                featurizer,
                graphs,
                z,
                weights,
                transform,
                options,
                epochs,
                previous if warm else None,
            )
        else:
            model, stats = _fit_ensemble(
                featurizer,
                graphs,
                z,
                weights,
                transform,
                options,
                epochs,
                previous if warm else None,
            )
    report = FitReport(
        num_observations=len(archs),
        warm_started=warm,
        epochs=stats[0],
        steps=stats[1],
        final_loss=stats[2],
        seconds=time.perf_counter() - start,
        alpha=model.blr.alpha if isinstance(model, BlrSurrogate) else None,
        beta=model.blr.beta if isinstance(model, BlrSurrogate) else None,
    )
    logger.debug("fitted surrogate: %s", report)
    return model, report


def _fit_blr_model(
    featurizer: GraphFeaturizer,
    graphs: DenseGraphs,
    z: Tensor,
    weights: Tensor,
    transform: TargetTransform,
    options: FitOptions,
    epochs: int,
    previous: Surrogate | None,
) -> tuple[BlrSurrogate, tuple[int, int, float]]:
    starts = previous.regressors if isinstance(previous, BlrSurrogate) else None
    regressors, stats = _train_gcns(
        featurizer, graphs, z, weights, options, epochs, options.blr_gcns, starts
    )
    embeddings = [embed_in_chunks(regressor.encoder, graphs) for regressor in regressors]
    Phi = design_matrix(torch.cat(embeddings, dim=-1), options.blr_intercept)
    blr = fit_blr(Phi, z, intercept=options.blr_intercept, max_iter=options.blr_max_iter)
    return BlrSurrogate(featurizer, regressors, blr, transform), stats


def _train_gcns(
    featurizer: GraphFeaturizer,
    graphs: DenseGraphs,
    z: Tensor,
    weights: Tensor,
    options: FitOptions,
    epochs: int,
    count: int,
    starts: nn.ModuleList | None,
) -> tuple[list[GCNRegressor], tuple[int, int, float]]:
    """Train `count` GCNs one after the other (the BLR's networks, or an ensemble's members).

    Each starts from a copy of `starts[m]` (a warm start; the previous model is left as it is)
    or from a fresh initialisation.

    Returns:
        The networks and `(epochs per network, steps of all together, mean last-epoch loss)`.
    """
    networks: list[GCNRegressor] = []
    steps, losses, epochs_run = 0, [], 0
    for m in range(count):
        if starts is not None:
            network = copy.deepcopy(starts[m])
            assert isinstance(network, GCNRegressor)
        else:
            network = GCNRegressor(featurizer.num_features, featurizer.num_nodes, options.gcn)
        epochs_run, network_steps, loss = _train_with_options(
            network, graphs, z, weights, options, epochs
        )
        networks.append(network)
        steps += network_steps
        losses.append(loss)
    return networks, (epochs_run, steps, sum(losses) / len(losses))


def _train_with_options(
    regressor: GCNRegressor,
    graphs: DenseGraphs,
    z: Tensor,
    weights: Tensor,
    options: FitOptions,
    epochs: int,
) -> tuple[int, int, float]:
    """`train_regressor` with the optimiser settings of `options` (shared by both models)."""
    return train_regressor(
        regressor,
        graphs,
        z,
        weights,
        epochs=epochs,
        batch_size=options.batch_size,
        lr=options.lr,
        weight_decay=options.weight_decay,
        max_steps=options.max_steps,
        rank_loss_weight=options.rank_loss_weight,
        cosine=options.lr_schedule == "cosine",
    )


def _fit_ensemble(
    featurizer: GraphFeaturizer,
    graphs: DenseGraphs,
    z: Tensor,
    weights: Tensor,
    transform: TargetTransform,
    options: FitOptions,
    epochs: int,
    previous: Surrogate | None,
) -> tuple[EnsembleSurrogate, tuple[int, int, float]]:
    starts = previous.members if isinstance(previous, EnsembleSurrogate) else None
    members, stats = _train_gcns(
        featurizer, graphs, z, weights, options, epochs, options.ensemble_size, starts
    )
    return EnsembleSurrogate(featurizer, members, transform), stats


def load_surrogate(featurizer: GraphFeaturizer, state: dict[str, Any]) -> Surrogate:
    """Rebuild a model from its `to_state()` dictionary."""
    if state["kind"] == "blr":
        return BlrSurrogate.from_state(featurizer, state)
    if state["kind"] == "ensemble":
        return EnsembleSurrogate.from_state(featurizer, state)
    raise ValueError(f"unknown surrogate kind {state['kind']!r}; expected 'blr' or 'ensemble'")
