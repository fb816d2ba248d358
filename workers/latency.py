"""Inference latency of a member's network, measured on the worker's own device.

Latency is a cost users deploy under, and unlike params or FLOPs it cannot be computed: it
depends on the device, the batch size, the kernels torch picks and the thread count. So a worker
measures it where it runs, in a fixed protocol that keeps the number comparable between
members measured by the same worker:

* the network is put in eval mode (BatchNorm uses its running statistics, dropout is off) and
  run under `torch.no_grad()`; its mode is restored afterwards;
* for each batch size, `warmup` forwards run first and are not timed (they pay for lazy
  initialisation, cuDNN's algorithm search and cold caches), then `repeats` forwards are timed
  one by one;
* on a GPU each forward is timed with CUDA events and the stream synchronised, since kernel
  launches return before the work is done; on a CPU with `time.perf_counter_ns`;
* the median of the repeats is the reported latency (robust to a stray slow call: another
  process, a page fault), the 90th percentile says how wide the spread is.

The numbers belong to the device they were measured on: `device_label` names it (the GPU's name,
or the CPU model) so that results of different machines are never compared as if alike.
"""

from __future__ import annotations

import itertools
import math
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from workers.exceptions import WorkerError

DEFAULT_BATCH_SIZES = (1, 64)
"""Batch 1 (one request at a time, as a deployed model answers) and a throughput batch."""


class LatencyError(WorkerError, ValueError):
    """A latency measurement cannot be made as asked (bad options, network on another device)."""


@dataclass(frozen=True)
class LatencyOptions:
    """How a latency is measured.

    Attributes:
        batch_sizes: Batch sizes to measure at, each separately.
        warmup: Untimed forwards before the timed ones, per batch size.
        repeats: Timed forwards per batch size (the median and p90 are taken over them).
    """

    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    warmup: int = 5
    repeats: int = 20

    def __post_init__(self) -> None:
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise LatencyError(f"batch sizes must be positive, got {self.batch_sizes}")
        if len(set(self.batch_sizes)) != len(self.batch_sizes):
            raise LatencyError(f"batch sizes must differ, got {self.batch_sizes}")
        if self.warmup < 0:
            raise LatencyError(f"warmup must be 0 or more, got {self.warmup}")
        if self.repeats < 1:
            raise LatencyError(f"repeats must be positive, got {self.repeats}")


@dataclass(frozen=True)
class BatchLatency:
    """Latency of one forward at one batch size.

    Attributes:
        batch_size: Images per forward.
        median_ms: Median over the timed forwards, in milliseconds.
        p90_ms: 90th percentile over the timed forwards, in milliseconds.
    """

    batch_size: int
    median_ms: float
    p90_ms: float


@dataclass(frozen=True)
class LatencyMeasurement:
    """The result of `measure_latency`.

    Attributes:
        device: `device_label` of the device measured on.
        warmup: Untimed forwards per batch size.
        repeats: Timed forwards per batch size.
        threads: torch's intra-op thread count during the measurement (CPU latency scales
            with it).
        batches: One entry per batch size, in the order asked for.
    """

    device: str
    warmup: int
    repeats: int
    threads: int
    batches: tuple[BatchLatency, ...]

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        return tuple(batch.batch_size for batch in self.batches)

    def median_ms(self, batch_size: int) -> float:
        """The median latency at `batch_size` (which must be one of `batch_sizes`)."""
        return self._at(batch_size).median_ms

    def p90_ms(self, batch_size: int) -> float:
        return self._at(batch_size).p90_ms

    def as_metrics(self) -> dict[str, float]:
        """Metrics as a member reports them: ``latency_ms_b1``, ``latency_p90_ms_b1``, ..."""
        metrics: dict[str, float] = {}
        for batch in self.batches:
            metrics[f"latency_ms_b{batch.batch_size}"] = batch.median_ms
            metrics[f"latency_p90_ms_b{batch.batch_size}"] = batch.p90_ms
        return metrics

    def _at(self, batch_size: int) -> BatchLatency:
        for batch in self.batches:
            if batch.batch_size == batch_size:
                return batch
        raise LatencyError(f"no measurement at batch size {batch_size}; have {self.batch_sizes}")


