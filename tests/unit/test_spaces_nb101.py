"""Tests of the NAS-Bench-101 space: pruning, the official module hash, codes, JSON, moves."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surrogate.exceptions import InvalidArchitectureError, SpaceNotEnumerableError
from surrogate.spaces.nb101 import (
    NB101_OPS,
    NasBench101Space,
    NB101Cell,
    _full_matrices,
    _size_weights,
    nb101_module_hash,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SUBSETS = DATA / "nasbench101" / "nb101_subsets.csv"
REPO_ROOT = Path(__file__).resolve().parents[2]

C3, C1, MP = NB101_OPS
SPACE = NasBench101Space()
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


def _cell(matrix: list[list[int]], ops: list[str]) -> NB101Cell:
    return SPACE.from_unpruned(matrix, ops)


def _rows() -> list[dict[str, str]]:
    if not SUBSETS.is_file():
        pytest.skip("shared data nasbench101/nb101_subsets.csv is absent")
    with SUBSETS.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _random_topological_relabel(cell: NB101Cell, rng: np.random.Generator) -> NB101Cell:
    """The same cell with its interior vertices renumbered in another topological order."""
    n = cell.num_vertices
    indegree = [sum(cell.matrix[w][v] for w in range(n)) for v in range(n)]
    ready = [v for v in range(n) if indegree[v] == 0]
    order: list[int] = []
    while ready:
        v = ready.pop(int(rng.integers(len(ready))))
        order.append(v)
        for w in range(n):
            if cell.matrix[v][w]:
                indegree[w] -= 1
                if indegree[w] == 0:
                    ready.append(w)
    assert order[0] == 0 and order[-1] == n - 1  # a pruned cell has one source and one sink
    matrix = [[cell.matrix[order[i]][order[j]] for j in range(n)] for i in range(n)]
    return NB101Cell(tuple(map(tuple, matrix)), tuple(cell.ops[v] for v in order))


# --- the official hash ------------------------------------------------------------------------


@pytest.mark.data
def test_keys_equal_official_hashes_for_every_row() -> None:
    rows = _rows()
    mismatches = []
    for row in rows:
        cell = _cell(json.loads(row["adjacency"]), json.loads(row["ops"]))
        if SPACE.key(cell) != row["nb101_hash"]:
            mismatches.append(row["nb101_hash"])
    assert not mismatches
    assert len({row["nb101_hash"] for row in rows}) == 1291


@pytest.mark.data
def test_benchmark_rows_are_pruned_and_round_trip() -> None:
    for row in _rows():
        matrix, ops = json.loads(row["adjacency"]), json.loads(row["ops"])
        cell = _cell(matrix, ops)
        assert cell.matrix == tuple(map(tuple, matrix)) and cell.ops == tuple(ops)
        assert SPACE.from_codes(SPACE.to_codes(cell)) == cell
        assert SPACE.from_json(json.loads(json.dumps(SPACE.to_json(cell)))) == cell


def test_smallest_cell_has_the_benchmark_hash() -> None:
    # The input->output cell; its hash as the official nb101 table lists it.
    cell = _cell([[0, 1], [0, 0]], ["input", "output"])
    assert SPACE.key(cell) == "043721b9c7fe8c5fad811d47d83132ec"


@settings(max_examples=50, deadline=None)
@given(SEEDS)
def test_isomorphic_relabellings_share_the_key(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cell = SPACE.sample(rng)
    relabelled = _random_topological_relabel(cell, rng)
    SPACE.validate(relabelled)
    assert SPACE.key(relabelled) == SPACE.key(cell)


@settings(max_examples=30, deadline=None)
@given(SEEDS)
def test_module_hash_is_invariant_under_any_vertex_permutation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cell = SPACE.sample(rng)
    labels = [-1] + [NB101_OPS.index(op) for op in cell.ops[1:-1]] + [-2]
    perm = rng.permutation(cell.num_vertices)
    matrix = [[cell.matrix[perm[i]][perm[j]] for j in range(len(perm))] for i in range(len(perm))]
    assert nb101_module_hash(matrix, [labels[p] for p in perm]) == SPACE.key(cell)


def test_different_cells_get_different_keys() -> None:
    chain = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    keys = {SPACE.key(_cell(chain, ["input", op, "output"])) for op in NB101_OPS}
    keys.add(SPACE.key(_cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", C3, "output"])))
    assert len(keys) == 4


def test_key_is_stable_across_processes() -> None:
    cells = [SPACE.sample(np.random.default_rng(seed)) for seed in range(3)]
    script = (
        "import json, sys\n"
        "from surrogate.spaces.nb101 import NasBench101Space\n"
        "s = NasBench101Space()\n"
        "print(json.dumps([s.key(s.from_json(v)) for v in json.loads(sys.stdin.read())]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps([SPACE.to_json(c) for c in cells]),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    assert json.loads(result.stdout) == [SPACE.key(c) for c in cells]


# --- pruning ----------------------------------------------------------------------------------


def test_pruning_removes_a_vertex_that_does_not_reach_the_output() -> None:
    # 0 -> 1 -> 3 (output); 0 -> 2, and 2 leads nowhere.
    matrix = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    cell = _cell(matrix, ["input", C3, MP, "output"])
    assert cell == NB101Cell(((0, 1, 0), (0, 0, 1), (0, 0, 0)), ("input", C3, "output"))


def test_pruning_removes_a_vertex_not_fed_by_the_input() -> None:
    # 0 -> 2 -> 3 (output); 1 -> 3, but nothing feeds 1.
    matrix = [[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    cell = _cell(matrix, ["input", MP, C1, "output"])
    assert cell == NB101Cell(((0, 1, 0), (0, 0, 1), (0, 0, 0)), ("input", C1, "output"))


def test_pruning_can_bring_a_spec_within_the_edge_limit() -> None:
    # A valid 4-edge core plus a dead vertex 5 fed by five vertices (10 raw edges).
    matrix = [[0] * 7 for _ in range(7)]
    for i, j in [(0, 1), (1, 2), (2, 3), (3, 6)]:
        matrix[i][j] = 1
    for i in range(5):
        matrix[i][5] = 1
    matrix[0][4] = 1
    assert sum(map(sum, matrix)) == 10
    cell = _cell(matrix, ["input", C3, C3, C3, C1, MP, "output"])
    assert cell.num_vertices == 5 and cell.num_edges == 4
    assert cell.ops == ("input", C3, C3, C3, "output")


def test_a_disconnected_spec_is_invalid() -> None:
    matrix = [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
    with pytest.raises(InvalidArchitectureError, match="unreachable"):
        _cell(matrix, ["input", C3, "output"])


def test_validate_rejects_an_unpruned_cell() -> None:
    matrix = ((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0), (0, 0, 0, 0))
    raw = NB101Cell(matrix, ("input", C3, MP, "output"))
    with pytest.raises(InvalidArchitectureError, match=r"vertices \[2\].*from_unpruned"):
        SPACE.validate(raw)


# --- validation messages ----------------------------------------------------------------------


def _chain(n: int) -> list[list[int]]:
    return [[1 if j == i + 1 else 0 for j in range(n)] for i in range(n)]


@pytest.mark.parametrize(
    ("matrix", "ops", "message"),
    [
        (_chain(8), ["input", *[C3] * 6, "output"], "8 vertices; at most 7"),
        (
            [[1 if j > i and (i, j) != (0, 6) else 0 for j in range(7)] for i in range(7)],
            ["input", *[C3] * 5, "output"],
            "20 edges; at most 9",
        ),
        ([[0, 1, 0], [0, 0, 1], [1, 0, 0]], ["input", C3, "output"], "upper triangular.*2->0"),
        ([[1, 1], [0, 0]], ["input", "output"], "upper triangular.*0->0"),
        (_chain(3), ["input", "conv5x5", "output"], "unknown op 'conv5x5' at vertex 1"),
        (_chain(3), [C3, C3, "output"], "first op must be 'input'"),
        (_chain(3), ["input", C3, C1], "last op must be 'output'"),
        (_chain(3), ["input", "output"], "must be 2x2"),
        ([[0, 2, 0], [0, 0, 1], [0, 0, 0]], ["input", C3, "output"], r"0 or 1, got \[2\]"),
        ([[0]], ["input"], "at least an input and an output"),
    ],
)
def test_invalid_specs_are_rejected_with_a_clear_message(
    matrix: list[list[int]], ops: list[str], message: str
) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        _cell(matrix, ops)


def test_validate_rejects_other_types() -> None:
    with pytest.raises(InvalidArchitectureError, match="expected an NB101Cell"):
        SPACE.validate(("input", "output"))  # type: ignore[arg-type]


def test_cell_accepts_lists_and_is_hashable() -> None:
    cell = NB101Cell([[0, 1], [0, 0]], ["input", "output"])  # type: ignore[arg-type]
    assert hash(cell) == hash(NB101Cell(((0, 1), (0, 0)), ("input", "output")))
    with pytest.raises(InvalidArchitectureError, match="list of lists of 0/1"):
        NB101Cell([[0, "x"], [0, 0]], ["input", "output"])  # type: ignore[arg-type]


# --- codes ------------------------------------------------------------------------------------


def test_codes_layout() -> None:
    assert SPACE.cardinalities == (2,) * 21 + (3,) * 5
    cell = _cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", MP, "output"])
    codes = SPACE.to_codes(cell)
    # Triangle row by row: (0,1) is position 0, (0,6) position 5, (1,6) position 10.
    assert [i for i, bit in enumerate(codes[:21]) if bit] == [0, 5, 10]
    assert codes[21:] == (2, 0, 0, 0, 0)


@settings(max_examples=50, deadline=None)
@given(SEEDS)
def test_codes_and_json_round_trip(seed: int) -> None:
    cell = SPACE.sample(np.random.default_rng(seed))
    assert SPACE.from_codes(SPACE.to_codes(cell)) == cell
    assert SPACE.decode(SPACE.encode(cell)) == cell
    assert SPACE.from_json(json.loads(json.dumps(SPACE.to_json(cell)))) == cell


def test_from_codes_rejects_invalid_cells() -> None:
    with pytest.raises(InvalidArchitectureError, match="edges; at most 9"):
        SPACE.from_codes([1] * 21 + [0] * 5)
    with pytest.raises(InvalidArchitectureError, match="unreachable"):
        SPACE.from_codes([0] * 26)
    with pytest.raises(InvalidArchitectureError, match="outside"):
        SPACE.from_codes([0] * 21 + [3, 0, 0, 0, 0])
    with pytest.raises(InvalidArchitectureError, match="expected 26 codes"):
        SPACE.from_codes([0] * 25)


def test_encode_many_shape() -> None:
    rng = np.random.default_rng(0)
    X = SPACE.encode_many([SPACE.sample(rng) for _ in range(4)])
    assert X.shape == (4, 26)


# --- JSON and graph ---------------------------------------------------------------------------


def test_json_forms() -> None:
    matrix = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    cell = _cell(matrix, ["input", C1, "output"])
    assert SPACE.to_json(cell) == {"matrix": matrix, "ops": ["input", C1, "output"]}
    official = {"module_adjacency": matrix, "module_operations": ["input", C1, "output"]}
    assert SPACE.from_json(official) == cell
    assert SPACE.from_json(json.dumps(SPACE.to_json(cell))) == cell


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2], "expected an object"),
        ({"matrix": [[0]]}, 'needs "matrix" and "ops"'),
        ({"matrix": "x", "ops": []}, "must be a list of lists"),
        ({"matrix": [[0, 1], [0, 0]], "ops": "input"}, "list of op names"),
        ("{not json", "invalid JSON"),
    ],
)
def test_from_json_rejects_malformed_values(value: object, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        SPACE.from_json(value)


def test_graph_is_the_cell_itself() -> None:
    cell = _cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", MP, "output"])
    graph = SPACE.to_graph(cell)
    vocabulary = SPACE.node_vocabulary
    assert set(vocabulary) == {"input", "output", *NB101_OPS}
    assert [vocabulary[label] for label in graph.node_labels] == ["input", MP, "output"]
    assert graph.edges == ((0, 1), (0, 2), (1, 2))
    assert SPACE.max_nodes == 7


# --- sampling and moves -----------------------------------------------------------------------


def test_space_facts() -> None:
    assert SPACE.name == "nb101"
    assert SPACE.describe() == {"type": "nb101"}
    assert SPACE.size() == 423_624
    with pytest.raises(SpaceNotEnumerableError):
        next(iter(SPACE.enumerate()))


def test_samples_are_valid_and_seeded() -> None:
    first = [SPACE.sample(np.random.default_rng(7)) for _ in range(3)]
    again = [SPACE.sample(np.random.default_rng(7)) for _ in range(3)]
    assert first == again
    cells = [SPACE.sample(np.random.default_rng(seed)) for seed in range(200)]
    for cell in cells:
        SPACE.validate(cell)
    assert len({SPACE.key(c) for c in cells}) > 100  # NB101-style draws favour small cells


@settings(max_examples=50, deadline=None)
@given(SEEDS)
def test_mutation_stays_valid_and_moves(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cell = SPACE.sample(rng)
    child = SPACE.mutate(cell, rng)
    SPACE.validate(child)
    assert SPACE.key(child) != SPACE.key(cell)


@settings(max_examples=20, deadline=None)
@given(SEEDS)
def test_neighbours_are_distinct_valid_and_exclude_self(seed: int) -> None:
    cell = SPACE.sample(np.random.default_rng(seed))
    neighbours = SPACE.neighbours(cell)
    keys = [SPACE.key(n) for n in neighbours]
    assert neighbours and len(set(keys)) == len(keys)
    assert SPACE.key(cell) not in keys
    for neighbour in neighbours:
        SPACE.validate(neighbour)


def test_the_smallest_cell_can_grow() -> None:
    cell = _cell([[0, 1], [0, 0]], ["input", "output"])
    neighbours = SPACE.neighbours(cell)
    assert sorted(n.ops[1] for n in neighbours) == sorted(NB101_OPS)
    assert all(n.num_vertices == 3 and n.num_edges == 3 for n in neighbours)
    child = SPACE.mutate(cell, np.random.default_rng(0))
    assert child in neighbours


def test_sampling_follows_the_mix_of_cell_sizes_in_the_space() -> None:
    space = NasBench101Space()
    rng = np.random.default_rng(0)
    cells = [space.sample(rng) for _ in range(2000)]
    for cell in cells:
        space.validate(cell)  # pruned and within the limits
    sizes = Counter(cell.num_vertices for cell in cells)
    # Most distinct NAS-Bench-101 cells have 7 vertices (84 % of a uniform sample of its
    # hashes); drawing raw matrices as the benchmark did gives under 1 % of them.
    assert sizes[7] / len(cells) > 0.8 and sizes[6] / len(cells) > 0.05
    assert len({space.key(cell) for cell in cells}) > 0.95 * len(cells)
    raw = Counter(space.sample_raw(rng).num_vertices for _ in range(500))
    assert raw[7] / 500 < 0.05 and sum(raw[n] for n in range(2, 6)) / 500 > 0.7
    # Every size can be drawn, down to the 2-vertex cell.
    assert all(weight > 0 for weight in _size_weights())
    assert len(_full_matrices(2)) == 1 and len(_full_matrices(3)) == 2
