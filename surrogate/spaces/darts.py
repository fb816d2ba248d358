"""The DARTS cell space (Liu et al., 2019), the space BONAS searched.

A network stacks a *normal* and a *reduction* cell. Each cell has two inputs, `c_{k-2}` (input
index 0) and `c_{k-1}` (index 1), and 4 intermediate nodes; node `i` (0..3, later referred to
as input index `i + 2`) sums two operations, each applied to a different earlier input, and the
cell's output concatenates the 4 intermediate nodes. A cell is written, as DARTS writes its
genotypes, as 8 `(op, input)` pairs, two per node.

The two pairs of a node are unordered (their sum does not depend on the order), so every
genotype is held in a canonical order, the pairs of each node sorted by input. This makes
equality, keys, codes and distances independent of how a genotype was written.

Codes: for each cell, node and slot, the input index and then the op index (32 positions).
"""

from __future__ import annotations

import ast
import json
import math
import numbers
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from surrogate.exceptions import InvalidArchitectureError, SpaceNotEnumerableError
from surrogate.spaces.base import ArchGraph, JSONValue, SearchSpace

DARTS_OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""The 8 DARTS primitives, in DARTS's order (the op codes index into this)."""

NUM_NODES = 4
INPUTS_PER_NODE = 2
CELL_TYPES: tuple[str, str] = ("normal", "reduce")
CONCAT: tuple[int, ...] = tuple(range(2, 2 + NUM_NODES))

Pair = tuple[str, int]
CellGenotype = tuple[Pair, ...]

_GRAPH_NODES_PER_CELL = 2 + NUM_NODES * INPUTS_PER_NODE + 1


def canonical_cell(cell: Sequence[Pair]) -> CellGenotype:
    """Sort the pairs of every node (consecutive pairs) by input, then op name.

    Works for any number of nodes; a trailing odd pair is left in place (validation rejects it).
    """
    pairs = [(op, inp) for op, inp in cell]
    result: list[Pair] = []
    for start in range(0, len(pairs) - 1, INPUTS_PER_NODE):
        node = pairs[start : start + INPUTS_PER_NODE]
        result.extend(sorted(node, key=lambda pair: (pair[1], pair[0])))
    result.extend(pairs[len(result) :])
    return tuple(result)


def count_cell_genotypes(num_nodes: int, num_ops: int) -> int:
    """Distinct canonical cells with `num_nodes` intermediate nodes and `num_ops` ops.

    Node `i` picks an unordered pair of distinct inputs among `i + 2` and an op for each:
    `C(i + 2, 2) * num_ops**2` choices, independently per node.
    """
    return math.prod(math.comb(i + 2, 2) * num_ops**2 for i in range(num_nodes))


@dataclass(frozen=True)
class DartsGenotype:
    """A DARTS genotype: 8 `(op, input)` pairs per cell, held in canonical order.

    The constructor accepts lists and any slot order and stores tuples in canonical order, so
    that two genotypes that differ only in the order of a node's two inputs are equal. It does
    not check op names or input ranges; `DartsSpace.validate` does.

    Attributes:
        normal: Pairs of the normal cell, two per intermediate node.
        reduce: Pairs of the reduction cell.
    """

    normal: CellGenotype
    reduce: CellGenotype

    def __post_init__(self) -> None:
        for cell_type in CELL_TYPES:
            cell = _coerce_cell(cell_type, getattr(self, cell_type))
            object.__setattr__(self, cell_type, canonical_cell(cell))


def _coerce_cell(cell_type: str, cell: Any) -> CellGenotype:
    if isinstance(cell, str | bytes) or not isinstance(cell, Sequence):
        raise InvalidArchitectureError(
            f"darts: the {cell_type} cell must be a list of (op, input) pairs, got "
            f"{type(cell).__name__}"
        )
    result: list[Pair] = []
    for position, pair in enumerate(cell):
        if (
            isinstance(pair, str | bytes)
            or not isinstance(pair, Sequence)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or not isinstance(pair[1], numbers.Integral)
            or isinstance(pair[1], bool)
        ):
            raise InvalidArchitectureError(
                f"darts: {cell_type} pair {position} must be (op name, input index), got {pair!r}"
            )
        result.append((pair[0], int(pair[1])))
    return tuple(result)


