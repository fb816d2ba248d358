"""Pareto sets and hypervolumes of two or three objectives, each maximised or minimised.

Everything here turns the objectives into maximisation first (a minimised column is negated),
then uses BoTorch's `botorch.utils.multi_objective`: `is_non_dominated` for the Pareto set and
`DominatedPartitioning` (an exact box decomposition) or `Hypervolume` (the dimension-sweep
algorithm) for the hypervolume, which agree to rounding.

Hypervolumes of different searches are comparable only with the same normalisation and the same
reference point, so both are explicit:

* `Normalisation` maps each objective linearly to `[0, 1]` with 1 the best end: `(y - worst) /
  (best - worst)`, where `worst` and `best` are bounds in the user's units (for a benchmark, the
  smallest and largest value of the column over the whole table). A front then measures the
  same whatever the units (percent, milliseconds, millions of parameters).
* The reference point rule (`reference_point`): in the normalised maximisation space, every
  coordinate at `-margin` (default 0.1), that is the worst bound minus a tenth of the range. So
  every point of the table strictly dominates it, and the extreme points of a front (the most
  accurate cell, the fastest cell) still add volume instead of lying on the reference's face.
  With `margin = 0.1` the largest possible hypervolume of `m` objectives is `1.1 ** m`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated
from torch import Tensor

Direction = Literal["maximize", "minimize"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)
DEFAULT_MARGIN = 0.1
"""Distance of the reference point below the worst bound, as a fraction of each range."""


def check_directions(directions: Sequence[str], width: int | None = None) -> tuple[Direction, ...]:
    """`directions` as a tuple, after checking each name and (if given) their number.

    Raises:
        ValueError: An unknown direction, fewer than 2 or more than 3 objectives, or a count
            that differs from `width`.
    """
    unknown = [d for d in directions if d not in DIRECTIONS]
    if unknown:
        raise ValueError(f"unknown directions {unknown}; accepted: {', '.join(DIRECTIONS)}")
    if not 2 <= len(directions) <= 3:
        raise ValueError(f"give 2 or 3 objectives, got {len(directions)}")
    if width is not None and width != len(directions):
        raise ValueError(f"{len(directions)} directions for {width} objective columns")
    return tuple(d for d in directions if d in DIRECTIONS)  # type: ignore[misc]


def to_maximization(Y: Tensor, directions: Sequence[str]) -> Tensor:
    """`(..., n, m)` objective values with every minimised column negated (float64)."""
    check_directions(directions, Y.shape[-1])
    signs = torch.tensor([1.0 if d == "maximize" else -1.0 for d in directions])
    return Y.to(torch.float64) * signs.to(torch.float64)


def pareto_mask(Y: Tensor, directions: Sequence[str]) -> Tensor:
    """`(n,)` bool: which rows of `(n, m)` values `Y` are non-dominated.

    A row is dominated when another row is at least as good in every objective and better in
    one. Of identical non-dominated rows only the first is kept; rows with a NaN are dominated.
    """
    Y_max = to_maximization(Y, directions)
    finite = torch.isfinite(Y_max).all(-1)
    mask = torch.zeros(Y.shape[0], dtype=torch.bool)
    rows = finite.nonzero().reshape(-1)
    mask[rows] = is_non_dominated(Y_max[rows], deduplicate=True)
    return mask


def pareto_indices(Y: Tensor, directions: Sequence[str]) -> list[int]:
    """Positions of the non-dominated rows of `Y`, in row order (see `pareto_mask`)."""
    return [int(i) for i in pareto_mask(Y, directions).nonzero().reshape(-1)]


def front_depth(Y: Tensor, directions: Sequence[str]) -> Tensor:
    """`(n,)` int64: the non-dominated layer of each row of `(n, m)` `Y` (0 = the Pareto set).

    The rows of layer `j` are non-dominated once layers `0..j-1` are removed (non-dominated
    sorting, as in NSGA-II); rows with a NaN come last. Duplicates share their layer.
    """
    Y_max = to_maximization(Y, directions)
    finite = torch.isfinite(Y_max).all(-1)
    depth = torch.full((Y.shape[0],), -1, dtype=torch.int64)
    layer = 0
    while bool(((depth < 0) & finite).any()):
        left = ((depth < 0) & finite).nonzero().reshape(-1)
        top = is_non_dominated(Y_max[left], deduplicate=False)
        depth[left[top]] = layer
        layer += 1
    depth[~finite] = layer
    return depth


@dataclass(frozen=True)
class Normalisation:
    """Linear map of each objective to `[0, 1]`, 1 at its best bound (see the module docstring).

    Attributes:
        directions: Maximise or minimise, per objective.
        lower: Smallest value of each objective in the user's units.
        upper: Largest value of each objective in the user's units.
    """

    directions: tuple[Direction, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __post_init__(self) -> None:
        check_directions(self.directions)
        if not len(self.lower) == len(self.upper) == len(self.directions):
            raise ValueError("lower, upper and directions must have one entry per objective")
        if any(hi <= lo for lo, hi in zip(self.lower, self.upper, strict=True)):
            raise ValueError(f"every upper bound must exceed its lower bound: {self}")

    @classmethod
    def from_values(cls, Y: Tensor, directions: Sequence[str]) -> Normalisation:
        """Bounds from the finite values of each column of `(n, m)` `Y` (a whole table)."""
        dirs = check_directions(directions, Y.shape[-1])
        Y = Y.to(torch.float64)
        lower, upper = [], []
        for j in range(Y.shape[-1]):
            column = Y[:, j][torch.isfinite(Y[:, j])]
            if column.numel() == 0:
                raise ValueError(f"objective {j} has no finite value")
            lower.append(float(column.min()))
            upper.append(float(column.max()))
        return cls(dirs, tuple(lower), tuple(upper))

    def apply(self, Y: Tensor) -> Tensor:
        """`(..., m)` user values -> normalised maximisation values (1 = best bound)."""
        lo = torch.tensor(self.lower, dtype=torch.float64)
        hi = torch.tensor(self.upper, dtype=torch.float64)
        unit = (Y.to(torch.float64) - lo) / (hi - lo)
        flip = torch.tensor([d == "minimize" for d in self.directions])
        return torch.where(flip, 1.0 - unit, unit)


def reference_point(width: int, margin: float = DEFAULT_MARGIN) -> Tensor:
    """The reference point of `width` normalised objectives: `-margin` in each."""
    if margin < 0:
        raise ValueError(f"the reference margin must be >= 0, got {margin}")
    return torch.full((width,), -float(margin), dtype=torch.float64)


def hypervolume(Y_max: Tensor, ref_point: Tensor) -> float:
    """Volume dominated by the rows of `(n, m)` maximisation values `Y_max` above `ref_point`.

    Rows that do not strictly dominate the reference point add nothing; NaN rows are ignored.
    Two or three objectives use `DominatedPartitioning`; its answer equals BoTorch's
    dimension-sweep `Hypervolume` (the tests check both).
    """
    Y = Y_max.to(torch.float64)
    ref = ref_point.to(torch.float64)
    Y = Y[torch.isfinite(Y).all(-1)]
    Y = Y[(ref < Y).all(-1)]
    if Y.shape[0] == 0:
        return 0.0
    front = Y[is_non_dominated(Y)]
    return float(DominatedPartitioning(ref_point=ref, Y=front).compute_hypervolume())


def hypervolume_sweep(Y_max: Tensor, ref_point: Tensor) -> float:
    """The same volume by BoTorch's dimension-sweep `Hypervolume` (a cross-check)."""
    Y = Y_max.to(torch.float64)
    Y = Y[torch.isfinite(Y).all(-1)]
    if Y.shape[0] == 0:
        return 0.0
    return float(Hypervolume(ref_point.to(torch.float64)).compute(Y[is_non_dominated(Y)]))


def normalised_hypervolume(
    Y: Tensor, normalisation: Normalisation, margin: float = DEFAULT_MARGIN
) -> float:
    """Hypervolume of `(n, m)` user values after `normalisation`, with `reference_point`."""
    return hypervolume(normalisation.apply(Y), reference_point(Y.shape[-1], margin))


__all__ = [
    "DEFAULT_MARGIN",
    "DIRECTIONS",
    "Direction",
    "Normalisation",
    "check_directions",
    "front_depth",
    "hypervolume",
    "hypervolume_sweep",
    "normalised_hypervolume",
    "pareto_indices",
    "pareto_mask",
    "reference_point",
    "to_maximization",
]
