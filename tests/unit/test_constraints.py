"""Constraints that steer `BonasStrategy`: analytic ones filter the pool, measured ones are
modelled and weigh the acquisition (`surrogate.constraints`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch

from surrogate.acquisition import AcquisitionOptions, build_acquisition, select_batch
from surrogate.constraints import (
    ConstraintOptions,
    ConstraintSet,
    FeasibleUpperConfidenceBound,
    MetricConstraint,
    build_constrained_acquisition,
    fit_feasibility,
    probability_of_feasibility,
)
from surrogate.gcn import GCNConfig
from surrogate.models import FitOptions
from surrogate.models.blr import BlrSurrogate
from surrogate.proposer import BonasOptions, BonasStrategy
from surrogate.spaces import get_space
from surrogate.spaces.base import live_nodes
from surrogate.strategy import Observation
from tests.support.tables import OBJECTIVE, REPORT, random_nb201_csv
from tests.support.toys import live_additive_value

NB201 = get_space("nb201")
TINY_FIT = FitOptions(gcn=GCNConfig(num_layers=2, width=16), epochs=20, warm_epochs=5, lr=0.01)
Cell = tuple[str, ...]

# The toy objective rewards 3x3 convolutions most, so its best cells are the heaviest ones: a
# constraint on weight or latency then rules out exactly what an unconstrained search wants.
OP_PARAMS = {"nor_conv_3x3": 9.0, "nor_conv_1x1": 1.0}


def toy_params(arch: Cell) -> Mapping[str, float]:
    """An analytic cost: 9 per 3x3 convolution, 1 per 1x1 (every edge counts)."""
    return {"params": sum(OP_PARAMS.get(op, 0.0) for op in arch)}


def live_convs(arch: Cell) -> float:
    """A measured cost: the live 3x3 convolutions (what the default featurizer sees)."""
    live = live_nodes(NB201.to_graph(arch), NB201.zero_labels)
    return float(sum(op == "nor_conv_3x3" for i, op in enumerate(arch) if live[i + 1]))


def observe(archs: list[Cell]) -> list[Observation[Cell]]:
    return [
        Observation(a, live_additive_value(NB201, a), {"latency": live_convs(a)}) for a in archs
    ]


def bonas(**changes: object) -> BonasStrategy[Cell]:
    constraints = changes.pop("constraints", ())
    cost_of = changes.pop("cost_of", None)
    constraint_options = changes.pop("constraint_options", None)
    settings = {"n_init": 5, "pool_size": 200, "fit": TINY_FIT, **changes}
    return BonasStrategy(
        NB201,
        BonasOptions(**settings),  # type: ignore[arg-type]
        constraints=constraints,  # type: ignore[arg-type]
        cost_of=cost_of,  # type: ignore[arg-type]
        constraint_options=constraint_options,  # type: ignore[arg-type]
    )


def run(strategy: BonasStrategy[Cell], rounds: int, k: int, seed: int) -> list[Cell]:
    """Every architecture `strategy` proposed over `rounds` rounds of `k` (one pending batch)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    observations: list[Observation[Cell]] = []
    proposed: list[Cell] = []
    pending: list[Cell] = []
    for _ in range(rounds):
        archs = [p.arch for p in strategy.propose(observations, pending, k, rng).proposals]
        proposed += archs
        observations += observe(pending)  # the previous batch finishes; this one runs
        pending = archs
    return proposed


# --- analytic constraints -----------------------------------------------------------------------

PARAMS_MAX = MetricConstraint("params", max=10.0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"enumerate_limit": 0},  # the sampled (not listed) uniform pool
        {"samplers": {"uniform": 0.3, "mutation": 0.7}},
        {"max_batch_distance": 2, "acquisition": AcquisitionOptions(name="ts")},
    ],
    ids=["listed", "sampled", "mutation", "related-ts"],
)
def test_an_analytic_constraint_is_never_broken(seed: int, changes: dict[str, object]) -> None:
    strategy = bonas(constraints=[PARAMS_MAX], cost_of=toy_params, **changes)
    assert strategy.constraints.analytic == (PARAMS_MAX,) and not strategy.constraints.measured
    proposed = run(strategy, rounds=5, k=6, seed=seed)
    assert len(proposed) == 30
    assert all(PARAMS_MAX.satisfied_by(toy_params(a)) for a in proposed)


