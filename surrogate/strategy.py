"""What every search strategy shares: observations in, proposals out.

A strategy is the pure function at the heart of the loop (Katib's shape): given everything
measured so far and what is still running, propose the next `k` architectures. BONAS, random
search, regularized evolution and local search all implement `Strategy`, so the service and the
benchmark harness drive them the same way. A strategy may keep state between calls (a warm
surrogate, an evolving population), but it must be able to rebuild that state from the
observations alone, since the service may restart at any time; `state_dict` makes resuming exact.

`propose` returns a `ProposalRound`: the proposals and, when the call refitted a surrogate, a
`RefitReport` with the surrogate's new version and the fit's report. Callers learn of a refit
from the round itself rather than by probing the strategy's attributes before and after (NASLib's
way), and a strategy that numbers its surrogates says so through `surrogate_version`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np

from surrogate.spaces.base import SearchSpace

if TYPE_CHECKING:  # the report's type only: strategies without a surrogate never import torch
    from surrogate.models.fit import FitReport

A = TypeVar("A")


@dataclass(frozen=True)
class Observation(Generic[A]):
    """One measured architecture.

    Attributes:
        arch: The architecture.
        value: The objective, larger is better (for example validation accuracy in percent).
        metrics: Other measured metrics of the result by name (for example
            `edgegpu_latency`), which constraints on measured metrics are modelled from.
    """

    arch: A
    value: float
    metrics: Mapping[str, float] = field(default_factory=dict)


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


@dataclass(frozen=True)
class RefitReport:
    """What one refit of a strategy's surrogate produced.

    Attributes:
        version: The surrogate's version after the refit (the first fit is version 1); the
            proposals of the same round carry it as `Proposal.surrogate_version`.
        fit: What the fit did (epochs, loss, time, the regression's precisions).
    """

    version: int
    fit: FitReport


@dataclass(frozen=True)
class ProposalRound(Generic[A]):
    """What one call to `Strategy.propose` returned.

    Attributes:
        proposals: The architectures to evaluate, best first where the strategy ranks them
            (empty only when the space is exhausted or `k` was not positive).
        refit: The refit this call made, or None when it made none (a strategy without a
            surrogate, or one still proposing its initial random batch). A refit may come with
            no proposals, when nothing is left to score.
        pool_short: The analytic constraints left fewer feasible candidates than the pool
            was meant to hold, after the bounded extra draws (`surrogate.constraints`).
    """

    proposals: tuple[Proposal[A], ...] = ()
    refit: RefitReport | None = None
    pool_short: bool = False


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
    ) -> ProposalRound[A]:
        """Return up to `k` new architectures (fewer only when the space is exhausted), and the
        refit that chose them, if the call made one."""

    @property
    def surrogate_version(self) -> int | None:
        """The version of the strategy's latest surrogate (0 before its first fit), or None for a
        strategy that keeps no surrogate."""
        return None

    def continue_versions_from(self, version: int) -> None:
        """Number the next refit `version + 1`, without a model to warm-start from.

        The controller calls this when a stored snapshot of `version` does not load, so that
        the surrogates fitted afresh keep the store's numbering. A strategy without a surrogate
        has nothing to number and ignores it.
        """
        del version

    def state_dict(self) -> dict[str, Any]:
        """State to persist beside the proposals so that resuming is exact (empty by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        del state
