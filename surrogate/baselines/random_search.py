"""`RandomSearch`, and drawing architectures that were neither evaluated nor are pending.

Random search is the baseline that every method must beat; it is also the fallback of the other
baselines when their own move is exhausted. It never repeats a key: on a small enumerable space
(NAS-Bench-201 has 15,625 cells) it samples without replacement from the list of unseen
architectures, so it cannot stall on collisions even near exhaustion; on a large space it
samples and rejects what it has seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

import numpy as np

from surrogate.exceptions import SpaceNotEnumerableError
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation, Proposal, ProposalRound, Strategy

A = TypeVar("A")

ENUMERATE_LIMIT = 200_000
"""Spaces up to this size are listed once and sampled without replacement."""

ENUMERATE_LIMIT_MAX = 1_000_000
"""Largest accepted `enumerate_limit` (a listing of a million architectures fits in memory)."""


def seen_keys(
    space: SearchSpace[A], observations: Sequence[Observation[A]], pending: Iterable[A]
) -> set[str]:
    """Keys of every evaluated and pending architecture: what a strategy must never propose."""
    keys = {space.key(o.arch) for o in observations}
    keys.update(space.key(a) for a in pending)
    return keys


class UnseenSampler(Generic[A]):
    """Draws distinct architectures whose keys are not in an excluded set.

    Args:
        space: The search space.
        enumerate_limit: Spaces with at most this many architectures are enumerated (once, on
            first use) and sampled exactly without replacement.
        tries_per_draw: On larger spaces, rejection attempts per requested architecture.
    """

    def __init__(
        self,
        space: SearchSpace[A],
        enumerate_limit: int = ENUMERATE_LIMIT,
        tries_per_draw: int = 1000,
    ) -> None:
        self.space = space
        self.enumerate_limit = enumerate_limit
        self.tries_per_draw = tries_per_draw
        self._listing: list[tuple[str, A]] | None = None
        self._listing_checked = False

    def _all(self) -> list[tuple[str, A]] | None:
        if not self._listing_checked:
            self._listing_checked = True
            size = self.space.size()
            if size is not None and size <= self.enumerate_limit:
                try:
                    self._listing = [(self.space.key(a), a) for a in self.space.enumerate()]
                except SpaceNotEnumerableError:
                    self._listing = None
        return self._listing

    def draw(self, k: int, exclude: set[str], rng: np.random.Generator) -> list[A]:
        """Up to `k` distinct architectures with keys outside `exclude` (fewer only when none
        are left, or when rejection sampling keeps failing on a huge space)."""
        if k <= 0:
            return []
        listing = self._all()
        if listing is not None:
            unseen = [i for i, (key, _) in enumerate(listing) if key not in exclude]
            chosen = rng.choice(len(unseen), size=min(k, len(unseen)), replace=False)
            return [listing[unseen[int(i)]][1] for i in chosen]
        result: list[A] = []
        taken = set(exclude)
        for _ in range(k * self.tries_per_draw):
            arch = self.space.sample(rng)
            key = self.space.key(arch)
            if key not in taken:
                taken.add(key)
                result.append(arch)
                if len(result) == k:
                    break
        return result


class RandomSearch(Strategy[A]):
    """Uniform random search without repetition.

    Args:
        space: The search space.
        enumerate_limit: See `UnseenSampler`.
    """

    name = "random"

    def __init__(self, space: SearchSpace[A], enumerate_limit: int = ENUMERATE_LIMIT) -> None:
        super().__init__(space)
        if not 0 <= enumerate_limit <= ENUMERATE_LIMIT_MAX:
            raise ValueError(
                f"enumerate_limit is {enumerate_limit}; accepted: 0 to {ENUMERATE_LIMIT_MAX:,} "
                "(docs/limits.md)"
            )
        self._unseen: UnseenSampler[A] = UnseenSampler(space, enumerate_limit)

    def propose(
        self,
        observations: Sequence[Observation[A]],
        pending: Sequence[A],
        k: int,
        rng: np.random.Generator,
    ) -> ProposalRound[A]:
        exclude = seen_keys(self.space, observations, pending)
        drawn = self._unseen.draw(k, exclude, rng)
        return ProposalRound(tuple(Proposal(arch=a, source=self.name) for a in drawn))