def test_without_the_constraint_the_same_search_breaks_it() -> None:
    proposed = run(bonas(), rounds=5, k=6, seed=0)
    assert sum(not PARAMS_MAX.satisfied_by(toy_params(a)) for a in proposed) >= 10


def test_a_pool_the_constraint_keeps_small_is_reported_short() -> None:
    tight = MetricConstraint("params", max=0.0)  # no convolution at all: 3**6 = 729 cells
    rng = np.random.default_rng(1)
    feasible = [
        a for a in (NB201.sample(rng) for _ in range(200)) if tight.satisfied_by(toy_params(a))
    ]
    observations = observe(feasible[:10])
    small = bonas(constraints=[tight], cost_of=toy_params, pool_size=1000)
    proposed = small.propose(observations, [], 5, rng)
    assert proposed.refit is not None and proposed.pool_short
    assert len(proposed.proposals) == 5
    assert all(tight.satisfied_by(toy_params(p.arch)) for p in proposed.proposals)
    roomy = bonas(constraints=[PARAMS_MAX], cost_of=toy_params, pool_size=100)
    assert not roomy.propose(observations, [], 5, rng).pool_short
    assert not bonas(pool_size=1000).propose(observations, [], 5, rng).pool_short


def test_constraints_split_by_what_the_cost_function_computes() -> None:
    latency = MetricConstraint("latency", max=1.0)
    both = ConstraintSet(NB201, [PARAMS_MAX, latency], toy_params)
    assert both.analytic == (PARAMS_MAX,) and both.measured == (latency,)
    assert ConstraintSet(NB201, [PARAMS_MAX]).measured == (PARAMS_MAX,)  # no cost function
    with pytest.raises(ValueError, match="one constraint per metric"):
        ConstraintSet(NB201, [latency, MetricConstraint("latency", min=0.0)])
    with pytest.raises(ValueError, match="min, max or both"):
        MetricConstraint("latency")


# --- measured constraints -----------------------------------------------------------------------

LATENCY_MAX = MetricConstraint("latency", max=1.0)


def infeasible_count(strategy: BonasStrategy[Cell], seed: int) -> int:
    proposed = run(strategy, rounds=6, k=5, seed=seed)[10:]  # after the random first rounds
    return sum(not LATENCY_MAX.admits(live_convs(a)) for a in proposed)


@pytest.mark.slow
@pytest.mark.parametrize("acquisition", ["ucb", "logei", "ts"])
def test_a_modelled_constraint_steers_away_from_infeasible_cells(acquisition: str) -> None:
    options = AcquisitionOptions(name=acquisition, mc_samples=64)  # type: ignore[arg-type]
    seeds = (0, 1, 2)
    plain = sum(infeasible_count(bonas(acquisition=options), s) for s in seeds)
    steered = sum(
        infeasible_count(bonas(acquisition=options, constraints=[LATENCY_MAX]), s) for s in seeds
    )
    # Of 60 proposals after the random rounds, the unconstrained search sends 31 to 36 to the
    # heavy cells it is after, the steered one 3 to 11 (seeds 0 to 2).
    assert plain >= 24
    assert steered <= plain // 2


