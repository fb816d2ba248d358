"""Tests of the predictor benchmark (`bonas bench predictor`) on a table written by the test."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from surrogate.bench.predictor import (
    PredictorRun,
    evaluate_predictor,
    format_summary,
    plot_summary,
    summarise,
    table_data,
    write_runs_csv,
)
from surrogate.gcn import GCNConfig
from surrogate.models.fit import FitOptions
from surrogate.spaces import load_space_file
from surrogate.spaces.base import SearchSpace, live_nodes

SPACE = {
    "type": "cell",
    "name": "toy-cell",
    "num_nodes": 4,
    "ops": ["none", "skip_connect", "conv3x3", "avg_pool3x3"],
}
OP_VALUE = {"none": 0.0, "skip_connect": 1.0, "conv3x3": 3.0, "avg_pool3x3": 0.5}
SMALL_FIT = {
    "gcn": {"num_layers": 2, "width": 16, "positional": True, "gated": True},
    "min_steps": 300,
    "batch_size": 32,
    "lr": 0.01,
    "blr_gcns": 1,
}


def toy_accuracy(space: SearchSpace[tuple[str, ...]], arch: tuple[str, ...]) -> float:
    """A made-up accuracy that, like a real network's, ignores ops no path uses."""
    live = live_nodes(space.to_graph(arch), space.zero_labels)
    return 40.0 + sum((1 + e / 3) * OP_VALUE[op] for e, op in enumerate(arch) if live[e + 1])


def write_table(tmp_path: Path) -> tuple[Path, Path]:
    space_path = tmp_path / "space.json"
    space_path.write_text(json.dumps(SPACE))
    space = load_space_file(space_path)
    table_path = tmp_path / "table.csv"
    with table_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch", "val"])
        for arch in space.enumerate():
            writer.writerow([json.dumps(space.to_json(arch)), toy_accuracy(space, arch)])
    return space_path, table_path


@pytest.mark.slow
def test_predictor_ranks_held_out_cells_and_writes_its_outputs(tmp_path: Path) -> None:
    space_path, table_path = write_table(tmp_path)
    space = load_space_file(space_path)
    archs, values = table_data(table_path, space, "val", arch_column="arch", arch_format="json")
    assert len(archs) == len({space.key(a) for a in archs}) and len(archs) == len(values)
    seen: list[PredictorRun] = []
    options = FitOptions(**SMALL_FIT)  # type: ignore[arg-type]
    runs = evaluate_predictor(
        space,
        archs,
        values,
        [30, 120],
        [0, 1],
        dataset="toy",
        test_size=500,
        options=options,
        progress=seen.append,
    )
    assert [(r.train_size, r.seed) for r in runs] == [(30, 0), (30, 1), (120, 0), (120, 1)]
    assert seen == runs and all(r.test_size == 500 for r in runs)
    # The toy is a smooth function of the live ops, so the surrogate must rank it well.
    assert all(
        r.kendall_tau > 0.6 and r.spearman > r.kendall_tau for r in runs if r.train_size == 120
    )
    summaries = summarise(runs)
    assert [(s.train_size, s.runs) for s in summaries] == [(30, 2), (120, 2)]
    big = summaries[1]
    assert big.tau_mean == pytest.approx(np.mean([r.kendall_tau for r in runs[2:]]))
    assert "toy" in format_summary(summaries)
    with write_runs_csv(runs, tmp_path / "out" / "runs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and float(rows[0]["kendall_tau"]) == pytest.approx(runs[0].kendall_tau)
    assert plot_summary(summaries, tmp_path / "out" / "tau.png").stat().st_size > 0


def test_predictor_refuses_impossible_training_sizes(tmp_path: Path) -> None:
    space_path, table_path = write_table(tmp_path)
    space = load_space_file(space_path)
    archs, values = table_data(table_path, space, "val", arch_column="arch", arch_format="json")
    options = FitOptions(gcn=GCNConfig(num_layers=1, width=4), epochs=1)
    with pytest.raises(ValueError, match="train size"):
        evaluate_predictor(space, archs, values, [len(archs)], [0], options=options)
    with pytest.raises(ValueError, match="values"):
        evaluate_predictor(space, archs, values[:-1], [10], [0], options=options)


@pytest.mark.slow
def test_cli_bench_predictor_overrides_the_defaults_and_reports_bad_options(
    tmp_path: Path,
) -> None:
    from service.cli.main import app

    space_path, table_path = write_table(tmp_path)
    out = tmp_path / "cli"
    common = [
        "bench", "predictor", "--csv", str(table_path), "--space", str(space_path),
        "--arch-column", "arch", "--arch-format", "json", "--objective", "val",
        "--train-sizes", "40", "--seeds", "1", "--test-size", "200", "--out", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(app, [*common, "--fit-options", json.dumps(SMALL_FIT)])
    assert result.exit_code == 0, result.output
    assert "tau" in result.output
    for name in ("predictor_runs.csv", "predictor_summary.txt", "predictor_tau.png"):
        assert (out / name).is_file(), name
    # BONAS's own graph (zero ops kept) is one flag away, for comparisons.
    kept = CliRunner().invoke(app, [*common, "--fit-options", json.dumps(SMALL_FIT), "--keep-dead"])
    assert kept.exit_code == 0, kept.output
    bad = CliRunner().invoke(app, [*common, "--fit-options", '{"no_such_option": 1}'])
    assert bad.exit_code == 1 and "no_such_option" in bad.output
