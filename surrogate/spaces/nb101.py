"""The NAS-Bench-101 cell space (Ying et al., 2019).

A cell is a DAG of at most 7 vertices and 9 edges given by an upper-triangular adjacency matrix;
the first vertex is the input, the last the output, and each interior vertex applies one of three
operations. Many raw specifications describe the same network: vertices that lie on no path from
the input to the output do nothing, and relabelling the interior vertices changes nothing. We
therefore hold every cell *pruned* exactly as NAS-Bench-101's `ModelSpec` prunes it, and use
NAS-Bench-101's own module hash as the canonical key, so that our results join the official
benchmark table row for row and isomorphic cells share one key.

The codes embed a pruned cell of `n` vertices in the 7-vertex form (its vertices at positions
`0 .. n-2`, its output at position 6, the unused positions isolated) and list the 21 bits of the
strict upper triangle, row by row, followed by the op index of each of the 5 interior positions.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from surrogate.exceptions import InvalidArchitectureError
from surrogate.spaces.base import ArchGraph, JSONValue, SearchSpace, reachable

INPUT = "input"
OUTPUT = "output"
NB101_OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
"""Interior operations, in the order whose index labels vertices in the module hash."""

MAX_VERTICES = 7
MAX_EDGES = 9
NB101_UNIQUE_CELLS = 423_624
"""Number of distinct cells (by module hash) reported by the NAS-Bench-101 paper."""

_TRIANGLE: tuple[tuple[int, int], ...] = tuple(
    (i, j) for i in range(MAX_VERTICES) for j in range(i + 1, MAX_VERTICES)
)
_NUM_INTERIOR = MAX_VERTICES - 2

Matrix = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class NB101Cell:
    """A NAS-Bench-101 cell: adjacency matrix and one op per vertex.

    Values produced by `NasBench101Space` are always pruned (every vertex lies on a path from
    the input to the output). Lists are accepted and stored as tuples so the value is hashable.

    Attributes:
        matrix: `matrix[i][j] == 1` when vertex `i` feeds vertex `j`; shape `(n, n)`.
        ops: `n` labels: `"input"`, interior ops from `NB101_OPS`, then `"output"`.
    """

    matrix: Matrix
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        try:
            matrix = tuple(tuple(int(x) for x in row) for row in self.matrix)
        except (TypeError, ValueError) as error:
            raise InvalidArchitectureError(
                f"nb101: the adjacency matrix must be a list of lists of 0/1 integers ({error})"
            ) from None
        if isinstance(self.ops, str) or not all(isinstance(op, str) for op in self.ops):
            raise InvalidArchitectureError("nb101: ops must be a list of op names (strings)")
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "ops", tuple(self.ops))

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return sum(sum(row) for row in self.matrix)


# --- NAS-Bench-101's algorithms ------------------------------------------------------------------


def nb101_module_hash(matrix: Sequence[Sequence[int]], labels: Sequence[int]) -> str:
    """NAS-Bench-101's graph fingerprint (a Weisfeiler-Lehman-style iterated MD5).

    Each vertex starts from the MD5 of the text of `(out_degree, in_degree, label)`; then, as
    many times as there are vertices, every vertex's hash becomes (all at once) the MD5 of its
    in-neighbours' sorted hashes, `|`, its out-neighbours' sorted hashes, `|`, its own hash.
    The fingerprint is the MD5 of the text of the sorted list of final hashes. It is invariant
    under relabelling of the vertices.

    Args:
        matrix: Adjacency matrix, shape `(n, n)`.
        labels: One integer label per vertex (NAS-Bench-101 uses -1 input, -2 output, op index).

    Returns:
        32 hexadecimal characters.
    """
    n = len(labels)
    in_degree = [sum(int(matrix[w][v]) for w in range(n)) for v in range(n)]
    out_degree = [sum(int(matrix[v][w]) for w in range(n)) for v in range(n)]
    hashes = [_md5(str((out_degree[v], in_degree[v], int(labels[v])))) for v in range(n)]
    predecessors = [[w for w in range(n) if matrix[w][v]] for v in range(n)]
    successors = [[w for w in range(n) if matrix[v][w]] for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5(
                "".join(sorted(hashes[w] for w in predecessors[v]))
                + "|"
                + "".join(sorted(hashes[w] for w in successors[v]))
                + "|"
                + hashes[v]
            )
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


@functools.cache
def _full_matrices(n: int) -> np.ndarray:
    """Every `n`-vertex adjacency that needs no pruning, as `(count, n, n)` int8 matrices.

    Upper-triangular, at most `MAX_EDGES` edges, and every interior vertex has an edge in and
    an edge out (so, in a DAG numbered in topological order, every vertex lies on a path from
    the input to the output). Found by testing all `2^(n(n-1)/2)` matrices at once: two million
    for `n = 7`, under a second, once per process.
    """
    triangle = [(i, j) for i in range(n) for j in range(i + 1, n)]
    codes = np.arange(2 ** len(triangle), dtype=np.int64)
    bits = ((codes[:, None] >> np.arange(len(triangle))) & 1).astype(np.int8)
    keep = bits.sum(1) <= MAX_EDGES
    for v in range(1, n - 1):
        into = [k for k, (_, j) in enumerate(triangle) if j == v]
        out_of = [k for k, (i, _) in enumerate(triangle) if i == v]
        keep &= bits[:, into].any(1) & bits[:, out_of].any(1)
    if n == 2:
        keep &= bits[:, 0] == 1  # the input feeds the output
    chosen = bits[keep]
    matrices = np.zeros((len(chosen), n, n), dtype=np.int8)
    for k, (i, j) in enumerate(triangle):
        matrices[:, i, j] = chosen[:, k]
    return matrices


@functools.cache
def _size_weights() -> np.ndarray:
    """Probability of each vertex count (2 to 7) under uniform sampling of full specifications.

    A full `n`-vertex matrix takes `3^(n - 2)` op labellings, so sizes are weighed by
    `len(_full_matrices(n)) * 3^(n - 2)`: 90 % of draws have 7 vertices, 10 % six.
    """
    counts = np.array(
        [len(_full_matrices(n)) * len(NB101_OPS) ** (n - 2) for n in range(2, MAX_VERTICES + 1)],
        dtype=np.float64,
    )
    weights: np.ndarray = counts / counts.sum()
    return weights


def prune(matrix: Matrix, ops: tuple[str, ...]) -> tuple[Matrix, tuple[str, ...]] | None:
    """Remove the vertices that lie on no input-to-output path, as `ModelSpec` does.

    Edges are kept as they are; only vertices go. The matrix must be upper triangular.

    Returns:
        The pruned `(matrix, ops)`, or `None` when the output is unreachable from the input.
    """
    n = len(ops)
    from_input = reachable([0], lambda v: (w for w in range(v + 1, n) if matrix[v][w]))
    to_output = reachable([n - 1], lambda v: (w for w in range(v) if matrix[w][v]))
    keep = [v for v in range(n) if v in from_input and v in to_output]
    if len(keep) < 2:
        return None
    pruned = tuple(tuple(matrix[i][j] for j in keep) for i in keep)
    return pruned, tuple(ops[v] for v in keep)


# --- the space ---------------------------------------------------------------------------------


class NasBench101Space(SearchSpace[NB101Cell]):
    """NAS-Bench-101 cells, pruned, keyed by the official module hash."""

    name = "nb101"

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return (2,) * len(_TRIANGLE) + (len(NB101_OPS),) * _NUM_INTERIOR

    @property
    def node_vocabulary(self) -> tuple[str, ...]:
        return (INPUT, OUTPUT, *NB101_OPS)

    @property
    def max_nodes(self) -> int:
        return MAX_VERTICES

    def describe(self) -> dict[str, JSONValue]:
        return {"type": "nb101"}

    def size(self) -> int:
        return NB101_UNIQUE_CELLS

    # --- construction and validity ----------------------------------------------------------

    def from_unpruned(self, matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> NB101Cell:
        """Prune a raw specification (any matrix NAS-Bench-101's `ModelSpec` accepts).

        Raises:
            InvalidArchitectureError: The specification is malformed, its output is unreachable,
                or the pruned cell has more than 7 vertices or 9 edges.
        """
        raw = NB101Cell(tuple(tuple(row) for row in matrix), tuple(ops))
        _check_structure(raw)
        pruned = prune(raw.matrix, raw.ops)
        if pruned is None:
            raise InvalidArchitectureError(
                "nb101: the output is unreachable from the input (disconnected cell)"
            )
        cell = NB101Cell(*pruned)
        _check_size(cell)
        return cell

    def validate(self, arch: NB101Cell) -> None:
        if not isinstance(arch, NB101Cell):
            raise InvalidArchitectureError(
                f"nb101: expected an NB101Cell, got {type(arch).__name__}"
            )
        _check_structure(arch)
        pruned = prune(arch.matrix, arch.ops)
        if pruned is None:
            raise InvalidArchitectureError(
                "nb101: the output is unreachable from the input (disconnected cell)"
            )
        if len(pruned[1]) != arch.num_vertices:
            dead = _dead_vertices(arch)
            raise InvalidArchitectureError(
                f"nb101: vertices {dead} lie on no input->output path; cells are held pruned "
                "(use NasBench101Space.from_unpruned to prune a raw specification)"
            )
        _check_size(arch)

    def key(self, arch: NB101Cell) -> str:
        """NAS-Bench-101's module hash of the (pruned) cell."""
        labels = [-1] + [NB101_OPS.index(op) for op in arch.ops[1:-1]] + [-2]
        return nb101_module_hash(arch.matrix, labels)

    # --- codes ------------------------------------------------------------------------------

    def to_codes(self, arch: NB101Cell) -> tuple[int, ...]:
        n = arch.num_vertices
        position = [*range(n - 1), MAX_VERTICES - 1]
        full = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
        for i in range(n):
            for j in range(n):
                if arch.matrix[i][j]:
                    full[position[i]][position[j]] = 1
        op_codes = [0] * _NUM_INTERIOR
        for v in range(1, n - 1):
            op_codes[v - 1] = NB101_OPS.index(arch.ops[v])
        return tuple(full[i][j] for i, j in _TRIANGLE) + tuple(op_codes)

    def from_codes(self, codes: Sequence[int]) -> NB101Cell:
        matrix, ops = _spec_from_codes(self.check_codes(codes))
        return self.from_unpruned(matrix, ops)

    # --- graph and JSON ---------------------------------------------------------------------

    def to_graph(self, arch: NB101Cell) -> ArchGraph:
        vocabulary = self.node_vocabulary
        n = arch.num_vertices
        edges = tuple((i, j) for i in range(n) for j in range(n) if arch.matrix[i][j])
        return ArchGraph(tuple(vocabulary.index(op) for op in arch.ops), edges)

    def to_json(self, arch: NB101Cell) -> JSONValue:
        return {"matrix": [list(row) for row in arch.matrix], "ops": list(arch.ops)}

    def from_json(self, value: JSONValue) -> NB101Cell:
        """Parse `{"matrix": [[...]], "ops": [...]}` (a raw spec is pruned).

        The field names of NAS-Bench-101's own records, `module_adjacency` and
        `module_operations`, are accepted too, and so is the JSON text of either form.
        """
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise InvalidArchitectureError(f"nb101: invalid JSON text ({error})") from None
        if not isinstance(value, dict):
            raise InvalidArchitectureError(
                f'nb101: expected an object {{"matrix": [[...]], "ops": [...]}}, got '
                f"{type(value).__name__}"
            )
        matrix = value.get("matrix", value.get("module_adjacency"))
        ops = value.get("ops", value.get("module_operations"))
        if matrix is None or ops is None:
            raise InvalidArchitectureError(
                f'nb101: the object needs "matrix" and "ops", got keys {sorted(value)}'
            )
        if not isinstance(matrix, list | tuple) or not all(
            isinstance(row, list | tuple) for row in matrix
        ):
            raise InvalidArchitectureError('nb101: "matrix" must be a list of lists')
        if not isinstance(ops, list | tuple):
            raise InvalidArchitectureError('nb101: "ops" must be a list of op names')
        return self.from_unpruned(matrix, ops)

    # --- sampling and neighbourhoods --------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> NB101Cell:
        """A random cell, uniform over the specifications that need no pruning.

        The vertex count `n` is drawn by how many such specifications it has (`_size_weights`),
        then one of the full `n`-vertex matrices and random ops. Every distinct cell is such a
        specification (its pruned form), so every cell can be drawn, with a weight that is its
        number of topological numberings (a few), and the mix of sizes follows the space: 90 %
        of draws have 7 vertices, as 84 % of NAS-Bench-101's distinct cells do.

        NAS-Bench-101's own recipe, a random 7x7 matrix with each edge present with probability
        1/2, pruned and rejected until valid (`sample_raw`), is uniform over raw specifications
        instead: it keeps a matrix only when pruning has removed most of its edges, so nearly 90 %
        of its draws have 5 vertices or fewer and under 1 % have 7.
        """
        n = 2 + int(rng.choice(MAX_VERTICES - 1, p=_size_weights()))
        matrices = _full_matrices(n)
        matrix = matrices[int(rng.integers(len(matrices)))]
        interior = [NB101_OPS[int(c)] for c in rng.integers(0, len(NB101_OPS), size=n - 2)]
        return self.from_unpruned(matrix.tolist(), [INPUT, *interior, OUTPUT])

    def sample_raw(self, rng: np.random.Generator) -> NB101Cell:
        """A random valid cell drawn as NAS-Bench-101 (and NASLib) draw them (see `sample`)."""
        while True:
            codes = [int(c) for c in rng.integers(0, 2, size=len(_TRIANGLE))]
            codes += [int(c) for c in rng.integers(0, len(NB101_OPS), size=_NUM_INTERIOR)]
            try:
                return self.from_codes(codes)
            except InvalidArchitectureError:
                continue

    def neighbours(self, arch: NB101Cell) -> list[NB101Cell]:
        """Cells one code position away, plus, for small cells, cells one vertex larger.

        Flipping a single bit of the 7-vertex embedding never brings an unused vertex into a
        cell (it needs an edge in and an edge out), so the one-position neighbourhood of a
        small cell is poor and that of the 2-vertex cell is empty. Cells with fewer than 7
        vertices therefore also get every cell that adds one vertex, with any op, fed by an
        existing vertex and feeding the output.
        """
        result = super().neighbours(arch)
        n = arch.num_vertices
        if n >= MAX_VERTICES:
            return result
        seen = {self.key(arch)} | {self.key(cell) for cell in result}
        codes = self.to_codes(arch)
        new_vertex = n - 1  # first unused position of the embedding
        for source in range(new_vertex):
            for op_code in range(len(NB101_OPS)):
                grown = list(codes)
                grown[_TRIANGLE.index((source, new_vertex))] = 1
                grown[_TRIANGLE.index((new_vertex, MAX_VERTICES - 1))] = 1
                grown[len(_TRIANGLE) + new_vertex - 1] = op_code
                try:
                    cell = self.from_codes(grown)
                except InvalidArchitectureError:
                    continue
                cell_key = self.key(cell)
                if cell_key not in seen:
                    seen.add(cell_key)
                    result.append(cell)
        return result


# --- helpers -----------------------------------------------------------------------------------


def _spec_from_codes(codes: tuple[int, ...]) -> tuple[Matrix, tuple[str, ...]]:
    full = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
    for (i, j), bit in zip(_TRIANGLE, codes[: len(_TRIANGLE)], strict=True):
        full[i][j] = bit
    ops = (INPUT, *(NB101_OPS[c] for c in codes[len(_TRIANGLE) :]), OUTPUT)
    return tuple(tuple(row) for row in full), ops


def _check_structure(cell: NB101Cell) -> None:
    """Shape, entries, triangularity and op names; everything but size and connectivity."""
    n = cell.num_vertices
    if n < 2:
        raise InvalidArchitectureError(
            f"nb101: a cell needs at least an input and an output vertex, got {n} ops"
        )
    if len(cell.matrix) != n or any(len(row) != n for row in cell.matrix):
        shape = f"{len(cell.matrix)} rows of lengths {sorted({len(r) for r in cell.matrix})}"
        raise InvalidArchitectureError(
            f"nb101: the adjacency matrix must be {n}x{n} to match the {n} ops, got {shape}"
        )
    bad = sorted({x for row in cell.matrix for x in row} - {0, 1})
    if bad:
        raise InvalidArchitectureError(f"nb101: adjacency entries must be 0 or 1, got {bad}")
    lower = [(i, j) for i in range(n) for j in range(i + 1) if cell.matrix[i][j]]
    if lower:
        i, j = lower[0]
        raise InvalidArchitectureError(
            f"nb101: the adjacency matrix must be strictly upper triangular (vertex i may only "
            f"feed vertices j > i), but it has the edge {i}->{j}"
        )
    if cell.ops[0] != INPUT:
        raise InvalidArchitectureError(f"nb101: the first op must be 'input', got {cell.ops[0]!r}")
    if cell.ops[-1] != OUTPUT:
        raise InvalidArchitectureError(f"nb101: the last op must be 'output', got {cell.ops[-1]!r}")
    for vertex, op in enumerate(cell.ops[1:-1], start=1):
        if op not in NB101_OPS:
            raise InvalidArchitectureError(
                f"nb101: unknown op {op!r} at vertex {vertex}; interior ops must be one of "
                f"{', '.join(NB101_OPS)}"
            )


def _check_size(cell: NB101Cell) -> None:
    if cell.num_vertices > MAX_VERTICES:
        raise InvalidArchitectureError(
            f"nb101: the pruned cell has {cell.num_vertices} vertices; at most {MAX_VERTICES} "
            "are allowed"
        )
    if cell.num_edges > MAX_EDGES:
        raise InvalidArchitectureError(
            f"nb101: the pruned cell has {cell.num_edges} edges; at most {MAX_EDGES} are allowed"
        )


def _dead_vertices(cell: NB101Cell) -> list[int]:
    n = cell.num_vertices
    forward = reachable([0], lambda v: (w for w in range(v + 1, n) if cell.matrix[v][w]))
    backward = reachable([n - 1], lambda v: (w for w in range(v) if cell.matrix[w][v]))
    return [v for v in range(n) if v not in forward or v not in backward]
