"""What one layer costs: the counting rule shared by every network of the cost model.

A cost is counted per image (batch 1). Parameters are every trainable tensor element
(convolution weights and biases, BatchNorm scale and shift, linear weights and bias). FLOPs
follow the rule of the counter behind NAS-Bench-201's published `flops` figures (the
`torchstat` counter that tensorwatch ships, used by NASLib's zero-cost `flops` measure), which
reproduces the benchmark table exactly:

* convolution: `k_h * k_w * (C_in / groups) * C_out * H_out * W_out` multiply-adds, plus
  `C_out * H_out * W_out` when it has a bias;
* BatchNorm: two per input element when affine (scale and shift), one otherwise;
* ReLU: one per input element;
* average or max pooling: `k * k * C * H_out * W_out`;
* global average pooling: `C * (H + 1) * (W + 1)` (torchstat's adaptive-pool formula, which
  counts one row and one column more than the window holds; kept because the table has it);
* linear layer: `in * out` multiply-adds; its bias is not counted;
* sums, concatenations, zero ops and identities: nothing.

Functions take a `FeatureMap` (the input's shape) and return the layer's `Cost` with the
output's shape, so that a network is priced by threading shapes through its layers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """Parameters and FLOPs of a layer, a block or a whole network (counts, not millions).

    Attributes:
        params: Trainable parameters.
        flops: Floating-point operations of one forward pass on one image (the rule above).
    """

    params: int = 0
    flops: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.flops + other.flops)

    def __mul__(self, times: int) -> Cost:
        """The cost of `times` identical copies (a cell repeated through a stage)."""
        return Cost(self.params * times, self.flops * times)

    def as_dict(self) -> dict[str, float]:
        """`{"params": ..., "flops": ...}`, the form results and pool filters carry."""
        return {"params": float(self.params), "flops": float(self.flops)}


ZERO = Cost()


@dataclass(frozen=True)
class FeatureMap:
    """Shape of one image's activations: `(channels, height, width)`."""

    channels: int
    height: int
    width: int

    @property
    def numel(self) -> int:
        return self.channels * self.height * self.width

    def with_channels(self, channels: int) -> FeatureMap:
        return FeatureMap(channels, self.height, self.width)


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window along one axis (floor mode)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_output_size(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """Output length of a pooling window along one axis, as PyTorch computes it.

    In ceil mode the last window may hang over the edge, but must start inside the input or
    its left padding.
    """
    if not ceil_mode:
        return output_size(size, kernel, stride, padding)
    length = -(-(size + 2 * padding - kernel) // stride) + 1
    if (length - 1) * stride >= size + padding:
        length -= 1
    return length


def conv2d(
    x: FeatureMap,
    C_out: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = False,
) -> tuple[Cost, FeatureMap]:
    """A square `kernel x kernel` convolution of `x` to `C_out` channels."""
    out = FeatureMap(
        C_out,
        output_size(x.height, kernel, stride, padding, dilation),
        output_size(x.width, kernel, stride, padding, dilation),
    )
    per_position = kernel * kernel * (x.channels // groups) * C_out
    params = per_position + (C_out if bias else 0)
    flops = per_position * out.height * out.width + (out.numel if bias else 0)
    return Cost(params, flops), out


def batch_norm(x: FeatureMap, affine: bool = True) -> Cost:
    """BatchNorm over `x`'s channels (the shape is unchanged)."""
    if affine:
        return Cost(2 * x.channels, 2 * x.numel)
    return Cost(0, x.numel)


def relu(x: FeatureMap) -> Cost:
    return Cost(0, x.numel)


def pool2d(
    x: FeatureMap, kernel: int, stride: int, padding: int = 0, ceil_mode: bool = False
) -> tuple[Cost, FeatureMap]:
    """Average or max pooling (both count the same): `kernel * kernel` per output element.

    `ceil_mode` gives the output size that PyTorch's pooling computes with that flag.
    """
    out = FeatureMap(
        x.channels,
        pool_output_size(x.height, kernel, stride, padding, ceil_mode),
        pool_output_size(x.width, kernel, stride, padding, ceil_mode),
    )
    return Cost(0, kernel * kernel * out.numel), out


def global_average_pool(x: FeatureMap) -> Cost:
    """Global average pooling to one value per channel (torchstat's count, see above)."""
    return Cost(0, x.channels * (x.height + 1) * (x.width + 1))


def linear(features_in: int, features_out: int, bias: bool = True) -> Cost:
    return Cost(
        features_in * features_out + (features_out if bias else 0), features_in * features_out
    )
