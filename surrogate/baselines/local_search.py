"""`LocalSearch`: hill-climbing over `SearchSpace.neighbours`, restarting at random when stuck.

A strong baseline on tabular NAS benchmarks (White et al., 2021). The climb keeps a current
architecture and proposes its unevaluated neighbours, `k` at a time:

* first improvement (default): as soon as an evaluated neighbour beats the current one, the climb
  moves to the best such neighbour;
* best improvement: the climb moves only once the whole neighbourhood is evaluated, to its best
  member if that beats the current one.

When the neighbourhood is exhausted without improvement (a local optimum), the climb restarts from
a random unseen architecture. When a batch needs more than the unevaluated neighbours, the rest is
filled with random unseen architectures. The current architecture is the only state; it is saved
by `state_dict`, and without it the climb resumes from the best observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from surrogate.baselines.random_search import UnseenSampler, seen_keys
from surrogate.limits import check_maxima
from surrogate.spaces.base import SearchSpace
from surrogate.strategy import Observation, Proposal, ProposalRound, Strategy

A = TypeVar("A")


LOCAL_SEARCH_MAXIMA: dict[str, float] = {
    "max_moves": 100000,
}
"""Largest accepted `LocalSearchOptions.max_moves` (docs/limits.md)."""


@dataclass(frozen=True)
class LocalSearchOptions:
    """Options of `LocalSearch`.

    Attributes:
        mode: `"first"` (first improvement) or `"best"` (best improvement).
        max_moves: Moves allowed within one call (guards against cycles of equal values).
    """

    mode: Literal["first", "best"] = "first"
    max_moves: int = 10_000

    def __post_init__(self) -> None:
        check_maxima("", self, LOCAL_SEARCH_MAXIMA)
        if self.mode not in ("first", "best"):
            raise ValueError(f"LocalSearchOptions.mode is 'first' or 'best', not {self.mode!r}")


class LocalSearch(Strategy[A]):
    """Hill-climbing with random restarts.

    Args:
        space: The search space.
        options: Improvement rule.
    """

    name = "local"

    def __init__(self, space: SearchSpace[A], options: LocalSearchOptions | None = None) -> None:
        super().__init__(space)
        self.options = options or LocalSearchOptions()
        self._unseen: UnseenSampler[A] = UnseenSampler(space)
        self._current: A | None = None

    @property
    def current(self) -> A | None:
        """The architecture whose neighbourhood the climb is exploring."""
        return self._current

    def propose(
        self,
        observations: Sequence[Observation[A]],
        pending: Sequence[A],
        k: int,
        rng: np.random.Generator,
    ) -> ProposalRound[A]:
        values = {self.space.key(o.arch): o.value for o in observations if np.isfinite(o.value)}
        exclude = seen_keys(self.space, observations, pending)
        pending_keys = {self.space.key(a) for a in pending}
        if self._current is None and values:
            best = max((o for o in observations if np.isfinite(o.value)), key=lambda o: o.value)
            self._current = best.arch
        proposals: list[Proposal[A]] = []
        if self._current is not None:
            unexplored = self._climb(values, exclude, pending_keys)
            if unexplored is None:  # a local optimum: restart at random
                self._current = None
            else:
                order = rng.permutation(len(unexplored))[:k]
                proposals = [Proposal(arch=unexplored[int(i)], source=self.name) for i in order]
        exclude.update(self.space.key(p.arch) for p in proposals)
        fill = self._unseen.draw(k - len(proposals), exclude, rng)
        if self._current is None and fill:
            self._current = fill[0]
        proposals.extend(Proposal(arch=a, source="random") for a in fill)
        return ProposalRound(tuple(proposals))

    def _climb(
        self, values: dict[str, float], exclude: set[str], pending_keys: set[str]
    ) -> list[A] | None:
        """Move the current architecture uphill as far as the known values allow.

        Returns:
            The unevaluated, non-pending neighbours of the final current architecture, or
            `None` when it is a local optimum (nothing left to evaluate or wait for).
        """
        assert self._current is not None
        for _ in range(self.options.max_moves):
            current_value = values.get(self.space.key(self._current))
            neighbours = self.space.neighbours(self._current)
            known = [
                (values[self.space.key(n)], n) for n in neighbours if self.space.key(n) in values
            ]
            unexplored = [n for n in neighbours if self.space.key(n) not in exclude]
            waiting = any(self.space.key(n) in pending_keys for n in neighbours)
            complete = not unexplored and not waiting
            may_move = self.options.mode == "first" or complete
            if current_value is not None and known and may_move:
                best_value, best = max(known, key=lambda item: item[0])
                if best_value > current_value:
                    self._current = best
                    continue
            if complete and self.space.key(self._current) not in pending_keys:
                return None
            return unexplored
        return []

    def state_dict(self) -> dict[str, Any]:
        current = None if self._current is None else self.space.to_json(self._current)
        return {"current": current}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        value = state.get("current")
        self._current = None if value is None else self.space.from_json(value)
