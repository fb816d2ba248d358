"""Tests of the posterior samplers: validity, state round trips and what each model learns."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from surrogate.exceptions import InvalidArchitectureError
from surrogate.samplers.additive import AdditiveOptions, AdditiveThompsonSampler
from surrogate.samplers.ard import ArdFit, ArdOptions, ArdPruner
from surrogate.samplers.base import Sampler
from surrogate.samplers.categorical import CategoricalOptions, CategoricalPosteriorSampler
from surrogate.samplers.codes import normal_scores, one_hot, project, repair
from surrogate.samplers.mixture import SamplerMixture, mixture_from_spec
from surrogate.samplers.mutation import MutationOptions, MutationSampler
from surrogate.samplers.uniform import UniformSampler
from surrogate.spaces import get_space
from surrogate.spaces.base import SearchSpace
from surrogate.spaces.macro import MacroArch, MacroLayer, MacroSpace
from surrogate.strategy import Observation


class ConstrainedSpace(MacroSpace):
    """A macro space that rejects value 0 on the first two layers together (invalid codes)."""

    def validate(self, arch: MacroArch) -> None:
        super().validate(arch)
        if arch[0] == self.layers[0].ops[0] and arch[1] == self.layers[1].ops[0]:
            raise InvalidArchitectureError("layers 0 and 1 cannot both take their first op")

    def sample(self, rng: np.random.Generator) -> MacroArch:
        while True:
            arch = super().sample(rng)
            if self.is_valid(arch):
                return arch

    def size(self) -> int:
        return super().size() - math.prod(self.cardinalities[2:])

    def enumerate(self):  # type: ignore[no-untyped-def]
        return (a for a in super().enumerate() if self.is_valid(a))


def _layers(cardinalities: Sequence[int]) -> list[MacroLayer]:
    return [
        MacroLayer(f"l{i}", tuple(f"op{v}" for v in range(c))) for i, c in enumerate(cardinalities)
    ]


def toy_space() -> MacroSpace:
    return MacroSpace("toy", _layers((3, 4, 2, 5)))


def constrained_space() -> ConstrainedSpace:
    return ConstrainedSpace("constrained", _layers((3, 4, 2, 5)))


def additive_effects(space: SearchSpace[Any], seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, 1.0, size=c) for c in space.cardinalities]


def additive_objective(
    space: SearchSpace[Any], effects: list[np.ndarray]
) -> Callable[[Any], float]:
    def objective(arch: Any) -> float:
        codes = space.to_codes(arch)
        return float(sum(e[c] for e, c in zip(effects, codes, strict=True)))

    return objective


def observe(
    space: SearchSpace[Any],
    objective: Callable[[Any], float],
    n: int,
    seed: int = 0,
    noise: float = 0.0,
) -> list[Observation[Any]]:
    rng = np.random.default_rng(seed)
    return [
        Observation(a, objective(a) + noise * float(rng.normal()))
        for a in (space.sample(rng) for _ in range(n))
    ]


SAMPLER_FACTORIES: dict[str, Callable[[SearchSpace[Any]], Sampler[Any]]] = {
    "uniform": UniformSampler,
    "mutation": lambda s: MutationSampler(s, MutationOptions(top_m=5, max_steps=3)),
    "categorical": lambda s: CategoricalPosteriorSampler(s, CategoricalOptions(archs_per_draw=4)),
    "additive": AdditiveThompsonSampler,
    "additive_pairwise": lambda s: AdditiveThompsonSampler(s, AdditiveOptions(pairwise=True)),
    "ard": lambda s: ArdPruner(s, ArdOptions(min_observations=10)),
    "mixture": lambda s: SamplerMixture(
        s, [(UniformSampler(s), 1.0), (CategoricalPosteriorSampler(s), 2.0), (ArdPruner(s), 1.0)]
    ),
}


@pytest.mark.parametrize("make_space", [toy_space, constrained_space])
@pytest.mark.parametrize("name", sorted(SAMPLER_FACTORIES))
def test_every_sampler_draws_valid_architectures_before_and_after_fitting(
    name: str, make_space: Callable[[], SearchSpace[Any]]
) -> None:
    space = make_space()
    sampler = SAMPLER_FACTORIES[name](space)
    rng = np.random.default_rng(3)
    sampler.fit([])
    before = sampler.sample(50, rng)
    sampler.fit(observe(space, additive_objective(space, additive_effects(space)), 80, noise=0.1))
    after = sampler.sample(200, rng)
    assert len(before) == 50 and len(after) == 200
    for arch in before + after:
        space.validate(arch)
    assert sampler.sample(0, rng) == []


@pytest.mark.parametrize("name", sorted(SAMPLER_FACTORIES))
def test_state_round_trips_through_json_and_reproduces_the_draws(name: str) -> None:
    space = constrained_space()
    fitted = SAMPLER_FACTORIES[name](space)
    fitted.fit(observe(space, additive_objective(space, additive_effects(space)), 60, noise=0.1))
    state = json.loads(json.dumps(fitted.state_dict()))
    restored = SAMPLER_FACTORIES[name](space)
    restored.load_state_dict(state)
    assert restored.state_dict() == state
    first = fitted.sample(40, np.random.default_rng(11))
    second = restored.sample(40, np.random.default_rng(11))
    assert [space.key(a) for a in first] == [space.key(a) for a in second]


# --- helpers over codes -------------------------------------------------------------------------


def test_normal_scores_are_monotone_bounded_and_share_ties() -> None:
    values = np.array([10.0, 93.0, 91.0, 91.0, 94.0])
    scores = normal_scores(values)
    assert scores[0] < scores[2] == scores[3] < scores[1] < scores[4]
    assert np.all(np.abs(scores) < 1.3)
    distinct = normal_scores(np.array([3.0, -50.0, 2.0, 1e6]))  # outliers change nothing
    assert distinct.tolist() == pytest.approx([0.3186394, -1.1503494, -0.3186394, 1.1503494])


def test_one_hot_marks_one_column_per_position() -> None:
    codes = np.array([[0, 3, 1], [2, 0, 0]])
    features = one_hot(codes, (3, 4, 2))
    assert features.shape == (2, 9)
    assert features.sum(axis=1).tolist() == [3.0, 3.0]
    assert features[0].tolist() == [1, 0, 0, 0, 0, 0, 1, 0, 1]


def test_repair_keeps_valid_codes_and_fixes_invalid_ones() -> None:
    space = constrained_space()
    rng = np.random.default_rng(0)
    assert space.to_codes(repair(space, [1, 0, 1, 4], rng)) == (1, 0, 1, 4)
    fixed = space.to_codes(repair(space, [0, 0, 1, 4], rng))
    assert fixed[2:] == (1, 4) and fixed[:2] != (0, 0)
    assert sum(a == b for a, b in zip(fixed, (0, 0, 1, 4), strict=True)) == 3


def test_project_redraws_invalid_rows_from_the_given_distribution() -> None:
    space = constrained_space()
    rng = np.random.default_rng(0)
    calls: list[int] = []

    def redraw(m: int) -> np.ndarray:
        calls.append(m)
        return np.tile([2, 3, 0, 0], (m, 1))

    archs = project(space, np.array([[0, 0, 0, 0], [1, 1, 1, 1]]), rng, redraw)
    assert calls == [1]
    assert [space.to_codes(a) for a in archs] == [(2, 3, 0, 0), (1, 1, 1, 1)]


# --- uniform and mutation ------------------------------------------------------------------------


def test_uniform_sampler_covers_the_space_evenly() -> None:
    space = MacroSpace("small", _layers((2, 3)))
    counts = Counter(
        space.key(a) for a in UniformSampler(space).sample(6000, np.random.default_rng(0))
    )
    assert len(counts) == 6
    assert max(counts.values()) < 1.15 * 1000 and min(counts.values()) > 0.85 * 1000


def test_mutation_sampler_stays_near_the_best_parents() -> None:
    space = toy_space()
    objective = additive_objective(space, additive_effects(space))
    observations = observe(space, objective, 60)
    sampler = MutationSampler(space, MutationOptions(top_m=3, max_steps=2))
    sampler.fit(observations)
    by_key = {space.key(o.arch): o.value for o in observations}
    best = sorted(by_key, key=lambda key: by_key[key], reverse=True)[:3]
    assert [space.key(a) for a in sampler.parents] == best
    children = sampler.sample(300, np.random.default_rng(5))
    parent_keys = [space.key(p) for p in sampler.parents]
    distances = [min(space.distance(c, p) for p in sampler.parents) for c in children]
    assert max(distances) <= 3
    assert sum(space.key(c) in parent_keys for c in children) < 0.2 * len(children)
    nearest = Counter(
        min(range(3), key=lambda i: space.distance(c, sampler.parents[i])) for c in children
    )
    assert nearest[0] > nearest[2]  # rank weighting favours the best parent


# --- categorical posterior ---------------------------------------------------------------------


def test_categorical_log_prob_is_exactly_normalised_on_a_small_space() -> None:
    space = toy_space()
    sampler = CategoricalPosteriorSampler(space)
    sampler.fit(observe(space, additive_objective(space, additive_effects(space)), 40))
    total = math.fsum(math.exp(sampler.log_prob(a)) for a in space.enumerate())
    assert total == pytest.approx(1.0, abs=1e-12)


def test_categorical_log_prob_is_exactly_normalised_over_nas_bench_201() -> None:
    space = get_space("nb201")
    sampler = CategoricalPosteriorSampler(space, CategoricalOptions(temperature=0.3))
    sampler.fit(observe(space, additive_objective(space, additive_effects(space, seed=7)), 150))
    log_probs = np.array([sampler.log_prob(a) for a in space.enumerate()])
    assert log_probs.size == 15_625
    assert math.fsum(np.exp(log_probs)) == pytest.approx(1.0, abs=1e-10)
    assert log_probs.max() - log_probs.min() > 1.0  # the fit is far from uniform


def test_categorical_posterior_favours_values_of_good_architectures() -> None:
    space = toy_space()
    effects = [np.zeros(c) for c in space.cardinalities]
    effects[1][2] = 3.0  # value 2 of position 1 makes an architecture good
    sampler = CategoricalPosteriorSampler(space)
    sampler.fit(observe(space, additive_objective(space, effects), 200, noise=0.05))
    probabilities = sampler.mean_probabilities()
    assert probabilities[1][2] > 0.5
    assert all(abs(p.sum() - 1.0) < 1e-12 for p in probabilities)


def test_categorical_samples_follow_the_posterior_mean_marginals() -> None:
    space = toy_space()
    sampler = CategoricalPosteriorSampler(space, CategoricalOptions(archs_per_draw=1))
    sampler.fit(observe(space, additive_objective(space, additive_effects(space)), 100))
    codes = np.array([space.to_codes(a) for a in sampler.sample(20_000, np.random.default_rng(2))])
    for position, probabilities in enumerate(sampler.mean_probabilities()):
        frequencies = np.bincount(codes[:, position], minlength=probabilities.size) / len(codes)
        assert np.abs(frequencies - probabilities).max() < 0.015


def test_categorical_draws_per_thompson_sample_are_correlated() -> None:
    space = toy_space()
    sampler = CategoricalPosteriorSampler(space, CategoricalOptions(archs_per_draw=50))
    sampler.fit([])  # a flat Dirichlet: each draw's probabilities differ a lot
    codes = np.array([space.to_codes(a) for a in sampler.sample(2000, np.random.default_rng(4))])
    group_frequencies = [np.bincount(g[:, 3], minlength=5) / 50 for g in codes.reshape(40, 50, 4)]
    spread = np.std([f[0] for f in group_frequencies])
    assert spread > 0.1  # independent draws would give a spread of about 0.057


# --- additive Thompson sampler -----------------------------------------------------------------


def _best(space: SearchSpace[Any], objective: Callable[[Any], float]) -> str:
    return space.key(max(space.enumerate(), key=objective))


@pytest.mark.parametrize("pairwise", [False, True])
def test_additive_sampler_finds_the_optimum_of_an_additive_objective(pairwise: bool) -> None:
    space = toy_space()
    objective = additive_objective(space, additive_effects(space, seed=2))
    sampler = AdditiveThompsonSampler(
        space, AdditiveOptions(pairwise=pairwise, target="standardise")
    )
    sampler.fit(observe(space, objective, 100, noise=0.05))
    counts = Counter(space.key(a) for a in sampler.sample(100, np.random.default_rng(0)))
    key, count = counts.most_common(1)[0]
    assert key == _best(space, objective)
    assert count >= 60


def test_additive_sampler_maximises_over_valid_architectures_only() -> None:
    space = constrained_space()
    effects = [np.zeros(c) for c in space.cardinalities]
    effects[0][0], effects[1][0], effects[1][1], effects[3][4] = 2.0, 2.0, 1.5, 1.0
    objective = additive_objective(space, effects)  # unconstrained optimum (0, 0, *, 4) is invalid
    sampler = AdditiveThompsonSampler(space, AdditiveOptions(target="standardise"))
    sampler.fit(observe(space, objective, 120, noise=0.02))
    draws = sampler.sample(60, np.random.default_rng(1))
    best_valid = objective(max(space.enumerate(), key=objective))
    good = [a for a in draws if objective(a) == pytest.approx(best_valid)]
    assert len(good) >= 40


def test_additive_sampler_without_data_draws_from_the_prior() -> None:
    space = toy_space()
    sampler = AdditiveThompsonSampler(space)
    sampler.fit([])
    keys = {space.key(a) for a in sampler.sample(200, np.random.default_rng(0))}
    assert len(keys) > 50


def test_additive_sampler_refuses_too_many_features() -> None:
    with pytest.raises(ValueError, match="max_features"):
        AdditiveThompsonSampler(toy_space(), AdditiveOptions(pairwise=True, max_features=20))


# --- ARD pruner --------------------------------------------------------------------------------


def _ard_problem() -> tuple[MacroSpace, list[Observation[Any]]]:
    space = MacroSpace("ard", _layers((4, 4, 4, 4)))
    effects = [np.zeros(4), np.array([0.0, 0.4, -0.3, 0.0]), np.zeros(4), np.zeros(4)]
    effects[0][1], effects[0][2] = 1.0, -1.5  # value 1 helps, value 2 hurts
    return space, observe(space, additive_objective(space, effects), 200, seed=3, noise=0.2)


def test_ard_pruner_prunes_a_harmful_value_and_keeps_a_helpful_one() -> None:
    space, observations = _ard_problem()
    pruner = ArdPruner(space)
    pruner.fit(observations)
    pruned = pruner.pruned_values()
    assert (0, 2) in pruned
    assert (0, 1) not in pruned
    report = {(r["position"], r["value"]): r for r in pruner.report()}
    assert report[(0, 2)]["reason"] == "harmful" and report[(0, 2)]["effect"] < 0
    assert report[(0, 1)]["effect"] > 0 and not report[(0, 1)]["pruned"]
    # A position without any effect is left alone: low relevance alone never prunes.
    assert not any(position == 3 for position, _ in pruned)
    mask = pruner.kept_mask()
    assert all(m.any() for m in mask)
    codes = np.array([space.to_codes(a) for a in pruner.sample(500, np.random.default_rng(0))])
    for position, value in pruned:
        assert not np.any(codes[:, position] == value)


def test_ard_pruner_with_harmful_only_keeps_nil_values() -> None:
    space, observations = _ard_problem()
    pruner = ArdPruner(space, ArdOptions(prune_nil=False))
    pruner.fit(observations)
    assert all(reason == "harmful" for *_, reason in pruner.state_dict()["pruned"])
    assert (0, 2) in pruner.pruned_values()


def test_ard_pruner_never_prunes_every_value_of_a_position() -> None:
    space = MacroSpace("tiny", _layers((3, 2)))
    pruner = ArdPruner(space)
    pruner._fit = ArdFit(
        mean=np.array([-1.0, -2.0, -3.0, 1.0, -1.0]),
        std=np.full(5, 0.1),
        relevance=np.ones(5),
        group_relevance=np.ones(2),
        noise_precision=1.0,
    )
    pruner._decide()
    assert [m.tolist() for m in pruner.kept_mask()] == [[True, False, False], [True, False]]


def test_ard_pruner_prunes_nothing_with_few_observations() -> None:
    space, observations = _ard_problem()
    pruner = ArdPruner(space, ArdOptions(min_observations=50))
    pruner.fit(observations[:30])
    assert pruner.pruned_values() == [] and pruner.report() == []


# --- mixture -----------------------------------------------------------------------------------


class _Recorder(Sampler[Any]):
    name = "recorder"

    def __init__(self, space: SearchSpace[Any]) -> None:
        super().__init__(space)
        self.seen: list[Any] = []

    def fit(self, observations: Sequence[Observation[Any]], surrogate: Any | None = None) -> None:
        self.seen.append((len(observations), surrogate))

    def sample(self, n: int, rng: np.random.Generator) -> list[Any]:
        return [self.space.from_codes([0, 0, 0, 0])] * n


def test_mixture_fits_every_component_with_the_surrogate_and_splits_by_weight() -> None:
    space = toy_space()
    recorder = _Recorder(space)
    mixture = SamplerMixture(space, [(recorder, 3.0), (UniformSampler(space), 1.0)])
    surrogate = object()
    mixture.fit(observe(space, lambda a: 0.0, 5), surrogate=surrogate)
    assert recorder.seen == [(5, surrogate)]
    drawn = mixture.sample_with_sources(4000, np.random.default_rng(0))
    assert len(drawn) == 4000
    share = sum(source == "recorder" for _, source in drawn) / 4000
    assert 0.72 < share < 0.78


def test_mixture_with_zero_weight_never_uses_that_component() -> None:
    space = toy_space()
    mixture = SamplerMixture(space, [(_Recorder(space), 0.0), (UniformSampler(space), 1.0)])
    assert mixture.counts(100, np.random.default_rng(0)) == [0, 100]


def test_mixture_rejects_bad_weights_and_mismatched_state() -> None:
    space = toy_space()
    with pytest.raises(ValueError):
        SamplerMixture(space, [])
    with pytest.raises(ValueError):
        SamplerMixture(space, [(UniformSampler(space), -1.0)])
    with pytest.raises(ValueError):
        SamplerMixture(space, [(UniformSampler(space), 0.0)])
    with pytest.raises(ValueError, match="another space"):
        SamplerMixture(space, [(UniformSampler(constrained_space()), 1.0)])
    mixture = SamplerMixture(space, [(UniformSampler(space), 1.0)])
    other = SamplerMixture(space, [(CategoricalPosteriorSampler(space), 1.0)])
    with pytest.raises(ValueError, match="components"):
        mixture.load_state_dict(other.state_dict())


def test_mixture_from_spec_builds_named_samplers_with_weights_and_options() -> None:
    space = toy_space()
    mixture = mixture_from_spec(
        space, {"uniform": 1, "mutation": {"weight": 3, "options": {"top_m": 2}}, "categorical": 0}
    )
    assert [s.name for s in mixture.samplers] == ["uniform", "mutation", "categorical"]
    assert mixture.weights.tolist() == [0.25, 0.75, 0.0]
    mutation = mixture.samplers[1]
    assert isinstance(mutation, MutationSampler) and mutation.options.top_m == 2
    with pytest.raises(ValueError, match="unknown sampler"):
        mixture_from_spec(space, {"annealing": 1})
    with pytest.raises(ValueError, match="bad options"):
        mixture_from_spec(space, {"mutation": {"weight": 1, "options": {"depth": 3}}})
    with pytest.raises(ValueError, match="no options"):
        mixture_from_spec(space, {"uniform": {"weight": 1, "options": {"x": 1}}})
    with pytest.raises(ValueError, match="expected 'weight' and 'options'"):
        mixture_from_spec(space, {"mutation": {"weight": 1, "top_m": 3}})
