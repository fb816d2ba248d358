"""Which member trains at each step of the member phase.

FairNAS showed that a supernet whose candidates are trained unequally ranks them badly: the
over-trained look better than they are. The fair schedule therefore works in rounds, each a
fresh random permutation of the members, so that after every round all members have had exactly
the same number of steps; the random schedule (what BONAS's code does by default) draws a
member uniformly for each step and is kept for comparison.
"""

from __future__ import annotations

import numpy as np

from workers.training.exceptions import TrainOptionsError


def fair_schedule(num_members: int, rounds: int, rng: np.random.Generator) -> list[int]:
    """`rounds` random permutations of `range(num_members)`, concatenated.

    Every member appears exactly `rounds` times, once in each consecutive block of
    `num_members` steps.
    """
    _check(num_members, rounds)
    return [int(m) for _ in range(rounds) for m in rng.permutation(num_members)]


def random_schedule(num_members: int, rounds: int, rng: np.random.Generator) -> list[int]:
    """`rounds * num_members` members drawn uniformly and independently."""
    _check(num_members, rounds)
    return [int(m) for m in rng.integers(num_members, size=rounds * num_members)]


def member_schedule(
    kind: str, num_members: int, rounds: int, rng: np.random.Generator
) -> list[int]:
    """The schedule called `kind` (`"fair"` or `"random"`)."""
    if kind == "fair":
        return fair_schedule(num_members, rounds, rng)
    if kind == "random":
        return random_schedule(num_members, rounds, rng)
    raise TrainOptionsError(f"unknown schedule {kind!r}; accepted: fair, random")


def _check(num_members: int, rounds: int) -> None:
    if num_members < 1 or rounds < 0:
        raise TrainOptionsError(
            f"a schedule needs >= 1 member and >= 0 rounds, got {num_members} and {rounds}"
        )