@pytest.mark.parametrize("acquisition", ["ucb", "logei", "lognei"])
def test_the_constrained_acquisition_prefers_feasible_choices_with_pending_points(
    acquisition: str,
) -> None:
    bound = MetricConstraint("latency", max=1.5)  # between two values the metric takes
    torch.manual_seed(8)  # the acquisitions' MC samplers draw from torch's global generator
    rng = np.random.default_rng(8)
    archs = list({NB201.key(a): a for a in (NB201.sample(rng) for _ in range(40))}.values())
    observations = observe(archs)
    strategy = bonas(constraints=[bound])
    assert strategy.propose(observations, [], 1, rng).proposals  # fits both models
    assert strategy.model is not None
    feasibility = list(strategy.constraints.models.values())
    options = AcquisitionOptions(name=acquisition, mc_samples=64)  # type: ignore[arg-type]
    X_obs = NB201.encode_many(archs)
    z_obs = strategy.model.transform.forward(torch.tensor([o.value for o in observations]))
    met = torch.tensor([bound.satisfied_by(o.metrics) for o in observations])
    pool = [NB201.sample(rng) for _ in range(300)]
    choices = NB201.encode_many(pool)
    pending = NB201.encode_many([NB201.sample(rng) for _ in range(3)])
    steered = build_constrained_acquisition(
        strategy.model, feasibility, options, X_obs, z_obs, met, pending
    )
    plain = build_acquisition(strategy.model, options, X_obs, z_obs, pending)
    feasible = {}
    for name, acqf in (("steered", steered), ("plain", plain)):
        picked = select_batch(acqf, choices, 5, prescreen=100).indices
        assert torch.equal(acqf.X_pending, pending)  # the caller's pending points are kept
        feasible[name] = [bound.admits(live_convs(pool[i])) for i in picked]
    # Seed 8 (and torch global seeds 0 to 3, 8): the steered batches hold 3 (qLogNEI) or 4 truly
    # feasible cells of 5, the plain ones 1 to 3 and always fewer, and the plain first pick (the
    # best point alone) is always infeasible.
    assert feasible["steered"][0] and not feasible["plain"][0]
    assert sum(feasible["steered"]) >= 3
    assert sum(feasible["steered"]) > sum(feasible["plain"])
    if acquisition == "ucb":  # feasibility only ever lowers a value (no bonus for doubt)
        assert isinstance(steered, FeasibleUpperConfidenceBound)
        with torch.no_grad():
            lowered = steered(choices.unsqueeze(-2)) - steered.shift
            assert bool((lowered <= plain(choices.unsqueeze(-2)) + 1e-9).all())
    p = probability_of_feasibility(feasibility, choices)
    truth = torch.tensor([bound.admits(live_convs(a)) for a in pool])
    assert float(p[truth].mean()) > 0.7 > 0.2 > float(p[~truth].mean())


def test_proposals_carry_their_probability_of_feasibility() -> None:
    strategy = bonas(constraints=[LATENCY_MAX])
    rng = np.random.default_rng(3)
    observations = observe([NB201.sample(rng) for _ in range(20)])
    proposals = strategy.propose(observations, [], 4, rng).proposals
    assert len(proposals) == 4
    assert all(0.0 <= p.extra["p_feasible"] <= 1.0 for p in proposals)


def test_probability_of_feasibility_is_near_one_inside_and_near_zero_outside() -> None:
    rng = np.random.default_rng(0)
    archs = list({NB201.key(a): a for a in (NB201.sample(rng) for _ in range(80))}.values())
    fit = FitOptions(gcn=GCNConfig(num_layers=2, width=16), epochs=60, lr=0.01)
    constraint = MetricConstraint("latency", max=2.5)
    model = fit_feasibility(NB201, observe(archs), constraint, ConstraintOptions(), fit)
    assert model is not None
    inside = ("avg_pool_3x3",) * 6  # no convolution: 0, far below 2.5
    outside = ("nor_conv_3x3",) * 6  # six live convolutions, far above
    p = model.probability(NB201.encode_many([inside, outside]))
    assert float(p[0]) > 0.95
    assert float(p[1]) < 0.05


