"""`BonasStrategy`: BONAS's batch proposer, with the defects of the official code fixed.

One call to `propose` is one round of BONAS:

1. With fewer than `n_init` observations, propose random architectures (the initial batch).
2. Otherwise refit the surrogate on every observation (warm-started from the previous round's
   GCN unless told not to), and bump the surrogate version.
3. Build a pool of distinct candidates (10,000 by default, or every remaining architecture of a
   smaller space) from the sampler (uniform by default), leaving out every architecture that was
   evaluated or is pending, by canonical key. (The official code compared int hashes with str
   hashes, so nothing was ever left out; and its pool of 100 with a batch of 100 selected every
   candidate.)
4. Score the pool with a BoTorch acquisition function, with the pending architectures as
   `X_pending`, and pick `k` by sequential greedy selection (`surrogate.acquisition`).

Related batches: with `max_batch_distance = D`, every member of a batch lies within edit distance
`D` (`space.distance`) of the first member (`distance_to="first"`) or of every earlier member
(`"all"`), so that one weight-sharing super-network trains the whole batch. The first member is
chosen from the whole pool; the rest from the pool's members within reach plus random walks of
at most `D` mutations from the first member, since a uniform pool holds few close neighbours.

`state_dict` holds the surrogate's weights and regression, the version counter and the sampler's
state; with the same observations and random generator, a restored strategy proposes exactly
what the original would have.

Constraints (`surrogate.constraints`): one on an analytic metric (computed by `cost_of`) removes
infeasible candidates from the pool, the sampler's draws and the related walks, so none is ever
proposed; one on a measured metric is modelled from `Observation.metrics` and its probability of
feasibility weighs the acquisition.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import Tensor

from surrogate.acquisition import (
    AcquisitionOptions,
    Selection,
    build_acquisition,
    select_batch,
    thompson_select,
)
from surrogate.constraints import (
    ConstraintOptions,
    ConstraintSet,
    CostFn,
    FeasibilityModel,
    MetricConstraint,
    build_constrained_acquisition,
    constrained_thompson_select,
    observed_feasible,
    probability_of_feasibility,
)
from surrogate.gcn import GCNConfig, GraphFeaturizer
from surrogate.limits import check_maxima
from surrogate.models.fit import FitOptions, FitReport, Surrogate, fit_surrogate, load_surrogate
from surrogate.samplers.base import Sampler
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation, Proposal, ProposalRound, RefitReport, Strategy

logger = logging.getLogger(__name__)

A = TypeVar("A")

DEFAULT_FIT = FitOptions(
    gcn=GCNConfig(num_layers=3, width=32, positional=True, gated=True),
    target="rank",
    epochs=100,
    warm_epochs=10,
    min_steps=2000,
    batch_size=32,
    lr=0.01,
    lr_schedule="cosine",
    weight_decay=1e-3,
    rank_loss_weight=1.0,
    blr_gcns=2,
)
"""The proposer's surrogate, tuned on NAS-Bench-201 CIFAR-10 (`bonas bench predictor`, `bonas
bench search`); `FitOptions()` keeps BONAS's published settings for comparison.

Against BONAS's settings (4 x 64 GCN, Adam 1e-3, batch 128, 100 epochs), a smaller GCN with
positional and gated inputs, trained for at least 2,000 steps of 32 with a cosine-decayed
learning rate of 0.01 and weight decay, on copula-transformed targets, ranks held-out cells
better with few observations, and found the best NB201 cell in fewer queries. A pairwise
ranking loss beside the mean square, and two GCNs whose embeddings feed one regression, each
add about 0.006 to the held-out Kendall tau (docs/benchmarks.md); the second GCN doubles the
cost of a refit.
"""


BONAS_MAXIMA: dict[str, float] = {
    "n_init": 10000,
    "pool_size": 100000,
    "cold_refit_every": 10000,
    "max_batch_distance": 1000,
    "related_walks": 100000,
    "enumerate_limit": 1000000,
}
"""Largest accepted value of each count of `BonasOptions` (docs/limits.md)."""


@dataclass(frozen=True)
class BonasOptions:
    """Options of `BonasStrategy`.

    Attributes:
        n_init: Observations needed before the surrogate is used; until then proposals are
            uniform random.
        pool_size: Distinct candidates scored per round (BONAS advises 10,000).
        fit: How the surrogate is fitted.
        acquisition: Which acquisition function, and its parameters.
        warm_start: Start each refit from the previous round's GCN (fewer epochs).
        cold_refit_every: Refit from scratch every this many fits (0: only the first), so that
            a long chain of warm starts cannot drift.
        max_batch_distance: Related batches: the largest edit distance allowed within a batch
            (None: unconstrained).
        distance_to: `"all"`: within the distance of every other member; `"first"`: of the
            first member.
        related_walks: Random walks from the first member added to the candidates of a related
            batch.
        samplers: Candidate generators of the pool by name, with weights, mixed by
            `SamplerMixture`: `{"uniform": 0.5, "mutation": 0.5}`; a value may also be
            `{"weight": w, "options": {...}}` with the sampler's options. Names: uniform,
            mutation, categorical, additive, ard, mc_dropout, balenas. `None` (BONAS): a
            uniform pool. A sampler passed to `BonasStrategy` takes precedence.
        enumerate_limit: A space with at most this many architectures is listed once and
            uniform pools are drawn from the list (fast and exactly uniform).
    """

    n_init: int = 10
    pool_size: int = 10_000
    fit: FitOptions = field(default_factory=lambda: DEFAULT_FIT)
    acquisition: AcquisitionOptions = field(default_factory=AcquisitionOptions)
    warm_start: bool = True
    cold_refit_every: int = 10
    max_batch_distance: int | None = None
    distance_to: Literal["all", "first"] = "first"
    related_walks: int = 300
    enumerate_limit: int = 200_000
    samplers: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_maxima("", self, BONAS_MAXIMA)
        # Accept plain dicts for the nested options (JSON from the CLI, the API or a file).
        if isinstance(self.fit, dict):
            fit = dict(self.fit)
            if isinstance(fit.get("gcn"), dict):
                fit["gcn"] = GCNConfig(**fit["gcn"])
            object.__setattr__(self, "fit", FitOptions(**fit))
        if isinstance(self.acquisition, dict):
            object.__setattr__(self, "acquisition", AcquisitionOptions(**self.acquisition))
        if self.n_init < 1 or self.pool_size < 1:
            raise ValueError(f"n_init and pool_size must be positive, got {self}")
        if self.max_batch_distance is not None and self.max_batch_distance < 1:
            raise ValueError(
                f"max_batch_distance must be >= 1 or None, got {self.max_batch_distance}"
            )


def build_sampler(space: SearchSpace[A], spec: dict[str, Any]) -> Sampler[A]:
    """A `SamplerMixture` from `{name: weight}` or `{name: {"weight": w, "options": {...}}}`.

    The samplers of `surrogate.samplers.mixture.SAMPLER_FACTORIES`, plus the two that need the
    GCN surrogate (imported here, since the mixture module must not depend on the GCN).

    Raises:
        ValueError: An unknown sampler name, or options its options class rejects.
    """
    from surrogate.samplers.balenas import BalenasOptions, BalenasSampler
    from surrogate.samplers.mc_dropout import McDropoutOptions, McDropoutSampler
    from surrogate.samplers.mixture import SAMPLER_FACTORIES, mixture_from_spec

    factories = {
        **SAMPLER_FACTORIES,
        "mc_dropout": lambda space, o: McDropoutSampler(space, McDropoutOptions(**o)),
        "balenas": lambda space, o: BalenasSampler(space, BalenasOptions(**o)),
    }
    return mixture_from_spec(space, spec, factories)


class BonasStrategy(Strategy[A]):
    """BONAS: GCN surrogate, Bayesian linear regression, batch acquisition over a pool.

    Args:
        space: The search space.
        options: Options (defaults: `BonasOptions()`).
        sampler: Candidate generator for the pool (default: uniform over the space).
        constraints: Bounds on metrics (`surrogate.constraints.MetricConstraint`).
        cost_of: Analytic metrics of an architecture; constraints on the metrics it computes
            filter the pool, the others are modelled from the observations' metrics.
        constraint_options: How measured constraints are modelled.
    """

    name = "bonas"

    def __init__(
        self,
        space: SearchSpace[A],
        options: BonasOptions | None = None,
        sampler: Sampler[A] | None = None,
        constraints: Sequence[MetricConstraint] = (),
        cost_of: CostFn | None = None,
        constraint_options: ConstraintOptions | None = None,
    ) -> None:
        super().__init__(space)
        self.constraints: ConstraintSet[A] = ConstraintSet(
            space, constraints, cost_of, constraint_options
        )
        self._feasibility: list[FeasibilityModel] = []
        self._feasible_observed: Tensor | None = None
        self.options = options or BonasOptions()
        if sampler is None and self.options.samplers:
            sampler = build_sampler(space, self.options.samplers)
        self.sampler = sampler
        self.featurizer = GraphFeaturizer(space)
        self.model: Surrogate | None = None
        self.version = 0
        self.last_fit: FitReport | None = None
        self._listing: tuple[list[A], list[str]] | None = None

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
        finite = [o for o in observations if math.isfinite(o.value)]
        if len(finite) < self.options.n_init:
            return ProposalRound(tuple(self._initial(k, excluded, rng)))
        seed = int(rng.integers(2**31 - 1))
        model = self.refit(finite, seed)
        assert self.last_fit is not None  # `refit` has just set it
        refit = RefitReport(version=self.version, fit=self.last_fit)
        self._feasibility = self.constraints.fit(
            finite, model, self.options.fit, self.featurizer, seed, self.last_fit.warm_started
        )
        self._feasible_observed = torch.tensor(observed_feasible(finite, self.constraints.measured))
        pool, sources = self._pool(finite, model, excluded, rng)
        short = self._pool_short(len(pool), len(excluded))
        if short:
            logger.debug("analytic constraints left a pool of %d candidates", len(pool))
        if not pool:
            return ProposalRound((), refit, pool_short=short)
        X_obs = self.space.encode_many([o.arch for o in finite])
        z_obs = model.transform.forward(torch.tensor([o.value for o in finite]))
        X_pending = self.space.encode_many(list(pending)) if pending else None
        chosen, values, extra_archs = self._select(
            model, pool, k, X_obs, z_obs, X_pending, seed, rng, excluded
        )
        archs = [*pool, *extra_archs]
        sources = [*sources, *(["related"] * len(extra_archs))]
        picked = [archs[i] for i in chosen]
        if not picked:
            return ProposalRound((), refit, pool_short=short)
        X_picked = self.space.encode_many(picked)
        mean, std = model.predict_user(X_picked)
        extras: list[dict[str, Any]] = [{} for _ in picked]
        if self._feasibility:
            p_feasible = probability_of_feasibility(self._feasibility, X_picked).tolist()
            extras = [{"p_feasible": float(p)} for p in p_feasible]
        proposals = tuple(
            Proposal(
                arch=archs[i],
                predicted_mean=float(m),
                predicted_std=float(s),
                acquisition_value=float(v),
                surrogate_version=self.version,
                source=sources[i],
                extra=e,
            )
            for i, m, s, v, e in zip(
                chosen, mean.tolist(), std.tolist(), values, extras, strict=True
            )
        )
        return ProposalRound(proposals, refit, pool_short=short)

    @property
    def surrogate_version(self) -> int | None:
        return self.version

    def continue_versions_from(self, version: int) -> None:
        self.version = version

    def refit(self, observations: Sequence[Observation[A]], seed: int) -> Surrogate:
        """Fit the surrogate to `observations` (warm or cold, per the options) and keep it."""
        cold_every = self.options.cold_refit_every
        cold = (
            not self.options.warm_start
            or self.model is None
            or (cold_every > 0 and self.version % cold_every == 0)
        )
        model, report = fit_surrogate(
            self.space,
            [o.arch for o in observations],
            [o.value for o in observations],
            self.options.fit,
            previous=None if cold else self.model,
            featurizer=self.featurizer,
            seed=seed,
        )
        self.model, self.last_fit = model, report
        self.version += 1
        logger.debug("surrogate v%d: %s", self.version, report)
        return model

    # --- candidates ---------------------------------------------------------------------------

    def _initial(self, k: int, excluded: set[str], rng: np.random.Generator) -> list[Proposal[A]]:
        distance = self.options.max_batch_distance
        if distance is None:
            pool, _ = self._uniform(k, excluded, rng)
            return [Proposal(arch=a, source="initial") for a in pool]
        # A related initial batch: a random anchor, then random members within reach of it.
        anchors, _ = self._uniform(1, excluded, rng)
        if not anchors:
            return []
        pool = [anchors[0], *self._related_walks(anchors[0], excluded, rng, distance)]
        allowed = self._distance_rule(pool, self.space.encode_many(pool))
        chosen = [0]
        while len(chosen) < k:
            mask = allowed(chosen)
            mask[chosen] = False
            candidates = mask.nonzero().reshape(-1)
            if candidates.numel() == 0:
                break
            chosen.append(int(candidates[int(rng.integers(candidates.numel()))]))
        return [Proposal(arch=pool[i], source="initial") for i in chosen]

    def _pool(
        self,
        observations: Sequence[Observation[A]],
        model: Surrogate,
        excluded: set[str],
        rng: np.random.Generator,
    ) -> tuple[list[A], list[str]]:
        """Distinct candidates not in `excluded`, with the name of the sampler of each."""
        size = self.options.pool_size
        if self.sampler is None:
            return self._uniform(size, excluded, rng)
        self.sampler.fit(observations, model)
        seen = set(excluded)
        pool: list[A] = []
        sources: list[str] = []
        for _ in range(10):
            draws = self._draw(size - len(pool), rng)
            for arch, source in draws:
                key = self.space.key(arch)
                if key not in seen and self.constraints.pool_filter.feasible(arch):
                    seen.add(key)
                    pool.append(arch)
                    sources.append(source)
            if len(pool) >= size or not draws:
                break
        if len(pool) < size:  # top up with uniform draws (small or peaked samplers)
            extra, extra_sources = self._uniform(size - len(pool), seen, rng)
            pool.extend(extra)
            sources.extend(extra_sources)
        return pool, sources

    def _pool_short(self, size: int, excluded: int) -> bool:
        """Whether the analytic constraints kept the pool below its size (the space itself
        still holding more unexcluded architectures)."""
        if not self.constraints.pool_filter.active:
            return False
        space_size = self.space.size()
        remaining = math.inf if space_size is None else space_size - excluded
        return size < min(self.options.pool_size, remaining)

    def _draw(self, n: int, rng: np.random.Generator) -> list[tuple[A, str]]:
        assert self.sampler is not None
        with_sources = getattr(self.sampler, "sample_with_sources", None)
        if callable(with_sources):
            return list(with_sources(n, rng))
        return [(a, self.sampler.name) for a in self.sampler.sample(n, rng)]

    def _uniform(
        self, n: int, excluded: set[str], rng: np.random.Generator
    ) -> tuple[list[A], list[str]]:
        """Up to `n` distinct uniform architectures whose keys are not in `excluded`."""
        listing = self._listing_if_small()
        if listing is not None:
            archs, keys = listing
            order = rng.permutation(len(archs))
            picked = [int(i) for i in order if keys[i] not in excluded][:n]
            return [archs[i] for i in picked], ["uniform"] * len(picked)
        seen = set(excluded)
        pool: list[A] = []
        misses = 0
        while len(pool) < n and misses < 20 * n + 100:
            arch = self.space.sample(rng)
            key = self.space.key(arch)
            if key in seen or not self.constraints.pool_filter.feasible(arch):
                misses += 1
                continue
            seen.add(key)
            pool.append(arch)
        return pool, ["uniform"] * len(pool)

    def _listing_if_small(self) -> tuple[list[A], list[str]] | None:
        if self._listing is None:
            size = self.space.size()
            if size is None or size > self.options.enumerate_limit:
                return None
            feasible = self.constraints.pool_filter.feasible
            archs = [a for a in self.space.enumerate() if feasible(a)]
            self._listing = (archs, [self.space.key(a) for a in archs])
        return self._listing

    # --- selection ----------------------------------------------------------------------------

    def _select(
        self,
        model: Surrogate,
        pool: list[A],
        k: int,
        X_obs: Tensor,
        z_obs: Tensor,
        X_pending: Tensor | None,
        seed: int,
        rng: np.random.Generator,
        excluded: set[str],
    ) -> tuple[list[int], list[float], list[A]]:
        """Chosen indices into `pool + extra`, their acquisition values, and `extra`."""
        choices = self.space.encode_many(pool)
        distance = self.options.max_batch_distance
        if distance is None:
            selection = self._acquire(model, choices, k, X_obs, z_obs, X_pending, seed, None)
            return selection.indices, selection.values, []
        first = self._acquire(model, choices, 1, X_obs, z_obs, X_pending, seed, None)
        if not first.indices:
            return [], [], []
        anchor_index = first.indices[0]
        anchor = pool[anchor_index]
        extra = self._related_walks(anchor, self._keys(pool) | excluded, rng, distance)
        local_archs = [*pool, *extra]
        local_choices = torch.cat([choices, self.space.encode_many(extra)]) if extra else choices
        base = self._distance_rule(local_archs, local_choices)

        def allowed(chosen: list[int]) -> Tensor:
            mask = base([anchor_index, *chosen])
            mask[anchor_index] = False
            return mask

        pending_with_anchor = (
            choices[[anchor_index]]
            if X_pending is None
            else torch.cat([X_pending, choices[[anchor_index]]])
        )
        rest = self._acquire(
            model, local_choices, k - 1, X_obs, z_obs, pending_with_anchor, seed + 1, allowed
        )
        return [anchor_index, *rest.indices], [*first.values, *rest.values], extra

    def _acquire(
        self,
        model: Surrogate,
        choices: Tensor,
        k: int,
        X_obs: Tensor,
        z_obs: Tensor,
        X_pending: Tensor | None,
        seed: int,
        allowed: Callable[[list[int]], Tensor] | None,
    ) -> Selection:
        options = self.options.acquisition
        if k <= 0:
            return Selection([], [])
        if options.name == "ts":
            generator = torch.Generator().manual_seed(seed)
            if self._feasibility:
                return constrained_thompson_select(
                    model, self._feasibility, choices, k, generator, allowed
                )
            return thompson_select(model, choices, k, generator, allowed)
        if self._feasibility:
            assert self._feasible_observed is not None
            acqf = build_constrained_acquisition(
                model,
                self._feasibility,
                options,
                X_obs,
                z_obs,
                self._feasible_observed,
                X_pending,
                seed,
                self.constraints.options.eta,
            )
        else:
            acqf = build_acquisition(model, options, X_obs, z_obs, X_pending, seed)
        return select_batch(acqf, choices, k, allowed, options.chunk_size, options.prescreen)

    def _keys(self, archs: Sequence[A]) -> set[str]:
        return {self.space.key(a) for a in archs}

    def _related_walks(
        self, anchor: A, excluded: set[str], rng: np.random.Generator, distance: int
    ) -> list[A]:
        """Distinct architectures within `distance` of `anchor` (random walks of at most
        `distance` mutations), leaving out `excluded` keys and `anchor` itself."""
        seen = {*excluded, self.space.key(anchor)}
        extra: list[A] = []
        for _ in range(self.options.related_walks):
            arch = anchor
            for _ in range(int(rng.integers(1, distance + 1))):
                arch = self.space.mutate(arch, rng)
            key = self.space.key(arch)
            if (
                key not in seen
                and self.space.distance(anchor, arch) <= distance
                and self.constraints.pool_filter.feasible(arch)
            ):
                seen.add(key)
                extra.append(arch)
        return extra

    def _distance_rule(self, archs: list[A], choices: Tensor) -> Callable[[list[int]], Tensor]:
        """`allowed(chosen)`: the choices within `max_batch_distance` of the chosen members."""
        limit = self.options.max_batch_distance
        assert limit is not None
        hamming = type(self.space).distance is SearchSpace.distance

        def distances(index: int) -> Tensor:
            if hamming:
                return (choices != choices[index]).sum(-1)
            anchor = archs[index]
            return torch.tensor([self.space.distance(anchor, a) for a in archs])

        cache: dict[int, Tensor] = {}

        def allowed(chosen: list[int]) -> Tensor:
            mask = torch.ones(choices.shape[0], dtype=torch.bool)
            members = chosen[:1] if self.options.distance_to == "first" else chosen
            for index in members:
                if index not in cache:
                    cache[index] = distances(index) <= limit
                mask &= cache[index]
            return mask

        return allowed

    # --- persistence --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model": None if self.model is None else self.model.to_state(),
            "sampler": None if self.sampler is None else self.sampler.state_dict(),
            "feasibility": self.constraints.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.version = int(state["version"])
        model_state = state.get("model")
        self.model = None if model_state is None else load_surrogate(self.featurizer, model_state)
        if self.sampler is not None and state.get("sampler") is not None:
            self.sampler.load_state_dict(state["sampler"])
        self.constraints.load_state_dict(state.get("feasibility") or {}, self.featurizer)