def measure_latency(
    network: nn.Module,
    input_shape: Sequence[int],
    device: torch.device | str = "cpu",
    options: LatencyOptions | None = None,
) -> LatencyMeasurement:
    """Time `network`'s forward on random inputs, as the module docstring describes.

    Args:
        network: The member's stand-alone network (e.g. `Supernet.alone(arch)`), already on
            `device`; its weights do not matter, only its shape.
        input_shape: One input without the batch dimension, e.g. `(3, 32, 32)`.
        device: Where the network lives and the inputs are made.
        options: Batch sizes, warm-up and repeats.

    Raises:
        LatencyError: The input shape is empty or not positive, or the network's parameters
            are on another device.
    """
    opts = options or LatencyOptions()
    device = torch.device(device)
    shape = tuple(int(size) for size in input_shape)
    if not shape or any(size < 1 for size in shape):
        raise LatencyError(f"the input shape must be positive sizes, got {tuple(input_shape)}")
    _check_device(network, device)
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            batches = tuple(
                _measure_batch(network, (batch_size, *shape), device, opts)
                for batch_size in opts.batch_sizes
            )
    finally:
        network.train(was_training)
    return LatencyMeasurement(
        device=device_label(device),
        warmup=opts.warmup,
        repeats=opts.repeats,
        threads=torch.get_num_threads(),
        batches=batches,
    )


def member_latency_metrics(
    network: nn.Module,
    input_shape: Sequence[int],
    device: torch.device | str = "cpu",
    options: LatencyOptions | None = None,
) -> dict[str, float]:
    """A member's latency metrics (``latency_ms_b1``, ``latency_p90_ms_b1``, ``latency_ms_b64``...).

    The device they were measured on is `device_label(device)`; it is not a number, so it is
    not among them.
    """
    return measure_latency(network, input_shape, device, options).as_metrics()


def device_label(device: torch.device | str = "cpu") -> str:
    """A readable name of the hardware behind `device`: the GPU's name, or the CPU's model."""
    device = torch.device(device)
    if device.type == "cuda":
        return str(torch.cuda.get_device_name(device))
    return _cpu_model() or f"{device.type} ({platform.machine() or 'unknown machine'})"


def _measure_batch(
    network: nn.Module, shape: tuple[int, ...], device: torch.device, opts: LatencyOptions
) -> BatchLatency:
    generator = torch.Generator(device=device).manual_seed(0)
    inputs = torch.randn(shape, generator=generator, device=device)
    for _ in range(opts.warmup):
        network(inputs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        samples = _time_cuda(network, inputs, device, opts.repeats)
    else:
        samples = _time_cpu(network, inputs, opts.repeats)
    return BatchLatency(
        batch_size=shape[0], median_ms=statistics.median(samples), p90_ms=_p90(samples)
    )


def _time_cpu(network: nn.Module, inputs: torch.Tensor, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        network(inputs)
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


def _time_cuda(
    network: nn.Module, inputs: torch.Tensor, device: torch.device, repeats: int
) -> list[float]:
    samples = []
    with torch.cuda.device(device):
        for _ in range(repeats):
            start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            start.record()
            network(inputs)
            end.record()
            end.synchronize()
            samples.append(float(start.elapsed_time(end)))
    return samples


def _p90(samples: list[float]) -> float:
    """Nearest-rank 90th percentile: a value that was observed, defined for one sample too."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _check_device(network: nn.Module, device: torch.device) -> None:
    # One tensor tells: a module is moved as a whole. A network without any runs anywhere.
    first = next(itertools.chain(network.parameters(), network.buffers()), None)
    if first is not None and not _same_device(first.device, device):
        raise LatencyError(
            f"the network holds tensors on {first.device}, but latency is measured on {device}; "
            "move it there first"
        )


def _same_device(held: torch.device, asked: torch.device) -> bool:
    if held.type != asked.type:
        return False
    if held.type != "cuda":
        return True
    index = asked.index if asked.index is not None else torch.cuda.current_device()
    return held.index == index


def _cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (Linux), or platform's guess elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None
