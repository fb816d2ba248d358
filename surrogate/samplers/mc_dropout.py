"""`McDropoutSampler`: posterior-guided candidates from MC-dropout samples of a GCN (PGNAS spirit).

PGNAS samples architectures from a posterior learned jointly with a super-network's weights.
Without a super-network, the CPU analogue draws *functions* from an approximate posterior over
the surrogate: a GCN trained with dropout, evaluated with one fixed dropout mask shared by every
candidate, is one posterior function sample (Gal and Ghahramani). Each such sample ranks a large
pool of candidates and contributes its best ones, so the candidates concentrate where some
plausible function puts the optimum, which is Thompson sampling on the pool.

When asked for more candidates than it draws functions (`function_samples`), each function
contributes its top `ceil(n / samples)` candidates not already taken.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from surrogate.gcn import GCNConfig, GCNRegressor, GraphFeaturizer
from surrogate.limits import SEED_MAX, check_maxima
from surrogate.models.blr import BlrSurrogate
from surrogate.models.fit import FitOptions, fit_surrogate, load_surrogate
from surrogate.samplers.base import Sampler
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation

A = TypeVar("A")


def _default_fit() -> FitOptions:
    return FitOptions(gcn=GCNConfig(num_layers=3, width=32, dropout=0.1), epochs=100)


MC_DROPOUT_MAXIMA: dict[str, float] = {
    "pool_size": 100000,
    "function_samples": 1000,
    "seed": SEED_MAX,
}
"""Largest accepted value of each count of `McDropoutOptions` (docs/limits.md)."""


@dataclass(frozen=True)
class McDropoutOptions:
    """Options of `McDropoutSampler`.

    Attributes:
        fit: How the dropout GCN is trained (its `gcn.dropout` must be positive).
        pool_size: Distinct uniform candidates that every function sample ranks.
        function_samples: Dropout masks (function samples) drawn per `sample` call, at most.
        warm_start: Continue training the previous network after new observations.
        seed: Base seed of the network's training (the observation count is added).
    """

    fit: FitOptions = field(default_factory=_default_fit)
    pool_size: int = 2000
    function_samples: int = 16
    warm_start: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        check_maxima("mc_dropout", self, MC_DROPOUT_MAXIMA)
        if isinstance(self.fit, dict):
            object.__setattr__(self, "fit", FitOptions(**self.fit))
        if self.fit.gcn.dropout <= 0:
            raise ValueError("McDropoutOptions.fit.gcn.dropout must be positive")
        if self.pool_size < 1 or self.function_samples < 1:
            raise ValueError(f"pool_size and function_samples must be positive, got {self}")


class McDropoutSampler(Sampler[A]):
    """Top candidates of MC-dropout function samples of a GCN fitted to the observations.

    Before any observation it samples uniformly. The `surrogate` passed to `fit` is not used:
    the sampler trains its own network with dropout, so that the proposer's surrogate may stay
    deterministic.

    Args:
        space: The search space.
        options: Network, pool and sample counts.
    """

    name = "mc_dropout"

    def __init__(self, space: SearchSpace[A], options: McDropoutOptions | None = None) -> None:
        super().__init__(space)
        self.options = options or McDropoutOptions()
        self.featurizer = GraphFeaturizer(space)
        self.model: BlrSurrogate | None = None

    @property
    def regressor(self) -> GCNRegressor | None:
        return None if self.model is None else self.model.regressor

    def fit(self, observations: Sequence[Observation[A]], surrogate: Any | None = None) -> None:
        del surrogate
        finite = [o for o in observations if math.isfinite(o.value)]
        if len(finite) < 2:
            self.model = None
            return
        model, _ = fit_surrogate(
            self.space,
            [o.arch for o in finite],
            [o.value for o in finite],
            self.options.fit,
            previous=self.model if self.options.warm_start else None,
            featurizer=self.featurizer,
            seed=self.options.seed + len(finite),
        )
        assert isinstance(model, BlrSurrogate)
        self.model = model

    def sample(self, n: int, rng: np.random.Generator) -> list[A]:
        if n <= 0:
            return []
        if self.model is None:
            return [self.space.sample(rng) for _ in range(n)]
        pool = self._pool(rng)
        scores = self.function_samples(pool, min(n, self.options.function_samples), rng)
        per_sample = math.ceil(n / scores.shape[0])
        taken: set[int] = set()
        result: list[A] = []
        for row in scores:
            picked = 0
            for index in torch.argsort(row, descending=True).tolist():
                if index not in taken:
                    taken.add(index)
                    result.append(pool[index])
                    picked += 1
                    if picked == per_sample:
                        break
        return result[:n]

    def function_samples(self, archs: Sequence[A], count: int, rng: np.random.Generator) -> Any:
        """Predictions of `count` dropout function samples: `(count, len(archs))` tensor.

        Each sample fixes one Bernoulli mask per layer over the hidden channels, shared by
        every architecture, so a row is one coherent function of the architecture.
        """
        regressor = self.regressor
        assert regressor is not None
        config = regressor.config
        keep = 1.0 - config.dropout
        generator = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
        graphs = self.featurizer.featurize(list(archs))
        regressor.eval()
        rows = []
        with torch.no_grad():
            for _ in range(count):
                masks = [
                    torch.bernoulli(torch.full((config.width,), keep), generator=generator) / keep
                    for _ in range(config.num_layers)
                ]
                rows.append(regressor(graphs, masks))
        return torch.stack(rows)

    def _pool(self, rng: np.random.Generator) -> list[A]:
        seen: set[str] = set()
        pool: list[A] = []
        for _ in range(20 * self.options.pool_size):
            arch = self.space.sample(rng)
            key = self.space.key(arch)
            if key not in seen:
                seen.add(key)
                pool.append(arch)
                if len(pool) == self.options.pool_size:
                    break
        return pool

    def state_dict(self) -> dict[str, Any]:
        return {
            "options": asdict(self.options),
            "model": None if self.model is None else self.model.to_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        options = dict(state["options"])
        fit = dict(options.pop("fit"))
        fit["gcn"] = GCNConfig(**fit["gcn"])
        self.options = McDropoutOptions(fit=FitOptions(**fit), **options)
        model_state = state.get("model")
        model = None if model_state is None else load_surrogate(self.featurizer, model_state)
        assert model is None or isinstance(model, BlrSurrogate)
        self.model = model
