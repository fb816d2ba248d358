"""The answer of ``GET /api/v1/searches/{id}/pareto``: a search's Pareto set, every measured point
and the hypervolume as the front grew (`service.usecases.pareto` computes it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.schemas.common import ApiModel


class ObjectiveOut(ApiModel):
    """One objective of the search: the metric and whether more or less of it is better."""

    metric: str
    goal: Literal["maximize", "minimize"]


class ParetoPointOut(ApiModel):
    """One measured architecture at the search's fidelity.

    Attributes:
        architecture_id: The architecture (export it with
            ``/searches/{id}/architectures/{architecture_id}/export``).
        key: Its canonical key.
        evaluation: Its position in the order results arrived (1 = the first result).
        values: Its value of each objective, in the order of ``objectives`` (None when the
            result lacks that metric).
        feasible: Whether it meets the constraints and has every objective: only feasible
            points can be on the front.
        on_front: Whether it is in the Pareto set.
    """

    architecture_id: int
    key: str
    evaluation: int
    values: list[float | None]
    feasible: bool
    on_front: bool


class ReferenceOut(ApiModel):
    """How the hypervolume is measured (see `service.usecases.pareto`).

    Attributes:
        rule: The rule in words.
        margin: Distance of the reference point below the worst bound, as a fraction of each
            objective's range.
        lower: Smallest feasible measured value of each objective.
        upper: Largest feasible measured value of each objective.
        point: The reference point in the objectives' own units.
    """

    rule: str
    margin: float
    lower: list[float]
    upper: list[float]
    point: list[float]


class ParetoOut(ApiModel):
    """A search's Pareto set under all its objectives, with every measured point.

    Attributes:
        search_id: The search.
        multi_objective: Whether the search has two or three objectives. With one, the front
            is the best feasible architecture (the same as ``/best``).
        fidelity: The fidelity the results were read at.
        objectives: The objectives, primary first.
        front: The Pareto set: no other feasible point is at least as good in every objective
            and better in one. Best first in the primary objective.
        points: Every measured architecture, in the order the results arrived.
        hypervolume: The hypervolume of the front after each result (``hypervolume[i]`` after
            ``i + 1`` results), all with the same bounds and reference point (``reference``).
        reference: The bounds and reference point; None before any feasible result.
        note: Why the answer is empty or what it means, when that needs saying.
    """

    search_id: int
    multi_objective: bool
    fidelity: str
    objectives: list[ObjectiveOut]
    front: list[ParetoPointOut]
    points: list[ParetoPointOut]
    hypervolume: list[float] = Field(default_factory=list)
    reference: ReferenceOut | None = None
    note: str | None = None


__all__ = ["ObjectiveOut", "ParetoOut", "ParetoPointOut", "ReferenceOut"]
