"""``/api/v1/dashboard/meta`` (event kinds, labels, the panels each refreshes) and the metric
hints the dashboard's answers carry, against a real service (no controller)."""

from __future__ import annotations

from service.events import EventKind
from tests.integration import test_dashboard_api as dashboard
from tests.integration.test_dashboard_api import OBJECTIVE, Deployment, base

deployment = dashboard.deployment  # the fixture, shared with test_dashboard_api

META = "/api/v1/dashboard/meta"


def test_meta_needs_a_user_token(deployment: Deployment) -> None:
    with deployment.client(None) as anonymous:
        assert anonymous.get(META).status_code == 401
    with deployment.client("pool") as worker:
        assert worker.get(META).status_code == 403


def test_meta_lists_every_event_kind_with_a_label_and_the_panels_it_refreshes(
    deployment: Deployment,
) -> None:
    meta = deployment.get(META)
    kinds = {k["kind"]: k for k in meta["event_kinds"]}
    assert list(kinds) == [kind.value for kind in EventKind]
    assert kinds["batch.leased"] == {
        "kind": "batch.leased",
        "label": "batch leased",
        "refreshes": ["batches"],
    }
    assert set(kinds["batch.reported"]["refreshes"]) == {
        "series",
        "top",
        "tradeoff",
        "surrogate",
        "batches",
        "pareto",
    }
    assert kinds["surrogate.fitted"]["refreshes"] == ["surrogate"]


def test_answers_carry_the_hints_of_the_metrics_they_name(deployment: Deployment) -> None:
    search_id = deployment.create_search(constraints=[{"metric": "params", "max": 5000}])
    deployment.batch(None)
    deployment.batch(1)
    objective = {
        "name": OBJECTIVE,
        "label": OBJECTIVE,
        "short": "accuracy",
        "direction": "higher",
        "unit": "percent",
        "cost": False,
    }
    params = {
        "name": "params",
        "label": "params",
        "short": "parameters",
        "direction": "lower",
        "unit": "count",
        "cost": True,
    }
    row = next(s for s in deployment.get("/api/v1/dashboard/summary")["searches"])
    assert row["hints"] == {OBJECTIVE: objective, "params": params}  # objective and constraint
    for panel in ("series", "surrogate"):
        assert deployment.get(f"{base(search_id)}/{panel}")["hints"] == {
            OBJECTIVE: objective,
            "params": params,
        }
    tradeoff = deployment.get(f"{base(search_id)}/tradeoff")
    assert tradeoff["metrics"] == ["params"] and tradeoff["hints"]["params"] == params
    top = deployment.get(f"{base(search_id)}/top", limit=2)
    measured = {name for item in top["items"] for name in item["metrics"]}
    assert measured and measured <= set(top["hints"])
