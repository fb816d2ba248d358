"""Cost of a macro-space network: a chain of searched layers (`workers.supernets.macro`).

A 3x3 conv-BN-ReLU stem to C channels, the chosen op of every layer (`C -> C`, stride 1),
NAS-Bench-201's residual reduction blocks after the first and second third of the layers
(when there are at least three layers), and a BN-ReLU-pool-linear head.
"""

from __future__ import annotations

from surrogate.costs.counting import Cost
from surrogate.costs.network import NetworkShape, classifier_head, residual_reduction
from surrogate.costs.ops import check_op_names, conv_bn_relu, op_cost
from surrogate.spaces.macro import MacroArch, MacroSpace


def reduction_after(num_layers: int) -> frozenset[int]:
    """Indices of the layers followed by a reduction block (none for fewer than 3 layers)."""
    if num_layers < 3:
        return frozenset()
    return frozenset({num_layers // 3 - 1, (2 * num_layers) // 3 - 1})


def macro_network_cost(space: MacroSpace, arch: MacroArch, network: NetworkShape) -> Cost:
    """Parameters and FLOPs of the network of `arch` (see the module docstring).

    Raises:
        InvalidArchitectureError: `arch` is not in `space`.
        CostModelError: The space names an op the model cannot price.
    """
    space.validate(arch)
    for layer in space.layers:
        check_op_names(layer.ops)
    total, x = conv_bn_relu(network.input, network.channels, 3)
    reductions = reduction_after(space.num_layers)
    for index, op in enumerate(arch):
        cost, x = op_cost(op, x, x.channels)
        total = total + cost
        if index in reductions:
            reduction, x = residual_reduction(x, 2 * x.channels)
            total = total + reduction
    return total + classifier_head(x, network.num_classes)
