"""Issue #13: what a spec's constraints and objectives become (strategy, evaluator spec, the
observations the controller builds), and what is refused at submission."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from protocol import ExtraTableSpec
from service.controller.runner import _observations, _prediction_sign
from service.search_spec import SearchSpec, build_evaluator_spec, build_strategy
from surrogate.costs import cost_of
from surrogate.multiobjective import MultiObjectiveStrategy
from surrogate.proposer import BonasStrategy

HW = {"path": "hw.csv", "columns": ["edgegpu_latency", "edgegpu_energy"]}
UNPRICED = {"type": "cell", "name": "c", "num_nodes": 3, "ops": ["skip", "conv"]}
"""A user cell whose op ``conv`` the cost model does not price."""


def spec(**overrides: Any) -> SearchSpec:
    fields: dict[str, Any] = {
        "name": "s",
        "evaluator": {"kind": "table", "path": "nb201.csv"},
        "objective": {"metric": "val"},
        "budget": {"evaluations": 40},
        "batch_size": 4,
    }
    fields.update(overrides)
    return SearchSpec.model_validate(fields)


def refused(**overrides: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        spec(**overrides)
    return str(caught.value)


def test_params_and_flops_of_a_table_search_are_analytic_counts() -> None:
    parsed = spec(constraints=[{"metric": "params", "max": 4e5}, {"metric": "lat", "max": 5}])
    strategy = build_strategy(parsed, parsed.search_space)
    assert isinstance(strategy, BonasStrategy)
    assert [c.metric for c in strategy.constraints.analytic] == ["params"]
    assert [c.metric for c in strategy.constraints.measured] == ["lat"]
    # The pool filter's counts are surrogate.costs', not millions.
    arch = parsed.search_space.sample(np.random.default_rng(0))
    assert strategy.constraints.pool_filter.feasible(arch) == (
        cost_of(parsed.search_space, arch)["params"] <= 4e5
    )
    assert build_evaluator_spec(parsed).analytic_metrics == ("params",)


def test_params_are_measured_where_no_cost_model_applies() -> None:
    unpriced = spec(space=UNPRICED, constraints=[{"metric": "params", "max": 1}])
    assert unpriced.analytic_metrics == ()
    strategy = build_strategy(unpriced, unpriced.search_space)
    assert [c.metric for c in strategy.constraints.measured] == ["params"]
    trained = spec(
        evaluator={"kind": "weight_sharing"},
        objective={"metric": "val_accuracy"},
        constraints=[{"metric": "params", "max": 1e5}],
    )
    assert trained.analytic_metrics == ()
    assert [c.metric for c in build_strategy(trained, trained.search_space).constraints.measured]


def test_an_analytic_constraint_needs_no_reported_column_but_a_measured_one_does() -> None:
    reported = {"kind": "table", "path": "nb201.csv", "report_columns": ["test"]}
    spec(evaluator=reported, constraints=[{"metric": "flops", "max": 1e8}])
    assert "need those columns" in refused(
        evaluator=reported, constraints=[{"metric": "edgegpu_latency", "max": 5}]
    )
    joined = {**reported, "extra_tables": [HW]}
    parsed = spec(evaluator=joined, constraints=[{"metric": "edgegpu_latency", "max": 5}])
    evaluator = build_evaluator_spec(parsed)
    assert evaluator.extra_tables == (ExtraTableSpec(**HW),)
    assert evaluator.extra_tables[0].arch_format == "naslib_tuple"
    assert evaluator.extra_tables[0].arch_column == "net"
    assert evaluator.metric_columns == ("test", "edgegpu_latency", "edgegpu_energy")


def test_extra_tables_must_name_their_columns_when_report_columns_do() -> None:
    evaluator = {
        "kind": "table",
        "path": "nb201.csv",
        "report_columns": ["test"],
        "extra_tables": [{"path": "hw.csv"}],
    }
    assert "must list its `columns`" in refused(evaluator=evaluator)
    assert "path" in refused(
        evaluator={"kind": "table", "path": "t.csv", "extra_tables": [{"path": "/etc/hw.csv"}]}
    )
    naslib = spec(evaluator={"kind": "table", "path": "t.csv", "arch_format": "naslib_tuple"})
    assert build_evaluator_spec(naslib).arch_format == "naslib_tuple"


def test_a_multi_objective_spec_builds_the_multi_objective_strategy() -> None:
    parsed = spec(
        objectives=[
            {"metric": "val"},
            {"metric": "lat", "goal": "minimize"},
            {"metric": "params", "goal": "minimize"},
        ],
        constraints=[{"metric": "flops", "max": 2e8}],
        strategy={"options": {"acquisition": "qlognparego", "n_init": 5, "pool_size": 50}},
    )
    strategy = build_strategy(parsed, parsed.search_space)
    assert isinstance(strategy, MultiObjectiveStrategy)
    assert strategy.mo.names == ("val", "lat", "params")
    assert strategy.mo.directions == ("maximize", "minimize", "minimize")
    assert strategy.mo.acquisition == "qlognparego"
    assert strategy.options.n_init == 5 and strategy.options.pool_size == 50
    assert set(strategy.known) == {"params"} and strategy.modelled == ("val", "lat")
    assert [c.metric for c in strategy.constraints.analytic] == ["flops"]
    arch = parsed.search_space.sample(np.random.default_rng(1))
    assert strategy.known["params"](arch) == cost_of(parsed.search_space, arch)["params"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"strategy": {"name": "random"}}, "needs the 'bonas' strategy"),
        ({"strategy": {"acquisition": "ucb"}}, "strategy.options"),
        ({"constraints": [{"metric": "energy", "max": 1}]}, "would be measured"),
        ({"strategy": {"options": {"acquisition": "ehvi"}}}, "unknown acquisition"),
        ({"strategy": {"options": {"max_batch_distance": 2}}}, "single-objective only"),
    ],
)
def test_what_a_multi_objective_search_cannot_do_is_refused(
    overrides: dict[str, Any], message: str
) -> None:
    objectives = [{"metric": "val"}, {"metric": "lat", "goal": "minimize"}]
    assert message in refused(objectives=objectives, **overrides)


def test_all_analytic_objectives_are_refused() -> None:
    objectives = [{"metric": "params", "goal": "minimize"}, {"metric": "flops"}]
    assert "must be measured" in refused(objective=objectives[0], objectives=objectives)


def _stored(arch: dict[str, Any], objective: float, metrics: dict[str, Any]) -> Any:
    return SimpleNamespace(
        architecture=SimpleNamespace(arch=arch),
        evaluation=SimpleNamespace(objective=objective, metrics=metrics),
    )


def test_observations_carry_metrics_and_only_baselines_see_the_penalty() -> None:
    stored = [
        _stored({"cell": "a"}, 10.0, {"lat": 9.0, "note": "text", "flag": True}),
        _stored({"cell": "b"}, 5.0, {"lat": 1.0}),
    ]
    constraints = [{"metric": "lat", "max": 2}]
    bonas = _observations(spec(constraints=constraints), stored)
    assert bonas == [
        ({"cell": "a"}, 10.0, {"lat": 9.0, "val": 10.0}),
        ({"cell": "b"}, 5.0, {"lat": 1.0, "val": 5.0}),
    ]
    baseline = _observations(spec(constraints=constraints, strategy={"name": "random"}), stored)
    assert [value for _, value, _ in baseline] == [5.0, 5.0]  # infeasible: no better than worst
    minimised = _observations(spec(objective={"metric": "val", "goal": "minimize"}), stored)
    assert [value for _, value, _ in minimised] == [-10.0, -5.0]
    assert minimised[0][2]["val"] == 10.0  # metrics stay in user units


def test_predictions_are_stored_in_user_units_for_either_kind_of_search() -> None:
    minimise = {"metric": "val", "goal": "minimize"}
    assert _prediction_sign(spec(objective=minimise)) == -1.0  # BONAS predicts -val
    pareto = spec(objective=minimise, objectives=[minimise, {"metric": "lat", "goal": "minimize"}])
    assert _prediction_sign(pareto) == 1.0  # the multi-objective strategy predicts val itself
