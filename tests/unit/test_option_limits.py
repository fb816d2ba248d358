"""Every user-settable count has a maximum, enforced by its option class and listed in the docs.

Issue #10, reproduction 3: ``strategy.options: {n_init: 2, fit: {epochs: 5000000}}`` was
accepted and kept the controller busy for hours. The option classes now refuse such values
themselves (so the library does too), spec validation turns that into a refusal naming the
option and its maximum, and docs/limits.md lists every maximum.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from service.search_spec import SearchSpec
from surrogate.acquisition import ACQUISITION_MAXIMA, AcquisitionOptions
from surrogate.baselines import EvolutionOptions, LocalSearchOptions, RandomSearch
from surrogate.baselines.evolution import EVOLUTION_MAXIMA
from surrogate.baselines.local_search import LOCAL_SEARCH_MAXIMA
from surrogate.baselines.random_search import ENUMERATE_LIMIT_MAX
from surrogate.gcn import GCN_MAXIMA, GCNConfig
from surrogate.models.fit import FIT_MAXIMA, FitOptions
from surrogate.proposer import BONAS_MAXIMA, BonasOptions
from surrogate.samplers.additive import ADDITIVE_MAXIMA, AdditiveOptions
from surrogate.samplers.ard import ARD_MAXIMA, ArdOptions
from surrogate.samplers.balenas import BALENAS_MAXIMA, BalenasOptions
from surrogate.samplers.categorical import CATEGORICAL_MAXIMA, CategoricalOptions
from surrogate.samplers.mc_dropout import MC_DROPOUT_MAXIMA, McDropoutOptions
from surrogate.samplers.mutation import MUTATION_MAXIMA, MutationOptions
from surrogate.spaces import get_space
from workers.training.exceptions import TrainOptionsError
from workers.training.options import TRAIN_MAXIMA, TrainOptions

LIMITS_DOC = Path(__file__).resolve().parents[2] / "docs" / "limits.md"

OPTION_CLASSES: list[tuple[type[Any], dict[str, float], dict[str, Any]]] = [
    (BonasOptions, BONAS_MAXIMA, {}),
    (FitOptions, FIT_MAXIMA, {}),
    (GCNConfig, GCN_MAXIMA, {}),
    (AcquisitionOptions, ACQUISITION_MAXIMA, {}),
    (EvolutionOptions, EVOLUTION_MAXIMA, {}),
    (LocalSearchOptions, LOCAL_SEARCH_MAXIMA, {}),
    (MutationOptions, MUTATION_MAXIMA, {}),
    (CategoricalOptions, CATEGORICAL_MAXIMA, {}),
    (AdditiveOptions, ADDITIVE_MAXIMA, {}),
    (ArdOptions, ARD_MAXIMA, {}),
    (McDropoutOptions, MC_DROPOUT_MAXIMA, {}),
    (BalenasOptions, BALENAS_MAXIMA, {}),
    (TrainOptions, TRAIN_MAXIMA, {}),
]
IDS = [cls.__name__ for cls, _, _ in OPTION_CLASSES]


def _spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "limits",
        "space": "nb201",
        "evaluator": {"kind": "weight_sharing", "dataset": {"name": "digits"}},
        "budget": {"evaluations": 20},
        "batch_size": 2,
    }
    spec.update(overrides)
    return spec


def _refusal(spec: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        SearchSpec.model_validate(spec)
    return str(caught.value)


def test_the_reported_option_is_refused_at_submission_with_its_maximum() -> None:
    message = _refusal(_spec(strategy={"options": {"n_init": 2, "fit": {"epochs": 5_000_000}}}))
    assert "fit.epochs" in message and "5,000" in message


@pytest.mark.parametrize(
    ("strategy", "named", "maximum"),
    [
        ({"options": {"pool_size": 10_000_000}}, "pool_size", "100,000"),
        ({"options": {"fit": {"gcn": {"width": 100_000}}}}, "fit.gcn.width", "1,024"),
        ({"options": {"fit": {"min_steps": 10**9}}}, "fit.min_steps", "100,000"),
        ({"options": {"acquisition": {"mc_samples": 10**7}}}, "acquisition.mc_samples", "4,096"),
        (
            {"samplers": {"mutation": {"weight": 1, "options": {"top_m": 10**7}}}},
            "mutation.top_m",
            "10,000",
        ),
        (
            {"samplers": {"balenas": {"weight": 1, "options": {"steps": 10**7}}}},
            "balenas.steps",
            "10,000",
        ),
        ({"name": "evolution", "options": {"population_size": 10**8}}, "population_size", "10,000"),
        ({"name": "local", "options": {"max_moves": 10**9}}, "max_moves", "100,000"),
        ({"name": "random", "options": {"enumerate_limit": 10**9}}, "enumerate_limit", "1,000,000"),
    ],
)
def test_huge_strategy_options_are_refused_naming_the_option(
    strategy: dict[str, Any], named: str, maximum: str
) -> None:
    message = _refusal(_spec(strategy=strategy))
    assert named in message and maximum in message


@pytest.mark.parametrize(
    ("train", "named", "maximum"),
    [
        ({"epochs": 1_000_000}, "epochs", "1,000"),
        ({"channels": 4096}, "channels", "256"),
        ({"cells_per_stage": 1000}, "cells_per_stage", "16"),
        ({"batch_size": 10**6}, "batch_size", "4,096"),
        ({"steps_per_member": 10**9}, "steps_per_member", "1,000,000"),
    ],
)
def test_huge_training_options_are_refused_naming_the_option(
    train: dict[str, Any], named: str, maximum: str
) -> None:
    for kind in ("weight_sharing", "standalone"):
        message = _refusal(_spec(evaluator={"kind": kind, "train": train}))
        assert f"train.{named}\n  Value error, {named} is" in message and maximum in message


def test_options_at_their_maxima_are_accepted() -> None:
    strategy = {"options": {"pool_size": 100_000, "fit": {"epochs": 5_000, "warm_epochs": 5_000}}}
    SearchSpec.model_validate(_spec(strategy=strategy))
    train = {"epochs": 1_000, "channels": 256, "cells_per_stage": 16}
    SearchSpec.model_validate(_spec(evaluator={"kind": "standalone", "train": train}))


@pytest.mark.parametrize(("cls", "maxima", "base"), OPTION_CLASSES, ids=IDS)
def test_the_library_refuses_each_maximum_plus_one(
    cls: type[Any], maxima: dict[str, float], base: dict[str, Any]
) -> None:
    # Option dataclasses check their maxima in __post_init__, pydantic models in their fields
    # (the seed of `TrainOptions` with a plain `le` bound).
    model_fields = getattr(cls, "model_fields", None)
    fields = set(model_fields) if model_fields else {f.name for f in dataclasses.fields(cls)}
    refusal = r"( is \d+, above its maximum|\n  Input should be less than or equal to)"
    for name, maximum in maxima.items():
        assert name in fields, f"{cls.__name__}: a maximum for {name}, which is no field"
        cls(**{**base, name: int(maximum)})  # the maximum itself is fine
        with pytest.raises(ValueError, match=name + refusal):
            cls(**{**base, name: int(maximum) + 1})


def test_training_limits_raise_the_trainers_own_error() -> None:
    with pytest.raises(TrainOptionsError, match="channels is 512, above its maximum of 256"):
        TrainOptions.from_dict({"channels": 512})


def test_random_search_bounds_its_enumeration() -> None:
    space = get_space("nb201")
    RandomSearch(space, enumerate_limit=ENUMERATE_LIMIT_MAX)
    with pytest.raises(ValueError, match="enumerate_limit"):
        RandomSearch(space, enumerate_limit=ENUMERATE_LIMIT_MAX + 1)


@pytest.mark.parametrize(("cls", "maxima", "base"), OPTION_CLASSES, ids=IDS)
def test_the_defaults_lie_within_the_maxima(
    cls: type[Any], maxima: dict[str, float], base: dict[str, Any]
) -> None:
    defaults = cls(**base)
    for name, maximum in maxima.items():
        value = getattr(defaults, name)
        assert value is None or value <= maximum, f"{cls.__name__}.{name}"


@pytest.mark.parametrize(("cls", "maxima", "base"), OPTION_CLASSES, ids=IDS)
def test_docs_limits_list_every_maximum(
    cls: type[Any], maxima: dict[str, float], base: dict[str, Any]
) -> None:
    del base
    text = LIMITS_DOC.read_text()
    section = text.split(f"`{cls.__name__}`", 1)
    assert len(section) == 2, f"docs/limits.md has no section for {cls.__name__}"
    table = section[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    for name, maximum in maxima.items():
        row = re.search(rf"^\| `{name}` \| ([^|]+) \|", table, re.M)
        assert row is not None, f"docs/limits.md: no row for {cls.__name__}.{name}"
        documented = row.group(1).strip().replace(",", "")
        expected = "2^63 - 1" if maximum == 2**63 - 1 else str(int(maximum))
        assert documented == expected, f"{cls.__name__}.{name}: {documented} != {expected}"