class DartsSpace(SearchSpace[DartsGenotype]):
    """DARTS genotypes (normal and reduction cell, 4 nodes of 2 inputs, 8 ops with `none`)."""

    name = "darts"

    @property
    def cardinalities(self) -> tuple[int, ...]:
        per_cell: list[int] = []
        for node in range(NUM_NODES):
            per_cell += [node + 2, len(DARTS_OPS)] * INPUTS_PER_NODE
        return tuple(per_cell * len(CELL_TYPES))

    @property
    def node_vocabulary(self) -> tuple[str, ...]:
        """Labels per cell type: its two inputs, its 8 ops, its output (22 in all).

        Reduction-cell labels differ from normal-cell ones so that the GCN can tell the cells
        apart in the joint graph; the two inputs differ so that it can tell which op reads which.
        """
        return tuple(
            label
            for cell_type in CELL_TYPES
            for label in (
                f"{cell_type}:c_k-2",
                f"{cell_type}:c_k-1",
                *(f"{cell_type}:{op}" for op in DARTS_OPS),
                f"{cell_type}:output",
            )
        )

    @property
    def max_nodes(self) -> int:
        return _GRAPH_NODES_PER_CELL * len(CELL_TYPES)

    @property
    def zero_labels(self) -> frozenset[int]:
        return frozenset(
            i for i, label in enumerate(self.node_vocabulary) if label.endswith(":none")
        )

    def describe(self) -> dict[str, JSONValue]:
        return {"type": "darts"}

    def size(self) -> int:
        per_cell = count_cell_genotypes(NUM_NODES, len(DARTS_OPS))
        return math.prod(per_cell for _ in CELL_TYPES)

    def enumerate(self) -> Iterator[DartsGenotype]:
        raise SpaceNotEnumerableError(
            f"the DARTS space holds {self.size():,} genotypes; it cannot be enumerated"
        )

    # --- validity and identity --------------------------------------------------------------

    def validate(self, arch: DartsGenotype) -> None:
        if not isinstance(arch, DartsGenotype):
            raise InvalidArchitectureError(
                f"darts: expected a DartsGenotype, got {type(arch).__name__}"
            )
        for cell_type in CELL_TYPES:
            _check_cell(cell_type, getattr(arch, cell_type))

    def key(self, arch: DartsGenotype) -> str:
        """Readable canonical text, e.g. `normal=sep_conv_3x3@0+sep_conv_3x3@1|...;reduce=...`.

        `from_key` parses it back.
        """
        return ";".join(
            f"{cell_type}=" + _cell_text(getattr(arch, cell_type)) for cell_type in CELL_TYPES
        )

    def from_key(self, key: str) -> DartsGenotype:
        """Inverse of `key`.

        Raises:
            InvalidArchitectureError: The text is not a key of this space.
        """
        cells: dict[str, list[Pair]] = {}
        parts = key.strip().split(";")
        if len(parts) != len(CELL_TYPES):
            raise InvalidArchitectureError(
                f"darts: a key has the parts 'normal=...;reduce=...', got {key!r}"
            )
        for part in parts:
            cell_type, _, body = part.partition("=")
            pairs: list[Pair] = []
            for node in body.split("|"):
                for item in node.split("+"):
                    op, _, inp = item.partition("@")
                    if not inp.isdigit():
                        raise InvalidArchitectureError(f"darts: malformed key {key!r}")
                    pairs.append((op, int(inp)))
            cells[cell_type] = pairs
        if sorted(cells) != sorted(CELL_TYPES):
            raise InvalidArchitectureError(
                f"darts: a key has the parts 'normal=...;reduce=...', got {key!r}"
            )
        genotype = DartsGenotype(tuple(cells["normal"]), tuple(cells["reduce"]))
        self.validate(genotype)
        return genotype

    # --- codes ------------------------------------------------------------------------------

    def to_codes(self, arch: DartsGenotype) -> tuple[int, ...]:
        codes: list[int] = []
        for cell_type in CELL_TYPES:
            for op, inp in getattr(arch, cell_type):
                codes += [inp, DARTS_OPS.index(op)]
        return tuple(codes)

    def from_codes(self, codes: Sequence[int]) -> DartsGenotype:
        checked = self.check_codes(codes)
        per_cell = len(checked) // len(CELL_TYPES)
        cells: list[CellGenotype] = []
        for c in range(len(CELL_TYPES)):
            chunk = checked[c * per_cell : (c + 1) * per_cell]
            cells.append(tuple((DARTS_OPS[chunk[k + 1]], chunk[k]) for k in range(0, per_cell, 2)))
        genotype = DartsGenotype(cells[0], cells[1])
        self.validate(genotype)
        return genotype

    def distance(self, a: DartsGenotype, b: DartsGenotype) -> int:
        """Code positions that differ, with each node's two pairs matched in the best order.

        Plain Hamming distance on canonical codes would count a single changed input twice
        whenever the change re-orders the node's pairs; matching the pairs avoids that, and
        genotypes that differ only in slot order are at distance 0.
        """
        total = 0
        for cell_type in CELL_TYPES:
            cell_a, cell_b = getattr(a, cell_type), getattr(b, cell_type)
            for start in range(0, len(cell_a), INPUTS_PER_NODE):
                (p, q), (r, s) = cell_a[start : start + 2], cell_b[start : start + 2]
                total += min(
                    _pair_diff(p, r) + _pair_diff(q, s), _pair_diff(p, s) + _pair_diff(q, r)
                )
        return total

    # --- graph and JSON ---------------------------------------------------------------------

    def to_graph(self, arch: DartsGenotype) -> ArchGraph:
        """BONAS's DARTS encoding, both cells in one graph (disjoint union, 22 nodes).

        Per cell: nodes 0 and 1 are the inputs, nodes `2 + 2i + s` hold the op of node `i`,
        slot `s`, and node 10 is the output, fed by all 8 op nodes. An op that reads
        intermediate node `j` is fed by both op nodes of node `j`.
        """
        labels: list[int] = []
        edges: list[tuple[int, int]] = []
        for c, cell_type in enumerate(CELL_TYPES):
            base = c * _GRAPH_NODES_PER_CELL
            vocab_base = c * _GRAPH_NODES_PER_CELL
            output = base + _GRAPH_NODES_PER_CELL - 1
            labels += [vocab_base, vocab_base + 1]
            for slot, (op, inp) in enumerate(getattr(arch, cell_type)):
                node = base + 2 + slot
                labels.append(vocab_base + 2 + DARTS_OPS.index(op))
                if inp < 2:
                    edges.append((base + inp, node))
                else:
                    first = base + 2 + INPUTS_PER_NODE * (inp - 2)
                    edges += [(first + k, node) for k in range(INPUTS_PER_NODE)]
                edges.append((node, output))
            labels.append(vocab_base + _GRAPH_NODES_PER_CELL - 1)
        return ArchGraph(tuple(labels), tuple(sorted(edges)))

    def to_json(self, arch: DartsGenotype) -> JSONValue:
        """The DARTS `Genotype` layout: pairs as `[op, input]` lists, concat `[2, 3, 4, 5]`."""
        result: dict[str, JSONValue] = {}
        for cell_type in CELL_TYPES:
            result[cell_type] = [[op, inp] for op, inp in getattr(arch, cell_type)]
            result[f"{cell_type}_concat"] = list(CONCAT)
        return result

    def from_json(self, value: JSONValue) -> DartsGenotype:
        """Parse a genotype from JSON, a DARTS genotype string, or a key.

        Accepted: the object `to_json` writes (the `*_concat` fields are optional but must be
        `[2, 3, 4, 5]` when given; each cell may also be 4 lists of 2 pairs); its JSON text;
        DARTS's printed form `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3,
        4, 5], reduce=[...], reduce_concat=range(2, 6))`, parsed without `eval`; and `key`.
        """
        if isinstance(value, str):
            text = value.strip()
            if re.match(r"^(?:\w+\.)*Genotype\s*\(", text):
                value = parse_genotype_text(text)
            elif text.startswith("normal="):
                return self.from_key(text)
            else:
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as error:
                    raise InvalidArchitectureError(
                        f"darts: text is neither a Genotype(...) string, a key nor JSON ({error})"
                    ) from None
        if not isinstance(value, dict):
            raise InvalidArchitectureError(
                f'darts: expected an object {{"normal": [...], "reduce": [...]}}, got '
                f"{type(value).__name__}"
            )
        allowed = {*CELL_TYPES, *(f"{c}_concat" for c in CELL_TYPES)}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise InvalidArchitectureError(
                f"darts: unknown fields {unknown}; accepted: {sorted(allowed)}"
            )
        cells: list[Any] = []
        for cell_type in CELL_TYPES:
            if cell_type not in value:
                raise InvalidArchitectureError(f"darts: the genotype has no {cell_type!r} cell")
            concat = value.get(f"{cell_type}_concat")
            if concat is not None and list(concat) != list(CONCAT):
                raise InvalidArchitectureError(
                    f"darts: {cell_type}_concat must be {list(CONCAT)} (every intermediate node "
                    f"is concatenated), got {concat!r}"
                )
            cells.append(_flatten_nodes(value[cell_type]))
        genotype = DartsGenotype(cells[0], cells[1])
        self.validate(genotype)
        return genotype

    def to_genotype_text(self, arch: DartsGenotype) -> str:
        """DARTS's printed `Genotype(...)` form, as DARTS training scripts read it."""
        parts = []
        for cell_type in CELL_TYPES:
            pairs = ", ".join(f"({op!r}, {inp})" for op, inp in getattr(arch, cell_type))
            parts.append(f"{cell_type}=[{pairs}], {cell_type}_concat={list(CONCAT)}")
        return f"Genotype({', '.join(parts)})"

    # --- sampling -----------------------------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> DartsGenotype:
        """Uniform over distinct genotypes: each node draws 2 distinct inputs and 2 ops.

        Every unordered pair of (input, op) choices arises from exactly two ordered draws, so
        canonical genotypes are equally likely.
        """
        cells: list[CellGenotype] = []
        for _ in CELL_TYPES:
            pairs: list[Pair] = []
            for node in range(NUM_NODES):
                inputs = rng.choice(node + 2, size=INPUTS_PER_NODE, replace=False)
                ops = rng.integers(len(DARTS_OPS), size=INPUTS_PER_NODE)
                pairs += [(DARTS_OPS[int(o)], int(i)) for i, o in zip(inputs, ops, strict=True)]
            cells.append(tuple(pairs))
        return DartsGenotype(cells[0], cells[1])


