"""Scatter plots that stay light: grid thinning and the Pareto front.

Thinning keeps the shape of a dense scatter: the plot is cut into a ``g x g`` grid and one point
per occupied cell is kept (the first one listed, so callers list the points they prefer first),
with ``g`` the finest grid whose occupied cells fit the cap. Points the caller must keep (the
Pareto front, a highlighted one) are always kept on top.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np

MIN_GRID = 2
MAX_GRID = 4096


def pareto_front(
    costs: Sequence[float], values: Sequence[float], *, maximize: bool
) -> tuple[int, ...]:
    """Indices of the points no other point beats on both cost (lower) and value.

    Ties: of points with equal cost only the best value can be on the front, and a point whose
    value equals that of a cheaper front point is dominated.

    Returns:
        Front indices ordered by increasing cost.
    """
    sign = 1.0 if maximize else -1.0
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -sign * values[i], i))
    front: list[int] = []
    best = -math.inf
    for i in order:
        score = sign * values[i]
        if score > best:
            front.append(i)
            best = score
    return tuple(front)


def thin_scatter(
    xs: Sequence[float], ys: Sequence[float], cap: int, keep: Collection[int] = ()
) -> tuple[int, ...]:
    """Indices of at most `cap` points (plus `keep`) that show the scatter's shape.

    Args:
        xs: x values (finite).
        ys: y values (finite), as many as `xs`.
        cap: Most points to keep besides `keep`.
        keep: Indices always kept.

    Returns:
        Sorted indices.
    """
    n = len(xs)
    if n <= cap + len(keep):
        return tuple(range(n))
    x = _unit(np.asarray(xs, dtype=np.float64))
    y = _unit(np.asarray(ys, dtype=np.float64))

    def cells(g: int) -> np.ndarray:
        """Index of the first point in each occupied cell of a g x g grid."""
        bx = np.minimum((x * g).astype(np.int64), g - 1)
        by = np.minimum((y * g).astype(np.int64), g - 1)
        _, first = np.unique(bx * g + by, return_index=True)
        return np.asarray(first)

    lo, hi = MIN_GRID, MAX_GRID
    best = cells(lo)
    if best.size > cap:  # even a coarse grid is too fine: take its cells evenly
        ordered = np.sort(best)
        best = ordered[(np.arange(cap) * ordered.size) // cap]
    else:
        while lo < hi:  # the largest grid whose occupied cells fit the cap
            mid = (lo + hi + 1) // 2
            found = cells(mid)
            if found.size <= cap:
                lo, best = mid, found
            else:
                hi = mid - 1
    return tuple(sorted({int(i) for i in best} | set(keep)))


def _unit(values: np.ndarray) -> np.ndarray:
    """`values` mapped onto [0, 1] (a constant array maps to 0.5)."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.full(values.shape, 0.5)
    return (values - lo) / (hi - lo)
