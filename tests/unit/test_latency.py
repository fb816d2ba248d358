"""Measured latency (`workers.latency`): the protocol's counts, modes and ordering, not its speed.

No test asserts how fast anything is. They check what the protocol promises: warm-up forwards
run and are not timed, each batch size gets its own forwards, eval mode and no-grad hold during
the forwards and the caller's mode comes back, a module that sleeps in its forward measures
slower than one that does not, and the device is named.
"""

from __future__ import annotations

import math
import time

import pytest
import torch
from torch import nn

from surrogate.spaces import get_space
from workers import latency
from workers.latency import (
    LatencyError,
    LatencyOptions,
    device_label,
    measure_latency,
    member_latency_metrics,
)
from workers.supernets import SupernetConfig, build_supernet

SHAPE = (3, 8, 8)
FAST = LatencyOptions(batch_sizes=(1, 4), warmup=2, repeats=5)
SLEEP_S = 0.02


def tiny_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )


class Sleepy(nn.Module):
    """The tiny network plus a fixed sleep in every forward: slower by construction."""

    def __init__(self) -> None:
        super().__init__()
        self.body = tiny_net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(SLEEP_S)
        return self.body(x)


class Recorder:
    """A forward hook that notes each call's batch size, mode and grad state."""

    def __init__(self, module: nn.Module) -> None:
        self.calls: list[tuple[int, bool, bool]] = []
        module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: object) -> None:
        self.calls.append((inputs[0].shape[0], module.training, torch.is_grad_enabled()))


def test_measurement_is_positive_finite_and_labelled() -> None:
    measured = measure_latency(tiny_net(), SHAPE, "cpu", FAST)
    assert measured.batch_sizes == (1, 4)
    assert (measured.warmup, measured.repeats) == (2, 5)
    assert measured.threads >= 1
    assert measured.device == device_label("cpu")
    for batch in measured.batches:
        assert math.isfinite(batch.median_ms) and batch.median_ms > 0
        assert math.isfinite(batch.p90_ms) and batch.p90_ms >= batch.median_ms


def test_warmup_runs_but_only_repeats_are_timed_per_batch_size() -> None:
    network = tiny_net()
    recorder = Recorder(network)
    options = LatencyOptions(batch_sizes=(1, 3), warmup=4, repeats=6)
    measure_latency(network, SHAPE, "cpu", options)
    # Every call runs in eval mode without autograd, first all of batch 1, then all of batch 3.
    assert recorder.calls == [(1, False, False)] * 10 + [(3, False, False)] * 10
    assert network.training  # the caller's mode is restored


class ScriptedCost(nn.Module):
    """Advances a fake clock by a scripted cost per call: warm-up calls cost far more."""

    def __init__(self, clock: FakeClock, warmup: int, costs_ms: list[float]) -> None:
        super().__init__()
        self.clock, self.warmup, self.costs_ms = clock, warmup, costs_ms
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        timed = self.calls % (self.warmup + len(self.costs_ms)) - self.warmup
        cost_ms = 1000.0 if timed < 0 else self.costs_ms[timed]
        self.clock.now_ns += int(cost_ms * 1e6)
        self.calls += 1
        return x


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = 0

    def perf_counter_ns(self) -> int:
        return self.now_ns


def test_warmup_is_not_timed_and_median_and_p90_come_from_the_repeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(latency, "time", clock)  # the module's clock only
    costs = [float(ms) for ms in (7, 1, 10, 3, 5, 2, 9, 4, 8, 6)]
    network = ScriptedCost(clock, warmup=3, costs_ms=costs)
    options = LatencyOptions(batch_sizes=(1, 2), warmup=3, repeats=len(costs))
    measured = measure_latency(network, SHAPE, "cpu", options)
    assert network.calls == 2 * (3 + 10)
    for batch_size in (1, 2):
        # The 1,000 ms warm-up calls would move both figures if they were counted.
        assert measured.median_ms(batch_size) == pytest.approx(5.5)
        assert measured.p90_ms(batch_size) == pytest.approx(9.0)


def test_a_module_that_sleeps_measures_slower() -> None:
    fast = measure_latency(tiny_net(), SHAPE, "cpu", FAST)
    slow = measure_latency(Sleepy(), SHAPE, "cpu", FAST)
    for batch_size in (1, 4):
        assert slow.median_ms(batch_size) >= SLEEP_S * 1000
        assert slow.median_ms(batch_size) > fast.median_ms(batch_size)


def test_member_metrics_of_a_supernet_member() -> None:
    space = get_space("nb201")
    arch = space.arch_at(0)
    config = SupernetConfig(num_classes=10, channels=4, cells_per_stage=1)
    network = build_supernet(space, [arch], config).alone(arch)
    metrics = member_latency_metrics(
        network, SHAPE, "cpu", LatencyOptions((1, 2), warmup=1, repeats=2)
    )
    assert set(metrics) == {
        "latency_ms_b1",
        "latency_p90_ms_b1",
        "latency_ms_b2",
        "latency_p90_ms_b2",
    }
    assert all(math.isfinite(v) and v > 0 for v in metrics.values())


def test_device_label_names_the_cpu() -> None:
    label = device_label("cpu")
    assert isinstance(label, str) and label.strip()


@pytest.mark.parametrize(
    "options",
    [
        {"batch_sizes": ()},
        {"batch_sizes": (0,)},
        {"batch_sizes": (4, 4)},
        {"warmup": -1},
        {"repeats": 0},
    ],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(LatencyError):
        LatencyOptions(**options)  # type: ignore[arg-type]


def test_bad_shapes_devices_and_batch_sizes_are_refused() -> None:
    with pytest.raises(LatencyError, match="input shape"):
        measure_latency(tiny_net(), (), "cpu", FAST)
    with pytest.raises(LatencyError, match="move it there"):
        measure_latency(tiny_net().to("meta"), SHAPE, "cpu", FAST)
    measured = measure_latency(tiny_net(), SHAPE, "cpu", FAST)
    with pytest.raises(LatencyError, match="batch size 8"):
        measured.median_ms(8)


@pytest.mark.gpu
def test_measures_on_a_gpu_with_its_name() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    network = tiny_net().to("cuda")
    recorder = Recorder(network)
    measured = measure_latency(network, SHAPE, "cuda", FAST)
    assert measured.device == torch.cuda.get_device_name(0)
    assert len(recorder.calls) == 2 * (FAST.warmup + FAST.repeats)
    assert all(b.median_ms > 0 and math.isfinite(b.p90_ms) for b in measured.batches)
    slow = measure_latency(Sleepy().to("cuda"), SHAPE, "cuda", FAST)
    # The start event is recorded before the host sleeps and the end event after the kernels
    # that the sleep delays, so the sleep is inside the timed interval on the GPU too.
    assert slow.median_ms(1) >= SLEEP_S * 1000
