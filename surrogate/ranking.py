"""Kendall's tau-b between a surrogate's predictions and what was measured: the one definition.

The controller stores it per surrogate version, the dashboard charts it; both call `kendall_tau`
so that the two always agree. Small samples are counted pair by pair: a search with 1,000
surrogate versions of 10 proposals each needs 1,000 of them per dashboard refresh, and scipy's
per-call overhead (~1 ms) would dominate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import kendalltau

SMALL_TAU = 64
"""Below this many pairs, Kendall's tau is counted directly (scipy's call overhead dominates)."""


def kendall_tau(predicted: Sequence[float], measured: Sequence[float]) -> float | None:
    """Kendall's tau-b (scipy's statistic), or None below 3 pairs or when either side is constant.

    Args:
        predicted: Predicted values, one per pair.
        measured: Measured values, in the same order.

    Returns:
        Tau-b in [-1, 1], or None where it is undefined.
    """
    n = len(predicted)
    if n < 3 or len(set(predicted)) < 2 or len(set(measured)) < 2:
        return None
    if n >= SMALL_TAU:
        tau = float(kendalltau(list(predicted), list(measured)).statistic)
        return tau if math.isfinite(tau) else None
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        xi, yi = predicted[i], measured[i]
        for j in range(i + 1, n):
            dx = xi - predicted[j]
            dy = yi - measured[j]
            if dx == 0 and dy == 0:
                continue  # tied on both sides: counted in neither tie term of tau-b's denominator
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator > 0 else None
