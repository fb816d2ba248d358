"""A round's refit snapshots come from the `ProposalRound` the strategy returned (issue #14).

`propose_round` used to probe the strategy's ``version`` before and after `propose`; it now reads
`ProposalRound.refit`, and renumbers a strategy whose stored snapshot does not load through
`Strategy.continue_versions_from`. These run the round in this process (no child, no store).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from service.controller.isolation import RoundJob, RoundOutcome, propose_round
from service.search_spec import SearchSpec
from surrogate.models.fit import FitReport

SPACE = {"type": "cell", "name": "rounds", "num_nodes": 3, "ops": ["skip", "conv", "pool"]}
BONAS_OPTIONS = {
    "n_init": 2,
    "pool_size": 8,
    "fit": {"epochs": 2, "warm_epochs": 1, "gcn": {"num_layers": 1, "width": 4}},
}


def stored_spec(strategy: dict[str, Any]) -> dict[str, Any]:
    return SearchSpec.model_validate(
        {
            "name": "rounds",
            "space": SPACE,
            "evaluator": {"kind": "table", "path": "rounds.csv"},
            "budget": {"evaluations": 20},
            "batch_size": 2,
            "strategy": strategy,
        }
    ).stored()


def job(
    spec: dict[str, Any],
    observations: list[tuple[Any, float]],
    sizes: tuple[int, ...],
    state: bytes | None = None,
    snapshot_version: int | None = None,
) -> RoundJob:
    return RoundJob(
        search_id=1,
        spec=spec,
        state=state,
        snapshot_version=snapshot_version,
        observations=observations,
        pending=[],
        excluded=[],
        sizes=sizes,
        seed=3,
        rounds_so_far=len(observations),
    )


def observed(outcome: RoundOutcome) -> list[tuple[Any, float]]:
    return [(p.arch, float(i)) for i, batch in enumerate(outcome.batches) for p in batch]


def test_each_refit_of_a_round_is_one_snapshot_with_its_fit_report() -> None:
    spec = stored_spec({"name": "bonas", "options": BONAS_OPTIONS})
    initial = propose_round(job(spec, [], (2,)))
    assert initial.snapshots == []  # the initial random batch fits nothing
    outcome = propose_round(job(spec, observed(initial), (2, 2), state=initial.state))
    assert [s.version for s in outcome.snapshots] == [1, 2]
    fields = {f.name for f in dataclasses.fields(FitReport)}
    for snapshot in outcome.snapshots:
        assert set(snapshot.fit) == fields and snapshot.fit["num_observations"] == 2
    assert [{p.surrogate_version for p in b} for b in outcome.batches] == [{1}, {2}]


def test_a_snapshot_that_does_not_load_keeps_the_stores_numbering() -> None:
    spec = stored_spec({"name": "bonas", "options": BONAS_OPTIONS})
    initial = propose_round(job(spec, [], (2,)))
    outcome = propose_round(
        job(spec, observed(initial), (2,), state=b"not a state", snapshot_version=4)
    )
    assert any("snapshot v4 does not load" in note for note in outcome.notes)
    assert [s.version for s in outcome.snapshots] == [5]
    assert not outcome.snapshots[0].fit["warm_started"]
    assert {p.surrogate_version for p in outcome.batches[0]} == {5}


@pytest.mark.parametrize("name", ["random", "evolution", "local"])
def test_a_baseline_round_stores_no_snapshot(name: str) -> None:
    spec = stored_spec({"name": name})
    first = propose_round(job(spec, [], (2,)))
    outcome = propose_round(
        job(spec, observed(first), (2,), state=b"not a state", snapshot_version=4)
    )
    assert first.snapshots == outcome.snapshots == []
    assert [len(b) for b in outcome.batches] == [2]
    assert {p.surrogate_version for p in outcome.batches[0]} == {None}
