"""Recompute BatchNorm running statistics for one path of a supernet.

In a supernet the running statistics of a BatchNorm layer mix every member that used it during
training, and they describe none of them. Before a member is evaluated its statistics are
therefore recomputed from scratch: reset, then a cumulative average (momentum None) over fixed
training batches passed through the member's path in training mode, without gradients. Layers
off the path are reset too, which is harmless: training uses batch statistics, and each member
recalibrates before its own evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    forward: Callable[[torch.Tensor], object],
    batches: Sequence[torch.Tensor],
    should_stop: Callable[[], None] | None = None,
) -> int:
    """Reset every BatchNorm of `model` and re-estimate its statistics over `batches`.

    After the call, a BatchNorm layer's `running_mean` is the average over the batches of
    their per-channel means, and `running_var` the average of their unbiased per-channel
    variances (PyTorch's cumulative average), as computed in training mode along `forward`.

    Args:
        model: The module holding the BatchNorm layers (left in the mode it was in).
        forward: Runs the path to calibrate on one batch, e.g. `lambda X: net(X, arch)`.
        batches: Input batches `(b, C, H, W)`.
        should_stop: Called before each batch; may raise to abandon the calibration.

    Returns:
        The number of BatchNorm layers reset.
    """
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    momenta = [m.momentum for m in layers]
    was_training = model.training
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    model.train()
    try:
        for X in batches:
            if should_stop is not None:
                should_stop()
            forward(X)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        model.train(was_training)
    return len(layers)
