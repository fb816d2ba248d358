"""Issue #14: a search's spec is validated once and its space built once.

Before, one submission of a declared space built it four times (the field check, twice in the
cross-field checks, once for the stored description), the controller validated the stored spec
again for its context (and built the space twice more) and again in every round, and every API
read of the search validated it once more. Now the submission validates it once (FastAPI's parse
of the body) and builds the space once; every later load in the process (the API's views, the
controller's context, its rounds) is `SearchSpec.from_stored`, which keeps the validated object.
After a restart the first load validates it once by today's rules (so a spec they refuse is still
refused: tests/integration/test_trust_upgrade.py), and the rounds that follow reuse it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from service import search_spec
from service.controller.runner import SearchRunner
from service.search_spec import SearchSpec
from service.store import BatchRepository, session_scope, utcnow
from tests.integration import test_api as base

make_api = base.make_api  # the fixture, shared with test_api

CELL = {"type": "cell", "name": "once", "num_nodes": 3, "ops": ["skip", "conv", "pool"]}
"""A declared space: unlike a built-in one (a shared instance), building it costs every time."""


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts validations of a spec from the store, space builds and strategy builds."""
    counts: Counter[str] = Counter()

    def counting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return function(*args, **kwargs)

        return wrapper

    for method in ("model_validate", "model_validate_json"):
        original = getattr(SearchSpec, method).__func__
        monkeypatch.setattr(SearchSpec, method, classmethod(counting("validations", original)))
    monkeypatch.setattr(search_spec, "_space_of", counting("spaces", search_spec._space_of))
    monkeypatch.setattr(
        search_spec, "build_strategy", counting("strategies", search_spec.build_strategy)
    )
    search_spec._LOADED.clear()  # as in a fresh process
    return counts


def test_one_submission_validates_once_and_builds_its_space_once(
    make_api: Callable[..., base.Api], counted: Counter[str]
) -> None:
    api = make_api()
    search = api.submit(api.alice, space=CELL)
    # FastAPI's parse of the body is the one validation (it builds the strategy once to check
    # its options) and builds the space once; storing the description reuses it.
    assert counted == {"strategies": 1, "spaces": 1}
    for path in ("", "/architectures", "/best"):
        answer = api.alice.get(f"/api/v1/searches/{search['id']}{path}")
        assert answer.status_code in (200, 404), answer.text
    assert counted == {"strategies": 1, "spaces": 1}, "the API's reads validated the spec again"

    runner = SearchRunner(api.engine)  # rounds in this thread, where they can be counted
    runner.step(search["id"])
    assert batches_of(api, search["id"]) == 1
    # The round built its strategy (as every round does) and nothing else.
    assert counted == {"strategies": 2, "spaces": 1}


def test_after_a_restart_the_stored_spec_is_validated_once_for_every_round(
    make_api: Callable[..., base.Api], counted: Counter[str]
) -> None:
    api = make_api()
    search = api.submit(api.alice, space=CELL)
    search_spec._LOADED.clear()  # the service restarted: nothing validated in this process
    counted.clear()

    runner = SearchRunner(api.engine)
    runner.step(search["id"])
    assert batches_of(api, search["id"]) == 1
    # One load by today's rules (its strategy check included), one strategy for the round.
    assert counted == {"validations": 1, "spaces": 1, "strategies": 2}
    with session_scope(api.engine) as session:  # the batch goes: the next step needs a round
        BatchRepository(session).cancel_search(search["id"], now=utcnow(), reason="test")
    runner.forget(search["id"])  # and the runner rebuilds its context from the store
    runner.step(search["id"])
    assert batches_of(api, search["id"]) == 2
    assert counted == {"validations": 1, "spaces": 1, "strategies": 3}


def test_a_bad_training_option_is_a_422_naming_it(make_api: Callable[..., base.Api]) -> None:
    api = make_api()
    evaluator = {"kind": "weight_sharing", "train": {"channels": 4096, "epochs": 2}}
    answer = api.alice.post(
        "/api/v1/searches", json=base.spec(evaluator=evaluator, objective={"metric": "val"})
    )
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert "evaluator.weight_sharing.train.channels" in detail
    assert "channels is 4096, above its maximum of 256" in detail
    typo = {"kind": "standalone", "train": {"epoch": 2}}
    answer = api.alice.post("/api/v1/searches", json=base.spec(evaluator=typo))
    assert answer.status_code == 422
    assert "unknown training options ['epoch']; accepted: epochs," in answer.json()["detail"]
    assert api.alice.get("/api/v1/searches").json()["total"] == 0


def batches_of(api: base.Api, search_id: int) -> int:
    with session_scope(api.engine, read_only=True) as session:
        return len(BatchRepository(session).list(search_id))
