"""Helpers that the samplers share, all phrased in terms of a space's fixed-width codes.

* `one_hot`: the `(position, value)` indicator features that the regression samplers fit;
* `normal_scores`: a robust transform of objective values to ranks on the normal scale, so
  that a few failed architectures (NAS-Bench-201's disconnected cells score 10 %) do not
  dominate a fit;
* `draw_codes` and `project`: drawing codes from per-position probabilities and turning codes
  into valid architectures, by rejection first and by a greedy repair when rejection fails
  (spaces such as NAS-Bench-101 reject many code vectors);
* `coordinate_ascent`: the best valid architecture under a score, one position at a time, for
  spaces where the per-position argmax is not valid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from surrogate.exceptions import InvalidArchitectureError
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation

A = TypeVar("A")


def feature_offsets(cardinalities: Sequence[int]) -> np.ndarray:
    """Column of the first value of each position in the one-hot layout, shape `(d + 1,)`.

    The last entry is the total number of one-hot columns.
    """
    return np.concatenate([[0], np.cumsum(np.asarray(cardinalities, dtype=np.int64))])


def one_hot(codes: np.ndarray, cardinalities: Sequence[int]) -> np.ndarray:
    """Indicator features of codes.

    Args:
        codes: Integer codes, shape `(n, d)`.
        cardinalities: Values per position, length `d`.

    Returns:
        Float64 array of shape `(n, sum(cardinalities))`; column `offsets[p] + v` is 1 where
        position `p` holds value `v`.
    """
    offsets = feature_offsets(cardinalities)
    features = np.zeros((codes.shape[0], int(offsets[-1])), dtype=np.float64)
    rows = np.arange(codes.shape[0])
    for position in range(len(cardinalities)):
        features[rows, offsets[position] + codes[:, position]] = 1.0
    return features


def normal_scores(values: np.ndarray) -> np.ndarray:
    """Ranks mapped to standard-normal quantiles, `Phi^-1((rank - 0.5) / n)`; ties share a rank.

    Monotone in the values, bounded (about +-2.4 for a thousand values) and insensitive to
    outliers, which makes it a safe regression target for objectives with failures.
    """
    if values.size == 0:
        return values.astype(np.float64)
    ranks = rankdata(values, method="average")
    return np.asarray(ndtri((ranks - 0.5) / values.size), dtype=np.float64)


def finite_observations(observations: Sequence[Observation[A]]) -> list[Observation[A]]:
    """The observations whose value is a finite number (failed evaluations are left out)."""
    return [o for o in observations if np.isfinite(o.value)]


def codes_matrix(space: SearchSpace[A], archs: Sequence[A]) -> np.ndarray:
    """Codes of `archs` as an int64 array of shape `(n, d)`."""
    if not archs:
        return np.zeros((0, len(space.cardinalities)), dtype=np.int64)
    return np.asarray([space.to_codes(a) for a in archs], dtype=np.int64)


def arch_or_none(space: SearchSpace[A], codes: Sequence[int] | np.ndarray) -> A | None:
    """The architecture of `codes` if they form a valid one, else `None`."""
    try:
        arch = space.from_codes([int(c) for c in codes])
        space.validate(arch)
    except InvalidArchitectureError:
        return None
    return arch


def repair(space: SearchSpace[A], codes: Sequence[int] | np.ndarray, rng: np.random.Generator) -> A:
    """A valid architecture that agrees with `codes` wherever a greedy pass allows.

    Starts from a uniform sample of the space and copies the wanted value of each position, in
    random order, whenever the result stays valid. Exact when `codes` are valid; otherwise the
    result keeps as much of `codes` as single-position moves can reach.
    """
    current = list(space.to_codes(space.sample(rng)))
    for position in rng.permutation(len(current)):
        wanted = int(codes[position])
        if current[position] == wanted:
            continue
        trial = list(current)
        trial[position] = wanted
        if arch_or_none(space, trial) is not None:
            current = trial
    arch = arch_or_none(space, current)
    if arch is None:  # pragma: no cover - `space.sample` returns valid architectures
        raise InvalidArchitectureError(f"{space.name}: could not repair codes {list(codes)}")
    return arch


def draw_codes(probs: Sequence[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """Independent categorical draws per position.

    Args:
        probs: For each position, probabilities of shape `(c_p,)` (shared by every draw) or
            `(n, c_p)` (one distribution per draw); rows sum to 1.
        n: Number of code vectors.

    Returns:
        Int64 codes of shape `(n, d)`.
    """
    codes = np.empty((n, len(probs)), dtype=np.int64)
    for position, p in enumerate(probs):
        cumulative = np.cumsum(np.broadcast_to(p, (n, p.shape[-1])), axis=1)
        u = rng.random(n) * cumulative[:, -1]
        codes[:, position] = np.minimum((u[:, None] >= cumulative).sum(axis=1), p.shape[-1] - 1)
    return codes


def project(
    space: SearchSpace[A],
    codes: np.ndarray,
    rng: np.random.Generator,
    redraw: Callable[[int], np.ndarray] | None = None,
    max_tries: int = 20,
) -> list[A]:
    """Turn code vectors into valid architectures.

    Invalid rows are redrawn (rejection, when `redraw` is given) up to `max_tries` times; rows
    still invalid are repaired with `repair`. Without `redraw`, invalid rows are repaired at once.

    Args:
        codes: Candidate codes, shape `(n, d)`.
        redraw: Draws `m` fresh candidate rows, shape `(m, d)`, from the same distribution.
        max_tries: Rejection rounds before repairing.

    Returns:
        `n` valid architectures, in the order of the rows.
    """
    codes = np.array(codes, dtype=np.int64, copy=True)
    result: list[A | None] = [arch_or_none(space, row) for row in codes]
    tries = 0
    while redraw is not None and tries < max_tries:
        missing = [i for i, arch in enumerate(result) if arch is None]
        if not missing:
            break
        fresh = redraw(len(missing))
        for i, row in zip(missing, fresh, strict=True):
            result[i] = arch_or_none(space, row)
            codes[i] = row
        tries += 1
    return [
        arch if arch is not None else repair(space, codes[i], rng) for i, arch in enumerate(result)
    ]


def coordinate_ascent(
    space: SearchSpace[A],
    start: Sequence[int],
    score: Callable[[Sequence[int]], float],
    max_sweeps: int = 20,
) -> A:
    """Best valid architecture reachable from `start` by single-position improvements.

    `start` must be valid. Each sweep visits every position and moves to the best valid value
    there; it stops when a sweep changes nothing. Used when the per-position argmax of a score
    is invalid, or when the score has pairwise terms.
    """
    current = [int(c) for c in start]
    best = score(current)
    for _ in range(max_sweeps):
        changed = False
        for position, cardinality in enumerate(space.cardinalities):
            for value in range(cardinality):
                if value == current[position]:
                    continue
                trial = list(current)
                trial[position] = value
                trial_score = score(trial)
                if trial_score > best + 1e-12 and arch_or_none(space, trial) is not None:
                    current, best, changed = trial, trial_score, True
        if not changed:
            break
    arch = arch_or_none(space, current)
    if arch is None:
        raise InvalidArchitectureError(
            f"{space.name}: coordinate ascent started from invalid codes"
        )
    return arch
