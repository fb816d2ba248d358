"""The BoTorch surrogates: posterior shapes, calibration, fitting, warm starts, persistence."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from botorch.posteriors.ensemble import EnsemblePosterior
from botorch.posteriors.gpytorch import GPyTorchPosterior

from surrogate.gcn import GCNConfig, GraphFeaturizer
from surrogate.models import (
    BlrSurrogate,
    EnsembleSurrogate,
    FitOptions,
    TargetTransform,
    fit_blr,
    fit_surrogate,
    load_surrogate,
)
from surrogate.models.blr import log_evidence
from surrogate.spaces import get_space
from tests.support.toys import live_additive_value

SPACE = get_space("nb201")
TINY = FitOptions(gcn=GCNConfig(num_layers=2, width=16), epochs=40, warm_epochs=5, lr=0.01)


def toy_value(arch: tuple[str, ...]) -> float:
    return live_additive_value(SPACE, arch)


def toy_data(n: int, seed: int) -> tuple[list[tuple[str, ...]], torch.Tensor]:
    rng = np.random.default_rng(seed)
    archs = list({SPACE.key(a): a for a in (SPACE.sample(rng) for _ in range(n))}.values())
    return archs, torch.tensor([toy_value(a) for a in archs], dtype=torch.float64)


@pytest.fixture(scope="module")
def blr_model() -> BlrSurrogate:
    archs, y = toy_data(150, 0)
    model, _ = fit_surrogate(SPACE, archs, y, TINY, seed=0)
    assert isinstance(model, BlrSurrogate)
    return model


def test_fit_blr_recovers_a_linear_model() -> None:
    g = torch.Generator().manual_seed(0)
    Phi = torch.randn(400, 5, generator=g, dtype=torch.float64)
    w = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0], dtype=torch.float64)
    z = Phi @ w + 0.1 * torch.randn(400, generator=g, dtype=torch.float64)
    blr = fit_blr(Phi, z)
    assert torch.allclose(blr.mean, w, atol=0.05)
    assert 50 < blr.beta < 200  # noise std 0.1 -> precision 100
    assert blr.iterations <= 200
    # The precisions maximise the evidence: moving either away lowers it.
    best = log_evidence(Phi, z, blr)
    for alpha, beta in [(blr.alpha * 3, blr.beta), (blr.alpha, blr.beta / 3)]:
        other = fit_blr(Phi, z, alpha0=alpha, beta0=beta, max_iter=0)
        moved = dataclasses.replace(blr, alpha=alpha, beta=beta, mean=other.mean, cov=other.cov)
        assert log_evidence(Phi, z, moved) < best


def test_posterior_shapes_and_full_covariance(blr_model: BlrSurrogate) -> None:
    assert blr_model.num_outputs == 1 and blr_model.batch_shape == torch.Size([])
    rng = np.random.default_rng(5)
    X = SPACE.encode_many([SPACE.sample(rng) for _ in range(12)])
    post = blr_model.posterior(X)  # n x d: one joint batch of n
    assert isinstance(post, GPyTorchPosterior)
    assert post.mean.shape == (12, 1) and post.variance.shape == (12, 1)
    Xb = X.reshape(3, 4, -1)  # batch x q x d
    post_b = blr_model.posterior(Xb)
    assert post_b.mean.shape == (3, 4, 1)
    cov = post_b.distribution.covariance_matrix
    assert cov.shape == (3, 4, 4)
    Phi = blr_model.embed(Xb)
    expected = Phi @ blr_model.blr.cov @ Phi.transpose(-1, -2)
    assert torch.allclose(cov, expected, atol=1e-7)
    off_diagonal = cov - torch.diag_embed(torch.diagonal(cov, dim1=-2, dim2=-1))
    assert off_diagonal.abs().max() > 0  # the q points are correlated, not independent
    noisy = blr_model.posterior(Xb, observation_noise=True).distribution.covariance_matrix
    assert torch.allclose(
        noisy - cov, torch.eye(4, dtype=cov.dtype) / blr_model.blr.beta, atol=1e-7
    )
    samples = post_b.rsample(torch.Size([7]))
    assert samples.shape == (7, 3, 4, 1)


def test_predictive_intervals_are_calibrated_on_a_toy_function(blr_model: BlrSurrogate) -> None:
    test_archs, y_test = toy_data(400, 99)
    X = SPACE.encode_many(test_archs)
    z_true = blr_model.transform.forward(y_test)
    mean, var = blr_model.moments_from_features(blr_model.embed(X), observation_noise=True)
    inside = ((z_true - mean).abs() <= 1.645 * var.sqrt()).double().mean().item()
    assert 0.75 <= inside <= 0.99, f"90% intervals cover {inside:.2f} of held-out points"
    # And the model has learnt the function, not just widened its intervals.
    user_mean, _ = blr_model.predict_user(X)
    assert np.corrcoef(user_mean.numpy(), y_test.numpy())[0, 1] > 0.9


def test_warm_start_continues_from_the_previous_weights(blr_model: BlrSurrogate) -> None:
    archs, y = toy_data(150, 0)
    before = {k: v.clone() for k, v in blr_model.regressor.state_dict().items()}
    frozen = dataclasses.replace(TINY, lr=1e-12)
    warm, report = fit_surrogate(SPACE, archs, y, frozen, previous=blr_model, seed=1)
    assert report.warm_started and report.epochs == TINY.warm_epochs
    assert isinstance(warm, BlrSurrogate)
    for name, value in warm.regressor.state_dict().items():
        if value.dtype.is_floating_point and "running" not in name:
            assert torch.allclose(value, before[name], atol=1e-6), name
    for name, value in blr_model.regressor.state_dict().items():  # previous left untouched
        assert torch.equal(value, before[name])
    cold, cold_report = fit_surrogate(SPACE, archs, y, frozen, seed=1)
    assert not cold_report.warm_started and cold_report.epochs == TINY.epochs
    assert isinstance(cold, BlrSurrogate)
    weight = "encoder.convs.0.lin.weight"
    assert not torch.allclose(cold.regressor.state_dict()[weight], before[weight])
    # A previous model of another shape is ignored rather than half-loaded.
    other = dataclasses.replace(TINY, gcn=GCNConfig(num_layers=2, width=8))
    _, mismatch = fit_surrogate(SPACE, archs, y, other, previous=blr_model)
    assert not mismatch.warm_started


def test_fitting_is_reproducible_from_the_seed() -> None:
    archs, y = toy_data(40, 3)
    X = SPACE.encode_many(archs[:5])
    a, _ = fit_surrogate(SPACE, archs, y, TINY, seed=7)
    b, _ = fit_surrogate(SPACE, archs, y, TINY, seed=7)
    assert torch.equal(a.posterior(X).mean, b.posterior(X).mean)


def test_state_round_trip_gives_the_same_posterior(blr_model: BlrSurrogate) -> None:
    X = SPACE.encode_many([SPACE.sample(np.random.default_rng(8)) for _ in range(6)])
    restored = load_surrogate(GraphFeaturizer(SPACE), blr_model.to_state())
    a, b = blr_model.posterior(X), restored.posterior(X)
    assert torch.equal(a.mean, b.mean) and torch.equal(a.variance, b.variance)


def test_several_gcns_share_one_regression() -> None:
    archs, y = toy_data(80, 5)
    options = dataclasses.replace(TINY, blr_gcns=3, epochs=15)
    model, report = fit_surrogate(SPACE, archs, y, options, seed=0)
    assert isinstance(model, BlrSurrogate) and len(model.regressors) == 3
    assert report.steps == 3 * report.epochs * math.ceil(len(archs) / options.batch_size)
    X = SPACE.encode_many(archs[:6])
    # The features are the three embeddings side by side, and the networks differ.
    Phi = model.embed(X)
    width = options.gcn.width
    assert Phi.shape == (6, 3 * width) and model.blr.mean.shape == (3 * width,)
    assert not torch.allclose(Phi[:, :width], Phi[:, width : 2 * width])
    post = model.posterior(X.reshape(2, 3, -1))
    assert post.mean.shape == (2, 3, 1) and post.mvn.covariance_matrix.shape == (2, 3, 3)
    # Every network is warm-started from its own predecessor, and the state keeps them all.
    warm, warm_report = fit_surrogate(SPACE, archs, y, options, previous=model, seed=1)
    assert warm_report.warm_started and isinstance(warm, BlrSurrogate)
    restored = load_surrogate(GraphFeaturizer(SPACE), model.to_state())
    assert torch.equal(restored.posterior(X).mean, model.posterior(X).mean)
    # A different number of networks is a different shape: fit from scratch.
    _, other = fit_surrogate(SPACE, archs, y, TINY, previous=model)
    assert not other.warm_started
    with pytest.raises(ValueError, match="blr_gcns"):
        dataclasses.replace(TINY, blr_gcns=0)


def test_a_state_saved_with_one_gcn_still_loads(blr_model: BlrSurrogate) -> None:
    state = blr_model.to_state()
    state["regressor"] = state.pop("regressors")[0]  # the layout before `blr_gcns`
    X = SPACE.encode_many(toy_data(10, 6)[0])
    restored = load_surrogate(GraphFeaturizer(SPACE), state)
    assert torch.equal(restored.posterior(X).mean, blr_model.posterior(X).mean)


def test_ensemble_surrogate_posterior() -> None:
    archs, y = toy_data(60, 4)
    options = dataclasses.replace(TINY, model="ensemble", ensemble_size=3, epochs=15)
    model, report = fit_surrogate(SPACE, archs, y, options, seed=0)
    assert isinstance(model, EnsembleSurrogate) and report.alpha is None
    X = SPACE.encode_many(archs[:8]).reshape(2, 4, -1)
    post = model.posterior(X)
    assert isinstance(post, EnsemblePosterior)
    assert post.mean.shape == (2, 4, 1) and post.values.shape == (2, 3, 4, 1)
    mean, std = model.predict_user(SPACE.encode_many(archs[:8]))
    assert mean.shape == (8,) and bool((std >= 0).all())
    restored = load_surrogate(GraphFeaturizer(SPACE), model.to_state())
    assert torch.equal(restored.posterior(X).mean, post.mean)
    warm, warm_report = fit_surrogate(SPACE, archs, y, options, previous=model)
    assert warm_report.warm_started and isinstance(warm, EnsembleSurrogate)


@pytest.mark.parametrize("kind", ["rank", "standardize", "logit"])
def test_target_transforms_are_monotone_and_invertible(kind: str) -> None:
    y = torch.tensor([10.0, 55.0, 70.0, 70.0, 88.5, 91.0, 93.2], dtype=torch.float64)
    transform = TargetTransform.fit(y, kind, scale=100.0)  # type: ignore[arg-type]
    z = transform.forward(y)
    assert torch.all(z[1:] >= z[:-1]) and abs(float(z.mean())) < 1e-9
    back, std = transform.untransform_moments(z, torch.zeros_like(z))
    assert torch.allclose(back, y, atol=1e-6) and float(std.max()) < 1e-4
    _, wide = transform.untransform_moments(z, torch.full_like(z, 0.04))
    assert bool((wide > 0).all())
    assert TargetTransform.from_state_dict(transform.state_dict()) == transform
    weights = transform.goodness(y)
    assert float(weights.min()) == 0.0 and float(weights.max()) == 1.0


def test_rank_transform_extrapolates_beyond_the_observed_range() -> None:
    y = torch.linspace(50, 90, 41, dtype=torch.float64)
    transform = TargetTransform.fit(y, "rank")
    above, _ = transform.untransform_moments(torch.tensor([5.0]), torch.zeros(1))
    assert float(above) > 90.0


def test_min_steps_trains_small_data_longer() -> None:
    archs, y = toy_data(40, 6)  # one minibatch per epoch
    options = dataclasses.replace(TINY, epochs=4, warm_epochs=2, min_steps=12, batch_size=64)
    model, report = fit_surrogate(SPACE, archs, y, options)
    assert report.epochs == 12 and report.steps == 12
    _, warm = fit_surrogate(SPACE, archs, y, options, previous=model)
    assert warm.warm_started and warm.epochs == 6  # its share: 12 * 2 / 4


@pytest.mark.parametrize("cardinalities", [(5,) * 6, (8,) * 40])  # exact keys; tuple fallback
def test_row_cache_computes_each_row_once(cardinalities: tuple[int, ...]) -> None:
    from surrogate.models.blr import RowCache

    cache = RowCache(cardinalities)
    assert cache.exact == (len(cardinalities) == 6)
    calls: list[int] = []

    def compute(rows: torch.Tensor) -> torch.Tensor:
        calls.append(rows.shape[0])
        return rows.sum(-1, keepdim=True).double()

    g = torch.Generator().manual_seed(0)
    rows = torch.randint(0, 5, (50, len(cardinalities)), generator=g)
    rows = torch.cat([rows, rows[:10]])  # repeats within one call
    first = cache.lookup(rows, compute)
    assert torch.equal(first, rows.sum(-1, keepdim=True).double())
    assert calls == [50]
    again = cache.lookup(rows[[3, 1, 3]], compute)
    assert calls == [50] and torch.equal(again, first[[3, 1, 3]])
