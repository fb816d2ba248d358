"""`SearchSpec`: what is accepted, what is refused (and that the message names the field), and
what the builders make of it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from protocol import (
    StandaloneEvaluatorSpec,
    TableEvaluatorSpec,
    TrainingOptions,
    WeightSharingEvaluatorSpec,
)
from service.search_spec import (
    SearchSpec,
    batch_fidelity,
    batch_seed,
    build_evaluator_spec,
    build_space,
    build_strategy,
)
from surrogate.baselines import LocalSearch, RandomSearch, RegularizedEvolution
from surrogate.proposer import BonasStrategy
from surrogate.samplers.mixture import SamplerMixture

CELL = {"type": "cell", "name": "c", "num_nodes": 3, "ops": ["skip", "conv"]}


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "s",
        "evaluator": {"kind": "table", "path": "nb201.csv", "report_columns": ["test"]},
        "objective": {"metric": "val"},
        "budget": {"evaluations": 50},
    }
    base.update(overrides)
    return base


def refused(raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        SearchSpec.model_validate(raw)
    return str(caught.value)


def test_defaults_and_round_trip_through_the_store() -> None:
    parsed = SearchSpec.model_validate(spec())
    assert parsed.space == "nb201" and parsed.batch_size == 10 and parsed.batches_in_flight == 1
    assert parsed.strategy.name == "bonas" and parsed.objective.maximize
    assert SearchSpec.model_validate(parsed.stored()) == parsed
    assert parsed.space_description() == {"type": "nb201"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"budget": {}}, "a budget needs `evaluations`, `wall_seconds` or both"),
        ({"budget": {"evaluations": 0}}, "budget.evaluations"),
        ({"space": "nb999"}, "unknown search space 'nb999'"),
        ({"space": {"type": "cell", "num_nodes": 3}}, "missing key(s) 'ops'"),
        ({"evaluator": {"kind": "gpu"}}, "'table', 'weight_sharing', 'standalone'"),
        ({"evaluator": {"kind": "table"}}, "evaluator.table.path"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 60}, "batch_size (60) exceeds the evaluation budget (50)"),
        ({"space": CELL, "batch_size": 9}, "exceeds the space's size (8)"),
        ({"strategy": {"name": "annealing"}}, "'bonas', 'random', 'evolution' or 'local'"),
        ({"strategy": {"name": "random", "acquisition": "ucb"}}, "only applies to the 'bonas'"),
        ({"strategy": {"samplers": {"magic": 1}}}, "unknown sampler 'magic'"),
        ({"strategy": {"samplers": {}}}, "must name at least one sampler"),
        (
            {"strategy": {"samplers": {"uniform": 1}, "options": {"samplers": {"uniform": 1}}}},
            "give samplers either as `samplers` or in options",
        ),
        ({"strategy": {"acquisition": "pi"}}, "strategy.acquisition"),
        ({"strategy": {"options": {"n_inti": 3}}}, "unexpected keyword argument 'n_inti'"),
        ({"strategy": {"name": "evolution", "options": {"population_size": 0}}}, "population"),
        ({"constraints": [{"metric": "params"}]}, "needs `max`, `min` or both"),
        ({"constraints": [{"metric": "params", "min": 2, "max": 1}]}, "min (2.0) is above max"),
        ({"constraints": [{"metric": "latency", "max": 1}]}, "need those columns in evaluator"),
        ({"objective": {"metric": "val", "goal": "up"}}, "'maximize' or 'minimize'"),
        ({"seed": -1}, "seed"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_specs_are_refused_with_a_message_naming_the_problem(
    overrides: dict[str, Any], message: str
) -> None:
    assert message in refused(spec(**overrides))


def test_training_options_set_by_the_search_are_refused() -> None:
    evaluator = {"kind": "weight_sharing", "train": {"seed": 3}}
    assert "train.seed is set by the search" in refused(spec(evaluator=evaluator))
    nested = {"kind": "standalone", "train": {"epochs": [1, 2]}}
    assert "train.epochs\n  Input should be a valid integer" in refused(spec(evaluator=nested))
    # Options are checked by the model the worker reads, before any batch is queued.
    typo = {"kind": "weight_sharing", "train": {"epochz": 3}}
    assert "unknown training options ['epochz']; accepted: epochs," in refused(spec(evaluator=typo))
    negative = {"kind": "standalone", "train": {"batch_size": 0}}
    assert "train.batch_size\n  Input should be greater than or equal to 1" in refused(
        spec(evaluator=negative)
    )
    schedule = {"kind": "weight_sharing", "train": {"schedule": "round-robin"}}
    assert "Input should be 'fair' or 'random'" in refused(spec(evaluator=schedule))


def test_builders_make_the_named_strategy() -> None:
    bonas = SearchSpec.model_validate(
        spec(
            strategy={
                "acquisition": "ts",
                "samplers": {"uniform": 1, "mutation": {"weight": 2, "options": {"top_m": 3}}},
                "options": {"n_init": 4, "pool_size": 50},
            }
        )
    )
    strategy = build_strategy(bonas, build_space(bonas))
    assert isinstance(strategy, BonasStrategy)
    assert strategy.options.acquisition.name == "ts" and strategy.options.n_init == 4
    assert isinstance(strategy.sampler, SamplerMixture)
    assert [s.name for s in strategy.sampler.samplers] == ["uniform", "mutation"]
    for name, kind in [
        ("random", RandomSearch),
        ("evolution", RegularizedEvolution),
        ("local", LocalSearch),
    ]:
        parsed = SearchSpec.model_validate(spec(strategy={"name": name}))
        assert isinstance(build_strategy(parsed, build_space(parsed)), kind)


def test_evaluator_specs_for_the_lease() -> None:
    table = SearchSpec.model_validate(spec())
    lease_spec = build_evaluator_spec(table)
    assert isinstance(lease_spec, TableEvaluatorSpec)
    assert lease_spec.objective_column == "val" and lease_spec.metric_columns == ("test",)
    assert lease_spec.fidelity == batch_fidelity(table) == "val"

    shared = SearchSpec.model_validate(
        spec(
            evaluator={"kind": "weight_sharing", "train": {"epochs": 5}},
            objective={"metric": "val_accuracy"},
        )
    )
    trained = build_evaluator_spec(shared)
    assert isinstance(trained, WeightSharingEvaluatorSpec)
    assert trained.train == TrainingOptions(epochs=5) and trained.objective_metric == "val_accuracy"
    assert trained.dataset.name == "digits" and batch_fidelity(shared) == "supernet"

    alone = SearchSpec.model_validate(spec(evaluator={"kind": "standalone", "fidelity": "long"}))
    assert isinstance(build_evaluator_spec(alone), StandaloneEvaluatorSpec)
    assert batch_fidelity(alone) == "long"


def test_constraints_decide_feasibility() -> None:
    parsed = SearchSpec.model_validate(
        spec(
            evaluator={"kind": "weight_sharing"},
            constraints=[{"metric": "params", "max": 1e6}, {"metric": "latency", "min": 0}],
        )
    )
    assert parsed.feasible({"params": 5e5, "latency": 1.0})
    assert not parsed.feasible({"params": 2e6, "latency": 1.0})
    assert not parsed.feasible({"params": 5e5})  # a metric the evaluator did not report
    assert not parsed.feasible({"params": float("nan"), "latency": 1.0})


def test_user_space_declarations_are_accepted() -> None:
    parsed = SearchSpec.model_validate(spec(space=CELL, batch_size=4))
    assert build_space(parsed).size() == 8
    assert parsed.space_description()["type"] == "cell"


def test_batch_seeds_differ_per_batch_and_repeat_per_search() -> None:
    parsed = SearchSpec.model_validate(spec(seed=5))
    seeds = {batch_seed(parsed, b) for b in range(100)}
    assert len(seeds) == 100
    assert batch_seed(parsed, 7) == batch_seed(SearchSpec.model_validate(spec(seed=5)), 7)


# --- several objectives -------------------------------------------------------------------------


def _two_objective_spec(**changes: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "name": "mo",
        "space": "nb201",
        "evaluator": {"kind": "table", "path": "nb201.csv"},
        "objectives": [
            {"metric": "val_acc", "goal": "maximize"},
            {"metric": "latency", "goal": "minimize"},
        ],
        "budget": {"evaluations": 20},
    }
    spec.update(changes)
    return spec


def test_objectives_alone_name_the_primary_objective() -> None:
    spec = SearchSpec.model_validate(_two_objective_spec())
    assert spec.multi_objective
    assert spec.objective.metric == "val_acc"
    assert [(o.metric, o.goal) for o in spec.all_objectives] == [
        ("val_acc", "maximize"),
        ("latency", "minimize"),
    ]
    assert SearchSpec.from_stored(spec.stored()).all_objectives == spec.all_objectives


def test_a_single_objective_spec_has_one_objective() -> None:
    spec = SearchSpec.model_validate({**_two_objective_spec(), "objectives": []})
    assert not spec.multi_objective
    assert spec.all_objectives == (spec.objective,)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"objectives": [{"metric": "val_acc"}]}, "two or three"),
        ({"objectives": [{"metric": "a"}, {"metric": "a", "goal": "minimize"}]}, "one entry"),
        ({"objectives": [{"metric": m} for m in "abcd"]}, "at most 3"),
        ({"objective": {"metric": "latency"}}, "first of objectives"),
        (
            {"evaluator": {"kind": "table", "path": "t.csv", "report_columns": ["val_acc"]}},
            r"objectives \['latency'\] need those columns",
        ),
    ],
)
def test_bad_objectives_are_refused_with_a_reason(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SearchSpec.model_validate(_two_objective_spec(**changes))