def test_a_constraint_is_not_modelled_before_enough_observations_report_it() -> None:
    rng = np.random.default_rng(0)
    archs = [NB201.sample(rng) for _ in range(10)]
    observations = [Observation(a, live_additive_value(NB201, a)) for a in archs]  # no metrics
    assert fit_feasibility(NB201, observations, LATENCY_MAX, ConstraintOptions(), TINY_FIT) is None
    strategy = bonas(constraints=[LATENCY_MAX])
    proposals = strategy.propose(observations, [], 3, rng).proposals
    assert len(proposals) == 3 and all("p_feasible" not in p.extra for p in proposals)


def test_the_head_model_shares_the_objective_gcn() -> None:
    strategy = bonas(
        constraints=[LATENCY_MAX], constraint_options=ConstraintOptions(feasibility_model="head")
    )
    rng = np.random.default_rng(4)
    observations = observe([NB201.sample(rng) for _ in range(25)])
    assert len(strategy.propose(observations, [], 3, rng).proposals) == 3
    head = strategy.constraints.models["latency"].model
    assert isinstance(strategy.model, BlrSurrogate)
    assert head.regressor is strategy.model.regressor


def test_a_restored_constrained_strategy_proposes_the_same() -> None:
    rng = np.random.default_rng(5)
    observations = observe([NB201.sample(rng) for _ in range(20)])
    first = bonas(constraints=[LATENCY_MAX])
    first.propose(observations, [], 3, np.random.default_rng(6))
    more = observe([NB201.sample(rng) for _ in range(5)])
    restored = bonas(constraints=[LATENCY_MAX])
    restored.load_state_dict(first.state_dict())
    keys = [
        [
            NB201.key(p.arch)
            for p in s.propose(observations + more, [], 4, np.random.default_rng(7)).proposals
        ]
        for s in (first, restored)
    ]
    assert keys[0] == keys[1]


# --- the benchmark ------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_constrained_benchmark_scores_feasible_cells_only(tmp_path: Path) -> None:
    from surrogate.bench.constrained import (
        CONSTRAINED_METHODS,
        ConstrainedBenchConfig,
        Scenario,
        load_joined_table,
        read_traces,
        run_constrained_benchmark,
        summarise_constrained,
        table_ceiling,
        write_json,
    )

    params = Scenario("params", MetricConstraint("params_M_cifar10", max=0.5), analytic=True)
    flops = Scenario("flops", MetricConstraint("flops_M_cifar10", max=70.0), analytic=False)
    config = ConstrainedBenchConfig(
        csv=str(random_nb201_csv(tmp_path / "table.csv")),
        objective=OBJECTIVE,
        report=REPORT,
        scenarios=(params, flops),
        k=5,
        budget=15,
        seeds=(0,),
        bonas_options={"n_init": 5, "pool_size": 200, "fit": dataclasses.asdict(TINY_FIT)},
        checkpoints=(5, 15),
    )
    traces = run_constrained_benchmark(config)
    assert sorted(t.method for t in traces) == sorted(
        ["bonas"]
        + [f"{m}@{s}" for m in CONSTRAINED_METHODS if m != "bonas" for s in ("params", "flops")]
    )
    assert all(len(t.keys) == 15 == len(set(t.keys)) for t in traces)
    _, table = load_joined_table(config)
    summaries = {(s.scenario, s.method): s for s in summarise_constrained(traces, table, config)}
    assert len(summaries) == 8
    assert summaries["params", "bonas-constrained"].infeasible_fraction == 0.0
    for scenario in ("params", "flops"):
        assert summaries[scenario, "random-feasible"].infeasible_fraction == 0.0
        ceiling = table_ceiling(table, config, params if scenario == "params" else flops)
        for method in CONSTRAINED_METHODS:
            summary = summaries[scenario, method]
            assert summary.mean[15] <= ceiling["report"]
    write_json(tmp_path / "out.json", config, traces, table)
    again = read_traces([tmp_path / "out.json"])
    assert [(t.method, t.keys, t.reports) for t in again] == [
        (t.method, t.keys, t.reports) for t in traces
    ]
