"""``GET /searches/{id}/pareto`` and the export of any front point, over HTTP, on SQLite and
PostgreSQL.

The searches are seeded straight into the store (architectures and evaluations with a value of
every objective), so the answer depends only on the stored results, not on a strategy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli.main import app as cli
from service.client import BonasClient
from service.search_spec import SearchSpec, batch_fidelity
from service.store import (
    ArchitectureInput,
    ArchitectureRepository,
    EvaluationInput,
    EvaluationRepository,
    ProposalInfo,
    session_scope,
    utcnow,
)
from tests.integration import test_api as base
from tests.integration.test_api import NB201_ARCHS, Api
from tests.support.store import start_search

# (val_acc, latency) of NB201_ARCHS[0..3]: the third is dominated by the first.
RESULTS = [(90.0, 10.0), (80.0, 5.0), (85.0, 12.0), (95.0, 20.0)]


def spec(**changes: Any) -> SearchSpec:
    body: dict[str, Any] = {
        "name": "mo",
        "space": "nb201",
        "evaluator": {"kind": "table", "path": "nb201.csv", "report_columns": ["latency"]},
        "objectives": [
            {"metric": "val_acc", "goal": "maximize"},
            {"metric": "latency", "goal": "minimize"},
        ],
        "budget": {"evaluations": 20},
        "batch_size": 2,
        "strategy": {"name": "bonas"},
    }
    body.update(changes)
    return SearchSpec.model_validate(body)


def seed(api: Api, search_spec: SearchSpec, owner: str = "alice") -> tuple[int, list[int]]:
    """A running search of `owner` with RESULTS measured, in order; its architecture ids."""
    now = utcnow()
    with session_scope(api.engine) as session:
        search_id = start_search(session, search_spec, now, owner)
        items = [
            ArchitectureInput(key=a, arch={"cell": a}, proposal=ProposalInfo("initial"))
            for a in NB201_ARCHS
        ]
        added = ArchitectureRepository(session).add_many(search_id, items, now=now)
        ids = [record.id for record, _ in added]
        evaluations = EvaluationRepository(session)
        for architecture_id, (acc, latency) in zip(ids, RESULTS, strict=True):
            item = EvaluationInput(
                architecture_id, {"val_acc": acc, "latency": latency}, acc, "table"
            )
            evaluations.record(item, now=now, fidelity=batch_fidelity(search_spec))
    return search_id, ids


make_api = base.make_api  # the fixture, shared with test_api


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


def test_the_owner_reads_the_front_and_others_get_404(api: Api) -> None:
    sid, ids = seed(api, spec())
    answer = api.alice.get(f"/api/v1/searches/{sid}/pareto")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["multi_objective"] is True
    assert [o["metric"] for o in body["objectives"]] == ["val_acc", "latency"]
    assert [p["architecture_id"] for p in body["front"]] == [ids[3], ids[0], ids[1]]
    assert [p["on_front"] for p in body["points"]] == [True, True, False, True]
    curve = body["hypervolume"]
    assert len(curve) == 4 and curve == sorted(curve) and curve[2] == curve[1]
    assert body["reference"]["point"] == pytest.approx([80.0 - 1.5, 20.0 + 1.5])
    assert api.bob.get(f"/api/v1/searches/{sid}/pareto").status_code == 404
    assert api.admin.get(f"/api/v1/searches/{sid}/pareto").json()["front"] == body["front"]
    assert api.alice.get("/api/v1/searches/999999/pareto").status_code == 404


def test_a_single_objective_front_is_the_best(api: Api) -> None:
    single = spec(objectives=[], objective={"metric": "val_acc"})
    sid, ids = seed(api, single)
    body = api.alice.get(f"/api/v1/searches/{sid}/pareto").json()
    best = api.alice.get(f"/api/v1/searches/{sid}/best").json()
    assert body["multi_objective"] is False
    assert [p["architecture_id"] for p in body["front"]] == [best["id"]] == [ids[3]]
    assert "best" in body["note"]


def test_a_search_with_no_result_has_an_empty_front(api: Api) -> None:
    now = utcnow()
    with session_scope(api.engine) as session:
        sid = start_search(session, spec(), now, "alice")
    body = api.alice.get(f"/api/v1/searches/{sid}/pareto").json()
    assert body["front"] == [] and body["points"] == [] and body["hypervolume"] == []
    assert body["note"] == "nothing measured yet" and body["reference"] is None


def test_any_front_point_exports_by_id(api: Api) -> None:
    sid, ids = seed(api, spec())
    _, other_ids = seed(api, spec(name="other"))
    front = api.alice.get(f"/api/v1/searches/{sid}/pareto").json()["front"]
    cheapest = front[-1]["architecture_id"]
    assert cheapest == ids[1]  # not the best: /best/export could not give it
    answer = api.alice.get(f"/api/v1/searches/{sid}/architectures/{cheapest}/export")
    assert answer.status_code == 200, answer.text
    assert f"search-{sid}-architecture-{cheapest}.json" in answer.headers["content-disposition"]
    genotype = answer.json()
    assert genotype["arch"] == {"cell": NB201_ARCHS[1]}
    assert genotype["metrics"] == {"val_acc": 80.0, "latency": 5.0}
    path = f"/api/v1/searches/{sid}/architectures/{other_ids[1]}/export"
    assert api.alice.get(path).status_code == 404  # another search's architecture
    assert api.bob.get(f"/api/v1/searches/{sid}/architectures/{cheapest}/export").status_code == 404
    weights = api.alice.get(
        f"/api/v1/searches/{sid}/architectures/{cheapest}/export",
        params={"format": "state_dict", "channels": 4, "cells_per_stage": 1},
    )
    assert weights.status_code == 200 and weights.content


def test_the_sdk_and_cli_read_the_front_and_export_a_point(api: Api, tmp_path: Path) -> None:
    sid, ids = seed(api, spec())
    token = api.alice.headers["Authorization"].removeprefix("Bearer ")
    with BonasClient(api.url, token) as client:
        answer = client.pareto(sid)
        assert [p.architecture_id for p in answer.front] == [ids[3], ids[0], ids[1]]
        written = client.export(sid, tmp_path / "cheap.json", architecture_id=ids[1])
        assert json.loads(written.read_text())["arch"] == {"cell": NB201_ARCHS[1]}
    env = {"BONAS_SERVER": api.url, "BONAS_TOKEN": token}
    runner = CliRunner()
    shown = runner.invoke(cli, ["pareto", str(sid)], env=env)
    assert shown.exit_code == 0, shown.output
    assert "Pareto front of search" in shown.output and "(3)" in shown.output
    assert "hypervolume after 4 results" in shown.output
    target = tmp_path / "point.json"
    args = ["pareto", str(sid), "--export", str(target), "--architecture", str(ids[0])]
    exported = runner.invoke(cli, args, env=env)
    assert exported.exit_code == 0, exported.output
    assert json.loads(target.read_text())["arch"] == {"cell": NB201_ARCHS[0]}
    refused = runner.invoke(cli, ["pareto", str(sid), "--export", str(target)], env=env)
    assert refused.exit_code != 0 and "--architecture" in refused.output


def test_the_dashboard_panel_carries_the_answer_and_the_objectives_hints(api: Api) -> None:
    sid, _ = seed(api, spec())
    path = f"/api/v1/dashboard/searches/{sid}/pareto"
    panel = api.alice.get(path)
    assert panel.status_code == 200, panel.text
    body = panel.json()
    assert body["pareto"] == api.alice.get(f"/api/v1/searches/{sid}/pareto").json()
    assert body["hints"]["val_acc"]["direction"] == "higher"
    assert body["hints"]["latency"]["direction"] == "lower"
    assert api.bob.get(path).status_code == 404
    upside_down = spec(  # the goal, not the name, says which way is better
        name="inverted",
        objectives=[
            {"metric": "val_acc", "goal": "minimize"},
            {"metric": "latency", "goal": "maximize"},
        ],
    )
    other, _ = seed(api, upside_down)
    hints = api.alice.get(f"/api/v1/dashboard/searches/{other}/pareto").json()["hints"]
    assert [hints[m]["direction"] for m in ("val_acc", "latency")] == ["lower", "higher"]
