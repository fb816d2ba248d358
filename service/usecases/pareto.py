"""A search's Pareto set under all its objectives, every measured point, and the hypervolume as
the front grew.

The Pareto set is computed on read from the stored evaluations (`EvaluationRepository.
observations` at the search's fidelity), not kept in a column updated on each report: the
evaluations are the one source of truth, so the front can never disagree with them, a change
of the bounds (which moves every hypervolume) needs no rewrite, and it is cheap enough: for
1,000 evaluations the set and the whole curve take about 0.1-0.2 s (2 objectives, a short
front), about 0.2 s (3 objectives, a 35-point front) and at worst about 0.6 s (every result
joining the front), measured on a shared 2-core machine; the dashboard reads it once per report.

A point is *feasible* when its result meets the search's constraints and carries a finite value
of every objective; only feasible points can be on the front. The hypervolume follows
`surrogate.pareto`'s rule with bounds taken from the search itself: each objective is scaled to
``[0, 1]`` between the worst and best feasible value measured so far (1 = best), and the
reference point is ``-margin`` (0.1) in every scaled objective, i.e. the worst measured value
less a tenth of the range. Every value of the curve uses the same, latest bounds, so the curve
never decreases; a new result that widens a range rescales the whole curve. An objective whose
feasible values are all equal scales every point to 1.

A search with one objective answers too: its front is the best feasible architecture (the one
``/best`` returns; the earliest wins a tie) and the curve is the one-objective hypervolume, the
best so far scaled as above plus the margin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sqlalchemy.orm import Session
from torch import Tensor

from service.auth import Principal
from service.schemas.pareto import ObjectiveOut, ParetoOut, ParetoPointOut, ReferenceOut
from service.search_spec import Objective, SearchSpec, batch_fidelity
from service.store import EvaluationRepository, Observation
from service.usecases.summary import spec_of, visible_search
from surrogate.pareto import (
    DEFAULT_MARGIN,
    Normalisation,
    pareto_indices,
    reference_point,
)

RULE = (
    "each objective scaled to [0, 1] between its worst and best feasible measured value "
    "(1 = best); reference point at -{margin} in every scaled objective (the worst measured "
    "value less {margin} of the range); every value of the curve uses these bounds"
)


@dataclass(frozen=True)
class Measured:
    """One measured architecture: its objective values in the user's units (NaN: missing)."""

    observation: Observation
    values: tuple[float, ...]
    feasible: bool


def read_pareto(session: Session, principal: Principal, search_id: int) -> ParetoOut:
    """The Pareto set, the measured points and the hypervolume curve of a search.

    Raises:
        ApiError: 404 when the search is not visible to `principal`.
    """
    spec = spec_of(visible_search(session, principal, search_id))
    fidelity = batch_fidelity(spec)
    observations = EvaluationRepository(session).observations(search_id, fidelity)
    return pareto_out(search_id, spec, fidelity, observations)


def pareto_out(
    search_id: int, spec: SearchSpec, fidelity: str, observations: Sequence[Observation]
) -> ParetoOut:
    """The answer for `observations` (in the order they arrived) of a search with `spec`."""
    objectives = spec.all_objectives
    measured = [measure(spec, objectives, o) for o in observations]
    feasible = [m for m in measured if m.feasible]
    reference: ReferenceOut | None = None
    curve = [0.0] * len(measured)
    front_ids: set[int] = set()
    if feasible:
        lower, upper = bounds(feasible, objectives)
        scaled = scale(measured, objectives, lower, upper)
        scaled[torch.tensor([not m.feasible for m in measured])] = math.nan
        rows = [i for i, m in enumerate(measured) if m.feasible]
        front_ids = {id(measured[rows[i]]) for i in _front_rows(scaled[rows])}
        curve = hypervolume_curve(scaled)
        reference = _reference(objectives, lower, upper)
    points = [_point(m, i, on_front=id(m) in front_ids) for i, m in enumerate(measured)]
    front = sorted(
        (p for p in points if p.on_front), key=lambda p: _rank(p.values[0], objectives[0])
    )
    return ParetoOut(
        search_id=search_id,
        multi_objective=spec.multi_objective,
        fidelity=fidelity,
        objectives=[ObjectiveOut(metric=o.metric, goal=o.goal) for o in objectives],
        front=front,
        points=points,
        hypervolume=curve,
        reference=reference,
        note=_note(spec, measured, feasible),
    )


def _note(
    spec: SearchSpec, measured: Sequence[Measured], feasible: Sequence[Measured]
) -> str | None:
    if not measured:
        return "nothing measured yet"
    if not feasible:
        return "no feasible result yet"
    return None if spec.multi_objective else "one objective: the front is the best result"


def measure(spec: SearchSpec, objectives: Sequence[Objective], obs: Observation) -> Measured:
    """The objective values of one result and whether it can be on the front."""
    evaluation = obs.evaluation
    values = []
    for position, objective in enumerate(objectives):
        raw = evaluation.metrics.get(objective.metric)
        if raw is None and position == 0:
            raw = evaluation.objective
        values.append(_finite(raw))
    ok = all(math.isfinite(v) for v in values) and spec.feasible(evaluation.metrics)
    return Measured(obs, tuple(values), ok)


