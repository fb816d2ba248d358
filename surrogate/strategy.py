"""What every search strategy shares: observations in, proposals out.

A strategy is the pure function at the heart of the loop (Katib's shape): given everything
measured so far and what is still running, propose the next `k` architectures. BONAS, random
search, regularized evolution and local search all implement `Strategy`, so the service and the
benchmark harness drive them the same way. A strategy may keep state between calls (a warm
surrogate, an evolving population), but it must be able to rebuild that state from the
observations alone, since the service may restart at any time; `state_dict` makes resuming exact.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from surrogate.spaces.base import SearchSpace

A = TypeVar("A")


@dataclass(frozen=True)
class Observation(Generic[A]):
    """One measured architecture.

    Attributes:
        arch: The architecture.
        value: The objective, larger is better (for example validation accuracy in percent).
    """

    arch: A
    value: float


@dataclass(frozen=True)
class Proposal(Generic[A]):
    """One architecture a strategy asks to evaluate, with why it was chosen.

    Attributes:
        arch: The architecture.
        predicted_mean: The surrogate's predicted objective, if a surrogate was used.
        predicted_std: The surrogate's predictive standard deviation, if any.
        acquisition_value: The acquisition value at the time of selection, if any.
        surrogate_version: Version of the surrogate that scored it, if any.
        source: Which sampler or rule produced the candidate (for diagnostics).
    """

    arch: A
    predicted_mean: float | None = None
    predicted_std: float | None = None
    acquisition_value: float | None = None
    surrogate_version: int | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Strategy(ABC, Generic[A]):
    """A search strategy over one `SearchSpace`.

    The caller (the service's controller or the benchmark harness) calls `propose` whenever it
    wants more work, passing every observation so far and the architectures in flight; the
    strategy must never return an architecture whose key is among either.
    """

    name: str = "strategy"

    def __init__(self, space: SearchSpace[A]) -> None:
        self.space = space

    @abstractmethod
    def propose(
        self,
        observations: Sequence[Observation[A]],
        pending: Sequence[A],
        k: int,
        rng: np.random.Generator,
    ) -> list[Proposal[A]]:
        """Return up to `k` new architectures (fewer only when the space is exhausted)."""

    def state_dict(self) -> dict[str, Any]:
        """State to persist beside the proposals so that resuming is exact (empty by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        del state