# --- helpers -------------------------------------------------------------------------------------


def _pair_diff(a: Pair, b: Pair) -> int:
    return int(a[0] != b[0]) + int(a[1] != b[1])


def _cell_text(cell: CellGenotype) -> str:
    nodes = [cell[k : k + INPUTS_PER_NODE] for k in range(0, len(cell), INPUTS_PER_NODE)]
    return "|".join("+".join(f"{op}@{inp}" for op, inp in node) for node in nodes)


def _check_cell(cell_type: str, cell: CellGenotype) -> None:
    expected = NUM_NODES * INPUTS_PER_NODE
    if len(cell) != expected:
        raise InvalidArchitectureError(
            f"darts: the {cell_type} cell needs {expected} (op, input) pairs "
            f"({INPUTS_PER_NODE} per node for {NUM_NODES} nodes), got {len(cell)}"
        )
    for node in range(NUM_NODES):
        pairs = cell[INPUTS_PER_NODE * node : INPUTS_PER_NODE * (node + 1)]
        for op, inp in pairs:
            if op not in DARTS_OPS:
                raise InvalidArchitectureError(
                    f"darts: unknown op {op!r} in the {cell_type} cell, node {node + 2}; "
                    f"accepted: {', '.join(DARTS_OPS)}"
                )
            if not 0 <= inp < node + 2:
                raise InvalidArchitectureError(
                    f"darts: {cell_type} cell node {node + 2} reads input {inp}; it may read "
                    f"only inputs 0 .. {node + 1} (the cell inputs and earlier nodes)"
                )
        inputs = [inp for _, inp in pairs]
        if len(set(inputs)) != len(inputs):
            raise InvalidArchitectureError(
                f"darts: {cell_type} cell node {node + 2} reads input {inputs[0]} twice; the two "
                "inputs of a node must be different"
            )


