"""Tests of `MetricTable`: reading benchmark CSVs by string, JSON, key and matrix+ops."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from surrogate.exceptions import UnknownArchitectureError
from surrogate.spaces import get_space, space_from_spec
from surrogate.tables import MetricTable, TableError, TableOptions

NB201_CSV = Path(__file__).resolve().parents[2].parent / "shared/data/nasbench201/nb201_cifar10.csv"
NB101_CSV = Path(__file__).resolve().parents[2].parent / "shared/data/nasbench101/nb101_subsets.csv"


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def macro_space():
    return space_from_spec(
        {
            "type": "macro",
            "name": "chain",
            "layers": [{"name": "a", "ops": ["x", "y"]}, {"name": "b", "ops": ["x", "y", "z"]}],
        }
    )


def test_json_column_and_duplicates_are_averaged(tmp_path: Path, macro_space) -> None:
    archs = list(macro_space.enumerate())
    rows = [[json.dumps(macro_space.to_json(a)), 10.0 * i, "note"] for i, a in enumerate(archs)]
    rows.append([json.dumps(macro_space.to_json(archs[0])), 4.0, "again"])
    path = _write(tmp_path / "t.csv", ["arch", "acc", "comment"], rows)

    table = MetricTable.from_csv(path, macro_space, arch_column="arch", arch_format="json")

    assert len(table) == len(archs)
    assert table.columns == ("acc",)
    assert table.value(archs[0], "acc") == pytest.approx(2.0)  # mean of 0 and 4
    assert table.value(archs[3], "acc") == pytest.approx(30.0)
    assert table.best("acc") == (macro_space.key(archs[-1]), 10.0 * (len(archs) - 1))
    assert [macro_space.key(a) for a in table.archs()] == [macro_space.key(a) for a in archs]


def test_missing_architecture_and_column_are_clear(tmp_path: Path, macro_space) -> None:
    archs = list(macro_space.enumerate())
    path = _write(
        tmp_path / "t.csv", ["arch", "acc"], [[json.dumps(macro_space.to_json(archs[0])), 1.0]]
    )
    table = MetricTable.from_csv(path, macro_space, arch_column="arch", arch_format="json")

    with pytest.raises(UnknownArchitectureError, match="not in the benchmark table"):
        table.value(archs[1], "acc")
    with pytest.raises(TableError, match="no metric column 'loss'"):
        table.value(archs[0], "loss")
    assert archs[0] in table and archs[1] not in table


def test_empty_cells_are_nan_and_bad_rows_name_their_line(tmp_path: Path, macro_space) -> None:
    a0, a1 = list(macro_space.enumerate())[:2]
    good = _write(
        tmp_path / "good.csv",
        ["arch", "acc", "params"],
        [
            [json.dumps(macro_space.to_json(a0)), 1.0, ""],
            [json.dumps(macro_space.to_json(a1)), 2.0, 3],
        ],
    )
    table = MetricTable.from_csv(good, macro_space, arch_column="arch", arch_format="json")
    assert math.isnan(table.value(a0, "params"))

    bad = _write(tmp_path / "bad.csv", ["arch", "acc"], [['{"layers": ["q", "x"]}', 1.0]])
    with pytest.raises(TableError, match=r"bad\.csv:2"):
        MetricTable.from_csv(bad, macro_space, arch_column="arch", arch_format="json")
    with pytest.raises(TableError, match="not found"):
        MetricTable.from_csv(good, macro_space, arch_column="nope", arch_format="json")
    with pytest.raises(TableError, match="does not exist"):
        MetricTable.from_csv(tmp_path / "absent.csv", macro_space)


def test_key_tables_answer_queries_but_cannot_list(tmp_path: Path, macro_space) -> None:
    a0 = next(iter(macro_space.enumerate()))
    path = _write(tmp_path / "k.csv", ["key", "acc"], [[macro_space.key(a0), 7.5]])
    table = MetricTable.from_csv(path, macro_space, arch_column="key", arch_format="key")
    assert table.value(a0, "acc") == 7.5
    with pytest.raises(TableError, match="cannot list"):
        table.archs()


@pytest.mark.skipif(not NB201_CSV.is_file(), reason="shared NAS-Bench-201 table absent")
def test_nb201_table_covers_the_whole_space() -> None:
    space = get_space("nb201")
    table = MetricTable.from_csv(NB201_CSV, space, arch_column="arch_str", arch_format="string")
    assert len(table) == 15_625
    best_test = max(table.value(a, "cifar10_test_200ep") for a in table.archs())
    assert best_test == pytest.approx(94.37, abs=0.01)
    assert table.best("cifar10valid_val_200ep_1seed")[1] == pytest.approx(91.57, abs=0.01)


@pytest.mark.skipif(not NB101_CSV.is_file(), reason="shared NAS-Bench-101 subsets absent")
def test_nb101_table_by_matrix_and_by_hash_agree() -> None:
    space = get_space("nb101")
    by_matrix = MetricTable.from_csv(
        NB101_CSV, space, arch_column="adjacency", arch_format="matrix_ops", ops_column="ops"
    )
    by_hash = MetricTable.from_csv(NB101_CSV, space, arch_column="nb101_hash", arch_format="key")
    assert len(by_matrix) == len(by_hash) == 1_291
    for arch in by_matrix.archs()[:200]:
        assert by_matrix.value(arch, "val_acc_108ep") == by_hash.value(arch, "val_acc_108ep")


@pytest.mark.parametrize("field", ["arch_format", "on_duplicate"])
def test_a_misspelt_table_option_is_refused_with_the_accepted_values(field: str) -> None:
    with pytest.raises(TableError, match="accepted:"):
        TableOptions(**{field: "jsno"})  # type: ignore[arg-type]  # a caller's plain string
