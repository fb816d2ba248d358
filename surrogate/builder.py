"""The strategies by name, and the one builder that makes one from a name and its options.

The service builds a search's strategy from its spec and the benchmark from a method's name; both
call `build_strategy`, so a strategy or an option added here is accepted by both. BONAS's module
(and torch with it) is imported only when BONAS is asked for, so the baselines run without it.

Given two or three `objectives`, the builder makes BONAS's multi-objective form
(`surrogate.multiobjective.MultiObjectiveStrategy`); its own options (`acquisition`:
``qlognehvi`` or ``qlognparego``, `mc_samples`, `prescreen`, `chunk_size`, `ref_margin`) are
taken from `options`, the rest are `BonasOptions` as for one objective.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, get_args

from surrogate.baselines import (
    EvolutionOptions,
    LocalSearch,
    LocalSearchOptions,
    RandomSearch,
    RegularizedEvolution,
)
from surrogate.spaces import SearchSpace
from surrogate.strategy import Strategy

StrategyName = Literal["bonas", "random", "evolution", "local"]
STRATEGY_NAMES: tuple[str, ...] = get_args(StrategyName)


def build_strategy(
    name: str,
    space: SearchSpace[Any],
    options: Mapping[str, Any],
    *,
    acquisition: str | None = None,
    samplers: Mapping[str, Any] | None = None,
    constraints: Sequence[Any] = (),
    cost_of: Callable[[Any], Mapping[str, float]] | None = None,
    objectives: Sequence[tuple[str, str]] = (),
    known_objectives: Mapping[str, Callable[[Any], float]] | None = None,
) -> Strategy[Any]:
    """A fresh strategy `name` over `space`, configured with `options`.

    Args:
        name: One of `STRATEGY_NAMES`.
        space: The search space.
        options: Keyword options of the strategy (its options class's fields).
        acquisition: BONAS only: the acquisition's name (`surrogate.acquisition.ACQUISITION_NAMES`).
        samplers: BONAS only: the candidate pool's samplers and their weights.
        constraints: BONAS only: `surrogate.constraints.MetricConstraint`s that steer the
            proposals (the baselines take none: a caller that gives them constraints gets a
            ValueError rather than a search that ignores them).
        cost_of: BONAS only: the analytic metrics of an architecture (see `constraints`).
        objectives: BONAS only: two or three ``(metric, "maximize" | "minimize")`` pairs for a
            multi-objective search (empty: one objective, the observations' value).
        known_objectives: Of those, the ones computed exactly from the architecture (not
            modelled).

    Raises:
        ValueError: The name is unknown, or an option or sampler is unknown or out of range (the
            message names it).
        ImportError: BONAS was asked for and its module cannot be imported.
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGY_NAMES)}")
    kwargs = dict(options)
    try:
        if constraints and name != "bonas":
            raise ValueError("only bonas takes constraints")
        if objectives and name != "bonas":
            raise ValueError("only bonas searches for several objectives")
        if name == "random":
            return RandomSearch(space, **kwargs)
        if name == "evolution":
            return RegularizedEvolution(space, EvolutionOptions(**kwargs))
        if name == "local":
            return LocalSearch(space, LocalSearchOptions(**kwargs))
        proposer = importlib.import_module("surrogate.proposer")
        if acquisition is not None:
            options_class = importlib.import_module("surrogate.acquisition").AcquisitionOptions
            if objectives:
                raise ValueError("a multi-objective acquisition goes in options.acquisition")
            kwargs["acquisition"] = options_class(name=acquisition)
        if samplers is not None:
            kwargs["samplers"] = dict(samplers)
        if objectives:
            return _multi_objective(
                space, kwargs, objectives, known_objectives, constraints, cost_of
            )
        strategy: Strategy[Any] = proposer.BonasStrategy(
            space, proposer.BonasOptions(**kwargs), constraints=constraints, cost_of=cost_of
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"bad strategy options for {name!r}: {error}") from error
    return strategy


def _multi_objective(
    space: SearchSpace[Any],
    kwargs: dict[str, Any],
    objectives: Sequence[tuple[str, str]],
    known: Mapping[str, Callable[[Any], float]] | None,
    constraints: Sequence[Any],
    cost_of: Callable[[Any], Mapping[str, float]] | None,
) -> Strategy[Any]:
    """`MultiObjectiveStrategy` from the builder's options: its own fields, the rest BONAS's.

    Raises:
        TypeError, ValueError: An option is unknown or out of range.
    """
    module = importlib.import_module("surrogate.multiobjective")
    proposer = importlib.import_module("surrogate.proposer")
    own = {f.name for f in dataclasses.fields(module.MultiObjectiveOptions)} - {
        "objectives",
        "bonas",
    }
    mo_kwargs = {k: v for k, v in kwargs.items() if k in own}
    bonas = proposer.BonasOptions(**{k: v for k, v in kwargs.items() if k not in own})
    options = module.MultiObjectiveOptions(
        objectives=tuple(module.ObjectiveSpec(n, d) for n, d in objectives),
        bonas=bonas,
        **mo_kwargs,
    )
    strategy: Strategy[Any] = module.MultiObjectiveStrategy(
        space, options, known=known, constraints=constraints, cost_of=cost_of
    )
    return strategy