def _flatten_nodes(cell: Any) -> Any:
    """Accept a cell written as 4 nodes of 2 pairs, as some DARTS variants print it."""
    if (
        isinstance(cell, list | tuple)
        and len(cell) == NUM_NODES
        and all(
            isinstance(node, list | tuple)
            and len(node) == INPUTS_PER_NODE
            and all(isinstance(pair, list | tuple) for pair in node)
            for node in cell
        )
    ):
        return [tuple(pair) for node in cell for pair in node]
    if isinstance(cell, list | tuple):
        return [tuple(pair) if isinstance(pair, list) else pair for pair in cell]
    return cell


_RANGE = re.compile(r"^range\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def parse_genotype_text(text: str) -> dict[str, Any]:
    """Parse DARTS's printed `Genotype(normal=..., normal_concat=..., ...)` without `eval`.

    Field values are read with `ast.literal_eval`; `range(a, b)` (what DARTS prints for the
    concat fields) is read as the list it stands for.

    Raises:
        InvalidArchitectureError: The text is not of that form.
    """
    match = re.fullmatch(r"\s*(?:\w+\.)*Genotype\s*\((.*)\)\s*", text, flags=re.DOTALL)
    if match is None:
        raise InvalidArchitectureError(f"darts: not a Genotype(...) string: {text[:80]!r}")
    fields: dict[str, Any] = {}
    for argument in _split_top_level(match.group(1)):
        name, equals, raw = argument.partition("=")
        name, raw = name.strip(), raw.strip()
        if not equals or not name.isidentifier():
            raise InvalidArchitectureError(
                f"darts: Genotype(...) fields must be written name=value, got {argument.strip()!r}"
            )
        if name in fields:
            raise InvalidArchitectureError(f"darts: field {name!r} is given twice")
        range_match = _RANGE.match(raw)
        if range_match:
            fields[name] = list(range(int(range_match[1]), int(range_match[2])))
            continue
        try:
            fields[name] = ast.literal_eval(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise InvalidArchitectureError(
                f"darts: cannot read the value of {name!r}: {raw[:80]!r}"
            ) from None
    return fields


def _split_top_level(body: str) -> list[str]:
    """Split at the commas that are outside brackets and string literals."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    for index, char in enumerate(body):
        if quote is not None:
            if char == quote and body[index - 1] != "\\":
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:index])
            start = index + 1
    if body[start:].strip():
        parts.append(body[start:])
    return [part for part in parts if part.strip()]
