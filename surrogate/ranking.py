"""Kendall's tau-b between a surrogate's predictions and what was measured: the one definition.

The controller stores it per surrogate version, the dashboard charts it; both call
`tau_by_version` (which calls `kendall_tau`) so that the two always agree, and the benchmarks
call `kendall_tau` too. Small samples are counted pair by pair: a search with 1,000 surrogate
versions of 10 proposals each needs 1,000 of them per dashboard refresh, and scipy's per-call
overhead (~1 ms) would dominate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class RankAgreement:
    """Kendall's tau over a set of (predicted, measured) pairs, and how many pairs it counts.

    Attributes:
        tau: Tau-b, or None where `kendall_tau` leaves it undefined.
        n: Pairs counted.
    """

    tau: float | None
    n: int


@dataclass(frozen=True)
class VersionAgreement:
    """Ranking quality of every surrogate version on the points it proposed, and of all pooled.

    Attributes:
        by_version: Surrogate version -> its agreement, versions in ascending order.
        pooled: The agreement over every pair of every version together.
    """

    by_version: dict[int, RankAgreement]
    pooled: RankAgreement


def tau_by_version(pairs: Iterable[tuple[int, float, float]]) -> VersionAgreement:
    """Kendall's tau per surrogate version and pooled, from `(version, predicted, measured)`.

    Each version is judged only on the architectures it proposed, which it never saw measured,
    so its tau is out of sample; the controller stores these figures and the dashboard charts
    them, and both call this so that they cannot drift apart.

    Args:
        pairs: One `(surrogate version, predicted mean, measured objective)` per measured
            proposal; the caller leaves out those without a prediction or a finite measurement.

    Returns:
        Tau and pair count of every version present, in ascending version order, and pooled.
    """
    grouped: dict[int, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    all_predicted: list[float] = []
    all_measured: list[float] = []
    for version, predicted, measured in pairs:
        predicted_list, measured_list = grouped[version]
        predicted_list.append(predicted)
        measured_list.append(measured)
        all_predicted.append(predicted)
        all_measured.append(measured)
    return VersionAgreement(
        by_version={
            version: RankAgreement(kendall_tau(p, m), len(p))
            for version, (p, m) in sorted(grouped.items())
        },
        pooled=RankAgreement(kendall_tau(all_predicted, all_measured), len(all_predicted)),
    )
