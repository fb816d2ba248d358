"""The Pareto use case on hand-made results with a known front and hypervolume.

Six results of a search maximising ``acc`` and minimising ``lat`` under ``params <= 5`` arrive in
the order A, B, C, E, D, F. Feasible bounds: ``acc`` 70..95, ``lat`` 5..20, so the scaled points
(1 = best) are A (0.8, 2/3), B (0.4, 1), C (0.6, 8/15), D (1, 0), F (0, 1); E breaks the
constraint. C is dominated by A, F by B (equal latency, lower accuracy). The front is D, A, B
and, with the reference point at -0.1 in both, its volume is computed below strip by strip.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import torch

from service.search_spec import SearchSpec
from service.store import ArchitectureRecord, EvaluationRecord, Observation, ProposalInfo
from service.usecases.pareto import hypervolume_curve, pareto_out, volume
from surrogate.pareto import hypervolume, reference_point

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RESULTS = [  # name, acc, lat, params, in arrival order
    ("A", 90.0, 10.0, 1.0),
    ("B", 80.0, 5.0, 1.0),
    ("C", 85.0, 12.0, 1.0),
    ("E", 99.0, 1.0, 9.0),
    ("D", 95.0, 20.0, 1.0),
    ("F", 70.0, 5.0, 1.0),
]


def spec(**changes: Any) -> SearchSpec:
    body: dict[str, Any] = {
        "name": "mo",
        "space": "nb201",
        "evaluator": {"kind": "table", "path": "t.csv", "report_columns": ["lat", "params"]},
        "objectives": [
            {"metric": "acc", "goal": "maximize"},
            {"metric": "lat", "goal": "minimize"},
        ],
        "constraints": [{"metric": "params", "max": 5.0}],
        "budget": {"evaluations": 10},
    }
    body.update(changes)
    return SearchSpec.model_validate(body)


def observation(index: int, metrics: dict[str, Any], objective: float | None) -> Observation:
    architecture = ArchitectureRecord(
        id=100 + index,
        search_id=1,
        key=f"arch-{index}",
        arch={},
        proposal=ProposalInfo(source="initial"),
        created_at=T0,
    )
    evaluation = EvaluationRecord(
        id=index + 1,
        search_id=1,
        architecture_id=architecture.id,
        fidelity="acc",
        metrics=metrics,
        objective=objective,
        evaluator="table",
        wall_seconds=None,
        timings={},
        started_at=None,
        finished_at=None,
        worker_id=None,
        batch_id=None,
        attempt=None,
        created_at=T0,
    )
    return Observation(architecture, evaluation)


def observations() -> list[Observation]:
    return [
        observation(i, {"acc": acc, "lat": lat, "params": params}, acc)
        for i, (_, acc, lat, params) in enumerate(RESULTS)
    ]


def ids(*names: str) -> list[int]:
    order = [name for name, *_ in RESULTS]
    return [100 + order.index(name) for name in names]


def test_the_front_is_the_non_dominated_feasible_results_best_first() -> None:
    answer = pareto_out(1, spec(), "acc", observations())
    assert answer.multi_objective
    assert [p.architecture_id for p in answer.front] == ids("D", "A", "B")
    assert [p.values for p in answer.front] == [[95.0, 20.0], [90.0, 10.0], [80.0, 5.0]]
    assert [p.architecture_id for p in answer.points] == ids("A", "B", "C", "E", "D", "F")
    assert [p.evaluation for p in answer.points] == [1, 2, 3, 4, 5, 6]
    flags = {p.architecture_id: (p.feasible, p.on_front) for p in answer.points}
    assert flags[ids("E")[0]] == (False, False)  # the best in both, but breaks params <= 5
    assert flags[ids("C")[0]] == (True, False)
    assert flags[ids("F")[0]] == (True, False)


def test_the_hypervolume_after_each_result_follows_the_front() -> None:
    after_a = (0.8 + 0.1) * (2 / 3 + 0.1)
    after_b = (0.4 + 0.1) * (1 + 0.1) + (0.8 - 0.4) * (2 / 3 + 0.1)
    after_d = after_b + (1.0 - 0.8) * (0 + 0.1)
    answer = pareto_out(1, spec(), "acc", observations())
    assert answer.hypervolume == pytest.approx(
        [after_a, after_b, after_b, after_b, after_d, after_d]
    )


def test_the_reference_point_is_stated_in_the_objectives_units() -> None:
    reference = pareto_out(1, spec(), "acc", observations()).reference
    assert reference is not None
    assert reference.lower == [70.0, 5.0] and reference.upper == [95.0, 20.0]
    assert reference.point == pytest.approx([70.0 - 2.5, 20.0 + 1.5])
    assert reference.margin == pytest.approx(0.1)
    assert "-0.1" in reference.rule


def test_a_single_objective_front_is_the_first_best_result() -> None:
    single = spec(objectives=[], objective={"metric": "acc"}, constraints=[])
    values = [80.0, 90.0, 90.0, 85.0]
    found = [observation(i, {"acc": v}, v) for i, v in enumerate(values)]
    answer = pareto_out(1, single, "acc", found)
    assert not answer.multi_objective
    assert [p.architecture_id for p in answer.front] == [101]
    assert answer.hypervolume == pytest.approx([0.1, 1.1, 1.1, 1.1])
    assert answer.note is not None and "best" in answer.note


def test_one_result_scales_to_the_best_corner() -> None:
    answer = pareto_out(1, spec(), "acc", observations()[:1])
    assert [p.architecture_id for p in answer.front] == ids("A")
    assert answer.hypervolume == pytest.approx([1.1 * 1.1])


def test_results_without_an_objective_are_never_on_the_front() -> None:
    found = [observation(0, {"acc": 90.0, "params": 1.0}, 90.0)]  # no latency reported
    answer = pareto_out(1, spec(), "acc", found)
    assert answer.front == [] and answer.reference is None
    assert answer.points[0].values == [90.0, None] and not answer.points[0].feasible
    assert answer.hypervolume == [0.0]
    assert answer.note == "no feasible result yet"


def test_three_objectives() -> None:
    three = spec(
        objectives=[
            {"metric": "acc", "goal": "maximize"},
            {"metric": "lat", "goal": "minimize"},
            {"metric": "params", "goal": "minimize"},
        ],
        constraints=[],
    )
    found = [
        observation(0, {"acc": 90.0, "lat": 1.0, "params": 2.0}, 90.0),
        observation(1, {"acc": 80.0, "lat": 2.0, "params": 1.0}, 80.0),
        observation(2, {"acc": 70.0, "lat": 2.0, "params": 2.0}, 70.0),
    ]
    answer = pareto_out(1, three, "acc", found)
    assert [p.architecture_id for p in answer.front] == [100, 101]
    # Scaled: (1, 1, 0) and (0.5, 0, 1); the union of their boxes above -0.1.
    first = 1.1 * 1.1 * 0.1
    second = 0.6 * 0.1 * 1.1
    both = 0.6 * 0.1 * 0.1
    assert answer.hypervolume[-1] == pytest.approx(first + second - both)


@pytest.mark.parametrize("width", [1, 2, 3])
def test_the_sweeps_agree_with_botorch(width: int) -> None:
    generator = torch.Generator().manual_seed(width)
    Y = torch.rand(60, width, generator=generator, dtype=torch.float64)
    ref = reference_point(width)
    curve = hypervolume_curve(Y)
    for n in (1, 7, 30, 60):
        expected = float(Y[:n, 0].max() + 0.1) if width == 1 else hypervolume(Y[:n], ref)
        assert curve[n - 1] == pytest.approx(expected)
        assert volume(Y[:n], ref) == pytest.approx(expected)
    assert curve == sorted(curve)
