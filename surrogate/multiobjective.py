"""`MultiObjectiveStrategy`: BONAS for two or three objectives, by expected hypervolume gain.

One call to `propose` is one round, as in `surrogate.proposer.BonasStrategy` (which this class
extends, so the initial random batch and the candidate pool, samplers included, are the same
code):

1. With fewer than `n_init` complete observations, propose random architectures.
2. Otherwise fit one GCN + BLR surrogate per measured objective (each on its values turned into
   maximisation, on its own copula scale; warm-started like the single-objective surrogate). An
   objective given exactly (`known`: a function of the architecture, such as a parameter count)
   is not modelled: a BoTorch `GenericDeterministicModel` returns its standardised value.
3. Put the objectives in one BoTorch `ModelList` and score the pool (the same pool as
   `BonasStrategy`, with evaluated and pending architectures left out) with:

   * `"qlognehvi"` (the default): `qLogNoisyExpectedHypervolumeImprovement` over the observed
     architectures as the noisy baseline, pending architectures as `X_pending`, and a batch of
     `k` chosen by sequential greedy selection (`surrogate.acquisition.select_batch`: each
     chosen member becomes pending for the next step, and with `incremental_nehvi` BoTorch
     adds pending points to the baseline's box decomposition);
   * `"qlognparego"`: `qLogNParEGO`, one random Chebyshev weighting per member of the batch,
     each member chosen with the earlier members and the caller's pending points pending.

The reference point of the acquisition is on the surrogates' internal scale: per objective, the
worst value among the observations and the predicted means over the pool, minus `ref_margin`
times the range of those values (the rule of `surrogate.pareto`, applied to what the search
knows, since the true range is unknown during a search). The pool's predictions matter: a first
random batch spans a narrow band of each objective (NB201's random cells have similar
latencies), and a reference point set from it alone gives no volume to the accurate but slower
cells beyond that band, so the search would never look there.

Observations carry the objectives in `Observation.metrics` by name (user units, directions as
declared); the first objective may instead be `Observation.value` when `metrics` lacks it, and
an objective given exactly need not be measured at all. Each `Proposal` reports the predicted
mean and standard deviation of the first objective as `predicted_mean`/`predicted_std`, and of
every objective under `extra["predicted"]` and `extra["predicted_std"]`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.model import Model, ModelList
from botorch.sampling.base import MCSampler
from botorch.sampling.index_sampler import IndexSampler
from botorch.sampling.list_sampler import ListSampler
from botorch.sampling.normal import SobolQMCNormalSampler
from botorch.utils.sampling import sample_simplex
from torch import Tensor

from surrogate.acquisition import Selection, select_batch
from surrogate.constraints import CostFn, MetricConstraint
from surrogate.models.blr import RowCache
from surrogate.models.fit import FitReport, Surrogate, fit_surrogate, load_surrogate
from surrogate.pareto import Direction, check_directions, front_depth
from surrogate.proposer import BonasOptions, BonasStrategy
from surrogate.samplers.base import Sampler
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation, Proposal, ProposalRound, RefitReport

logger = logging.getLogger(__name__)

A = TypeVar("A")

MultiAcquisitionName = Literal["qlognehvi", "qlognparego"]
MULTI_ACQUISITION_NAMES: tuple[str, ...] = ("qlognehvi", "qlognparego")

KnownObjective = Callable[[Any], float]
"""An objective computed exactly from the architecture (user units), e.g. its parameters."""


@dataclass(frozen=True)
class ObjectiveSpec:
    """One objective: its name and whether larger or smaller is better."""

    name: str
    direction: Direction = "maximize"


@dataclass(frozen=True)
class MultiObjectiveOptions:
    """Options of `MultiObjectiveStrategy`.

    Attributes:
        objectives: Two or three objectives with their directions, the first one primary (its
            predictions fill `Proposal.predicted_mean`).
        bonas: The single-objective options reused here: `n_init`, `pool_size`, `samplers`,
            `fit`, `warm_start`, `cold_refit_every`, `enumerate_limit`. Related batches
            (`max_batch_distance`) are not supported.
        acquisition: `"qlognehvi"` or `"qlognparego"`.
        mc_samples: Quasi-MC samples of the acquisition.
        prescreen: After the first greedy step (qLogNEHVI only), re-score only the best this
            many candidates (the gain of a point only shrinks as the batch grows).
        chunk_size: Candidates evaluated at once.
        ref_margin: The reference point lies this fraction of each observed range below the
            worst observed value (internal scale).
        max_baseline: The noisy baseline of the acquisition: every observation (None), or at
            most this many, those of the first non-dominated layers of the observed values.
            Each candidate's posterior is joint with the whole baseline (the BLR has no cached
            Cholesky update in BoTorch), so the baseline sets the cost of a proposal.
    """

    objectives: tuple[ObjectiveSpec, ...]
    bonas: BonasOptions = field(default_factory=BonasOptions)
    acquisition: MultiAcquisitionName = "qlognehvi"
    mc_samples: int = 128
    prescreen: int | None = 1000
    chunk_size: int = 512
    ref_margin: float = 0.1
    max_baseline: int | None = None

    def __post_init__(self) -> None:
        objectives = tuple(
            ObjectiveSpec(**o) if isinstance(o, dict) else o for o in self.objectives
        )
        object.__setattr__(self, "objectives", objectives)
        if isinstance(self.bonas, dict):
            object.__setattr__(self, "bonas", BonasOptions(**self.bonas))
        check_directions([o.direction for o in objectives])
        names = [o.name for o in objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"objective names must be distinct, got {names}")
        if self.acquisition not in MULTI_ACQUISITION_NAMES:
            raise ValueError(
                f"unknown acquisition {self.acquisition!r}; accepted: "
                f"{', '.join(MULTI_ACQUISITION_NAMES)}"
            )
        if self.bonas.max_batch_distance is not None:
            raise ValueError("related batches (max_batch_distance) are single-objective only")
        if not 1 <= self.mc_samples <= 4096 or self.ref_margin < 0:
            raise ValueError(f"need 1 <= mc_samples <= 4096 and ref_margin >= 0: {self}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objectives)

    @property
    def directions(self) -> tuple[Direction, ...]:
        return tuple(o.direction for o in self.objectives)


class MultiObjectiveStrategy(BonasStrategy[A]):
    """GCN + BLR surrogates per objective, batch qLogNEHVI (or qLogNParEGO) over the pool.

    Args:
        space: The search space.
        options: The objectives and how to search.
        known: Exact objective functions by name (user units); those objectives are not
            modelled and need not be in the observations.
        sampler: Candidate generator of the pool (as for `BonasStrategy`).
        constraints: Analytic constraints only (metrics `cost_of` computes): they filter the
            pool and the initial batch, as in `BonasStrategy`; measured ones are refused.
        cost_of: Analytic metrics of an architecture.
    """

    name = "bonas_mo"

    def __init__(
        self,
        space: SearchSpace[A],
        options: MultiObjectiveOptions,
        known: Mapping[str, KnownObjective] | None = None,
        sampler: Sampler[A] | None = None,
        constraints: Sequence[MetricConstraint] = (),
        cost_of: CostFn | None = None,
    ) -> None:
        super().__init__(space, options.bonas, sampler, constraints=constraints, cost_of=cost_of)
        if self.constraints.measured:
            measured = [c.metric for c in self.constraints.measured]
            raise ValueError(
                f"constraints on {measured} are not analytic (computed by cost_of); a "
                "multi-objective search takes analytic constraints only"
            )
        self.mo = options
        self.known: dict[str, KnownObjective] = dict(known or {})
        unknown = sorted(set(self.known) - set(options.names))
        if unknown:
            raise ValueError(f"known objectives {unknown} are not among {list(options.names)}")
        if len(self.known) == len(options.names):
            raise ValueError("at least one objective must be measured (not all are known)")
        self.models: dict[str, Surrogate] = {}
        self.fits: dict[str, FitReport] = {}

    @property
    def modelled(self) -> tuple[str, ...]:
        """The objectives fitted by a surrogate, in declaration order."""
        return tuple(n for n in self.mo.names if n not in self.known)

    # --- the round ----------------------------------------------------------------------------

    def propose(
        self,
        observations: Sequence[Observation[A]],
        pending: Sequence[A],
        k: int,
        rng: np.random.Generator,
    ) -> ProposalRound[A]:
        if k <= 0:
            return ProposalRound()
        excluded = {self.space.key(o.arch) for o in observations}
        excluded.update(self.space.key(a) for a in pending)
        archs, Y = self._complete(observations)
        if len(archs) < self.options.n_init:
            return ProposalRound(tuple(self._initial(k, excluded, rng)))
        seed = int(rng.integers(2**31 - 1))
        self._refit_all(archs, Y, seed)
        refit = RefitReport(version=self.version, fit=self._combined_report())
        assert self.model is not None
        depth = front_depth(Y, self.mo.directions)
        ranked = [Observation(a, -float(d)) for a, d in zip(archs, depth.tolist(), strict=True)]
        pool, sources = self._pool(ranked, self.model, excluded, rng)
        if not pool:
            return ProposalRound((), refit)
        choices = self.space.encode_many(pool)
        X_obs = self.space.encode_many(archs)
        X_pending = self.space.encode_many(list(pending)) if pending else None
        model, Z_obs = self._model_list(X_obs, Y, choices, X_pending)
        selection = self._choose(model, choices, k, X_obs, Z_obs, X_pending, seed)
        picked = [pool[i] for i in selection.indices]
        if not picked:
            return ProposalRound((), refit)
        predicted = self.predict(picked)
        primary = self.mo.names[0]
        proposals = tuple(
            Proposal(
                arch=pool[i],
                predicted_mean=predicted[primary][0][j],
                predicted_std=predicted[primary][1][j],
                acquisition_value=float(v),
                surrogate_version=self.version,
                source=sources[i],
                extra={
                    "predicted": {n: predicted[n][0][j] for n in self.mo.names},
                    "predicted_std": {n: predicted[n][1][j] for n in self.mo.names},
                },
            )
            for j, (i, v) in enumerate(zip(selection.indices, selection.values, strict=True))
        )
        return ProposalRound(proposals, refit)

    def _complete(self, observations: Sequence[Observation[A]]) -> tuple[list[A], Tensor]:
        """The observations with every objective finite, and their `(n, m)` values (user units)."""
        archs: list[A] = []
        rows: list[list[float]] = []
        primary = self.mo.names[0]
        for o in observations:
            measured = {primary: o.value, **o.metrics}
            row = [
                float(self.known[n](o.arch)) if n in self.known else measured.get(n, math.nan)
                for n in self.mo.names
            ]
            if all(math.isfinite(v) for v in row):
                archs.append(o.arch)
                rows.append(row)
        Y = torch.tensor(rows, dtype=torch.float64).reshape(-1, len(self.mo.names))
        return archs, Y

    def _signs(self) -> Tensor:
        return torch.tensor([1.0 if d == "maximize" else -1.0 for d in self.mo.directions])

    # --- surrogates ---------------------------------------------------------------------------

    def _refit_all(self, archs: list[A], Y: Tensor, seed: int) -> None:
        """Fit one surrogate per measured objective (on maximisation values); bump the version."""
        cold_every = self.options.cold_refit_every
        cold = (
            not self.options.warm_start
            or not self.models
            or (cold_every > 0 and self.version % cold_every == 0)
        )
        signs = self._signs()
        for j, name in enumerate(self.mo.names):
            if name in self.known:
                continue
            model, report = fit_surrogate(
                self.space,
                archs,
                Y[:, j] * signs[j],
                self.options.fit,
                previous=None if cold else self.models.get(name),
                featurizer=self.featurizer,
                seed=seed + j,
            )
            self.models[name], self.fits[name] = model, report
        first = self.modelled[0]
        self.model, self.last_fit = self.models[first], self.fits[first]
        self.version += 1
        logger.debug("surrogates v%d: %s", self.version, self.fits)

    def _combined_report(self) -> FitReport:
        """The first surrogate's report, with the time and steps of all the fits of the round."""
        reports = [self.fits[n] for n in self.modelled]
        return dataclasses.replace(
            reports[0],
            seconds=sum(r.seconds for r in reports),
            steps=sum(r.steps for r in reports),
        )

    def _model_list(
        self, X_obs: Tensor, Y: Tensor, choices: Tensor, X_pending: Tensor | None
    ) -> tuple[ModelList, Tensor]:
        """The objectives as one `ModelList` on the internal scale, and the observations' `Z`.

        A known objective's model standardises its maximisation values with the observations'
        mean and spread; its exact values over the observations, the pool and the pending
        architectures are computed here once, and any other row on demand.
        """
        signs = self._signs()
        models: list[Model] = []
        columns: list[Tensor] = []
        for j, name in enumerate(self.mo.names):
            y = Y[:, j] * signs[j]
            if name in self.known:
                model = self._known_model(name, float(signs[j]), y)
                rows = [X_obs, choices] + ([X_pending] if X_pending is not None else [])
                for X in rows:  # warm the cache: one pass over each set
                    model(X.unsqueeze(0))
                columns.append(model(X_obs.unsqueeze(0))[0, :, 0])
                models.append(model)
            else:
                surrogate = self.models[name]
                columns.append(surrogate.transform.forward(y))
                models.append(surrogate)
        return ModelList(*models), torch.stack(columns, dim=-1)

    def _known_model(self, name: str, sign: float, y: Tensor) -> GenericDeterministicModel:
        function = self.known[name]
        shift = float(y.mean())
        spread = float(y.std()) if y.numel() > 1 else 1.0
        spread = spread if math.isfinite(spread) and spread > 1e-12 else 1.0
        cache = RowCache(self.space.cardinalities)

        def exact(rows: Tensor) -> Tensor:
            values = [sign * float(function(self.space.decode(row))) for row in rows]
            z = (torch.tensor(values, dtype=torch.float64) - shift) / spread
            return z.reshape(-1, 1)

        def forward(X: Tensor) -> Tensor:
            flat = torch.round(X.detach().reshape(-1, X.shape[-1])).to(torch.int64)
            return cache.lookup(flat, exact).reshape(*X.shape[:-1], 1)

        return GenericDeterministicModel(forward, num_outputs=1)

    def predict(self, archs: Sequence[A]) -> dict[str, tuple[list[float], list[float]]]:
        """Predicted mean and std of each objective in the user's units (exact ones: std 0)."""
        X = self.space.encode_many(list(archs))
        signs = self._signs()
        out: dict[str, tuple[list[float], list[float]]] = {}
        for j, name in enumerate(self.mo.names):
            if name in self.known:
                out[name] = ([float(self.known[name](a)) for a in archs], [0.0] * len(archs))
                continue
            mean, std = self.models[name].predict_user(X)
            out[name] = ((mean * signs[j]).tolist(), std.tolist())
        return out

    # --- acquisition --------------------------------------------------------------------------

    def _sampler(self, model: ModelList, seed: int) -> MCSampler:
        shape = torch.Size([self.mo.mc_samples])
        samplers: list[MCSampler] = []
        for j, member in enumerate(model.models):
            if isinstance(member, GenericDeterministicModel):
                samplers.append(IndexSampler(sample_shape=shape, seed=seed + j))
            else:
                samplers.append(SobolQMCNormalSampler(sample_shape=shape, seed=seed + j))
        return ListSampler(*samplers)

    def _choose(
        self,
        model: ModelList,
        choices: Tensor,
        k: int,
        X_obs: Tensor,
        Z_obs: Tensor,
        X_pending: Tensor | None,
        seed: int,
    ) -> Selection:
        X_obs = self._baseline(X_obs, Z_obs)
        if self.mo.acquisition == "qlognparego":
            return self._parego_batch(model, choices, k, X_obs, X_pending, seed)
        with torch.no_grad():
            # `Posterior` declares no `mean`; every concrete posterior has it.
            Z_pool = model.posterior(choices.unsqueeze(-2)).mean.reshape(-1, Z_obs.shape[-1])  # type: ignore[attr-defined]
        acqf = self.hypervolume_acquisition(
            model, X_obs, torch.cat([Z_obs, Z_pool]), X_pending, seed
        )
        return select_batch(acqf, choices, k, None, self.mo.chunk_size, self.mo.prescreen)

    def _baseline(self, X_obs: Tensor, Z_obs: Tensor) -> Tensor:
        """The observations that form the acquisition's baseline (see `max_baseline`)."""
        limit = self.mo.max_baseline
        if limit is None or X_obs.shape[0] <= limit:
            return X_obs
        depth = front_depth(Z_obs, ["maximize"] * Z_obs.shape[-1])
        order = torch.argsort(depth, stable=True)[:limit]
        return X_obs[order]

    def hypervolume_acquisition(
        self,
        model: ModelList,
        X_obs: Tensor,
        Z_known: Tensor,
        X_pending: Tensor | None,
        seed: int,
    ) -> AcquisitionFunction:
        """qLogNEHVI over the observed codes as baseline, with the reference point set from
        `(r, m)` values `Z_known` (the observations' and the pool's predicted means)."""
        low, high = Z_known.min(0).values, Z_known.max(0).values
        ref = low - self.mo.ref_margin * (high - low).clamp(min=1e-6)
        return qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=ref.tolist(),
            X_baseline=torch.unique(X_obs, dim=0),
            sampler=self._sampler(model, seed),
            prune_baseline=True,
            cache_root=False,
            X_pending=X_pending if X_pending is not None and len(X_pending) else None,
        )

    def _parego_batch(
        self,
        model: ModelList,
        choices: Tensor,
        k: int,
        X_obs: Tensor,
        X_pending: Tensor | None,
        seed: int,
    ) -> Selection:
        """Each member maximises qLogNParEGO under its own random weights, earlier ones pending."""
        baseline = torch.unique(X_obs, dim=0)
        available = torch.ones(choices.shape[0], dtype=torch.bool)
        chosen: list[int] = []
        values: list[float] = []
        for j in range(min(k, choices.shape[0])):
            weights = sample_simplex(len(self.mo.names), seed=seed + j, dtype=torch.float64)
            picked = choices[chosen]
            pending = picked if X_pending is None else torch.cat([X_pending, picked])
            acqf = qLogNParEGO(
                model=model,
                X_baseline=baseline,
                scalarization_weights=weights.reshape(-1),
                sampler=self._sampler(model, seed + 7 * j),
                prune_baseline=True,
                cache_root=False,
                X_pending=pending if len(pending) else None,
            )
            candidates = available.nonzero().reshape(-1)
            X = choices[candidates].unsqueeze(-2)
            step = self.mo.chunk_size
            with torch.no_grad():
                scores = torch.cat([acqf(X[i : i + step]) for i in range(0, len(X), step)])
            best = int(torch.argmax(scores))
            chosen.append(int(candidates[best]))
            values.append(float(scores[best]))
            available[candidates[best]] = False
        return Selection(chosen, values)

    # --- persistence --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["models"] = {n: m.to_state() for n, m in self.models.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.models = {
            n: load_surrogate(self.featurizer, s) for n, s in state.get("models", {}).items()
        }
        self.model = self.models.get(self.modelled[0], self.model)


__all__ = [
    "MULTI_ACQUISITION_NAMES",
    "KnownObjective",
    "MultiAcquisitionName",
    "MultiObjectiveOptions",
    "MultiObjectiveStrategy",
    "ObjectiveSpec",
]
