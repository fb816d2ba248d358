"""NASLib's text of NB201 cells (`surrogate.naslib`): round trips, edge order, malformed text.

The tuple order itself is checked against hand-built cells here, and against the
``naslib_tuple`` column of ``nb201_cifar10.csv`` row for row when the shared data is present.
"""

from __future__ import annotations

import csv

import pytest

from surrogate.exceptions import InvalidArchitectureError
from surrogate.naslib import (
    arch_from_naslib_text,
    format_naslib_tuple,
    naslib_text_of,
    parse_naslib_tuple,
)
from surrogate.spaces import get_space, space_from_spec
from surrogate.spaces.nb201 import NasBench201Space
from tests.conftest import require_shared_file


@pytest.fixture(scope="module")
def space() -> NasBench201Space:
    result = get_space("nb201")
    assert isinstance(result, NasBench201Space)
    return result


def test_text_round_trips_for_every_cell(space: NasBench201Space) -> None:
    cells = list(space.enumerate())
    texts = [naslib_text_of(space, cell) for cell in cells]
    assert len(cells) == 15_625
    assert len(set(texts)) == 15_625
    for cell, text in zip(cells, texts, strict=True):
        # NASLib writes the tuple as Python prints it.
        assert text == str(space.to_naslib_tuple(cell))
        assert arch_from_naslib_text(space, text) == cell


@pytest.mark.parametrize(
    ("arch_str", "expected"),
    [
        # One distinctive op per cell pins each edge's position in NASLib's order
        # (0->1, 0->2, 0->3, 1->2, 1->3, 2->3) and each op's id.
        ("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "(2, 1, 1, 1, 1, 1)"),
        ("|none~0|+|nor_conv_1x1~0|none~1|+|none~0|none~1|none~2|", "(1, 3, 1, 1, 1, 1)"),
        ("|none~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|", "(1, 1, 4, 1, 1, 1)"),
        ("|none~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|", "(1, 1, 1, 0, 1, 1)"),
        ("|none~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|", "(1, 1, 1, 1, 2, 1)"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_1x1~2|", "(1, 1, 1, 1, 1, 3)"),
    ],
)
def test_edge_order_and_op_ids(space: NasBench201Space, arch_str: str, expected: str) -> None:
    arch = space.from_string(arch_str)
    assert naslib_text_of(space, arch) == expected
    assert arch_from_naslib_text(space, expected) == arch


@pytest.mark.parametrize("text", ["(4, 3, 3, 0, 0, 0)", "(4,3,3,0,0,0)", " [4, 3, 3, 0, 0, 0] "])
def test_spellings_are_forgiven(text: str) -> None:
    assert parse_naslib_tuple(text) == (4, 3, 3, 0, 0, 0)
    assert format_naslib_tuple((4, 3, 3, 0, 0, 0)) == "(4, 3, 3, 0, 0, 0)"


@pytest.mark.parametrize(
    "text", ["", "4, 3, 3, 0, 0, 0", "(4, 3, x, 0, 0, 0)", "(4, -3, 3, 0, 0, 0)", "()"]
)
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidArchitectureError, match="NASLib tuple"):
        parse_naslib_tuple(text)


@pytest.mark.parametrize("text", ["(4, 3, 3, 0, 0)", "(4, 3, 3, 0, 0, 5)", "(4, 3, 3, 0, 0, 0, 0)"])
def test_tuples_naming_no_cell_are_refused(space: NasBench201Space, text: str) -> None:
    with pytest.raises(InvalidArchitectureError, match="NASLib tuple"):
        arch_from_naslib_text(space, text)


def test_other_spaces_have_no_naslib_text() -> None:
    chain = space_from_spec(
        {"type": "macro", "name": "chain", "layers": [{"name": "a", "ops": ["x", "y"]}]}
    )
    with pytest.raises(InvalidArchitectureError, match="NAS-Bench-201"):
        arch_from_naslib_text(chain, "(0, 0, 0, 0, 0, 0)")


@pytest.mark.data
def test_text_matches_the_nb201_table_on_every_row(space: NasBench201Space) -> None:
    path = require_shared_file("nasbench201/nb201_cifar10.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 15_625
    for row in rows:
        arch = space.from_string(row["arch_str"])
        assert arch_from_naslib_text(space, row["naslib_tuple"]) == arch, row["arch_index"]
        assert naslib_text_of(space, arch) == row["naslib_tuple"], row["arch_index"]
