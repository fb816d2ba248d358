"""The GCN-based samplers: MC-dropout function samples (PGNAS) and the BaLeNAS Gaussian."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from surrogate.gcn import GCNConfig
from surrogate.models import FitOptions, fit_surrogate
from surrogate.samplers.balenas import BalenasOptions, BalenasSampler
from surrogate.samplers.mc_dropout import McDropoutOptions, McDropoutSampler
from surrogate.spaces import get_space
from surrogate.strategy import Observation
from tests.support.toys import live_additive_value

SPACE = get_space("nb201")


def toy_value(arch: tuple[str, ...]) -> float:
    return live_additive_value(SPACE, arch)


def observations(n: int, seed: int) -> list[Observation[tuple[str, ...]]]:
    rng = np.random.default_rng(seed)
    archs = list({SPACE.key(a): a for a in (SPACE.sample(rng) for _ in range(n))}.values())
    return [Observation(a, toy_value(a)) for a in archs]


def mean_value(archs: list[tuple[str, ...]]) -> float:
    return float(np.mean([toy_value(a) for a in archs]))


_RNG = np.random.default_rng(0)
UNIFORM_MEAN = mean_value([SPACE.sample(_RNG) for _ in range(2000)])


@pytest.fixture(scope="module")
def observed() -> list[Observation[tuple[str, ...]]]:
    return observations(120, 1)


def small_dropout_options(**changes: object) -> McDropoutOptions:
    fit = FitOptions(gcn=GCNConfig(num_layers=2, width=32, dropout=0.2), epochs=40, lr=0.01)
    settings: dict[str, object] = {"fit": fit, "pool_size": 400, "function_samples": 8}
    settings.update(changes)
    return McDropoutOptions(**settings)  # type: ignore[arg-type]


def test_mc_dropout_samples_uniformly_before_any_observation() -> None:
    sampler = McDropoutSampler(SPACE, small_dropout_options())
    sampler.fit([])
    archs = sampler.sample(5, np.random.default_rng(0))
    assert len(archs) == 5 and all(SPACE.is_valid(a) for a in archs)


def test_mc_dropout_concentrates_on_good_architectures(observed) -> None:  # type: ignore[no-untyped-def]
    sampler = McDropoutSampler(SPACE, small_dropout_options())
    sampler.fit(observed)
    archs = sampler.sample(40, np.random.default_rng(1))
    assert len(archs) == 40 and len({SPACE.key(a) for a in archs}) == 40
    assert mean_value(archs) > UNIFORM_MEAN + 3.0
    # Each row is one function: different masks disagree, the same generator repeats.
    pool = [SPACE.sample(np.random.default_rng(s)) for s in range(30)]
    a = sampler.function_samples(pool, 3, np.random.default_rng(2))
    b = sampler.function_samples(pool, 3, np.random.default_rng(2))
    assert a.shape == (3, 30) and torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])


def test_mc_dropout_state_round_trip(observed) -> None:  # type: ignore[no-untyped-def]
    sampler = McDropoutSampler(SPACE, small_dropout_options())
    sampler.fit(observed[:60])
    restored = McDropoutSampler(SPACE)
    restored.load_state_dict(sampler.state_dict())
    assert restored.options == sampler.options
    expected = sampler.sample(10, np.random.default_rng(3))
    assert restored.sample(10, np.random.default_rng(3)) == expected


def test_mc_dropout_needs_dropout() -> None:
    with pytest.raises(ValueError, match="dropout"):
        McDropoutOptions(fit=FitOptions(gcn=GCNConfig(dropout=0.0)))


@pytest.fixture(scope="module")
def surrogate(observed):  # type: ignore[no-untyped-def]
    fit = FitOptions(gcn=GCNConfig(num_layers=2, width=32), epochs=40, lr=0.01)
    model, _ = fit_surrogate(
        SPACE, [o.arch for o in observed], [o.value for o in observed], fit, seed=0
    )
    return model


def test_balenas_prior_is_uniform_and_fit_moves_towards_good_ops(observed, surrogate) -> None:  # type: ignore[no-untyped-def]
    sampler = BalenasSampler(SPACE, BalenasOptions(steps=60, seed=0))
    prior = sampler.sample(300, np.random.default_rng(4))
    assert abs(mean_value(prior) - UNIFORM_MEAN) < 2.0
    std_before = sampler.std.clone()
    sampler.fit(observed, surrogate)
    after = sampler.sample(300, np.random.default_rng(4))
    assert mean_value(after) > UNIFORM_MEAN + 3.0
    assert bool((sampler.std <= std_before + 1e-12).all())  # precision only grows
    assert all(SPACE.is_valid(a) for a in after)
    # The mean logits favour the best op where the toy objective weighs most.
    assert SPACE.from_codes(sampler.mu.argmax(-1).tolist())[-1] == "nor_conv_3x3"


def test_balenas_without_a_surrogate_keeps_the_prior(observed) -> None:  # type: ignore[no-untyped-def]
    sampler = BalenasSampler(SPACE)
    sampler.fit(observed, None)
    assert torch.equal(sampler.mu, torch.zeros_like(sampler.mu))


def test_balenas_state_round_trip(observed, surrogate) -> None:  # type: ignore[no-untyped-def]
    sampler = BalenasSampler(SPACE, BalenasOptions(steps=10))
    sampler.fit(observed, surrogate)
    restored = BalenasSampler(SPACE)
    restored.load_state_dict(sampler.state_dict())
    assert torch.equal(restored.mu, sampler.mu) and torch.equal(restored.s, sampler.s)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    assert restored.sample(20, rng_a) == sampler.sample(20, rng_b)
    with pytest.raises(ValueError, match="shape"):
        BalenasSampler(get_space("nb101")).load_state_dict(sampler.state_dict())
