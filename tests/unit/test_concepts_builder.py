"""The one strategy builder and its names (issue #14): the service and the benchmark share them."""

from __future__ import annotations

from typing import get_args

import pytest

from service.search_spec import StrategyConfig
from surrogate.acquisition import ACQUISITION_NAMES, AcquisitionName
from surrogate.baselines import LocalSearch, RandomSearch, RegularizedEvolution
from surrogate.bench.search import METHOD_NAMES
from surrogate.builder import STRATEGY_NAMES, build_strategy
from surrogate.spaces import get_space


def test_names_have_one_source() -> None:
    assert METHOD_NAMES == STRATEGY_NAMES == ("bonas", "random", "evolution", "local")
    assert ACQUISITION_NAMES == get_args(AcquisitionName) == ("ucb", "logei", "lognei", "ts")
    assert get_args(StrategyConfig.model_fields["name"].annotation) == STRATEGY_NAMES


def test_builds_each_baseline() -> None:
    space = get_space("nb201")
    kinds = {"random": RandomSearch, "evolution": RegularizedEvolution, "local": LocalSearch}
    for name, kind in kinds.items():
        assert isinstance(build_strategy(name, space, {}), kind)


def test_refuses_unknown_names_and_options() -> None:
    space = get_space("nb201")
    with pytest.raises(ValueError, match="unknown strategy 'annealing'; choose from bonas"):
        build_strategy("annealing", space, {})
    with pytest.raises(ValueError, match="bad strategy options for 'evolution'"):
        build_strategy("evolution", space, {"size": 3})
    with pytest.raises(ValueError, match="bad strategy options for 'bonas'"):
        build_strategy("bonas", space, {}, samplers={"x": 1})
