"""The internal target scale of the surrogate, and the way back to the user's units.

Objective values arrive in the user's units (validation accuracy in percent, say), larger is
better. The networks and the Bayesian linear regression work on an internal scale `z`:

* `"rank"` (the default): a Gaussian copula, `z = Phi^-1((rank(y) - 1/2) / n)`, interpolated
  linearly between the observed values (ties share their mean rank). It assumes nothing about
  the objective's range or distribution, so it serves any objective, and a few catastrophic
  architectures (NAS-Bench-201's 10 % cells) no longer dominate a mean-square loss: on
  NAS-Bench-201 it raised the held-out Kendall tau of the surrogate markedly over
  standardisation (see `bonas bench predictor`).
* `"standardize"`: `z = (y - mean) / std` over the observations.
* `"logit"`: BONAS's choice: `z = logit(y / scale)`, standardised afterwards, for objectives that
  are fractions of `scale` (accuracy in percent with `scale = 100`). Values are clipped to
  `[eps, 1 - eps]` of `scale` first.

Every acquisition function ranks candidates on `z`. Since `z` is an increasing function of `y`,
criteria built from quantiles or samples (single-point UCB, Thompson sampling) pick the same
candidates on either scale; expectation-based ones (EI) weigh the tails a little differently.
Predicted means and standard deviations reported to users are mapped back: exactly for
`"standardize"`, by Gauss-Hermite quadrature of the moments of a sigmoid of a Gaussian for
`"logit"`, and for `"rank"` through the interpolated quantile function (mean at `z`, std as half
the width of the `z +- 1 sd` interval), extrapolated linearly beyond the observed range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

TargetKind = Literal["rank", "standardize", "logit"]

_HERMITE_POINTS = 32


@dataclass(frozen=True)
class TargetTransform:
    """Monotone map between user units `y` and the internal scale `z`.

    Attributes:
        kind: `"standardize"` or `"logit"`.
        shift, spread: Standardisation constants applied last (on `y`, or on `logit(y/scale)`).
        scale: The value of `y` that means "100 %" (logit only).
        lower, upper: Smallest and largest observed `y` (for BONAS's loss weights).
        eps: Clipping margin of the logit, as a fraction of `scale`.
        knots_y, knots_z: Distinct observed values and their copula scores (rank only).
    """

    kind: TargetKind
    shift: float
    spread: float
    scale: float = 1.0
    lower: float = 0.0
    upper: float = 1.0
    eps: float = 1e-3
    knots_y: tuple[float, ...] = ()
    knots_z: tuple[float, ...] = ()

    @classmethod
    def fit(cls, y: Tensor, kind: TargetKind = "rank", scale: float = 1.0) -> TargetTransform:
        """Choose the constants from observed values `y` of shape `(n,)`."""
        y = y.detach().to(torch.float64).reshape(-1)
        lower, upper = float(y.min()), float(y.max())
        knots_y: tuple[float, ...] = ()
        knots_z: tuple[float, ...] = ()
        if kind == "rank":
            knots_y, knots_z = _copula_knots(y)
        base = cls(kind, 0.0, 1.0, scale, lower, upper, knots_y=knots_y, knots_z=knots_z)
        pre = base._pre(y)
        spread = float(pre.std()) if pre.numel() > 1 else 1.0
        if not math.isfinite(spread) or spread < 1e-8:
            spread = 1.0
        shift = float(pre.mean())
        return cls(kind, shift, spread, scale, lower, upper, knots_y=knots_y, knots_z=knots_z)

    def _pre(self, y: Tensor) -> Tensor:
        if self.kind == "standardize":
            return y
        if self.kind == "rank":
            return _interp(y, self.knots_y, self.knots_z)
        frac = (y / self.scale).clamp(self.eps, 1.0 - self.eps)
        return torch.log(frac) - torch.log1p(-frac)

    def forward(self, y: Tensor) -> Tensor:
        """`z` for user values `y` (any shape)."""
        return (self._pre(y.to(torch.float64)) - self.shift) / self.spread

    def goodness(self, y: Tensor) -> Tensor:
        """`y` mapped linearly to `[0, 1]` over the observed range (1 = best observed).

        BONAS weighs its loss by `exp(y - 1)` with `y` an accuracy fraction; using the position
        in the observed range keeps that emphasis on good architectures for any objective.
        """
        width = max(self.upper - self.lower, 1e-12)
        return ((y.to(torch.float64) - self.lower) / width).clamp(0.0, 1.0)

    def untransform_moments(self, mean: Tensor, var: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and standard deviation in user units of `y` when `z ~ N(mean, var)`."""
        m = mean * self.spread + self.shift
        v = var.clamp(min=0.0) * self.spread**2
        if self.kind == "standardize":
            return m, v.sqrt()
        if self.kind == "rank":
            s = v.sqrt()
            centre = _interp(m, self.knots_z, self.knots_y)
            high = _interp(m + s, self.knots_z, self.knots_y)
            low = _interp(m - s, self.knots_z, self.knots_y)
            return centre, (high - low) / 2
        # Gauss-Hermite quadrature of E[sigmoid(f)] and E[sigmoid(f)^2], f ~ N(m, v). BONAS's
        # probit approximation of the second moment is off by up to 0.13 (of `scale`) even at
        # zero variance, which would misreport the predicted std.
        nodes, weights = np.polynomial.hermite.hermgauss(_HERMITE_POINTS)
        x = torch.as_tensor(nodes, dtype=torch.float64)
        w = torch.as_tensor(weights, dtype=torch.float64) / math.sqrt(math.pi)
        values = torch.sigmoid(m.unsqueeze(-1) + torch.sqrt(2.0 * v).unsqueeze(-1) * x)
        first = (values * w).sum(-1)
        second = (values**2 * w).sum(-1)
        std = (second - first**2).clamp(min=0.0).sqrt()
        return first * self.scale, std * self.scale

    def state_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> TargetTransform:
        fields: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in state.items()
        }
        return cls(**fields)


