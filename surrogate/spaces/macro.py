"""`MacroSpace`: a chain of layers, each a categorical choice among named ops.

The simplest space a user can declare: a network is a sequence of layers, and layer `i` picks one
op from its own list (lists may differ between layers, and a layer with one op is fixed). The
architecture value is the tuple of chosen op names; its codes are their indices in each layer's
list; its key is the string form `op1>op2>...`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from surrogate.exceptions import InvalidArchitectureError, SpaceNotEnumerableError
from surrogate.spaces.base import ArchGraph, JSONValue, SearchSpace

MacroArch = tuple[str, ...]
"""One op name per layer."""

ENUMERATION_LIMIT = 10_000_000
"""`MacroSpace.enumerate` refuses spaces larger than this."""

SEPARATOR = ">"


@dataclass(frozen=True)
class MacroLayer:
    """One layer of a macro space: its name and the ops it may choose from."""

    name: str
    ops: tuple[str, ...]


class MacroSpace(SearchSpace[MacroArch]):
    """A chain `input -> layer 1 -> ... -> layer L -> output`, each layer choosing an op.

    Args:
        name: Identifier of the space.
        layers: The layers in order; each op list is non-empty and free of duplicates.
    """

    def __init__(self, name: str, layers: Sequence[MacroLayer]) -> None:
        if not layers:
            raise ValueError("a macro space needs at least one layer")
        for layer in layers:
            if not layer.ops or len(set(layer.ops)) != len(layer.ops):
                raise ValueError(f"layer {layer.name!r}: ops must be non-empty and distinct")
            if any(SEPARATOR in op for op in layer.ops):
                raise ValueError(f"layer {layer.name!r}: op names cannot contain {SEPARATOR!r}")
        self.name = name
        self.layers: tuple[MacroLayer, ...] = tuple(layers)
        self._op_index = [{op: k for k, op in enumerate(layer.ops)} for layer in self.layers]
        vocabulary: dict[str, None] = {}
        for layer in self.layers:
            vocabulary.update(dict.fromkeys(layer.ops))
        self._vocabulary = ("input", "output", *vocabulary)
        self._label = {label: k for k, label in enumerate(self._vocabulary)}

    # --- structure --------------------------------------------------------------------------

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return tuple(len(layer.ops) for layer in self.layers)

    @property
    def node_vocabulary(self) -> tuple[str, ...]:
        """`input`, `output`, then every op of every layer once, in order of first appearance."""
        return self._vocabulary

    @property
    def max_nodes(self) -> int:
        return self.num_layers + 2

    def describe(self) -> dict[str, JSONValue]:
        return {
            "type": "macro",
            "name": self.name,
            "layers": [{"name": layer.name, "ops": list(layer.ops)} for layer in self.layers],
        }

    def size(self) -> int:
        return math.prod(self.cardinalities)

    def enumerate(self) -> Iterator[MacroArch]:
        """Every network in lexicographic order of the codes (the first layer most significant).

        Raises:
            SpaceNotEnumerableError: The space has more than `ENUMERATION_LIMIT` networks.
        """
        if self.size() > ENUMERATION_LIMIT:
            raise SpaceNotEnumerableError(
                f"search space {self.name!r} has {self.size()} networks, more than the "
                f"{ENUMERATION_LIMIT} that can be enumerated"
            )
        return itertools.product(*(layer.ops for layer in self.layers))

    # --- codes, identity, validity ----------------------------------------------------------

    def to_codes(self, arch: MacroArch) -> tuple[int, ...]:
        self.validate(arch)
        return tuple(index[op] for index, op in zip(self._op_index, arch, strict=True))

    def from_codes(self, codes: Sequence[int]) -> MacroArch:
        checked = self.check_codes(codes)
        return tuple(layer.ops[k] for layer, k in zip(self.layers, checked, strict=True))

    def validate(self, arch: MacroArch) -> None:
        if not isinstance(arch, tuple):
            raise InvalidArchitectureError(
                f"{self.name}: a network is a tuple of op names, got {type(arch).__name__}"
            )
        if len(arch) != self.num_layers:
            raise InvalidArchitectureError(
                f"{self.name}: expected {self.num_layers} layers, got {len(arch)}"
            )
        for layer, index, op in zip(self.layers, self._op_index, arch, strict=True):
            if not isinstance(op, str) or op not in index:
                raise InvalidArchitectureError(
                    f"{self.name}: unknown op {op!r} for layer {layer.name!r}; "
                    f"accepted: {', '.join(layer.ops)}"
                )

    def key(self, arch: MacroArch) -> str:
        return self.to_string(arch)

    def to_string(self, arch: MacroArch) -> str:
        """`op1>op2>...` (op names cannot contain `>`; `spec` rejects such names)."""
        self.validate(arch)
        return SEPARATOR.join(arch)

    def from_string(self, text: str) -> MacroArch:
        if not isinstance(text, str):
            raise InvalidArchitectureError(
                f"{self.name}: a network string must be a str, got {type(text).__name__}"
            )
        arch = tuple(text.strip().split(SEPARATOR))
        self.validate(arch)
        return arch

    def to_json(self, arch: MacroArch) -> JSONValue:
        self.validate(arch)
        return {"layers": list(arch)}

    def from_json(self, value: JSONValue) -> MacroArch:
        """Accept `{"layers": [op, ...]}` or the string form `op1>op2>...`."""
        if isinstance(value, str):
            return self.from_string(value)
        if not isinstance(value, dict) or set(value) != {"layers"}:
            raise InvalidArchitectureError(
                f"{self.name}: a network's JSON is {{'layers': [op names]}}, got {value!r}"
            )
        ops = value["layers"]
        if not isinstance(ops, list):
            raise InvalidArchitectureError(
                f"{self.name}: 'layers' must be a list of op names, got {type(ops).__name__}"
            )
        arch = tuple(ops)
        self.validate(arch)
        return arch

    def to_graph(self, arch: MacroArch) -> ArchGraph:
        """`input -> layer nodes (labelled by their op) -> output`, a path graph."""
        self.validate(arch)
        labels = (0, *(self._label[op] for op in arch), 1)
        edges = tuple((k, k + 1) for k in range(len(labels) - 1))
        return ArchGraph(node_labels=labels, edges=edges)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MacroSpace):
            return NotImplemented
        return self.name == other.name and self.layers == other.layers

    def __hash__(self) -> int:
        return hash((self.name, self.layers))

    # --- sampling -----------------------------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> MacroArch:
        """Each layer's op drawn uniformly and independently (uniform over the space)."""
        return tuple(layer.ops[int(rng.integers(len(layer.ops)))] for layer in self.layers)
