"""Metric display hints (label, better direction, unit) come from the server, in one place, and
the page's scripts read them instead of guessing from metric names."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from service.dashboard.hints import cost_order, metric_hint, metric_hints, objective_hint
from service.dashboard.meta import REFRESHES, meta_out
from service.events import EventKind
from service.search_spec import SearchSpec

PACKAGE = resources.files("service.dashboard")


def spec(objective: dict[str, Any], constraints: list[Any] | None = None) -> SearchSpec:
    return SearchSpec.model_validate(
        {
            "name": "hints",
            "space": "nb201",
            "evaluator": {"kind": "table", "path": "t.csv"},
            "objective": objective,
            "constraints": constraints or [],
            "budget": {"evaluations": 10},
        }
    )


@pytest.mark.parametrize(
    ("name", "short", "direction", "unit", "cost"),
    [
        ("cifar10valid_val_200ep_1seed", "accuracy", "higher", "percent", False),
        ("cifar10_test_200ep", "accuracy", "higher", "percent", False),
        ("val_acc_108ep", "accuracy", "higher", "percent", False),
        ("val_accuracy", "accuracy", "higher", "percent", False),
        ("params_M_cifar10", "parameters", "lower", "millions", True),
        ("naslib_flops_M", "FLOPs", "lower", "millions", True),
        ("trainable_parameters", "parameters", "lower", "count", True),
        ("latency_s", "latency", "lower", "seconds", True),
        ("training_time_108ep_s", "time", "lower", "seconds", False),
        ("val_loss", "val loss", "lower", "number", False),
        ("zc_synflow", "zc synflow", None, "number", False),
    ],
)
def test_metric_names_are_read_once_on_the_server(
    name: str, short: str, direction: str | None, unit: str, cost: bool
) -> None:
    hint = metric_hint(name)
    assert (hint.short, hint.direction, hint.unit, hint.cost) == (short, direction, unit, cost)
    assert "_" not in hint.label


def test_the_objective_takes_its_direction_and_scale_from_the_spec() -> None:
    minimised = objective_hint(spec({"metric": "cifar10_test_200ep", "goal": "minimize"}))
    assert minimised.direction == "lower" and minimised.unit == "percent"
    fraction = objective_hint(spec({"metric": "val_accuracy", "range": [0, 1]}))
    assert fraction.direction == "higher" and fraction.unit == "fraction"
    percent = objective_hint(spec({"metric": "val_accuracy", "range": [0, 100]}))
    assert percent.unit == "percent"
    odd = objective_hint(spec({"metric": "zc_synflow", "goal": "maximize"}))
    assert odd.direction == "higher" and odd.unit == "number"


def test_hints_cover_the_objective_the_constraints_and_the_names_asked_for() -> None:
    search = spec(
        {"metric": "params_M_cifar10", "goal": "minimize"},
        [{"metric": "flops_M_cifar10", "max": 100}],
    )
    hints = metric_hints(search, ["cifar10_test_200ep"])
    assert set(hints) == {"params_M_cifar10", "flops_M_cifar10", "cifar10_test_200ep"}
    assert hints["params_M_cifar10"].cost is False  # the objective is not offered as a cost


def test_costs_are_ordered_parameters_first() -> None:
    names = ["size_mb", "acc", "flops_M", "params_M", "latency_ms", "params"]
    assert cost_order(names) == ["params", "params_M", "flops_M", "latency_ms", "size_mb"]


def test_meta_lists_every_event_kind_with_its_label_and_panels() -> None:
    meta = meta_out()
    assert [k.kind for k in meta.event_kinds] == [kind.value for kind in EventKind]
    assert set(REFRESHES) == set(EventKind)
    by_kind = {k.kind: k for k in meta.event_kinds}
    reported = by_kind["batch.reported"]
    assert reported.label == "batch reported"
    assert set(reported.refreshes) == {
        "series",
        "top",
        "tradeoff",
        "surrogate",
        "batches",
        "pareto",
    }
    assert by_kind["surrogate.fitted"].refreshes == ["surrogate"]
    assert by_kind["search.created"].refreshes == []


HEURISTIC = re.compile(
    r"/[^/\n]*(?:acc|flop|param|lat|loss|top-?1)[^/\n]*/[gimsuy]*\.test\(|looksLikePercent|costLabel",
    re.IGNORECASE,
)
EVENT_KIND_LITERAL = re.compile(r"""["'`](?:search|batch|surrogate)\.[a-z]+["'`]""")


@pytest.mark.parametrize(
    "name",
    sorted(n.name for n in PACKAGE.iterdir() if n.name.endswith(".js")),
)
def test_the_page_reads_no_meaning_into_metric_or_event_names(name: str) -> None:
    """The page's own heuristics (percent-looking accuracies, cost units from names, which
    events refresh which panel) are gone: the server's hints and event kinds replace them."""
    source = PACKAGE.joinpath(name).read_text()
    assert not HEURISTIC.findall(source), name
    assert not EVENT_KIND_LITERAL.findall(source), name


NODE = shutil.which("node")


def run_page_modules(script: str) -> Any:
    """Run an ES module snippet next to the page's modules with Node; its last line is JSON."""
    assert NODE is not None
    folder = Path(str(PACKAGE))
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", script],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(NODE is None, reason="needs node to run the page's modules")
def test_the_page_formats_metrics_and_refreshes_panels_as_the_server_says() -> None:
    meta = meta_out().model_dump(mode="json")
    search = spec({"metric": "cifar10valid_val_200ep_1seed"})
    hints = {
        name: {"name": h.name, "label": h.label, "short": h.short, "direction": h.direction}
        | {"unit": h.unit, "cost": h.cost}
        for name, h in metric_hints(search, ["params_M_cifar10", "trainable_parameters"]).items()
    }
    script = f"""
import {{ axisTitle, goalWord, hintOf, metricValue }} from "./format.js";
import {{ eventLabel, invalidated }} from "./poller.js";
import {{ acceptMeta }} from "./store.js";
acceptMeta({json.dumps(meta)});
const hints = {json.dumps(hints)};
const objective = hintOf(hints, "cifar10valid_val_200ep_1seed");
const params = hintOf(hints, "params_M_cifar10");
console.log(JSON.stringify({{
  reported: invalidated("batch.reported"),
  fitted: invalidated("surrogate.fitted"),
  unknown: invalidated("model.exported"),
  label: eventLabel("batch.requeued"),
  value: metricValue(objective, 91.5712),
  axis: axisTitle(objective),
  goal: goalWord(objective),
  cost: [axisTitle(params, {{ short: true }}), metricValue(params, 1.53179)],
  count: metricValue(hintOf(hints, "trainable_parameters"), 8555530),
  unhinted: [axisTitle(hintOf(hints, "zc_synflow")), metricValue(hintOf(hints, "zc_x"), 91.5)],
}}));
"""
    page = run_page_modules(script)
    refreshes = {k["kind"]: k["refreshes"] for k in meta["event_kinds"]}
    assert page["reported"] == refreshes["batch.reported"]
    assert page["fitted"] == ["surrogate"]
    assert set(page["unknown"]) == {
        "series",
        "batches",
        "surrogate",
        "tradeoff",
        "top",
        "pareto",
    }
    assert page["label"] == "batch requeued"
    assert page["value"] == "91.57%"
    assert page["axis"] == "cifar10valid val 200ep 1seed (%)"
    assert page["goal"] == "max"
    assert page["cost"] == ["parameters (millions)", "1.53"]
    assert page["count"] == "8.56M"
    assert page["unhinted"] == ["zc_synflow", "91.5"]  # nothing guessed without a hint