def _copula_knots(y: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Distinct values of `y` and the normal scores of their mean ranks."""
    values, inverse = torch.unique(y, sorted=True, return_inverse=True)
    n = y.numel()
    ranks = torch.argsort(torch.argsort(y)).to(torch.float64) + 1.0  # 1..n, ties broken
    mean_rank = torch.zeros_like(values).index_add_(0, inverse, ranks)
    mean_rank = mean_rank / torch.bincount(inverse, minlength=values.numel())
    scores = torch.special.ndtri((mean_rank - 0.5) / n)
    return tuple(values.tolist()), tuple(scores.tolist())


def _interp(x: Tensor, xs: tuple[float, ...], ys: tuple[float, ...]) -> Tensor:
    """Piecewise-linear map through `(xs, ys)` (increasing), extrapolated linearly at both ends.

    The end slopes are those of the chords over the outer tenth of the knots, so that a single
    extreme value does not set them.
    """
    if len(xs) == 1:
        return torch.full_like(x, ys[0], dtype=torch.float64)
    kx = torch.tensor(xs, dtype=torch.float64)
    ky = torch.tensor(ys, dtype=torch.float64)
    x = x.to(torch.float64)
    idx = torch.searchsorted(kx, x.clamp(kx[0], kx[-1]).contiguous()).clamp(1, len(xs) - 1)
    x0, x1, y0, y1 = kx[idx - 1], kx[idx], ky[idx - 1], ky[idx]
    inside = y0 + (y1 - y0) * (x.clamp(kx[0], kx[-1]) - x0) / (x1 - x0)
    reach = max(1, len(xs) // 10)
    slope_low = (ky[reach] - ky[0]) / (kx[reach] - kx[0])
    slope_high = (ky[-1] - ky[-1 - reach]) / (kx[-1] - kx[-1 - reach])
    below = ky[0] + slope_low * (x - kx[0])
    above = ky[-1] + slope_high * (x - kx[-1])
    return torch.where(x < kx[0], below, torch.where(x > kx[-1], above, inside))
