"""Costs of the named ops that cells, chains and DAGs choose, mirroring the worker's op library.

Each op maps a `FeatureMap` of `C_in` channels to `C_out` channels at a stride; its cost is
the sum of its layers' (`surrogate.costs.counting`). The structure of every op is the one the
worker builds (`workers.supernets.ops`): NAS-Bench-201's `nor_conv_kxk` is ReLU-Conv-BN,
NAS-Bench-101's `convkxk-bn-relu` is Conv-BN-ReLU, DARTS's separable convolution is
(ReLU, depthwise, pointwise, BN) twice, a pooling op that changes the width first runs a 1x1
ReLU-Conv-BN, and an identity at stride 2 is a factorised reduction. The unit tests compare
every op here with the torch module the worker builds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from surrogate.costs.counting import (
    ZERO,
    Cost,
    FeatureMap,
    batch_norm,
    conv2d,
    pool2d,
    relu,
)
from surrogate.costs.exceptions import CostModelError

ZERO_OPS = frozenset({"none", "zero"})
IDENTITY_OPS = frozenset({"skip_connect", "skip", "identity"})

OpCost = Callable[[FeatureMap, int, int], tuple[Cost, FeatureMap]]
"""`(input, C_out, stride) -> (cost, output)` of one op."""


def relu_conv_bn(
    x: FeatureMap, C_out: int, kernel: int, stride: int, padding: int, dilation: int = 1
) -> tuple[Cost, FeatureMap]:
    """ReLU, convolution without bias, affine BatchNorm."""
    conv, out = conv2d(x, C_out, kernel, stride, padding, dilation)
    return relu(x) + conv + batch_norm(out), out


def conv_bn_relu(
    x: FeatureMap, C_out: int, kernel: int, stride: int = 1
) -> tuple[Cost, FeatureMap]:
    """Convolution without bias (padding `kernel // 2`), affine BatchNorm, ReLU."""
    conv, out = conv2d(x, C_out, kernel, stride, kernel // 2)
    return conv + batch_norm(out) + relu(out), out


def factorized_reduce(x: FeatureMap, C_out: int) -> tuple[Cost, FeatureMap]:
    """Two offset stride-2 1x1 convolutions of `C_out // 2` and the rest channels, then BN."""
    half = C_out // 2
    conv_a, out = conv2d(x, half, 1, 2)
    conv_b, _ = conv2d(x, C_out - half, 1, 2)
    out = out.with_channels(C_out)
    return relu(x) + conv_a + conv_b + batch_norm(out), out


def _zero(x: FeatureMap, C_out: int, stride: int) -> tuple[Cost, FeatureMap]:
    height = -(-x.height // stride)
    width = -(-x.width // stride)
    return ZERO, FeatureMap(C_out, height, width)


def _identity(x: FeatureMap, C_out: int, stride: int) -> tuple[Cost, FeatureMap]:
    if stride == 1 and x.channels == C_out:
        return ZERO, x
    if stride == 2:
        return factorized_reduce(x, C_out)
    return relu_conv_bn(x, C_out, 1, stride, 0)


def _nor_conv(kernel: int) -> OpCost:
    return lambda x, C_out, stride: relu_conv_bn(x, C_out, kernel, stride, kernel // 2)


def _conv(kernel: int) -> OpCost:
    return lambda x, C_out, stride: conv_bn_relu(x, C_out, kernel, stride)


def _pool(x: FeatureMap, C_out: int, stride: int) -> tuple[Cost, FeatureMap]:
    cost = ZERO
    if x.channels != C_out:
        cost, x = relu_conv_bn(x, C_out, 1, 1, 0)
    pool, out = pool2d(x, 3, stride, 1)
    return cost + pool, out


def _sep_conv(kernel: int) -> OpCost:
    def cost(x: FeatureMap, C_out: int, stride: int) -> tuple[Cost, FeatureMap]:
        C_in, padding = x.channels, kernel // 2
        depthwise_a, mid = conv2d(x, C_in, kernel, stride, padding, groups=C_in)
        pointwise_a, mid = conv2d(mid, C_in, 1)
        first = relu(x) + depthwise_a + pointwise_a + batch_norm(mid)
        depthwise_b, out = conv2d(mid, C_in, kernel, 1, padding, groups=C_in)
        pointwise_b, out = conv2d(out, C_out, 1)
        second = relu(mid) + depthwise_b + pointwise_b + batch_norm(out)
        return first + second, out

    return cost


def _dil_conv(kernel: int) -> OpCost:
    def cost(x: FeatureMap, C_out: int, stride: int) -> tuple[Cost, FeatureMap]:
        dilation = 2
        padding = dilation * (kernel - 1) // 2
        C_in = x.channels
        depthwise, mid = conv2d(x, C_in, kernel, stride, padding, dilation, groups=C_in)
        pointwise, out = conv2d(mid, C_out, 1)
        return relu(x) + depthwise + pointwise + batch_norm(out), out

    return cost


OP_COSTS: dict[str, OpCost] = {
    **dict.fromkeys(ZERO_OPS, _zero),
    **dict.fromkeys(IDENTITY_OPS, _identity),
    "nor_conv_1x1": _nor_conv(1),
    "nor_conv_3x3": _nor_conv(3),
    "nor_conv_5x5": _nor_conv(5),
    "conv1x1": _conv(1),
    "conv3x3": _conv(3),
    "conv5x5": _conv(5),
    "conv1x1-bn-relu": _conv(1),
    "conv3x3-bn-relu": _conv(3),
    "avg_pool_3x3": _pool,
    "avgpool3x3": _pool,
    "max_pool_3x3": _pool,
    "maxpool3x3": _pool,
    "sep_conv_3x3": _sep_conv(3),
    "sep_conv_5x5": _sep_conv(5),
    "sep_conv_7x7": _sep_conv(7),
    "dil_conv_3x3": _dil_conv(3),
    "dil_conv_5x5": _dil_conv(5),
}
"""Every op name the cost model prices (the same names the worker's op library builds)."""


def check_op_names(names: Iterable[str]) -> None:
    """Raise `CostModelError` unless every name is in `OP_COSTS`."""
    unknown = sorted({name for name in names if name not in OP_COSTS})
    if unknown:
        raise CostModelError(
            f"the cost model cannot price {', '.join(map(repr, unknown))}; priced op names: "
            f"{', '.join(sorted(OP_COSTS))}"
        )


@functools.cache
def op_cost(name: str, x: FeatureMap, C_out: int, stride: int = 1) -> tuple[Cost, FeatureMap]:
    """Cost and output shape of the op `name` on input `x` (cached: ops repeat across cells).

    Raises:
        CostModelError: `name` is not an op the model knows.
    """
    check_op_names([name])
    return OP_COSTS[name](x, C_out, stride)
