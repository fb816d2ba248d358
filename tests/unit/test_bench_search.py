"""Tests of the search benchmark harness on a tiny table written by the test."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from surrogate.bench.search import (
    BenchmarkError,
    MethodSpec,
    RunTrace,
    SearchBenchConfig,
    censored_median,
    run_benchmark,
    write_outputs,
)
from surrogate.spaces import load_space_file

SPACE = {"type": "macro", "name": "tiny", "num_layers": 3, "ops": ["a", "b", "c"]}


def write_table(tmp_path: Path) -> tuple[Path, Path, str]:
    """A 27-row table; the best objective (`val`) belongs to `c>c>c`, whose `test` is not the
    best `test`, so a harness that tracked the wrong column would be caught."""
    space_path = tmp_path / "space.json"
    space_path.write_text(json.dumps(SPACE))
    space = load_space_file(space_path)
    table_path = tmp_path / "table.csv"
    with table_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch", "val", "test"])
        for arch in space.enumerate():
            codes = space.to_codes(arch)
            val = float(sum(codes)) + 0.1 * codes[0]
            test = 50.0 + val if codes != (2, 2, 1) else 99.0
            writer.writerow([space.key(arch), val, test])
    return space_path, table_path, "c>c>c"


def config(space_path: Path, table_path: Path, **overrides: object) -> SearchBenchConfig:
    values: dict[str, object] = {
        "csv": str(table_path),
        "objective": "val",
        "report": "test",
        "space": str(space_path),
        "arch_column": "arch",
        "k": 4,
        "budget": 27,
        "seeds": (0, 1, 2),
        "methods": (MethodSpec("random"), MethodSpec("evolution"), MethodSpec("local")),
        "checkpoints": (5, 10, 27, 100),
    }
    values.update(overrides)
    return SearchBenchConfig(**values)  # type: ignore[arg-type]


def test_run_trace_best_so_far_follows_the_objective_not_the_report() -> None:
    trace = RunTrace(
        method="m",
        seed=0,
        keys=("x", "y", "z", "w"),
        objectives=(1.0, math.nan, 3.0, 2.0),
        reports=(10.0, 99.0, 5.0, 50.0),
        seconds=0.0,
    )
    objective, report = trace.best_so_far()
    assert objective.tolist() == [1.0, 1.0, 3.0, 3.0]
    assert report.tolist() == [10.0, 10.0, 5.0, 5.0]
    padded = trace.best_so_far(6)[1]
    assert padded.tolist() == [10.0, 10.0, 5.0, 5.0, 5.0, 5.0]
    assert trace.queries_to({"z"}) == 3
    assert trace.queries_to({"missing"}) is None


def test_censored_median() -> None:
    assert censored_median([3.0, 1.0, 2.0]) == 2.0
    assert censored_median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert censored_median([1.0, math.inf, 2.0]) == 2.0
    assert math.isinf(censored_median([1.0, math.inf, math.inf]))
    assert math.isinf(censored_median([1.0, 2.0, math.inf, math.inf]))


def test_harness_finds_the_best_cell_and_writes_every_output(tmp_path: Path) -> None:
    space_path, table_path, best_key = write_table(tmp_path)
    cfg = config(space_path, table_path)
    seen: list[tuple[str, int]] = []
    result = run_benchmark(cfg, on_trace=lambda t: seen.append((t.method, t.seed)))
    assert len(seen) == 9 and len(result.traces) == 9
    assert result.best_keys == {best_key}
    assert result.best_objective == pytest.approx(6.2)
    assert result.best_report == pytest.approx(56.2)
    for trace in result.traces:  # the budget is the whole space: every run sees every cell once
        assert sorted(trace.keys) == sorted(set(trace.keys)) and len(trace.keys) == 27
    for summary in result.summaries:
        runs = [t for t in result.traces if t.method == summary.method]
        hits = sorted(t.keys.index(best_key) + 1 for t in runs)
        assert summary.found == 3
        assert summary.median_queries_to_best == hits[1]
        assert summary.mean[27] == pytest.approx(56.2) and summary.std[27] == pytest.approx(0.0)
        at_five = [t.best_so_far()[1][4] for t in runs]
        assert summary.mean[5] == pytest.approx(np.mean(at_five))
        assert 100 not in summary.mean  # checkpoints beyond the budget are dropped

    paths = write_outputs(result, tmp_path / "out")
    with paths["runs"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 * 27
    assert set(rows[0]) >= {"method", "seed", "query", "arch_key", "objective", "report"}
    first_hit = next(r for r in rows if r["method"] == "random" and r["arch_key"] == best_key)
    random_summary = result.summaries[0]
    assert random_summary.method == "random"
    assert int(first_hit["query"]) in {t.keys.index(best_key) + 1 for t in result.traces}
    summary = json.loads(paths["summary_json"].read_text())
    assert [s["method"] for s in summary["summaries"]] == ["random", "evolution", "local"]
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "queries to best" in paths["summary_text"].read_text()


def test_queries_to_best_is_censored_when_the_budget_is_too_small(tmp_path: Path) -> None:
    space_path, table_path, best_key = write_table(tmp_path)
    cfg = config(space_path, table_path, budget=3, k=2, methods=(MethodSpec("random"),))
    result = run_benchmark(cfg)
    (summary,) = result.summaries
    assert all(len(t.keys) == 3 for t in result.traces)  # the last batch is cut to the budget
    assert summary.found == sum(best_key in t.keys for t in result.traces) < 2
    assert math.isinf(summary.median_queries_to_best)
    assert "> 3" in result.format_table()
    assert (
        json.loads(json.dumps(result.to_json()))["summaries"][0]["median_queries_to_best"] is None
    )


def test_harness_refuses_unknown_methods_columns_and_options(tmp_path: Path) -> None:
    space_path, table_path, _ = write_table(tmp_path)
    with pytest.raises(BenchmarkError, match="unknown method"):
        MethodSpec("annealing")
    with pytest.raises(BenchmarkError, match="not a metric"):
        run_benchmark(config(space_path, table_path, report="nope"))
    with pytest.raises(BenchmarkError, match="bad strategy options"):
        run_benchmark(
            config(space_path, table_path, methods=(MethodSpec("evolution", {"size": 3}),))
        )
    with pytest.raises(BenchmarkError, match="distinct"):
        config(space_path, table_path, methods=(MethodSpec("random"), MethodSpec("random")))


def test_cli_bench_search_runs_and_writes_outputs(tmp_path: Path) -> None:
    from service.cli.main import app

    space_path, table_path, _ = write_table(tmp_path)
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app,
        [
            "bench", "search",
            "--csv", str(table_path), "--space", str(space_path), "--arch-column", "arch",
            "--objective", "val", "--report", "test", "--k", "3", "--budget", "12",
            "--seeds", "2", "--methods", "random,evolution",
            "--method-options", '{"evolution": {"population_size": 6, "tournament_size": 2}}',
            "--checkpoints", "6,12", "--out", str(out), "--no-progress",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "evolution" in result.output and "queries to best" in result.output
    assert (out / "runs.csv").is_file() and (out / "best_so_far.png").is_file()
    bad = CliRunner().invoke(
        app,
        ["bench", "search", "--csv", str(table_path), "--space", str(space_path),
         "--arch-column", "arch", "--objective", "val", "--report", "nope", "--out", str(out)],
    )  # fmt: skip
    assert bad.exit_code == 1 and "nope" in bad.output


@pytest.mark.slow
def test_parallel_jobs_give_the_same_runs_as_one_process(tmp_path: Path) -> None:
    space_path, table_path, _ = write_table(tmp_path)
    serial = run_benchmark(config(space_path, table_path, budget=12))
    parallel = run_benchmark(config(space_path, table_path, budget=12, jobs=2))
    assert [t.keys for t in serial.traces] == [t.keys for t in parallel.traces]


def test_bonas_runs_through_the_harness_with_a_sampler_mixture(tmp_path: Path) -> None:
    pytest.importorskip("surrogate.proposer")
    space_path, table_path, _ = write_table(tmp_path)
    options = {
        "n_init": 4,
        "pool_size": 8,
        "fit": {"epochs": 3, "warm_epochs": 1, "gcn": {"num_layers": 1, "width": 8}},
        "samplers": {"uniform": 1, "mutation": {"weight": 1, "options": {"top_m": 2}}},
    }
    result = run_benchmark(
        config(
            space_path, table_path, budget=10, seeds=(0,), methods=(MethodSpec("bonas", options),)
        )
    )
    (trace,) = result.traces
    assert len(trace.keys) == 10 and len(set(trace.keys)) == 10
    with pytest.raises(BenchmarkError, match="bad strategy options"):
        run_benchmark(
            config(space_path, table_path, methods=(MethodSpec("bonas", {"samplers": {"x": 1}}),))
        )
