"""Tests of the DARTS space: canonical genotypes, codes, genotype strings, graph, moves, size."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surrogate.exceptions import InvalidArchitectureError, SpaceNotEnumerableError
from surrogate.spaces.darts import (
    DARTS_OPS,
    DartsGenotype,
    DartsSpace,
    canonical_cell,
    count_cell_genotypes,
    parse_genotype_text,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SPACE = DartsSpace()
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)

# The published DARTS (second order) genotype, as DARTS's genotypes.py prints it.
DARTS_V2_TEXT = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
V2_NORMAL = (
    ("sep_conv_3x3", 0),
    ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 0),
    ("sep_conv_3x3", 1),
    ("skip_connect", 0),
    ("sep_conv_3x3", 1),
    ("skip_connect", 0),
    ("dil_conv_3x3", 2),
)
V2_REDUCE = (
    ("max_pool_3x3", 0),
    ("max_pool_3x3", 1),
    ("max_pool_3x3", 1),
    ("skip_connect", 2),
    ("max_pool_3x3", 0),
    ("skip_connect", 2),
    ("max_pool_3x3", 1),
    ("skip_connect", 2),
)


def _v2() -> DartsGenotype:
    return SPACE.from_json(DARTS_V2_TEXT)


# --- genotype strings and JSON ----------------------------------------------------------------


def test_parses_the_published_darts_v2_genotype() -> None:
    genotype = _v2()
    assert genotype.normal == V2_NORMAL
    assert genotype.reduce == V2_REDUCE


def test_parses_the_form_darts_prints_during_search() -> None:
    text = DARTS_V2_TEXT.replace("[2, 3, 4, 5]", "range(2, 6)").replace(", ", ",\n    ")
    assert SPACE.from_json("genotypes." + text) == _v2()


def test_genotype_text_round_trip() -> None:
    genotype = _v2()
    text = SPACE.to_genotype_text(genotype)
    assert text.startswith("Genotype(normal=[('sep_conv_3x3', 0), ")
    assert SPACE.from_json(text) == genotype


def test_parser_never_evaluates_code() -> None:
    marker = REPO_ROOT / "should_not_exist.txt"
    text = f"Genotype(normal=open({str(marker)!r}, 'w'), reduce=[])"
    with pytest.raises(InvalidArchitectureError, match="cannot read the value of 'normal'"):
        SPACE.from_json(text)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Genotype(normal=[], normal)", "name=value"),
        ("Genotype(normal=[], normal=[])", "given twice"),
        ("NotAGenotype(normal=[])", "neither a Genotype"),
        ("Genotype(normal=[('sep_conv_3x3', 0)] * 8, reduce=[])", "cannot read"),
    ],
)
def test_malformed_genotype_text_is_rejected(text: str, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        SPACE.from_json(text)


def test_parse_genotype_text_keeps_commas_inside_strings() -> None:
    fields = parse_genotype_text("Genotype(a=['x, y', \"z)\"], b=range(0, 3))")
    assert fields == {"a": ["x, y", "z)"], "b": [0, 1, 2]}


def test_json_has_the_darts_genotype_layout() -> None:
    value = SPACE.to_json(_v2())
    assert value == {
        "normal": [list(pair) for pair in V2_NORMAL],
        "normal_concat": [2, 3, 4, 5],
        "reduce": [list(pair) for pair in V2_REDUCE],
        "reduce_concat": [2, 3, 4, 5],
    }
    assert SPACE.from_json(json.loads(json.dumps(value))) == _v2()
    assert SPACE.from_json(json.dumps(value)) == _v2()


def test_json_accepts_cells_written_node_by_node() -> None:
    value = {
        "normal": [[V2_NORMAL[k], V2_NORMAL[k + 1]] for k in range(0, 8, 2)],
        "reduce": [list(pair) for pair in V2_REDUCE],
    }
    assert SPACE.from_json(value) == _v2()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1], "expected an object"),
        ({"normal": list(V2_NORMAL)}, "no 'reduce' cell"),
        ({"normal": [], "reduce": [], "extra": 1}, r"unknown fields \['extra'\]"),
        (
            {"normal": list(V2_NORMAL), "normal_concat": [2, 3], "reduce": list(V2_REDUCE)},
            r"normal_concat must be \[2, 3, 4, 5\]",
        ),
        ({"normal": "sep_conv_3x3", "reduce": list(V2_REDUCE)}, "list of \\(op, input\\) pairs"),
        ({"normal": [["sep_conv_3x3"]] * 8, "reduce": list(V2_REDUCE)}, "must be \\(op name"),
        ("{broken", "neither a Genotype"),
    ],
)
def test_from_json_rejects_malformed_values(value: object, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        SPACE.from_json(value)


# --- validation -------------------------------------------------------------------------------


def _with_normal(normal: list[tuple[str, int]]) -> DartsGenotype:
    return DartsGenotype(tuple(normal), V2_REDUCE)


@pytest.mark.parametrize(
    ("normal", "message"),
    [
        (list(V2_NORMAL[:6]), "needs 8 \\(op, input\\) pairs .* got 6"),
        ([("conv_7x7", 0), *V2_NORMAL[1:]], "unknown op 'conv_7x7' in the normal cell, node 2"),
        ([*V2_NORMAL[:3], ("sep_conv_3x3", 3), *V2_NORMAL[4:]], "node 3 reads input 3"),
        ([("sep_conv_3x3", 1), ("skip_connect", 1), *V2_NORMAL[2:]], "reads input 1 twice"),
        ([*V2_NORMAL[:7], ("dil_conv_3x3", -1)], "node 5 reads input -1"),
    ],
)
def test_invalid_genotypes_are_rejected_with_a_clear_message(
    normal: list[tuple[str, int]], message: str
) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        SPACE.validate(_with_normal(normal))


def test_validate_rejects_other_types() -> None:
    with pytest.raises(InvalidArchitectureError, match="expected a DartsGenotype"):
        SPACE.validate(V2_NORMAL)  # type: ignore[arg-type]


# --- canonical form, key, codes ---------------------------------------------------------------


def test_slot_order_does_not_matter() -> None:
    swapped = [V2_NORMAL[k ^ 1] for k in range(8)]
    other = _with_normal(swapped)
    assert other == _v2()
    assert SPACE.key(other) == SPACE.key(_v2())
    assert SPACE.to_codes(other) == SPACE.to_codes(_v2())
    assert SPACE.distance(other, _v2()) == 0


def test_key_is_readable_and_round_trips() -> None:
    key = SPACE.key(_v2())
    assert key.startswith("normal=sep_conv_3x3@0+sep_conv_3x3@1|sep_conv_3x3@0+sep_conv_3x3@1|")
    assert ";reduce=max_pool_3x3@0+max_pool_3x3@1|" in key
    assert SPACE.from_key(key) == _v2()
    assert SPACE.from_json(key) == _v2()
    with pytest.raises(InvalidArchitectureError, match="malformed key"):
        SPACE.from_key("normal=sep_conv_3x3;reduce=x@1")
    with pytest.raises(InvalidArchitectureError, match="parts"):
        SPACE.from_key("normal=sep_conv_3x3@0")


def test_key_is_stable_across_processes() -> None:
    genotypes = [SPACE.sample(np.random.default_rng(seed)) for seed in range(3)]
    script = (
        "import json, sys\n"
        "from surrogate.spaces.darts import DartsSpace\n"
        "s = DartsSpace()\n"
        "print(json.dumps([s.key(s.from_json(v)) for v in json.loads(sys.stdin.read())]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps([SPACE.to_json(g) for g in genotypes]),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    assert json.loads(result.stdout) == [SPACE.key(g) for g in genotypes]


def test_codes_layout() -> None:
    assert SPACE.cardinalities == ((2, 8) * 2 + (3, 8) * 2 + (4, 8) * 2 + (5, 8) * 2) * 2
    codes = SPACE.to_codes(_v2())
    assert codes[:4] == (0, DARTS_OPS.index("sep_conv_3x3"), 1, DARTS_OPS.index("sep_conv_3x3"))
    assert codes[12:16] == (0, DARTS_OPS.index("skip_connect"), 2, DARTS_OPS.index("dil_conv_3x3"))
    assert codes[16:18] == (0, DARTS_OPS.index("max_pool_3x3"))


@settings(max_examples=50, deadline=None)
@given(SEEDS)
def test_codes_and_json_round_trip(seed: int) -> None:
    genotype = SPACE.sample(np.random.default_rng(seed))
    SPACE.validate(genotype)
    assert SPACE.from_codes(SPACE.to_codes(genotype)) == genotype
    assert SPACE.decode(SPACE.encode(genotype)) == genotype
    assert SPACE.from_json(json.loads(json.dumps(SPACE.to_json(genotype)))) == genotype
    assert SPACE.from_json(SPACE.to_genotype_text(genotype)) == genotype
    assert SPACE.from_key(SPACE.key(genotype)) == genotype


def test_from_codes_rejects_equal_inputs_and_bad_codes() -> None:
    codes = list(SPACE.to_codes(_v2()))
    codes[2] = codes[0]  # node 2: both slots read input 0
    with pytest.raises(InvalidArchitectureError, match="reads input 0 twice"):
        SPACE.from_codes(codes)
    codes = list(SPACE.to_codes(_v2()))
    codes[0] = 2  # node 2 may read only inputs 0 and 1
    with pytest.raises(InvalidArchitectureError, match="outside \\[0, 2\\)"):
        SPACE.from_codes(codes)
    with pytest.raises(InvalidArchitectureError, match="expected 32 codes"):
        SPACE.from_codes(codes[:-1])


def test_from_codes_accepts_slots_in_either_order() -> None:
    codes = list(SPACE.to_codes(_v2()))
    codes[0:4] = codes[2:4] + codes[0:2]
    assert SPACE.from_codes(codes) == _v2()


# --- size -------------------------------------------------------------------------------------


def _brute_force_cells(num_nodes: int, ops: tuple[str, ...]) -> int:
    """Count distinct canonical cells by listing every ordered slot assignment."""
    slot_choices = [
        [(op, inp) for inp in range(node + 2) for op in ops]
        for node in range(num_nodes)
        for _ in range(2)
    ]
    cells = set()
    for slots in itertools.product(*slot_choices):
        if any(slots[k][1] == slots[k + 1][1] for k in range(0, len(slots), 2)):
            continue
        cells.add(canonical_cell(slots))
    return len(cells)


@pytest.mark.parametrize(("num_nodes", "ops"), [(1, ("a", "b")), (2, ("a", "b", "c")), (3, ("a",))])
def test_size_formula_matches_brute_force_on_small_analogues(
    num_nodes: int, ops: tuple[str, ...]
) -> None:
    assert count_cell_genotypes(num_nodes, len(ops)) == _brute_force_cells(num_nodes, ops)


def test_space_facts() -> None:
    per_cell = 1 * 3 * 6 * 10 * 64**4
    assert SPACE.size() == per_cell * per_cell
    assert SPACE.name == "darts"
    assert SPACE.describe() == {"type": "darts"}
    with pytest.raises(SpaceNotEnumerableError, match="cannot be enumerated"):
        next(iter(SPACE.enumerate()))


# --- graph ------------------------------------------------------------------------------------


def test_graph_is_the_bonas_encoding_of_both_cells() -> None:
    graph = SPACE.to_graph(_v2())
    vocabulary = SPACE.node_vocabulary
    assert len(vocabulary) == len(set(vocabulary)) == 22
    assert graph.num_nodes == SPACE.max_nodes == 22
    labels = [vocabulary[label] for label in graph.node_labels]
    assert labels[:3] == ["normal:c_k-2", "normal:c_k-1", "normal:sep_conv_3x3"]
    assert labels[10:14] == ["normal:output", "reduce:c_k-2", "reduce:c_k-1", "reduce:max_pool_3x3"]
    assert labels[21] == "reduce:output"
    edges = set(graph.edges)
    # Normal cell, node 5 (op nodes 8 and 9): skip_connect from c_{k-2}, dil_conv from node 2,
    # which is represented by its two op nodes 2 and 3.
    assert {source for source, target in edges if target == 9} == {2, 3}
    assert {source for source, target in edges if target == 8} == {0}
    # Every op node feeds its cell's output; the cells are not connected to each other.
    assert {source for source, target in edges if target == 10} == set(range(2, 10))
    assert {source for source, target in edges if target == 21} == set(range(13, 21))
    assert all((s < 11) == (t < 11) for s, t in edges)
    assert all(s < t for s, t in edges)


def test_graphs_tell_the_cells_apart() -> None:
    genotype = _v2()
    swapped = DartsGenotype(genotype.reduce, genotype.normal)
    assert SPACE.to_graph(swapped) != SPACE.to_graph(genotype)


# --- moves ------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(SEEDS)
def test_mutation_stays_valid_and_is_one_step(seed: int) -> None:
    rng = np.random.default_rng(seed)
    genotype = SPACE.sample(rng)
    child = SPACE.mutate(genotype, rng)
    SPACE.validate(child)
    assert SPACE.key(child) != SPACE.key(genotype)
    assert SPACE.distance(genotype, child) == 1


@settings(max_examples=10, deadline=None)
@given(SEEDS)
def test_neighbours_are_distinct_valid_and_one_step(seed: int) -> None:
    genotype = SPACE.sample(np.random.default_rng(seed))
    neighbours = SPACE.neighbours(genotype)
    keys = [SPACE.key(n) for n in neighbours]
    assert len(set(keys)) == len(keys) > 100
    assert SPACE.key(genotype) not in keys
    for neighbour in neighbours:
        SPACE.validate(neighbour)
        assert SPACE.distance(genotype, neighbour) == 1


def test_distance_is_symmetric_and_counts_changes() -> None:
    rng = np.random.default_rng(3)
    a, b = SPACE.sample(rng), SPACE.sample(rng)
    assert SPACE.distance(a, b) == SPACE.distance(b, a)
    assert SPACE.distance(a, a) == 0
    changed = _with_normal([("none", 0), *V2_NORMAL[1:]])
    assert SPACE.distance(_v2(), changed) == 1


def test_samples_are_seeded_and_cover_all_ops_and_inputs() -> None:
    rng = np.random.default_rng(11)
    samples = [SPACE.sample(rng) for _ in range(300)]
    again_rng = np.random.default_rng(11)
    assert samples[:5] == [SPACE.sample(again_rng) for _ in range(5)]
    ops = {op for g in samples for op, _ in g.normal + g.reduce}
    assert ops == set(DARTS_OPS)
    last_node_inputs = {inp for g in samples for _, inp in g.normal[6:]}
    assert last_node_inputs == {0, 1, 2, 3, 4}
