"""NAS-Bench-201: the cell count, the official string and index order, isomorphism, reachability.

Hard-coded facts (a few official indices, the class and reachability counts) run everywhere; the
row-by-row comparisons with `nb201_cifar10.csv` run when the shared data is present.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path

import pytest

from surrogate.exceptions import InvalidArchitectureError
from surrogate.spaces import get_space
from surrogate.spaces.cell import CellArch
from surrogate.spaces.nb201 import NB201_OPS, NasBench201Space

KNOWN_INDICES = {
    0: (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
        "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    ),
    9: "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    6111: (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    ),
}


@pytest.fixture(scope="module")
def space() -> NasBench201Space:
    result = get_space("nb201")
    assert isinstance(result, NasBench201Space)
    return result


@pytest.fixture(scope="module")
def all_cells(space: NasBench201Space) -> list[CellArch]:
    return list(space.enumerate())


@pytest.fixture(scope="module")
def csv_rows(shared_data: Path) -> list[dict[str, str]]:
    path = shared_data / "nasbench201" / "nb201_cifar10.csv"
    if not path.is_file():
        pytest.skip("nasbench201/nb201_cifar10.csv is absent")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def partition(
    items: Iterable[CellArch], key: Callable[[CellArch], Hashable]
) -> set[frozenset[CellArch]]:
    groups: dict[Hashable, set[CellArch]] = {}
    for item in items:
        groups.setdefault(key(item), set()).add(item)
    return {frozenset(group) for group in groups.values()}


# --- size, enumeration, strings ---------------------------------------------------------------


def test_space_has_exactly_15625_distinct_cells(
    space: NasBench201Space, all_cells: list[CellArch]
) -> None:
    assert space.size() == 15_625
    assert len(all_cells) == 15_625
    assert len({space.key(cell) for cell in all_cells}) == 15_625
    assert space.describe() == {"type": "nb201"}
    assert space.ops == NB201_OPS
    assert space.cardinalities == (5,) * 6


def test_enumeration_is_lexicographic_in_codes(
    space: NasBench201Space, all_cells: list[CellArch]
) -> None:
    codes = [space.to_codes(cell) for cell in all_cells]
    assert codes == sorted(codes)
    assert all_cells[0] == ("none",) * 6
    assert all_cells[1] == ("none",) * 5 + ("skip_connect",)
    assert all_cells[-1] == ("avg_pool_3x3",) * 6


def test_string_uses_the_official_format(space: NasBench201Space) -> None:
    arch = (
        "nor_conv_3x3",
        "nor_conv_3x3",
        "nor_conv_3x3",
        "skip_connect",
        "nor_conv_3x3",
        "nor_conv_1x1",
    )
    text = space.to_string(arch)
    assert text == KNOWN_INDICES[6111]
    assert space.from_string(text) == arch
    assert space.key(arch) == text
    assert space.to_json(arch) == {"cell": text}
    assert space.from_json({"cell": text}) == arch
    assert space.from_json(text) == arch


def test_every_string_round_trips(space: NasBench201Space, all_cells: list[CellArch]) -> None:
    assert all(space.from_string(space.to_string(cell)) == cell for cell in all_cells)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("|none~0|+|none~0|none~1|", "expected 3 '+'-separated blocks"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "block 1 of"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "must list 2 edge(s) into node 2"),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "must read '<op>~0'"),
        ("|none~0|+|none~0|none1|+|none~0|none~1|none~2|", "must read '<op>~1'"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv' on edge 0->1"),
    ],
)
def test_malformed_strings_are_rejected_with_a_reason(
    space: NasBench201Space, text: str, message: str
) -> None:
    with pytest.raises(InvalidArchitectureError) as error:
        space.from_string(text)
    assert message in str(error.value)


def test_bad_json_is_rejected(space: NasBench201Space) -> None:
    with pytest.raises(InvalidArchitectureError, match="got keys"):
        space.from_json({"arch": KNOWN_INDICES[0]})
    with pytest.raises(InvalidArchitectureError, match="expected"):
        space.from_json(42)


# --- official indices -------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "text"), sorted(KNOWN_INDICES.items()))
def test_known_official_indices(space: NasBench201Space, index: int, text: str) -> None:
    assert space.to_string(space.arch_at(index)) == text
    assert space.index_of(space.from_string(text)) == index


def test_indices_are_a_bijection(space: NasBench201Space, all_cells: list[CellArch]) -> None:
    indices = [space.index_of(cell) for cell in all_cells]
    assert sorted(indices) == list(range(15_625))
    assert all(space.arch_at(index) == cell for index, cell in zip(indices, all_cells, strict=True))


@pytest.mark.parametrize("index", [-1, 15_625, True, 1.0])
def test_out_of_range_index_is_rejected(space: NasBench201Space, index: object) -> None:
    with pytest.raises(InvalidArchitectureError, match=r"\[0, 15625\)"):
        space.arch_at(index)  # type: ignore[arg-type]


# --- NASLib tuples ----------------------------------------------------------------------------


def test_naslib_tuple_of_index_0(space: NasBench201Space) -> None:
    arch = space.arch_at(0)
    assert space.to_naslib_tuple(arch) == (4, 3, 3, 0, 0, 0)
    assert space.from_naslib_tuple((4, 3, 3, 0, 0, 0)) == arch


def test_naslib_tuples_round_trip(space: NasBench201Space, all_cells: list[CellArch]) -> None:
    tuples = [space.to_naslib_tuple(cell) for cell in all_cells]
    assert len(set(tuples)) == 15_625
    assert all(
        space.from_naslib_tuple(t) == cell for t, cell in zip(tuples, all_cells, strict=True)
    )
    with pytest.raises(InvalidArchitectureError, match="NASLib tuple"):
        space.from_naslib_tuple((0, 1, 2, 3, 4, 5))


# --- semantics: reachability, isomorphism, graph ----------------------------------------------


def test_reachability(space: NasBench201Space, all_cells: list[CellArch]) -> None:
    unreachable = space.from_string(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"
    )
    assert not space.output_reachable(unreachable)
    through_chain = space.from_string(
        "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_1x1~2|"
    )
    assert space.output_reachable(through_chain)
    dead_middle = space.from_string(
        "|none~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_1x1~2|"
    )
    assert not space.output_reachable(dead_middle)
    # The benchmark reports 341 cells whose output is unreachable.
    assert sum(not space.output_reachable(cell) for cell in all_cells) == 341


def test_isomorphism_rule_on_known_cells(space: NasBench201Space) -> None:
    arch = space.arch_at(1)
    assert (
        space.isomorphism_key(arch)
        == "((0)@nor_conv_3x3)@avg_pool_3x3+(0)@nor_conv_3x3+((0)@nor_conv_3x3)@nor_conv_3x3+0"
    )
    # The order of a node's inputs does not matter: swapping edges 0->3 and 1->3 when node 1
    # is a copy of the input (skip) gives the same function.
    a = space.from_string("|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|")
    b = space.from_string("|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|")
    assert space.isomorphism_key(a) == space.isomorphism_key(b)
    c = space.from_string("|nor_conv_1x1~0|+|none~0|none~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|")
    assert space.isomorphism_key(a) != space.isomorphism_key(c)


def test_isomorphism_classes_number_6466(
    space: NasBench201Space, all_cells: list[CellArch]
) -> None:
    classes = Counter(space.isomorphism_key(cell) for cell in all_cells)
    assert len(classes) == 6_466


def test_graph_keeps_none_edges_as_labelled_nodes(space: NasBench201Space) -> None:
    arch = space.arch_at(9)
    graph = space.to_graph(arch)
    vocabulary = space.node_vocabulary
    labels = [vocabulary[label] for label in graph.node_labels]
    assert labels == ["input", *arch, "output"]
    assert graph.num_nodes == space.max_nodes == 8
    # op node e+1 for edge e in (0->1, 0->2, 1->2, 0->3, 1->3, 2->3); 0 = input, 7 = output.
    assert graph.edges == (
        (0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 6), (3, 6), (4, 7), (5, 7), (6, 7),
    )  # fmt: skip


# --- the official table, row for row ----------------------------------------------------------


@pytest.mark.data
def test_index_order_and_strings_match_the_csv(
    space: NasBench201Space, csv_rows: list[dict[str, str]]
) -> None:
    assert len(csv_rows) == 15_625
    for row in csv_rows:
        index = int(row["arch_index"])
        assert space.to_string(space.arch_at(index)) == row["arch_str"], index
        assert space.index_of(space.from_string(row["arch_str"])) == index


@pytest.mark.data
def test_isomorphism_partition_matches_the_csv(
    space: NasBench201Space, csv_rows: list[dict[str, str]]
) -> None:
    official = {space.from_string(row["arch_str"]): row["nats_unique_str"] for row in csv_rows}
    ours = partition(official, space.isomorphism_key)
    theirs = partition(official, official.__getitem__)
    assert len(theirs) == 6_466
    assert ours == theirs
    # Stronger still: the key is the benchmark's own text.
    assert all(space.isomorphism_key(arch) == text for arch, text in official.items())


@pytest.mark.data
def test_connected_flag_and_naslib_tuple_match_the_csv(
    space: NasBench201Space, csv_rows: list[dict[str, str]]
) -> None:
    for row in csv_rows:
        arch = space.from_string(row["arch_str"])
        assert space.output_reachable(arch) == (row["connected"] == "True"), row["arch_str"]
        assert str(space.to_naslib_tuple(arch)) == row["naslib_tuple"]
