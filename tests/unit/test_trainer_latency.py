"""The trainer times each member on its device when `measure_latency` is set (issue #13)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from surrogate.spaces import get_space
from workers.datasets import Dataset, DatasetSpec, load_dataset
from workers.training import TrainOptions, train_batch

NB201 = get_space("nb201")
FAST = {
    "steps_per_member": 2,
    "warmup_epochs": 0,
    "batch_size": 16,
    "eval_batch_size": 64,
    "channels": 4,
}


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset(DatasetSpec(max_train=64))


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _members(k: int) -> list[object]:
    rng = np.random.default_rng(1)
    return [NB201.sample(rng) for _ in range(k)]


def test_members_report_their_latency_when_asked(digits: Dataset) -> None:
    options = TrainOptions(**FAST, measure_latency=True, latency_batch_size=4)
    results = train_batch(NB201, _members(2), digits, options)
    for result in results:
        names = {"latency_ms_b1", "latency_p90_ms_b1", "latency_ms_b4", "latency_p90_ms_b4"}
        assert names <= set(result.metrics)
        for name in names:
            assert result.metrics[name] > 0
        assert result.metrics["latency_ms_b1"] <= result.metrics["latency_p90_ms_b1"]
        assert result.timings["latency_s"] > 0
        assert "val_accuracy" in result.metrics  # beside, not instead of, the usual metrics


def test_latency_at_batch_one_alone_and_off_by_default(digits: Dataset) -> None:
    one = train_batch(
        NB201, _members(1), digits, TrainOptions(**FAST, measure_latency=True, latency_batch_size=1)
    )
    assert {n for n in one[0].metrics if n.startswith("latency")} == {
        "latency_ms_b1",
        "latency_p90_ms_b1",
    }
    plain = train_batch(NB201, _members(1), digits, TrainOptions(**FAST))
    assert not [n for n in plain[0].metrics if n.startswith("latency")]
    assert "latency_s" not in plain[0].timings
