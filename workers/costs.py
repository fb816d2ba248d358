"""Cost of the networks a worker trains: the analytic figures it reports, and a torch counter
that checks them.

`member_cost` prices a member with the library's analytic model (`surrogate.costs`) at the
shape of the worker's own network (its `SupernetConfig` and the dataset's image size); the
trainer reports its `params` and `flops`. `count_cost` measures the same two numbers on a
built torch network, by counting its parameters and intercepting the functional calls of one
forward pass, so that tests can check the model against the real network. It intercepts
functions rather than hooking modules because the heads call `torch.relu` and `Tensor.mean`
directly, which no module hook sees.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from surrogate.costs import Cost, NetworkShape, architecture_cost
from surrogate.spaces.base import SearchSpace
from workers.supernets.base import SupernetConfig


def network_shape(config: SupernetConfig, image_size: tuple[int, int]) -> NetworkShape:
    """The cost model's description of the network that `config` builds for such images."""
    return NetworkShape(
        num_classes=config.num_classes,
        in_channels=config.in_channels,
        channels=config.channels,
        cells_per_stage=config.cells_per_stage,
        image_size=image_size,
    )


def member_cost(
    space: SearchSpace[Any], arch: Any, config: SupernetConfig, image_size: tuple[int, int]
) -> Cost:
    """Analytic parameters and FLOPs (per image) of `arch`'s own network at `config`."""
    return architecture_cost(space, arch, network_shape(config, image_size))


class FlopCounter(TorchFunctionMode):
    """Counts FLOPs of the functional calls made inside it, by the rule of `surrogate.costs`.

    Convolutions, BatchNorm, ReLU, average and max pooling, global means over the spatial axes
    and linear layers are counted; everything else (sums, concatenations, zeros) is free.
    Counts are for the whole batch; run one image for per-image figures.
    """

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.flops += _flops(func, args, kwargs, out)
        return out


def _flops(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    if func is F.conv2d:
        weight: torch.Tensor = args[1]
        has_bias = (args[2] if len(args) > 2 else kwargs.get("bias")) is not None
        per_output = weight[0].numel() + (1 if has_bias else 0)
        return int(out.numel()) * per_output
    if func is F.batch_norm:
        affine = (args[3] if len(args) > 3 else kwargs.get("weight")) is not None
        return int(args[0].numel()) * (2 if affine else 1)
    if func is F.relu or func is torch.relu:
        return int(args[0].numel())
    if func is F.avg_pool2d or func is F.max_pool2d:
        kernel = args[1] if len(args) > 1 else kwargs["kernel_size"]
        k_h, k_w = (kernel, kernel) if isinstance(kernel, int) else kernel
        return int(out.numel()) * k_h * k_w
    if func is torch.Tensor.mean and _spatial(args, kwargs):
        batch, channels, height, width = args[0].shape
        return int(batch * channels * (height + 1) * (width + 1))
    if func is F.linear:
        return int(args[1].numel()) * int(args[0].numel() // args[0].shape[-1])
    return 0


def _spatial(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    return args[0].dim() == 4 and dims is not None and set(dims) == {2, 3}


def count_cost(network: nn.Module, x: torch.Tensor, *args: Any) -> Cost:
    """Parameters of `network` and FLOPs of `network(x, *args)`, measured in eval mode."""
    params = sum(p.numel() for p in network.parameters())
    was_training = network.training
    network.eval()
    counter = FlopCounter()
    with torch.no_grad(), counter:
        network(x, *args)
    network.train(was_training)
    return Cost(params, counter.flops)


def member_flops(
    space: SearchSpace[Any], arch: Any, config: SupernetConfig, image_size: tuple[int, int]
) -> float:
    """Analytic FLOPs per image of `arch`'s own network: the `flops` metric a worker reports."""
    return float(member_cost(space, arch, config, image_size).flops)
