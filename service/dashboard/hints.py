"""How the dashboard shows a metric: its label, which direction is better, and its unit.

The one place that reads meaning into metric names. The page draws what these hints say and
guesses nothing itself, and the trade-off chart offers as costs the metrics marked `cost` here.

A search's objective takes its direction from the spec (``goal``) and, for an accuracy, its unit
from the spec's ``range`` (``[0, 1]``: a fraction; otherwise percent, as the benchmark tables and
the trainers report). Every other metric is read from its name, split into words at ``_`` and
``-``:

* costs: ``param`` (parameters), ``flop`` (FLOPs), ``latency`` and ``size``, in that order of
  preference, lower is better; a word ``M`` means millions (``params_M_cifar10``);
* times: a word ``time``, ``seconds`` or a final ``s`` (``training_time_108ep_s``): seconds,
  lower is better;
* losses and errors: lower is better;
* accuracies: a word that starts with ``acc`` or is ``top1``, ``val``, ``valid`` or ``test``
  (the NAS-Bench columns ``cifar10valid_val_200ep_1seed``, ``val_acc_108ep``): percent, higher
  is better;
* anything else: a plain number, no direction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from service.search_spec import SearchSpec

Direction = Literal["higher", "lower"]
Unit = Literal["percent", "fraction", "millions", "count", "seconds", "number"]

COST_FAMILIES = {"param": "parameters", "flop": "FLOPs", "latency": "latency", "size": "size"}
"""Name fragments of cost metrics, in the order the trade-off chart prefers them, and what they
are called on the page."""

_ACCURACY_WORDS = frozenset({"top1", "val", "valid", "test"})
_LOWER_WORDS = frozenset({"loss", "error", "err", "regret"})
_TIME_WORDS = frozenset({"time", "seconds", "sec", "secs"})


@dataclass(frozen=True, slots=True)
class MetricHint:
    """How to show one metric.

    Attributes:
        name: The metric as stored.
        label: The name for people (words, not underscores).
        short: What it is, in a word or two (``parameters``, ``FLOPs``, ``accuracy``; the label
            when nothing more is known): for chart titles and cost axes.
        direction: Which values are better, or None when the name does not say.
        unit: How values read: ``percent`` (0-100), ``fraction`` (0-1), ``millions``, ``count``,
            ``seconds`` or a plain ``number``.
        cost: Whether the trade-off chart offers it as a cost.
    """

    name: str
    label: str
    short: str
    direction: Direction | None
    unit: Unit
    cost: bool


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[_\-\s]+", name.lower()) if w]


def _family(name: str) -> str | None:
    lowered = name.lower()
    return next((fragment for fragment in COST_FAMILIES if fragment in lowered), None)


def metric_hint(name: str) -> MetricHint:
    """The hint of a metric from its name alone (see the module docstring)."""
    words = _words(name)
    label = " ".join(name.replace("-", "_").split("_")).strip() or name
    family = _family(name)
    if family is not None:
        unit: Unit = "millions" if "m" in words else "count"
        if family == "latency":
            unit = "seconds" if words[-1:] == ["s"] or _TIME_WORDS & set(words) else "number"
        return MetricHint(name, label, COST_FAMILIES[family], "lower", unit, cost=True)
    if _TIME_WORDS & set(words) or words[-1:] == ["s"]:
        return MetricHint(name, label, "time", "lower", "seconds", cost=False)
    if _LOWER_WORDS & set(words):
        return MetricHint(name, label, label, "lower", "number", cost=False)
    if any(w.startswith("acc") for w in words) or _ACCURACY_WORDS & set(words):
        return MetricHint(name, label, "accuracy", "higher", "percent", cost=False)
    return MetricHint(name, label, label, None, "number", cost=False)


def objective_hint(spec: SearchSpec) -> MetricHint:
    """The hint of the search's objective: the spec says its direction (and, for an accuracy
    given a range within [0, 1], that it is a fraction)."""
    objective = spec.objective
    hint = metric_hint(objective.metric)
    unit = hint.unit
    if unit == "percent" and objective.range is not None and objective.range[1] <= 1.0:
        unit = "fraction"
    direction: Direction = "higher" if objective.maximize else "lower"
    return MetricHint(hint.name, hint.label, hint.short, direction, unit, cost=False)


def metric_hints(spec: SearchSpec, names: Iterable[str] = ()) -> dict[str, MetricHint]:
    """Hints for the objective, the constrained metrics and `names`, by metric name."""
    hints = {name: metric_hint(name) for name in names}
    hints.update({c.metric: metric_hint(c.metric) for c in spec.constraints})
    hints[spec.objective.metric] = objective_hint(spec)
    return hints


def cost_order(names: Iterable[str]) -> list[str]:
    """The cost metrics among `names`, parameters first, then FLOPs, latency and size."""
    families = list(COST_FAMILIES)
    costs = [(families.index(f), n) for n in set(names) if (f := _family(n)) is not None]
    return [n for _, n in sorted(costs)]
