"""The weight-sharing trainer: schedules, BatchNorm recalibration, the evaluator API
(`train_batch`), determinism, stopping and progress."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from surrogate.spaces import get_space
from workers.datasets import Dataset, DatasetSpec, load_dataset
from workers.datasets.loader import calibration_images
from workers.supernets import build_supernet
from workers.training import (
    TrainingSession,
    TrainingStopped,
    TrainOptions,
    TrainOptionsError,
    TrainProgress,
    fair_schedule,
    plan_steps,
    random_schedule,
    recalibrate_batchnorm,
    train_batch,
)
from workers.training.trainer import supernet_config

NB201 = get_space("nb201")
FAST = TrainOptions(
    steps_per_member=3, warmup_epochs=1, batch_size=32, eval_batch_size=128, channels=4
)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset(DatasetSpec(max_train=128))


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _members(k: int, seed: int = 0) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [NB201.sample(rng) for _ in range(k)]


# --- schedules and plans ---------------------------------------------------------------------


def test_fair_schedule_gives_equal_steps_in_every_round() -> None:
    k, rounds = 7, 5
    schedule = fair_schedule(k, rounds, np.random.default_rng(0))
    assert len(schedule) == k * rounds
    assert Counter(schedule) == dict.fromkeys(range(k), rounds)
    for start in range(0, len(schedule), k):
        assert sorted(schedule[start : start + k]) == list(range(k))
    assert schedule[:k] != schedule[k : 2 * k]  # a fresh order each round


def test_random_schedule_is_uniform_but_unequal() -> None:
    schedule = random_schedule(8, 50, np.random.default_rng(0))
    counts = Counter(schedule)
    assert len(schedule) == 400 and set(counts) == set(range(8))
    assert len(set(counts.values())) > 1


def test_plan_steps() -> None:
    options = TrainOptions(epochs=3, warmup_epochs=2)
    plan = plan_steps(4, 21, options)
    assert (plan.warmup_steps, plan.rounds_per_epoch, plan.rounds) == (42, 5, 15)
    assert plan.member_steps == 60 and plan.total_steps == 102
    assert plan_steps(1, 21, options).warmup_steps == 0  # one architecture: nothing to warm up
    fixed = plan_steps(16, 21, TrainOptions(steps_per_member=7, warmup_epochs=0))
    assert (fixed.rounds, fixed.member_steps) == (7, 112)


# --- BatchNorm recalibration ---------------------------------------------------------------


def test_recalibration_matches_statistics_computed_directly() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2)
    )
    bn1, bn2 = net[1], net[4]
    for bn in (bn1, bn2):  # stale statistics and non-trivial affine parameters
        bn.running_mean.fill_(5.0)
        bn.running_var.fill_(9.0)
        nn.init.normal_(bn.weight)
        nn.init.normal_(bn.bias)
    net.eval()
    batches = [torch.randn(8, 1, 6, 6) * (1 + i) + i for i in range(4)]

    assert recalibrate_batchnorm(net, net, batches) == 2
    assert not net.training and bn1.momentum == 0.1 and bn2.momentum == 0.1

    stats: dict[str, list[torch.Tensor]] = {"m1": [], "v1": [], "m2": [], "v2": []}
    with torch.no_grad():
        for X in batches:
            h = net[0](X)
            stats["m1"].append(h.mean(dim=(0, 2, 3)))
            stats["v1"].append(h.var(dim=(0, 2, 3), unbiased=True))
            normalised = F.batch_norm(h, None, None, bn1.weight, bn1.bias, training=True)
            h2 = net[3](torch.relu(normalised))
            stats["m2"].append(h2.mean(dim=(0, 2, 3)))
            stats["v2"].append(h2.var(dim=(0, 2, 3), unbiased=True))
    mean = {name: torch.stack(values).mean(0) for name, values in stats.items()}
    assert torch.allclose(bn1.running_mean, mean["m1"], atol=1e-5)
    assert torch.allclose(bn1.running_var, mean["v1"], atol=1e-5)
    assert torch.allclose(bn2.running_mean, mean["m2"], atol=1e-5)
    assert torch.allclose(bn2.running_var, mean["v2"], atol=1e-5)
    assert int(bn1.num_batches_tracked) == 4


def test_recalibration_of_a_member_touches_only_its_path(digits: Dataset) -> None:
    archs = _members(4)
    net = build_supernet(NB201, archs, supernet_config(digits, FAST))
    images = calibration_images(digits, 32, 3, "cpu", seed=0)
    recalibrate_batchnorm(net, lambda X: net(X, archs[0]), images)
    alone = set(net.alone(archs[0]).state_dict())
    for name, module in net.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            on_path = f"{name}.running_mean" in alone
            assert int(module.num_batches_tracked) == (3 if on_path else 0), name


# --- the evaluator API -----------------------------------------------------------------------


def test_train_batch_returns_one_result_per_member_in_order(digits: Dataset) -> None:
    archs = _members(3)
    archs.append(archs[1])  # a duplicate is trained once and reported twice
    results = train_batch(NB201, archs, digits, FAST)
    assert [r.key for r in results] == [NB201.key(a) for a in archs]
    assert results[3] is results[1]
    for result, arch in zip(results, archs, strict=True):
        assert result.arch == arch
        metrics = result.metrics
        assert 0.0 <= metrics["val_accuracy"] <= 100.0
        assert metrics["val_loss"] > 0 and metrics["train_loss"] > 0
        net = build_supernet(NB201, [arch], supernet_config(digits, FAST))
        assert metrics["params"] == sum(p.numel() for p in net.parameters())
        assert set(result.timings) == {"train_s", "batch_train_s", "calibrate_s", "eval_s"}


def test_training_is_deterministic_for_a_seed(digits: Dataset) -> None:
    archs = _members(3, seed=1)
    first = [r.metrics for r in train_batch(NB201, archs, digits, FAST)]
    second = [r.metrics for r in train_batch(NB201, archs, digits, FAST)]
    assert first == second
    other = TrainOptions(**{**FAST.to_dict(), "seed": 1})
    third = [r.metrics for r in train_batch(NB201, archs, digits, other)]
    assert third != first


def test_stop_flag_aborts_with_no_results(digits: Dataset) -> None:
    polls = 0

    def should_stop() -> bool:
        nonlocal polls
        polls += 1
        return polls > 5

    with pytest.raises(TrainingStopped, match="step 5"):
        train_batch(NB201, _members(3), digits, FAST, should_stop=should_stop)
    assert polls == 6


def test_stop_flag_is_polled_during_evaluation(digits: Dataset) -> None:
    reports: list[TrainProgress] = []

    def should_stop() -> bool:
        return any(r.phase == "evaluate" for r in reports)

    with pytest.raises(TrainingStopped):
        train_batch(NB201, _members(2), digits, FAST, reports.append, should_stop)
    assert reports[-1].phase == "evaluate" and reports[-1].member == 0


def test_progress_reports_every_phase(digits: Dataset) -> None:
    reports: list[TrainProgress] = []
    options = TrainOptions(**{**FAST.to_dict(), "log_every": 2})
    train_batch(NB201, _members(2), digits, options, progress=reports.append)
    phases = [r.phase for r in reports]
    assert phases[0] == "warmup" and "train" in phases
    assert phases[-4:] == ["calibrate", "evaluate", "calibrate", "evaluate"]
    training = [r for r in reports if r.phase in ("warmup", "train")]
    assert [r.step for r in training] == sorted(r.step for r in training)
    assert training[-1].step == training[-1].total_steps == 4 + 2 * 3
    assert all(r.loss is not None and r.loss > 0 for r in training)
    assert all(r.member is not None for r in reports if r.phase == "train")


def test_standalone_method_trains_each_from_scratch(digits: Dataset) -> None:
    archs = _members(2)
    options = TrainOptions(**{**FAST.to_dict(), "method": "standalone"})
    reports: list[TrainProgress] = []
    results = train_batch(NB201, archs, digits, options, progress=reports.append)
    assert [r.key for r in results] == [NB201.key(a) for a in archs]
    assert {r.member for r in reports} == {0, 1}
    assert all(r.phase != "warmup" for r in reports)
    # Each stand-alone run is the weight-sharing run of a batch of one.
    (alone,) = train_batch(NB201, archs[1:], digits, FAST)
    assert results[1].metrics == alone.metrics


def test_dataset_spec_is_loaded(digits: Dataset) -> None:
    results = train_batch(NB201, _members(1), DatasetSpec(max_train=128), FAST)
    assert results[0].metrics == train_batch(NB201, _members(1), digits, FAST)[0].metrics


# --- the session ---------------------------------------------------------------------------


def test_evaluation_uses_the_validation_part(digits: Dataset) -> None:
    archs = _members(2)
    net = build_supernet(NB201, archs, supernet_config(digits, FAST))
    session = TrainingSession(net, digits, FAST, torch.device("cpu"))
    session.total_steps = 4
    for arch in archs * 2:
        session.train_step(arch)
    session.calibrate(archs[1], calibration_images(digits, 64, 2, "cpu", seed=0))
    accuracy, loss = session.evaluate(archs[1])
    alone = net.alone(archs[1]).eval()
    X = (digits.val_images.float() / 255 - digits.mean[0]) / digits.std[0]
    with torch.no_grad():
        logits = alone(X)
    expected = 100.0 * float((logits.argmax(1) == digits.val_labels).float().mean())
    assert accuracy == pytest.approx(expected)
    assert loss == pytest.approx(float(F.cross_entropy(logits, digits.val_labels)), rel=1e-5)


def test_warm_up_trains_every_op_of_the_union(digits: Dataset) -> None:
    archs = _members(4)
    net = build_supernet(NB201, archs, supernet_config(digits, FAST))
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    session = TrainingSession(net, digits, FAST, torch.device("cpu"))
    session.total_steps = 10
    session.warm_up(1)
    unchanged = [n for n, p in net.named_parameters() if torch.equal(p, before[n])]
    assert not unchanged


def test_training_learns_the_digits(digits: Dataset) -> None:
    options = TrainOptions(epochs=6, warmup_epochs=1, channels=8)
    results = train_batch(NB201, _members(2, seed=3), load_dataset(DatasetSpec()), options)
    assert all(r.metrics["val_accuracy"] > 60.0 for r in results)


def test_options_validation_and_round_trip() -> None:
    with pytest.raises(TrainOptionsError, match="schedule"):
        TrainOptions.from_dict({"schedule": "greedy"})
    with pytest.raises(ValueError, match="batch_size"):
        TrainOptions(batch_size=0)
    with pytest.raises(TrainOptionsError, match="unknown training options"):
        TrainOptions.from_dict({"epochs": 1, "lr_max": 0.1})
    options = TrainOptions(epochs=3, schedule="random", steps_per_member=9)
    assert TrainOptions.from_dict(options.to_dict()) == options
