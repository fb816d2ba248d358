"""Surrogate models of the objective: BoTorch `Model`s on architecture codes, and their fitting.

* `BlrSurrogate`: GCN embedding + Bayesian linear regression (BONAS's default), a joint
  Gaussian posterior over each q-batch.
* `EnsembleSurrogate`: a deep ensemble of GCNs (a BoTorch `EnsembleModel`).
* `fit_surrogate`: trains either from observations, optionally warm-started.
"""

from __future__ import annotations

from surrogate.models.blr import BlrPosterior, BlrSurrogate, fit_blr
from surrogate.models.ensemble import EnsembleSurrogate
from surrogate.models.fit import (
    FitOptions,
    FitReport,
    Surrogate,
    fit_surrogate,
    load_surrogate,
    train_regressor,
)
from surrogate.models.targets import TargetTransform

__all__ = [
    "BlrPosterior",
    "BlrSurrogate",
    "EnsembleSurrogate",
    "FitOptions",
    "FitReport",
    "Surrogate",
    "TargetTransform",
    "fit_blr",
    "fit_surrogate",
    "load_surrogate",
    "train_regressor",
]