def bounds(
    feasible: Sequence[Measured], objectives: Sequence[Objective]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Smallest and largest feasible value of each objective, a degenerate range opened by one
    unit on its worse side (so every point scales to 1 there)."""
    lower, upper = [], []
    for j, objective in enumerate(objectives):
        column = [m.values[j] for m in feasible]
        lo, hi = min(column), max(column)
        if hi <= lo:
            lo, hi = (lo - 1.0, hi) if objective.maximize else (lo, hi + 1.0)
        lower.append(lo)
        upper.append(hi)
    return tuple(lower), tuple(upper)


def scale(
    measured: Sequence[Measured],
    objectives: Sequence[Objective],
    lower: Sequence[float],
    upper: Sequence[float],
) -> Tensor:
    """`(n, m)` scaled maximisation values of `measured` (1 = the best bound)."""
    Y = torch.tensor([m.values for m in measured], dtype=torch.float64).reshape(-1, len(objectives))
    if len(objectives) >= 2:
        directions = tuple(o.goal for o in objectives)
        return Normalisation(directions, tuple(lower), tuple(upper)).apply(Y)
    unit = (Y - lower[0]) / (upper[0] - lower[0])
    return unit if objectives[0].maximize else 1.0 - unit


def hypervolume_curve(scaled: Tensor, margin: float = DEFAULT_MARGIN) -> list[float]:
    """The hypervolume after each row of `(n, m)` scaled values (NaN rows, the infeasible
    results, repeat the last value).

    The front is kept as rows arrive; a row that a front point weakly dominates changes
    nothing, so the volume is recomputed only when the front changes, and then by `volume`
    (in NumPy: a search's curve is many small sweeps, where torch's per-call cost dominates).
    """
    rows = scaled.to(torch.float64).numpy()
    ref = reference_point(scaled.shape[-1], margin).numpy()
    front = rows[:0]
    value, curve = 0.0, []
    for y in rows:
        if np.isfinite(y).all() and not (front >= y).all(-1).any():
            front = np.concatenate([front[~(y >= front).all(-1)], y[None]])
            value = _volume(front, ref)
        curve.append(value)
    return curve


def volume(Y: Tensor, ref: Tensor) -> float:
    """The volume dominated by `(k, m)` maximisation values `Y` (each strictly above `ref`).

    The same number as `surrogate.pareto.hypervolume` (the tests check it), by sweeps that stay
    fast on the long fronts a search builds: one objective, the best's distance to `ref`; two,
    a sweep along the first objective; three, slabs along the third, each a two-objective sweep.
    """
    return _volume(Y.to(torch.float64).numpy(), ref.to(torch.float64).numpy())


def _volume(Y: np.ndarray, ref: np.ndarray) -> float:
    if Y.shape[-1] == 1:
        return float(Y[:, 0].max() - ref[0])
    if Y.shape[-1] == 2:
        return _area(Y, ref)
    Z = Y[np.argsort(-Y[:, 2], kind="stable")]
    heights = Z[:, 2] - np.append(Z[1:, 2], ref[2])
    return float(sum(_area(Z[: i + 1, :2], ref[:2]) * heights[i] for i in range(len(Z))))


def _area(Y: np.ndarray, ref: np.ndarray) -> float:
    """Area dominated by `(k, 2)` points above `ref`, dominated points included or not."""
    order = np.argsort(-Y[:, 0], kind="stable")
    x, y = Y[order, 0], np.maximum.accumulate(Y[order, 1])
    widths = x - np.append(x[1:], ref[0])
    return float((widths * (y - ref[1])).sum())


def _front_rows(scaled: Tensor) -> list[int]:
    """Rows of the Pareto set of scaled maximisation values (one objective: the first best)."""
    if scaled.shape[-1] == 1:
        return [int(torch.argmax(scaled[:, 0]))]
    return pareto_indices(scaled, ["maximize"] * scaled.shape[-1])


def _reference(
    objectives: Sequence[Objective], lower: Sequence[float], upper: Sequence[float]
) -> ReferenceOut:
    margin = DEFAULT_MARGIN
    point = [
        lo - margin * (hi - lo) if o.maximize else hi + margin * (hi - lo)
        for o, lo, hi in zip(objectives, lower, upper, strict=True)
    ]
    return ReferenceOut(
        rule=RULE.format(margin=margin),
        margin=margin,
        lower=list(lower),
        upper=list(upper),
        point=point,
    )


def _point(m: Measured, position: int, *, on_front: bool) -> ParetoPointOut:
    architecture = m.observation.architecture
    return ParetoPointOut(
        architecture_id=architecture.id,
        key=architecture.key,
        evaluation=position + 1,
        values=[v if math.isfinite(v) else None for v in m.values],
        feasible=m.feasible,
        on_front=on_front,
    )


def _rank(value: float | None, objective: Objective) -> float:
    """Sort key putting the best value of `objective` first."""
    assert value is not None  # front points are feasible
    return -value if objective.maximize else value


def _finite(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value) if math.isfinite(value) else math.nan


__all__ = [
    "RULE",
    "Measured",
    "bounds",
    "hypervolume_curve",
    "pareto_out",
    "read_pareto",
    "scale",
    "volume",
]
