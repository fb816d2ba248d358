"""`BonasStrategy` and the acquisition layer: de-duplication, pending points, related batches,
every acquisition function, and exact resumes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from surrogate.acquisition import (
    ACQUISITION_NAMES,
    AcquisitionOptions,
    build_acquisition,
    select_batch,
    thompson_select,
)
from surrogate.gcn import GCNConfig
from surrogate.models import FitOptions, fit_surrogate
from surrogate.proposer import BonasOptions, BonasStrategy
from surrogate.samplers.uniform import UniformSampler
from surrogate.spaces import get_space
from surrogate.spaces.cell import CellSpace
from surrogate.strategy import Observation
from tests.support.toys import live_additive_value

NB201 = get_space("nb201")
TINY_FIT = FitOptions(gcn=GCNConfig(num_layers=2, width=16), epochs=20, warm_epochs=5, lr=0.01)


def observe(space, archs):  # type: ignore[no-untyped-def]
    return [Observation(a, live_additive_value(space, a)) for a in archs]


def random_observations(n: int, seed: int) -> list[Observation[tuple[str, ...]]]:
    rng = np.random.default_rng(seed)
    archs = list({NB201.key(a): a for a in (NB201.sample(rng) for _ in range(n))}.values())
    return observe(NB201, archs)


def strategy(space=NB201, **changes) -> BonasStrategy:  # type: ignore[no-untyped-def]
    settings = {"n_init": 5, "pool_size": 300, "fit": TINY_FIT, **changes}
    return BonasStrategy(space, BonasOptions(**settings))


def test_initial_batch_is_random_distinct_and_new() -> None:
    observations = random_observations(3, 0)
    pending = [NB201.sample(np.random.default_rng(1))]
    proposed = strategy().propose(observations, pending, 10, np.random.default_rng(2))
    assert proposed.refit is None  # the initial batch fits nothing
    proposals = proposed.proposals
    keys = [NB201.key(p.arch) for p in proposals]
    assert len(keys) == 10 == len(set(keys))
    assert not set(keys) & ({NB201.key(o.arch) for o in observations} | {NB201.key(pending[0])})
    assert all(p.source == "initial" and p.predicted_mean is None for p in proposals)


@pytest.mark.parametrize("acquisition", ACQUISITION_NAMES)
def test_every_acquisition_proposes_new_architectures(acquisition: str) -> None:
    observations = random_observations(30, 3)
    pending = [NB201.sample(np.random.default_rng(s)) for s in range(4)]
    bonas = strategy(acquisition=AcquisitionOptions(name=acquisition, mc_samples=32))  # type: ignore[arg-type]
    proposals = bonas.propose(observations, pending, 6, np.random.default_rng(4)).proposals
    keys = [NB201.key(p.arch) for p in proposals]
    assert len(keys) == 6 == len(set(keys))
    forbidden = {NB201.key(o.arch) for o in observations} | {NB201.key(a) for a in pending}
    assert not set(keys) & forbidden
    for p in proposals:
        assert p.surrogate_version == 1
        assert p.predicted_mean is not None and np.isfinite(p.predicted_mean)
        assert p.predicted_std is not None and p.predicted_std >= 0
        assert p.acquisition_value is not None and np.isfinite(p.acquisition_value)


def test_never_proposes_evaluated_or_pending_until_the_space_is_exhausted() -> None:
    tiny = CellSpace("tiny", 3, ("none", "skip_connect", "nor_conv_3x3"))  # 27 cells
    bonas = strategy(tiny, n_init=3)
    rng = np.random.default_rng(5)
    observations: list[Observation[tuple[str, ...]]] = []
    pending = [("nor_conv_3x3",) * 3]
    seen = {tiny.key(pending[0])}
    while True:
        proposals = bonas.propose(observations, pending, 4, rng).proposals
        if not proposals:
            break
        keys = [tiny.key(p.arch) for p in proposals]
        assert len(set(keys)) == len(keys) and not set(keys) & seen
        seen.update(keys)
        observations += observe(tiny, [p.arch for p in proposals])
    assert len(seen) == 27  # everything proposed exactly once; the pending cell never


def test_pending_points_enter_the_acquisition_function() -> None:
    observations = random_observations(40, 6)
    model, _ = fit_surrogate(
        NB201, [o.arch for o in observations], [o.value for o in observations], TINY_FIT
    )
    X_obs = NB201.encode_many([o.arch for o in observations])
    z_obs = model.transform.forward(torch.tensor([o.value for o in observations]))
    rng = np.random.default_rng(7)
    choices = NB201.encode_many(
        list({NB201.key(a): a for a in (NB201.sample(rng) for _ in range(200))}.values())
    )
    options = AcquisitionOptions(name="lognei", mc_samples=64)
    plain = build_acquisition(model, options, X_obs, z_obs, None, seed=0)
    best = select_batch(plain, choices, 1).indices[0]
    # With the best choice pending, every candidate is valued as a batch that already holds
    # it: the values rise to the best one's, where alone most candidates are far worse.
    pending = build_acquisition(model, options, X_obs, z_obs, choices[[best]], seed=0)
    assert pending.X_pending is not None and pending.X_pending.shape == (1, choices.shape[1])
    with torch.no_grad():
        alone = plain(choices.unsqueeze(1))
        joint = pending(choices.unsqueeze(1))
    assert float(alone.median()) < float(alone[best]) - 1.0
    assert float(joint.min()) > float(alone[best]) - 0.1
    # Sequential greedy selection restores the caller's pending points afterwards.
    select_batch(
        pending, choices, 3, allowed=lambda chosen: torch.ones(len(choices), dtype=torch.bool)
    )
    assert pending.X_pending is not None and pending.X_pending.shape[0] == 1


@pytest.mark.parametrize("distance_to", ["first", "all"])
@pytest.mark.parametrize("acquisition", ["ucb", "ts"])
def test_related_batches_respect_the_distance_bound(distance_to: str, acquisition: str) -> None:
    observations = random_observations(30, 8)
    bonas = strategy(
        max_batch_distance=2,
        distance_to=distance_to,
        acquisition=AcquisitionOptions(name=acquisition, mc_samples=32),  # type: ignore[arg-type]
    )
    rng = np.random.default_rng(9)
    for observed in (observations[:3], observations):  # the initial batch, then a model batch
        proposals = bonas.propose(observed, [], 8, rng).proposals
        archs = [p.arch for p in proposals]
        assert len(archs) >= 4
        first = archs[0]
        for a in archs:
            assert NB201.distance(first, a) <= 2
            if distance_to == "all":
                assert all(NB201.distance(a, b) <= 2 for b in archs)


def test_state_dict_resumes_exactly() -> None:
    observations = random_observations(30, 10)
    more = random_observations(45, 11)
    original = strategy()
    original.propose(observations, [], 5, np.random.default_rng(12))
    saved = original.state_dict()
    expected = original.propose(more, [], 5, np.random.default_rng(13)).proposals
    resumed = strategy()
    resumed.load_state_dict(saved)
    again = resumed.propose(more, [], 5, np.random.default_rng(13)).proposals
    assert [p.arch for p in again] == [p.arch for p in expected]
    assert [p.predicted_mean for p in again] == [p.predicted_mean for p in expected]
    assert again[0].surrogate_version == expected[0].surrogate_version == 2
    assert resumed.last_fit is not None and resumed.last_fit.warm_started


def test_each_refit_comes_back_with_its_round() -> None:
    bonas = strategy()
    assert bonas.surrogate_version == 0
    first = bonas.propose(random_observations(12, 19), [], 3, np.random.default_rng(20))
    assert first.refit is not None and first.refit.version == 1 == bonas.surrogate_version
    assert first.refit.fit.num_observations == 12 and not first.refit.fit.warm_started
    assert {p.surrogate_version for p in first.proposals} == {1}
    second = bonas.propose(random_observations(15, 21), [], 3, np.random.default_rng(22))
    assert second.refit is not None and second.refit.version == 2
    assert second.refit.fit.num_observations == 15 and second.refit.fit.warm_started
    assert bonas.propose(random_observations(15, 21), [], 0, np.random.default_rng(0)).refit is None


def test_a_refit_is_reported_even_when_nothing_is_left_to_propose() -> None:
    tiny = CellSpace("tiny", 3, ("none", "skip_connect", "nor_conv_3x3"))  # 27 cells
    bonas = strategy(tiny, n_init=3)
    proposed = bonas.propose(
        observe(tiny, list(tiny.enumerate())), [], 2, np.random.default_rng(23)
    )
    assert proposed.proposals == () and proposed.refit is not None
    assert proposed.refit.version == 1


def test_versions_continue_from_a_snapshot_that_did_not_load() -> None:
    bonas = strategy()
    bonas.continue_versions_from(6)
    assert bonas.surrogate_version == 6
    proposed = bonas.propose(random_observations(12, 24), [], 2, np.random.default_rng(25))
    assert proposed.refit is not None and proposed.refit.version == 7
    assert not proposed.refit.fit.warm_started  # no model came with the number
    assert {p.surrogate_version for p in proposed.proposals} == {7}


def test_a_sampler_feeds_the_pool_and_options_accept_json() -> None:
    options = BonasOptions(
        n_init=5,
        pool_size=100,
        fit={"gcn": {"num_layers": 2, "width": 8}, "epochs": 5},  # type: ignore[arg-type]
        acquisition={"name": "ts"},  # type: ignore[arg-type]
    )
    assert options.fit.gcn.width == 8 and options.acquisition.name == "ts"
    bonas = BonasStrategy(NB201, options, sampler=UniformSampler(NB201))
    proposals = bonas.propose(
        random_observations(10, 14), [], 3, np.random.default_rng(15)
    ).proposals
    assert len(proposals) == 3 and {p.source for p in proposals} == {"uniform"}


def test_thompson_selection_draws_distinct_function_samples() -> None:
    observations = random_observations(30, 16)
    model, _ = fit_surrogate(
        NB201, [o.arch for o in observations], [o.value for o in observations], TINY_FIT
    )
    choices = NB201.encode_many([NB201.sample(np.random.default_rng(s)) for s in range(50)])
    choices = torch.unique(choices, dim=0)
    selection = thompson_select(model, choices, 5, torch.Generator().manual_seed(0))
    assert len(set(selection.indices)) == 5
    again = thompson_select(model, choices, 5, torch.Generator().manual_seed(0))
    assert again.indices == selection.indices


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="acquisition"):
        AcquisitionOptions(name="pi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_batch_distance"):
        BonasOptions(max_batch_distance=0)
    assert dataclasses.replace(BonasOptions(), n_init=3).n_init == 3


def test_samplers_option_builds_a_mixture() -> None:
    options = BonasOptions(
        n_init=5,
        pool_size=200,
        fit=TINY_FIT,
        samplers={"uniform": 1.0, "mutation": {"weight": 1.0, "options": {"top_m": 3}}},
    )
    bonas = BonasStrategy(NB201, options)
    assert bonas.sampler is not None and bonas.sampler.name == "mixture"
    proposals = bonas.propose(
        random_observations(12, 17), [], 4, np.random.default_rng(18)
    ).proposals
    assert len(proposals) == 4
    assert {p.source for p in proposals} <= {"uniform", "mutation"}
    with pytest.raises(ValueError, match="unknown sampler"):
        BonasStrategy(NB201, dataclasses.replace(options, samplers={"nope": 1.0}))
