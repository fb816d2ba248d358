"""The best-so-far curve of a search and its evaluations, thinned for drawing.

A search with 10,000 evaluations must not send 10,000 points on every refresh, nor draw them. The
server therefore sends:

* the best-so-far curve exactly, as its steps (it changes value only when a result improves on
  every earlier one, which happens a few dozen times even in long searches);
* at most ``cap`` evaluation points, chosen so that the picture does not change: every point that
  set a new best, the first and the last, and, in equal slices of the run, the lowest and highest
  result of each slice (the envelope a dense scatter shows).

Results without an objective (failed members) take their place on the x axis (they used budget)
but are not drawn; results that break the search's constraints are drawn but never become best.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_CAP = 2000
MIN_CAP = 10


@dataclass(frozen=True, slots=True)
class Result:
    """One stored result in arrival order.

    Attributes:
        architecture_id: The architecture measured.
        objective: Its objective, or None when the evaluation produced none.
        feasible: Whether it meets the search's constraints.
        source: Who proposed the architecture (``initial``, ``bo``, a sampler...).
    """

    architecture_id: int
    objective: float | None
    feasible: bool
    source: str


@dataclass(frozen=True, slots=True)
class Step:
    """The best-so-far value from evaluation ``index`` (1-based) until the next step."""

    index: int
    value: float
    architecture_id: int


def best_steps(results: Sequence[Result], *, maximize: bool) -> tuple[Step, ...]:
    """The best-so-far curve as its steps: each result that beat every earlier feasible one."""
    steps: list[Step] = []
    best: float | None = None
    for index, result in enumerate(results, start=1):
        value = result.objective
        if value is None or not math.isfinite(value) or not result.feasible:
            continue
        if best is None or (value > best if maximize else value < best):
            best = value
            steps.append(Step(index, value, result.architecture_id))
    return tuple(steps)


def thin_indices(
    results: Sequence[Result], steps: Sequence[Step], cap: int = DEFAULT_CAP
) -> tuple[int, ...]:
    """0-based indices of the results to draw: at most `cap`, keeping steps and extremes.

    Args:
        results: Every result, in arrival order.
        steps: `best_steps` of `results`.
        cap: Most points to keep (at least `MIN_CAP`).

    Returns:
        Sorted indices of drawable results (those with a finite objective).
    """
    cap = max(cap, MIN_CAP)
    drawable = [
        i for i, r in enumerate(results) if r.objective is not None and math.isfinite(r.objective)
    ]
    if len(drawable) <= cap:
        return tuple(drawable)
    kept = {s.index - 1 for s in steps} | {drawable[0], drawable[-1]}
    slices = max(1, (cap - len(kept)) // 2)
    for k in range(slices):
        chunk = drawable[k * len(drawable) // slices : (k + 1) * len(drawable) // slices]
        if not chunk:
            continue
        kept.add(min(chunk, key=lambda i: _value(results[i])))
        kept.add(max(chunk, key=lambda i: _value(results[i])))
    ordered = sorted(kept)
    if len(ordered) > cap:  # only when the steps alone pass the cap: keep them evenly
        stride = len(ordered) / cap
        ordered = [ordered[int(k * stride)] for k in range(cap)]
    return tuple(ordered)


def _value(result: Result) -> float:
    assert result.objective is not None
    return result.objective
