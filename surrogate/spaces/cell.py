"""`CellSpace`: a NAS-Bench-201-style cell, a complete DAG whose edges each choose an operation.

A cell has `num_nodes` nodes: node 0 is the cell's input, the last node its output, and every
node `j > 0` sums the results of one edge from each earlier node `i < j`. Every edge picks one op
from the space's list, so the space is the Cartesian product of `num_edges` categorical choices.
NAS-Bench-201 is the instance with 4 nodes and 5 ops (`surrogate.spaces.nb201`); users declare
others as data (`surrogate.spaces.spec`).

Edge order, used by the architecture tuple and its codes, sorts edges by target then source:
for 4 nodes `(0->1, 0->2, 1->2, 0->3, 1->3, 2->3)`. This is the order in which the official
NAS-Bench-201 string lists them, so the string and the tuple read alike.

Two op names carry meaning beyond a label:

* `none` (also `zero`) is the zero op: the edge contributes nothing. It decides whether the
  output is reachable (`output_reachable`) and feeds the isomorphism rule.
* `skip_connect` (also `skip`, `identity`) is the identity op, used by the isomorphism rule only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np

from surrogate.exceptions import InvalidArchitectureError, SpaceNotEnumerableError
from surrogate.spaces.base import ArchGraph, JSONValue, SearchSpace

CellArch = tuple[str, ...]
"""One op name per edge, in edge order (target, then source)."""

ZERO_OPS = frozenset({"none", "zero"})
"""Op names treated as the zero op (the edge is absent)."""

IDENTITY_OPS = frozenset({"skip_connect", "skip", "identity"})
"""Op names treated as the identity op by `CellSpace.isomorphism_key`."""

ENUMERATION_LIMIT = 10_000_000
"""`CellSpace.enumerate` refuses spaces larger than this (listing them would never finish)."""

RESERVED_CHARACTERS = "|+~"
"""Characters of the string form, which op names cannot contain."""

INPUT_LABEL = "input"
OUTPUT_LABEL = "output"


def cell_edges(num_nodes: int) -> tuple[tuple[int, int], ...]:
    """All `(source, target)` pairs with `source < target`, sorted by target, then source."""
    return tuple((i, j) for j in range(1, num_nodes) for i in range(j))


class CellSpace(SearchSpace[CellArch]):
    """A complete cell DAG with one categorical op choice per edge.

    Args:
        name: Identifier of the space.
        num_nodes: Nodes of the cell, input and output included (at least 2).
        ops: Op names, in the order that the codes use (code `k` means `ops[k]`).

    The architecture value is a tuple of op names in edge order; its codes are the op indices;
    its key is the string form (`to_string`).
    """

    def __init__(self, name: str, num_nodes: int, ops: Sequence[str]) -> None:
        if num_nodes < 2:
            raise ValueError(f"a cell needs at least 2 nodes, got {num_nodes}")
        if not ops or len(set(ops)) != len(ops):
            raise ValueError(f"ops must be a non-empty list of distinct names, got {list(ops)}")
        if any(char in op for op in ops for char in RESERVED_CHARACTERS):
            raise ValueError(f"op names cannot contain any of {RESERVED_CHARACTERS!r}: {list(ops)}")
        self.name = name
        self.num_nodes = num_nodes
        self.ops: tuple[str, ...] = tuple(ops)
        self.edges = cell_edges(num_nodes)
        self._op_index = {op: k for k, op in enumerate(self.ops)}
        self._zero_ops = ZERO_OPS.intersection(self.ops)

    # --- structure --------------------------------------------------------------------------

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return (len(self.ops),) * self.num_edges

    @property
    def node_vocabulary(self) -> tuple[str, ...]:
        return (INPUT_LABEL, OUTPUT_LABEL, *self.ops)

    @property
    def max_nodes(self) -> int:
        return self.num_edges + 2

    @property
    def zero_labels(self) -> frozenset[int]:
        vocabulary = self.node_vocabulary
        return frozenset(i for i, label in enumerate(vocabulary) if i >= 2 and label in ZERO_OPS)

    def describe(self) -> dict[str, JSONValue]:
        return {
            "type": "cell",
            "name": self.name,
            "num_nodes": self.num_nodes,
            "ops": list(self.ops),
        }

    def size(self) -> int:
        return cell_space_size(self.num_nodes, len(self.ops))

    def enumerate(self) -> Iterator[CellArch]:
        """Every cell in lexicographic order of the codes (the first edge most significant).

        Raises:
            SpaceNotEnumerableError: The space has more than `ENUMERATION_LIMIT` cells.
        """
        if self.size() > ENUMERATION_LIMIT:
            raise SpaceNotEnumerableError(
                f"search space {self.name!r} has {self.size()} cells, more than the "
                f"{ENUMERATION_LIMIT} that can be enumerated"
            )
        ops = self.ops
        return (tuple(ops[k] for k in codes) for codes in self._enumerate_codes())

    def _enumerate_codes(self) -> Iterator[tuple[int, ...]]:
        return itertools.product(range(len(self.ops)), repeat=self.num_edges)

    # --- codes, identity, validity ----------------------------------------------------------

    def to_codes(self, arch: CellArch) -> tuple[int, ...]:
        self.validate(arch)
        return tuple(self._op_index[op] for op in arch)

    def from_codes(self, codes: Sequence[int]) -> CellArch:
        return tuple(self.ops[k] for k in self.check_codes(codes))

    def validate(self, arch: CellArch) -> None:
        if not isinstance(arch, tuple):
            raise InvalidArchitectureError(
                f"{self.name}: a cell is a tuple of op names, got {type(arch).__name__}"
            )
        if len(arch) != self.num_edges:
            raise InvalidArchitectureError(
                f"{self.name}: a cell has {self.num_edges} edges, got {len(arch)} ops"
            )
        for position, op in enumerate(arch):
            if not isinstance(op, str) or op not in self._op_index:
                source, target = self.edges[position]
                raise InvalidArchitectureError(
                    f"{self.name}: unknown op {op!r} on edge {source}->{target}; "
                    f"accepted: {', '.join(self.ops)}"
                )

    def key(self, arch: CellArch) -> str:
        return self.to_string(arch)

    # --- string and JSON forms --------------------------------------------------------------

    def to_string(self, arch: CellArch) -> str:
        """The NAS-Bench-201 string: `|op~0|+|op~0|op~1|+...`, block `k` = edges into node `k`."""
        self.validate(arch)
        blocks: list[list[str]] = [[] for _ in range(self.num_nodes - 1)]
        for (source, target), op in zip(self.edges, arch, strict=True):
            blocks[target - 1].append(f"{op}~{source}")
        return "+".join("|" + "|".join(block) + "|" for block in blocks)

    def from_string(self, text: str) -> CellArch:
        """Parse the string form written by `to_string`.

        Raises:
            InvalidArchitectureError: The text is malformed or names an unknown op.
        """
        if not isinstance(text, str):
            raise InvalidArchitectureError(
                f"{self.name}: a cell string must be a str, got {type(text).__name__}"
            )
        expected_form = self._string_template()
        blocks = text.strip().split("+")
        if len(blocks) != self.num_nodes - 1:
            raise InvalidArchitectureError(
                f"{self.name}: expected {self.num_nodes - 1} '+'-separated blocks like "
                f"{expected_form!r}, got {len(blocks)} in {text!r}"
            )
        arch: list[str] = []
        for target, block in enumerate(blocks, start=1):
            if len(block) < 2 or not (block.startswith("|") and block.endswith("|")):
                raise InvalidArchitectureError(
                    f"{self.name}: block {target} of {text!r} must start and end with '|'"
                )
            tokens = block[1:-1].split("|")
            if len(tokens) != target:
                raise InvalidArchitectureError(
                    f"{self.name}: block {target} of {text!r} must list {target} edge(s) "
                    f"into node {target}, got {len(tokens)}"
                )
            for source, token in enumerate(tokens):
                op, sep, source_text = token.rpartition("~")
                if not sep or source_text != str(source):
                    raise InvalidArchitectureError(
                        f"{self.name}: token {token!r} in block {target} of {text!r} must read "
                        f"'<op>~{source}'"
                    )
                arch.append(op)
        result = tuple(arch)
        self.validate(result)
        return result

    def _string_template(self) -> str:
        blocks = (
            "|" + "|".join(f"op~{i}" for i in range(j)) + "|" for j in range(1, self.num_nodes)
        )
        return "+".join(blocks)

    def to_json(self, arch: CellArch) -> JSONValue:
        return {"cell": self.to_string(arch)}

    def from_json(self, value: JSONValue) -> CellArch:
        """Accept `{"cell": "<string>"}` or the bare string."""
        if isinstance(value, dict):
            if set(value) != {"cell"}:
                raise InvalidArchitectureError(
                    f"{self.name}: a cell's JSON is {{'cell': '<string>'}}, "
                    f"got keys {sorted(value)}"
                )
            value = value["cell"]
        if not isinstance(value, str):
            raise InvalidArchitectureError(
                f"{self.name}: expected {{'cell': '<string>'}} or a string, "
                f"got {type(value).__name__}"
            )
        return self.from_string(value)

    # --- graph and semantics ----------------------------------------------------------------

    def to_graph(self, arch: CellArch) -> ArchGraph:
        """BONAS's ops-on-nodes graph: input, one node per edge (labelled by its op), output.

        Graph node 0 is the input, node `e + 1` the op of edge `e`, the last node the output. The
        op node of edge `i->j` is fed by the op nodes of the edges entering `i` (by the input
        when `i == 0`) and feeds the output when `j` is the cell's output node.

        A `none` edge stays in the graph as a node labelled `none`, as in BONAS's encoding: every
        cell of a space then has the same topology, and the GCN learns from the label that the
        node contributes nothing. Reachability is a separate question (`output_reachable`).
        """
        self.validate(arch)
        output_node = self.num_edges + 1
        label_offset = 2
        labels = [0] + [label_offset + self._op_index[op] for op in arch] + [1]
        edges: list[tuple[int, int]] = []
        for e, (source, target) in enumerate(self.edges):
            if source == 0:
                edges.append((0, e + 1))
            else:
                edges.extend((f + 1, e + 1) for f, (_, t) in enumerate(self.edges) if t == source)
            if target == self.num_nodes - 1:
                edges.append((e + 1, output_node))
        return ArchGraph(node_labels=tuple(labels), edges=tuple(sorted(edges)))

    def output_reachable(self, arch: CellArch) -> bool:
        """Whether a path of non-zero edges leads from the input to the output.

        Cells where it does not compute a constant; NAS-Bench-201 scores them at chance level.
        """
        self.validate(arch)
        reached = [False] * self.num_nodes
        reached[0] = True
        for (source, target), op in zip(self.edges, arch, strict=True):
            if reached[source] and op not in self._zero_ops:
                reached[target] = True
        return reached[-1]

    def isomorphism_key(self, arch: CellArch) -> str:
        """NAS-Bench-201's rule for cells that compute the same function (6,466 classes there).

        Each node is written as an expression over the input `0`: an edge with the zero op, or
        whose source is exactly zero, contributes `#`; an identity edge contributes its source's
        expression unchanged; any other op contributes `(<source>)@<op>`. A node is the sorted
        contributions of its incoming edges joined by `+`, so the order of a sum does not matter.
        The key is the output node's expression. It reproduces the benchmark's own
        `unique_str` text: sums are not flattened and `#` terms are kept, which is why the rule
        tells apart some cells that compute the same function.
        """
        self.validate(arch)
        expressions = ["0"]
        for target in range(1, self.num_nodes):
            terms = [
                self._term(op, expressions[source])
                for (source, edge_target), op in zip(self.edges, arch, strict=True)
                if edge_target == target
            ]
            expressions.append("+".join(sorted(terms)))
        return expressions[-1]

    @staticmethod
    def _term(op: str, source_expression: str) -> str:
        """One edge's contribution to its target in `isomorphism_key`."""
        if op in ZERO_OPS or source_expression == "#":
            return "#"
        if op in IDENTITY_OPS:
            return source_expression
        return f"({source_expression})@{op}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CellSpace):
            return NotImplemented
        return type(self) is type(other) and self.describe() == other.describe()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name, self.num_nodes, self.ops))

    # --- sampling -----------------------------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> CellArch:
        """A cell with each edge's op drawn uniformly and independently (uniform over the space)."""
        return tuple(self.ops[int(k)] for k in rng.integers(len(self.ops), size=self.num_edges))


def cell_space_size(num_nodes: int, num_ops: int) -> int:
    """`num_ops ** (num_nodes * (num_nodes - 1) / 2)`, without building the space."""
    return math.prod([num_ops] * math.comb(num_nodes, 2))
