"""BONAS's default surrogate: Bayesian linear regression on the GCN's global-node embedding.

The GCN gives each architecture a feature vector `phi` (its global-node embedding); a Bayesian
linear regression `z = phi^T w + noise` on top of it turns the point predictor into a posterior.
As in BONAS (a DNGO-style model), the prior `w ~ N(0, I / alpha)` and the noise precision `beta`
are set by maximising the evidence with MacKay's fixed-point updates, starting both at `1e-5`
for at most 200 iterations, and there is no intercept unless asked for. For a q-batch of
embeddings `Phi` (`q x D`) the latent posterior is `N(Phi m_N, Phi S_N Phi^T)`; with observation
noise the covariance gains `I / beta`, which is BONAS's predictive variance
`1 / beta + phi^T S_N phi` on the diagonal.

`BlrSurrogate` is a BoTorch `Model` on the codes (`batch x q x d`), so every BoTorch acquisition
function can use it. It is fitted by `surrogate.models.fit.fit_surrogate`, not by itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from torch import Tensor, nn

from surrogate.gcn import (
    DenseGraphs,
    GCNConfig,
    GCNEncoder,
    GCNRegressor,
    GraphFeaturizer,
    embed_in_chunks,
)
from surrogate.models.targets import TargetTransform

JITTER = 1e-9


@dataclass(frozen=True)
class BlrPosterior:
    """The fitted weights' posterior `N(mean, cov)` and the two precisions.

    Attributes:
        mean: `(D,)` posterior mean `m_N`.
        cov: `(D, D)` posterior covariance `S_N`.
        alpha: Prior precision of the weights.
        beta: Noise precision.
        iterations: Evidence-maximisation iterations used.
        intercept: Whether a constant feature was appended to the embeddings.
    """

    mean: Tensor
    cov: Tensor
    alpha: float
    beta: float
    iterations: int
    intercept: bool = False


def design_matrix(embeddings: Tensor, intercept: bool) -> Tensor:
    """Embeddings as float64 features, with a trailing column of ones if `intercept`."""
    Phi = embeddings.to(torch.float64)
    if intercept:
        Phi = torch.cat([Phi, torch.ones_like(Phi[..., :1])], dim=-1)
    return Phi


def fit_blr(
    Phi: Tensor,
    z: Tensor,
    *,
    intercept: bool = False,
    alpha0: float = 1e-5,
    beta0: float = 1e-5,
    max_iter: int = 200,
    tol: float = 1e-6,
) -> BlrPosterior:
    """Bayesian linear regression with evidence maximisation (MacKay's fixed point).

    With `lambda_i` the eigenvalues of `beta Phi^T Phi`, each iteration sets
    `gamma = sum_i lambda_i / (lambda_i + alpha)`, `alpha = gamma / |m_N|^2` and
    `beta = (n - gamma) / |z - Phi m_N|^2`, recomputing `m_N` in the eigenbasis.

    Args:
        Phi: `(n, D)` features (already passed through `design_matrix`).
        z: `(n,)` targets on the internal scale.
        intercept: Recorded in the result (the column must already be in `Phi`).
        alpha0, beta0: Starting precisions.
        max_iter: Iteration cap.
        tol: Stop when both precisions change by less than this relative amount.
    """
    Phi = Phi.to(torch.float64)
    z = z.to(torch.float64)
    n = Phi.shape[0]
    eigvals, V = torch.linalg.eigh(Phi.T @ Phi)
    eigvals = eigvals.clamp(min=0.0)
    proj = V.T @ (Phi.T @ z)  # Phi^T z in the eigenbasis, (D,)
    alpha, beta = alpha0, beta0
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
        m_eig = beta * proj / (alpha + beta * eigvals)
        lam = beta * eigvals
        gamma = float((lam / (lam + alpha)).sum())
        m_sq = float((m_eig**2).sum())
        residual = float(((z - Phi @ (V @ m_eig)) ** 2).sum())
        new_alpha = gamma / max(m_sq, 1e-300)
        new_beta = max(n - gamma, 1e-6) / max(residual, 1e-300)
        alpha_settled = abs(new_alpha - alpha) <= tol * abs(alpha)
        converged = alpha_settled and abs(new_beta - beta) <= tol * abs(beta)
        alpha, beta = min(new_alpha, 1e12), min(new_beta, 1e12)
        if converged:
            break
    inv = 1.0 / (alpha + beta * eigvals)
    cov = (V * inv) @ V.T
    mean = beta * (V @ (inv * proj))
    return BlrPosterior(mean, cov, alpha, beta, iterations, intercept)


class RowCache:
    """Values computed once per distinct code row, found again by an exact integer row key.

    A row's key is its mixed-radix number over the space's cardinalities, so a batch of
    100,000 rows is looked up with one sort and one binary search rather than 100,000 Python
    hashes. Spaces too wide for a 62-bit key fall back to hashing row tuples.
    """

    def __init__(self, cardinalities: tuple[int, ...]) -> None:
        multipliers, size = [], 1
        for cardinality in reversed(cardinalities):
            multipliers.append(size)
            size *= max(int(cardinality), 1)
        self.exact = size < 2**62
        self.radix = torch.tensor(multipliers[::-1] if self.exact else [], dtype=torch.int64)
        self.keys = torch.zeros(0, dtype=torch.int64)  # sorted
        self.slots = torch.zeros(0, dtype=torch.int64)  # table row of each key
        self.table: Tensor | None = None
        self._tuples: dict[tuple[int, ...], int] = {}

    def lookup(self, rows: Tensor, compute: Callable[[Tensor], Tensor]) -> Tensor:
        """Values of `(n, d)` int64 rows, calling `compute` on the rows never seen before."""
        if not self.exact:
            return self._lookup_tuples(rows, compute)
        keys, inverse = torch.unique((rows * self.radix).sum(-1), return_inverse=True)
        found = self._found(keys)
        if not bool(found.all()):
            first = torch.full((keys.numel(),), rows.shape[0], dtype=torch.int64)
            first.scatter_reduce_(0, inverse, torch.arange(rows.shape[0]), reduce="amin")
            missing = (~found).nonzero().reshape(-1)
            self._append(keys[missing], compute(rows[first[missing]]))
        assert self.table is not None
        slots = self.slots[torch.searchsorted(self.keys, keys)]
        return self.table[slots[inverse]]

    def _found(self, keys: Tensor) -> Tensor:
        if self.keys.numel() == 0:
            return torch.zeros(keys.shape, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, keys).clamp(max=self.keys.numel() - 1)
        found: Tensor = self.keys[pos] == keys
        return found

    def _append(self, keys: Tensor, values: Tensor) -> None:
        start = 0 if self.table is None else self.table.shape[0]
        self.table = values if self.table is None else torch.cat([self.table, values])
        all_keys = torch.cat([self.keys, keys])
        all_slots = torch.cat([self.slots, torch.arange(start, start + keys.numel())])
        order = torch.argsort(all_keys)
        self.keys, self.slots = all_keys[order], all_slots[order]

    def _lookup_tuples(self, rows: Tensor, compute: Callable[[Tensor], Tensor]) -> Tensor:
        unique, inverse = torch.unique(rows, dim=0, return_inverse=True)
        keys = [tuple(row) for row in unique.tolist()]
        missing = [i for i, key in enumerate(keys) if key not in self._tuples]
        if missing:
            values = compute(unique[missing])
            start = 0 if self.table is None else self.table.shape[0]
            self.table = values if self.table is None else torch.cat([self.table, values])
            for offset, i in enumerate(missing):
                self._tuples[keys[i]] = start + offset
        assert self.table is not None
        index = torch.tensor([self._tuples[key] for key in keys], dtype=torch.int64)
        return self.table[index[inverse]]


class BlrSurrogate(Model):
    """GCN embedding plus Bayesian linear regression, as a BoTorch `Model` on code rows.

    Outputs are on the internal target scale `z` (see `surrogate.models.targets`);
    `predict_user` maps moments back to the user's units.

    With several GCNs (`FitOptions.blr_gcns`), the features are their embeddings side by side
    and one regression weighs them all: the networks, trained from different initialisations,
    each fit the few observations in their own way, and the regression averages out what is
    particular to one of them while the posterior stays one Gaussian over the whole q-batch.

    Args:
        featurizer: Turns code rows into dense graphs (shared, with its cache, by the caller).
        regressors: The trained GCNs (their encoders provide the embeddings; the heads are kept
            for warm starts). A single network may be passed as is.
        blr: The fitted regression.
        transform: The internal target scale.
    """

    _num_outputs = 1

    def __init__(
        self,
        featurizer: GraphFeaturizer,
        regressors: GCNRegressor | Sequence[GCNRegressor],
        blr: BlrPosterior,
        transform: TargetTransform,
    ) -> None:
        super().__init__()
        self.featurizer = featurizer
        if isinstance(regressors, GCNRegressor):
            regressors = [regressors]
        if not regressors:
            raise ValueError("a BlrSurrogate needs at least one GCN")
        configs = {regressor.config for regressor in regressors}
        if len(configs) > 1:
            raise ValueError(f"the GCNs of one BlrSurrogate must share a shape, got {configs}")
        self.regressors = nn.ModuleList(regressors)
        self.blr = blr
        self.transform = transform
        self.regressors.eval()
        self._cache = RowCache(featurizer.space.cardinalities)

    @property
    def num_outputs(self) -> int:
        return 1

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size([])

    @property
    def regressor(self) -> GCNRegressor:
        """The first GCN (the only one unless `FitOptions.blr_gcns` asked for more)."""
        first = self.regressors[0]
        assert isinstance(first, GCNRegressor)
        return first

    @property
    def gcn_config(self) -> GCNConfig:
        return self.regressor.config

    def _encoders(self) -> list[GCNEncoder]:
        encoders = []
        for regressor in self.regressors:
            assert isinstance(regressor, GCNRegressor)
            encoders.append(regressor.encoder)
        return encoders

    # --- features -----------------------------------------------------------------------------

    def embed(self, X: Tensor) -> Tensor:
        """Features `Phi` of code rows: `(..., d)` -> `(..., D)` float64, no gradient.

        The model never changes after fitting, so each distinct row is embedded once and kept:
        sequential greedy selection re-scores the same candidates (joined with the pending
        ones) at every step, and only the first pass runs the GCN.
        """
        lead = X.shape[:-1]
        flat = torch.round(X.detach().reshape(-1, X.shape[-1])).to(torch.int64)
        return self._cache.lookup(flat, self._embed_rows).reshape(*lead, -1)

    def _embed_rows(self, rows: Tensor) -> Tensor:
        graphs = self.featurizer.featurize_codes(rows)
        self.regressors.eval()
        embeddings = [embed_in_chunks(encoder, graphs) for encoder in self._encoders()]
        return design_matrix(torch.cat(embeddings, dim=-1), self.blr.intercept)

    def embed_graphs(self, graphs: DenseGraphs) -> Tensor:
        """Differentiable features of dense (possibly soft) graphs: `(..., D)` float64."""
        self.regressors.eval()
        embeddings = [encoder(graphs) for encoder in self._encoders()]
        return design_matrix(torch.cat(embeddings, dim=-1), self.blr.intercept)

    # --- posterior ----------------------------------------------------------------------------

    def moments_from_features(
        self, Phi: Tensor, observation_noise: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Marginal mean and variance on the internal scale: `(..., D)` -> two `(...)`."""
        mean = Phi @ self.blr.mean
        var = ((Phi @ self.blr.cov) * Phi).sum(-1)
        if observation_noise:
            var = var + 1.0 / self.blr.beta
        return mean, var

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: PosteriorTransform | None = None,
        **kwargs: Any,
    ) -> GPyTorchPosterior:
        """Joint posterior over each q-batch of code rows.

        Args:
            X: `batch_shape x q x d` codes (a `q x d` tensor is one batch).
            output_indices: Must be `None` or `[0]` (one output).
            observation_noise: False for the latent function; True to add `I / beta`; a tensor
                (broadcastable to `batch_shape x q x 1`) to add that noise variance instead.
            posterior_transform: Optional BoTorch posterior transform.

        Returns:
            A `GPyTorchPosterior` whose `MultivariateNormal` has batch shape `batch_shape`,
            event shape `q`, and covariance `Phi S_N Phi^T (+ noise) + jitter`.
        """
        if output_indices not in (None, [0]):
            raise ValueError(f"BlrSurrogate has one output; got output_indices={output_indices}")
        Phi = self.embed(X)
        mean = Phi @ self.blr.mean
        cov = Phi @ self.blr.cov @ Phi.transpose(-1, -2)
        q = X.shape[-2]
        eye = torch.eye(q, dtype=cov.dtype)
        if isinstance(observation_noise, Tensor):
            cov = cov + torch.diag_embed(observation_noise.to(cov).expand(*mean.shape, 1)[..., 0])
        elif observation_noise:
            cov = cov + eye / self.blr.beta
        cov = cov + JITTER * eye
        posterior = GPyTorchPosterior(MultivariateNormal(mean, cov))
        if posterior_transform is not None:
            transformed: GPyTorchPosterior = posterior_transform(posterior)
            return transformed
        return posterior

    def predict_user(self, X: Tensor, observation_noise: bool = True) -> tuple[Tensor, Tensor]:
        """Predicted mean and std in the user's units for `(n, d)` code rows."""
        mean, var = self.moments_from_features(self.embed(X), observation_noise)
        return self.transform.untransform_moments(mean, var)

    def sample_weights(self, num_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """Draws of the regression weights `w ~ N(m_N, S_N)`: `(num_samples, D)`.

        `Phi @ w.T` is then a posterior function sample over any set of candidates, which is
        how Thompson sampling scores a pool of 10,000 without a 10,000-square covariance.
        """
        D = self.blr.mean.shape[0]
        eps = torch.randn(num_samples, D, dtype=torch.float64, generator=generator)
        L = torch.linalg.cholesky(self.blr.cov + JITTER * torch.eye(D, dtype=torch.float64))
        draws: Tensor = self.blr.mean + eps @ L.T
        return draws

    # --- persistence --------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Everything needed to rebuild this model exactly (tensors and plain values)."""
        cfg = self.gcn_config
        return {
            "kind": "blr",
            "gcn": dict(cfg.__dict__),
            "num_features": self.regressor.encoder.num_features,
            "num_nodes": self.regressor.encoder.num_nodes,
            "regressors": [
                {k: v.clone() for k, v in regressor.state_dict().items()}
                for regressor in self.regressors
            ],
            "blr": {
                "mean": self.blr.mean.clone(),
                "cov": self.blr.cov.clone(),
                "alpha": self.blr.alpha,
                "beta": self.blr.beta,
                "iterations": self.blr.iterations,
                "intercept": self.blr.intercept,
            },
            "transform": self.transform.state_dict(),
        }

    @classmethod
    def from_state(cls, featurizer: GraphFeaturizer, state: dict[str, Any]) -> BlrSurrogate:
        # States written before several GCNs were possible hold one "regressor".
        weights = state["regressors"] if "regressors" in state else [state["regressor"]]
        regressors = []
        for member in weights:
            regressor = GCNRegressor(
                int(state["num_features"]), int(state["num_nodes"]), GCNConfig(**state["gcn"])
            )
            regressor.load_state_dict(member)
            regressors.append(regressor)
        blr = BlrPosterior(**state["blr"])
        transform = TargetTransform.from_state_dict(state["transform"])
        return cls(featurizer, regressors, blr, transform)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(space={self.featurizer.space.name!r}, "
            f"gcn={self.gcn_config} x {len(self.regressors)}, "
            f"alpha={self.blr.alpha:.3g}, beta={self.blr.beta:.3g})"
        )


def log_evidence(Phi: Tensor, z: Tensor, blr: BlrPosterior) -> float:
    """Log marginal likelihood of `z` under the fitted precisions (for diagnostics and tests)."""
    n, D = Phi.shape
    m = blr.mean
    A = blr.alpha * torch.eye(D, dtype=torch.float64) + blr.beta * Phi.T @ Phi
    misfit = blr.beta / 2 * float(((z - Phi @ m) ** 2).sum()) + blr.alpha / 2 * float(m @ m)
    logdet = float(torch.linalg.slogdet(A)[1])
    return (
        D / 2 * math.log(blr.alpha)
        + n / 2 * math.log(blr.beta)
        - misfit
        - logdet / 2
        - n / 2 * math.log(2 * math.pi)
    )
