"""`BalenasSampler`: a Gaussian over per-position op logits, fitted by natural-gradient VI.

BaLeNAS (Zhang et al.) learns a Gaussian variational posterior over the architecture logits of a
differentiable super-network with a Vadam-like natural-gradient optimiser: the gradient is taken
at a *sampled* logit, not at the mean, and the running average of its square is the precision.
The CPU analogue here replaces the super-network by the fitted surrogate: every code position
gets a logit per value, `softmax(logits / T)` becomes a soft op distribution, the GCN reads the
resulting soft graph (`GraphFeaturizer.soft_basis`, linearised around the best observed
architecture), and the variational objective is the surrogate's predicted mean (plus `kappa`
predictive standard deviations). The temperature `T` is annealed towards `temperature_end`
because the GCN was trained on hard one-hot labels.

Sampling draws logits from the Gaussian and takes each position's argmax (the projection to a
discrete architecture); codes that the space rejects are redrawn.

Vadam step (Khan et al. 2018), with `N` = `effective_size` and `lam = prior_precision / N`:
`theta = mu + eps / sqrt(N (s + lam))`, `g = grad(-objective)(theta)`,
`m = b1 m + (1 - b1)(g + lam mu)`, `s = b2 s + (1 - b2) g^2`, and
`mu -= lr * m_hat / (sqrt(s_hat) + lam)` with bias-corrected `m_hat`, `s_hat`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from surrogate.exceptions import InvalidArchitectureError
from surrogate.gcn import DenseGraphs, SoftGraphBasis
from surrogate.limits import SEED_MAX, check_maxima
from surrogate.models.blr import BlrSurrogate
from surrogate.models.ensemble import EnsembleSurrogate
from surrogate.samplers.base import Sampler
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation

A = TypeVar("A")


BALENAS_MAXIMA: dict[str, float] = {
    "steps": 10000,
    "mc_samples": 1000,
    "max_tries": 1000,
    "seed": SEED_MAX,
}
"""Largest accepted value of each count of `BalenasOptions` (docs/limits.md)."""


@dataclass(frozen=True)
class BalenasOptions:
    """Options of `BalenasSampler`.

    Attributes:
        steps: Natural-gradient steps per `fit`.
        lr: Step size of the mean.
        beta1, beta2: Averaging factors of the gradient and of its square.
        prior_precision: Precision of the zero-mean Gaussian prior on the logits.
        effective_size: `N` of Vadam; larger means a narrower posterior.
        temperature_start, temperature_end: Softmax temperature, annealed geometrically over the
            steps of each `fit`.
        kappa: Weight of the surrogate's predictive std in the objective (0: the mean only).
        mc_samples: Sampled logits per step (their gradients are averaged).
        max_tries: Redraws per architecture when the codes are invalid.
        seed: Seed of the logits drawn during `fit`.
    """

    steps: int = 100
    lr: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.999
    prior_precision: float = 1.0
    effective_size: float = 20.0
    temperature_start: float = 1.0
    temperature_end: float = 0.2
    kappa: float = 0.0
    mc_samples: int = 4
    max_tries: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        check_maxima("balenas", self, BALENAS_MAXIMA)
        if self.steps < 0 or self.lr <= 0 or self.effective_size <= 0:
            raise ValueError(f"steps >= 0, lr > 0 and effective_size > 0 are required: {self}")
        if not 0 < self.temperature_end <= self.temperature_start:
            raise ValueError("0 < temperature_end <= temperature_start is required")


def surrogate_objective(surrogate: Any, graphs: DenseGraphs, kappa: float) -> Tensor:
    """Differentiable predicted mean (+ `kappa` std) on the internal scale: graphs -> `(...)`.

    Raises:
        TypeError: The surrogate cannot read dense graphs.
    """
    if isinstance(surrogate, BlrSurrogate):
        Phi = surrogate.embed_graphs(graphs)
        mean, var = surrogate.moments_from_features(Phi)
        return mean + kappa * var.clamp(min=1e-12).sqrt() if kappa else mean
    if isinstance(surrogate, EnsembleSurrogate):
        values = surrogate.predict_graphs(graphs)
        mean = values.mean(0)
        return mean + kappa * values.std(0) if kappa else mean
    raise TypeError(
        f"BalenasSampler needs a BlrSurrogate or EnsembleSurrogate, got {type(surrogate).__name__}"
    )


class BalenasSampler(Sampler[A]):
    """Thompson-style candidates from a Gaussian over op logits trained against the surrogate.

    Before it has been fitted with a surrogate, the Gaussian is the prior (zero mean), whose
    per-position argmax is uniform. `fit` warm-starts from the previous mean and precision.

    Args:
        space: The search space.
        options: Optimiser and sampling options.
    """

    name = "balenas"

    def __init__(self, space: SearchSpace[A], options: BalenasOptions | None = None) -> None:
        super().__init__(space)
        self.options = options or BalenasOptions()
        cards = space.cardinalities
        self.valid = torch.zeros(len(cards), max(cards), dtype=torch.bool)
        for p, card in enumerate(cards):
            self.valid[p, :card] = True
        shape = self.valid.shape
        self.mu = torch.zeros(shape, dtype=torch.float64)
        self.s = torch.zeros(shape, dtype=torch.float64)
        self.m = torch.zeros(shape, dtype=torch.float64)
        self.steps_done = 0
        self.fits = 0

    # --- the Gaussian -------------------------------------------------------------------------

    @property
    def std(self) -> Tensor:
        """Per-logit standard deviation `1 / sqrt(N (s + lam))`, `(P, V)`."""
        o = self.options
        lam = o.prior_precision / o.effective_size
        return 1.0 / torch.sqrt(o.effective_size * (self.s + lam))

    def probabilities(self, theta: Tensor, temperature: float) -> Tensor:
        """`softmax(theta / T)` over each position's valid values: `(..., P, V)`."""
        masked = torch.where(self.valid, theta / temperature, torch.tensor(-math.inf))
        return torch.softmax(masked, dim=-1)

    # --- fitting ------------------------------------------------------------------------------

    def fit(self, observations: Sequence[Observation[A]], surrogate: Any | None = None) -> None:
        finite = [o for o in observations if math.isfinite(o.value)]
        if surrogate is None or not finite:
            return
        best = max(finite, key=lambda o: o.value)
        basis = surrogate.featurizer.soft_basis(self.space.to_codes(best.arch))
        self._optimise(surrogate, basis)
        self.fits += 1

    def _optimise(self, surrogate: Any, basis: SoftGraphBasis) -> None:
        o = self.options
        lam = o.prior_precision / o.effective_size
        generator = torch.Generator().manual_seed(o.seed + self.fits)
        valid = self.valid & basis.valid
        for step in range(o.steps):
            fraction = step / max(o.steps - 1, 1)
            temperature = (
                o.temperature_start * (o.temperature_end / o.temperature_start) ** fraction
            )
            eps = torch.randn(
                (o.mc_samples, *self.mu.shape), generator=generator, dtype=self.mu.dtype
            )
            theta = (self.mu + eps * self.std).detach().requires_grad_(True)
            masked = torch.where(valid, theta / temperature, torch.tensor(-math.inf))
            probs = torch.softmax(masked, dim=-1).to(torch.float32)
            objective = surrogate_objective(surrogate, basis.graphs(probs), o.kappa)
            (grad,) = torch.autograd.grad(-objective.sum() / o.mc_samples, theta)
            grad = torch.where(valid, grad.sum(0), torch.zeros_like(self.mu))
            self.steps_done += 1
            t = self.steps_done
            self.m = o.beta1 * self.m + (1 - o.beta1) * (grad + lam * self.mu)
            self.s = o.beta2 * self.s + (1 - o.beta2) * grad**2
            m_hat = self.m / (1 - o.beta1**t)
            s_hat = self.s / (1 - o.beta2**t)
            self.mu = torch.where(valid, self.mu - o.lr * m_hat / (s_hat.sqrt() + lam), self.mu)

    # --- sampling -----------------------------------------------------------------------------

    def sample(self, n: int, rng: np.random.Generator) -> list[A]:
        result: list[A] = []
        mu = self.mu.numpy()
        std = self.std.numpy()
        valid = self.valid.numpy()
        for _ in range(max(n, 0)):
            arch = None
            for _ in range(self.options.max_tries):
                theta = mu + std * rng.standard_normal(mu.shape)
                codes = np.where(valid, theta, -np.inf).argmax(axis=1)
                try:
                    arch = self.space.from_codes([int(c) for c in codes])
                    self.space.validate(arch)
                    break
                except InvalidArchitectureError:
                    arch = None
            result.append(arch if arch is not None else self.space.sample(rng))
        return result

    # --- persistence --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "options": asdict(self.options),
            "mu": self.mu.tolist(),
            "s": self.s.tolist(),
            "m": self.m.tolist(),
            "steps_done": self.steps_done,
            "fits": self.fits,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mu = torch.tensor(state["mu"], dtype=torch.float64)
        if mu.shape != self.valid.shape:
            raise ValueError(
                f"state holds logits of shape {tuple(mu.shape)}, the space {self.space.name!r} "
                f"needs {tuple(self.valid.shape)}"
            )
        self.options = BalenasOptions(**state["options"])
        self.mu = mu
        self.s = torch.tensor(state["s"], dtype=torch.float64)
        self.m = torch.tensor(state["m"], dtype=torch.float64)
        self.steps_done = int(state["steps_done"])
        self.fits = int(state["fits"])
