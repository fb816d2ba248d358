"""`bonas bench ...`: offline benchmarks of the search and the surrogate against tabular data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer

# Options shared by the commands that read a benchmark table.
CsvOption = Annotated[
    Path, typer.Option("--csv", help="Benchmark table (CSV).", exists=True, dir_okay=False)
]
SpaceOption = Annotated[
    str, typer.Option("--space", help="Built-in space name or declaration file.")
]
ArchColumnOption = Annotated[str, typer.Option("--arch-column", help="Architecture column.")]
ArchFormatOption = Annotated[
    str,
    typer.Option("--arch-format", help="string, json, key or matrix_ops (see surrogate.tables)."),
]

app = typer.Typer(
    help="Benchmark search strategies and the surrogate offline, against benchmark tables.",
    no_args_is_help=True,
)


def _int_list(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{what} is a comma-separated list of integers, got {text!r}"
        ) from None
    if not values:
        raise typer.BadParameter(f"{what} is empty")
    return values


def _method_options(text: str | None) -> dict[str, dict[str, Any]]:
    """Parse `--method-options`: a JSON object, or `@file.json`, keyed by method name."""
    if not text:
        return {}
    raw = Path(text[1:]).read_text() if text.startswith("@") else text
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"--method-options is not valid JSON: {error}") from None
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise typer.BadParameter(
            "--method-options is a JSON object of objects, "
            'e.g. \'{"evolution": {"population_size": 20}}\''
        )
    return options


@app.command()
def search(
    csv: CsvOption,
    objective: Annotated[str, typer.Option("--objective", help="Column the search maximises.")],
    report: Annotated[
        str, typer.Option("--report", help="Column reported for the best-by-objective cell.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for runs.csv, summary and plot.")],
    space: SpaceOption = "nb201",
    arch_column: ArchColumnOption = "arch_str",
    arch_format: ArchFormatOption = "string",
    k: Annotated[int, typer.Option("--k", min=1, help="Batch size: proposals per round.")] = 10,
    budget: Annotated[int, typer.Option("--budget", min=1, help="Queries per run.")] = 300,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Runs per method.")] = 30,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First seed.")] = 0,
    methods: Annotated[
        str, typer.Option("--methods", help="Comma-separated: random, evolution, local, bonas.")
    ] = "random,evolution,local",
    method_options: Annotated[
        str | None,
        typer.Option(
            "--method-options",
            help="JSON object (or @file.json) of options per method, e.g. '{\"bonas\": {...}}'.",
        ),
    ] = None,
    checkpoints: Annotated[
        str, typer.Option("--checkpoints", help="Query counts reported in the summary.")
    ] = "50,100,150,200,300",
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Parallel processes over runs.")] = 1,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> None:
    """Run whole searches against a table and report best-so-far and queries to the best cell.

    Writes runs.csv (every query of every run), summary.json, summary.txt and best_so_far.png
    into OUT, and prints the summary table.
    """
    from rich.console import Console
    from rich.table import Table

    from surrogate.bench.search import (
        MethodSpec,
        SearchBenchConfig,
        format_queries,
        run_benchmark,
        write_outputs,
    )
    from surrogate.exceptions import SurrogateError

    options = _method_options(method_options)
    names = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise typer.BadParameter(f"--method-options names methods not run: {unknown}")
    console = Console()
    try:
        config = SearchBenchConfig(
            csv=str(csv),
            objective=objective,
            report=report,
            space=space,
            arch_column=arch_column,
            arch_format=arch_format,
            k=k,
            budget=budget,
            seeds=tuple(range(seed_start, seed_start + seeds)),
            methods=tuple(MethodSpec(name, options.get(name, {})) for name in names),
            checkpoints=_int_list(checkpoints, "--checkpoints"),
            jobs=jobs,
        )
        result = run_benchmark(config, show_progress=progress)
        paths = write_outputs(result, out)
    except SurrogateError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=1) from error
    shown = [c for c in config.checkpoints if c <= budget]
    table = Table(title=f"{objective} -> {report}, k = {k}, {seeds} seeds")
    for column in ("method", *[f"@{c}" for c in shown], "queries to best", "found", "s/run"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for summary in result.summaries:
        table.add_row(
            summary.method,
            *[f"{summary.mean[c]:.2f} ± {summary.std[c]:.2f}" for c in shown],
            format_queries(summary.median_queries_to_best, budget),
            f"{summary.found}/{summary.runs}",
            f"{summary.seconds_per_run:.1f}",
        )
    console.print(table)
    console.print(
        f"best-{objective} cell: {report} = {result.best_report:.2f} "
        f"({objective} = {result.best_objective:.2f})"
    )
    for name, path in paths.items():
        console.print(f"{name}: {path}")


@app.command()
def predictor(
    csv: CsvOption,
    objective: Annotated[str, typer.Option("--objective", help="Column the surrogate predicts.")],
    out: Annotated[
        Path, typer.Option("--out", help="Directory for predictor_runs.csv, summary and plot.")
    ],
    space: SpaceOption = "nb201",
    arch_column: ArchColumnOption = "arch_str",
    arch_format: ArchFormatOption = "string",
    ops_column: Annotated[
        str, typer.Option("--ops-column", help="Op-list column (matrix_ops only).")
    ] = "ops",
    train_sizes: Annotated[
        str, typer.Option("--train-sizes", help="Comma-separated training-set sizes.")
    ] = "25,50,100,200,500,1000",
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Splits per size.")] = 5,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First seed.")] = 0,
    test_size: Annotated[
        int, typer.Option("--test-size", min=0, help="Held-out cells per run (0: all others).")
    ] = 5000,
    fit_options: Annotated[
        str | None,
        typer.Option(
            "--fit-options",
            help="JSON object (or @file.json) of FitOptions fields that override the "
            "proposer's defaults, e.g. '{\"blr_gcns\": 1}'.",
        ),
    ] = None,
    keep_dead: Annotated[
        bool,
        typer.Option(
            "--keep-dead",
            help="Encode zero ops and the nodes they cut off (BONAS's graph) instead of "
            "dropping them.",
        ),
    ] = False,
    label: Annotated[str | None, typer.Option("--label", help="Name of the dataset.")] = None,
) -> None:
    """Kendall tau and Spearman rho of the surrogate on held-out cells against training size.

    Writes predictor_runs.csv (one row per fit), predictor_summary.txt and predictor_tau.png
    into OUT, and prints the summary table.
    """
    from rich.console import Console

    from surrogate.bench.predictor import (
        evaluate_predictor,
        format_summary,
        plot_summary,
        summarise,
        table_data,
        write_runs_csv,
    )
    from surrogate.bench.search import resolve_space
    from surrogate.exceptions import SurrogateError
    from surrogate.proposer import DEFAULT_FIT

    console = Console()
    sizes = _int_list(train_sizes, "--train-sizes")
    raw = _json_object(fit_options, "--fit-options")
    try:
        options = dataclasses.replace(DEFAULT_FIT, **raw)
        arch_space = resolve_space(space)
        archs, values = table_data(
            csv,
            arch_space,
            objective,
            arch_column=arch_column,
            arch_format=arch_format,
            ops_column=ops_column,
        )
        name = label or f"{csv.stem}:{objective}"
        with console.status("fitting") as status:
            runs = evaluate_predictor(
                arch_space,
                archs,
                values,
                sizes,
                range(seed_start, seed_start + seeds),
                dataset=name,
                test_size=test_size or None,
                options=options,
                prune_dead=not keep_dead,
                progress=lambda run: status.update(
                    f"train {run.train_size}, seed {run.seed}: tau {run.kendall_tau:.3f}"
                ),
            )
    except (SurrogateError, ValueError, TypeError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=1) from error
    summaries = summarise(runs)
    text = format_summary(summaries)
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictor_summary.txt").write_text(text + "\n")
    paths = {
        "runs": write_runs_csv(runs, out / "predictor_runs.csv"),
        "summary": out / "predictor_summary.txt",
        "plot": plot_summary(summaries, out / "predictor_tau.png"),
    }
    console.print(f"{name}: {len(archs)} distinct architectures")
    typer.echo(text)
    for what, path in paths.items():
        console.print(f"{what}: {path}")


def _objective_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """Parse `--objectives`: `column:max,column:min` (2 or 3 of them)."""
    pairs = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        column, _, direction = part.rpartition(":")
        named = {"max": "maximize", "min": "minimize"}.get(direction, direction)
        if not column or named not in ("maximize", "minimize"):
            raise typer.BadParameter(
                f"--objectives takes column:max or column:min, comma-separated; got {part!r}"
            )
        pairs.append((column, named))
    if not 2 <= len(pairs) <= 3:
        raise typer.BadParameter(f"--objectives names 2 or 3 objectives, got {len(pairs)}")
    return tuple(pairs)


@app.command()
def multiobjective(
    csv: CsvOption,
    objectives: Annotated[
        str,
        typer.Option(
            "--objectives",
            help="2 or 3 columns with directions, e.g. "
            "'cifar10valid_val_200ep_1seed:max,edgegpu_latency:min'.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="JSON file of the summary and runs.")],
    join_csv: Annotated[
        Path | None,
        typer.Option(
            "--join-csv",
            help="Table of the columns CSV lacks (HW-NAS-Bench's hw_cifar10.csv).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    join_key: Annotated[
        str, typer.Option("--join-key", help="Key column of CSV and of the join table.")
    ] = "naslib_tuple,net",
    space: SpaceOption = "nb201",
    arch_column: ArchColumnOption = "arch_str",
    k: Annotated[int, typer.Option("--k", min=1, help="Batch size: proposals per round.")] = 10,
    budget: Annotated[int, typer.Option("--budget", min=1, help="Queries per run.")] = 200,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Runs per method.")] = 30,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First seed.")] = 0,
    methods: Annotated[
        str, typer.Option("--methods", help="Comma-separated: bonas, random, nsga2, motpe.")
    ] = "bonas,random,nsga2,motpe",
    checkpoints: Annotated[
        str, typer.Option("--checkpoints", help="Query counts reported.")
    ] = "100,200",
    known: Annotated[
        str, typer.Option("--known", help="Objective columns bonas takes as exact.")
    ] = "",
    bonas_options: Annotated[
        str | None,
        typer.Option(
            "--bonas-options",
            help="JSON (or @file.json) of MultiObjectiveOptions fields, e.g. "
            '\'{"acquisition": "qlognparego"}\'.',
        ),
    ] = None,
) -> None:
    """Multi-objective search against a table: hypervolume at each checkpoint per method.

    Objectives are normalised to [0, 1] by the table's bounds (1 = best), the reference point
    is -0.1 in each, and the ceiling is the hypervolume of the table's exact front
    (surrogate.pareto, surrogate.bench.multiobjective). nsga2 and motpe need Optuna
    (pip install 'bonas[bench]').
    """
    from rich.console import Console

    from surrogate.bench.multiobjective import (
        MultiBenchConfig,
        run_multi_benchmark,
        write_result,
    )
    from surrogate.exceptions import SurrogateError

    console = Console()
    left, _, right = join_key.partition(",")
    try:
        config = MultiBenchConfig(
            csv=str(csv),
            objectives=_objective_pairs(objectives),  # type: ignore[arg-type]
            join_csv=None if join_csv is None else str(join_csv),
            join_key=(left, right or left),
            space=space,
            arch_column=arch_column,
            k=k,
            budget=budget,
            seeds=tuple(range(seed_start, seed_start + seeds)),
            methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
            checkpoints=_int_list(checkpoints, "--checkpoints"),
            bonas=_json_object(bonas_options, "--bonas-options"),
            known=tuple(c.strip() for c in known.split(",") if c.strip()),
        )
        with console.status("searching") as status:
            result = run_multi_benchmark(
                config,
                on_trace=lambda t: status.update(f"{t.method} seed {t.seed}: {t.hypervolume}"),
            )
    except SurrogateError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=1) from error
    typer.echo(result.format_table())
    console.print(f"results: {write_result(result, out)}")


def _json_object(text: str | None, what: str) -> dict[str, Any]:
    """Parse a JSON object given inline or as `@file.json`."""
    if not text:
        return {}
    raw = Path(text[1:]).read_text() if text.startswith("@") else text
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"{what} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{what} must be a JSON object")
    return value


@app.command()
def constrained(
    csv: CsvOption,
    objective: Annotated[str, typer.Option("--objective", help="Column the search maximises.")],
    report: Annotated[
        str, typer.Option("--report", help="Column reported for the best feasible cell.")
    ],
    out: Annotated[Path, typer.Option("--out", help="JSON file of summaries and traces.")],
    max_: Annotated[
        list[str],
        typer.Option(
            "--max",
            help="A scenario METRIC=BOUND (repeatable); METRIC! marks it analytic (the "
            "constrained strategy reads it before querying), else it is modelled.",
        ),
    ],
    hw_csv: Annotated[
        Path | None,
        typer.Option("--hw-csv", help="HW-NAS-Bench cost table to join (keyed by NASLib tuple)."),
    ] = None,
    hw_columns: Annotated[str, typer.Option("--hw-columns", help="Its columns to join.")] = "",
    space: SpaceOption = "nb201",
    arch_column: ArchColumnOption = "arch_str",
    arch_format: ArchFormatOption = "string",
    k: Annotated[int, typer.Option("--k", min=1, help="Batch size: proposals per round.")] = 10,
    budget: Annotated[int, typer.Option("--budget", min=1, help="Queries per run.")] = 200,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Runs per method.")] = 30,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First seed.")] = 0,
    methods: Annotated[
        str,
        typer.Option("--methods", help="random-feasible, bonas, bonas-penalty, bonas-constrained."),
    ] = "random-feasible,bonas,bonas-constrained",
    bonas_options: Annotated[
        str | None, typer.Option("--bonas-options", help="JSON (or @file) of BonasOptions.")
    ] = None,
    checkpoints: Annotated[
        str, typer.Option("--checkpoints", help="Query counts reported in the summary.")
    ] = "10,50,100,200",
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Parallel processes over runs.")] = 1,
) -> None:
    """Search under bounds on a cost (surrogate.bench.constrained) and report the best feasible
    cell's REPORT per method, with the fraction of queries that broke the bound."""
    from surrogate.bench.constrained import (
        ConstrainedBenchConfig,
        Scenario,
        load_joined_table,
        run_constrained_benchmark,
        write_json,
    )
    from surrogate.constraints import MetricConstraint
    from surrogate.exceptions import SurrogateError

    scenarios = []
    for text in max_:
        metric, sep, bound = text.partition("=")
        try:
            value = float(bound)
        except ValueError:
            raise typer.BadParameter(f"--max is METRIC=BOUND, got {text!r}") from None
        if not sep or not metric.strip("!"):
            raise typer.BadParameter(f"--max is METRIC=BOUND, got {text!r}")
        name = metric.strip("!")
        scenarios.append(
            Scenario(f"{name}<={bound}", MetricConstraint(name, max=value), metric.endswith("!"))
        )
    try:
        config = ConstrainedBenchConfig(
            csv=str(csv),
            objective=objective,
            report=report,
            scenarios=tuple(scenarios),
            hw_csv=None if hw_csv is None else str(hw_csv),
            hw_columns=tuple(c for c in hw_columns.split(",") if c),
            space=space,
            arch_column=arch_column,
            arch_format=arch_format,
            k=k,
            budget=budget,
            seeds=tuple(range(seed_start, seed_start + seeds)),
            methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
            bonas_options=_json_object(bonas_options, "--bonas-options"),
            checkpoints=_int_list(checkpoints, "--checkpoints"),
            jobs=jobs,
        )
        traces = run_constrained_benchmark(config)
        _, table = load_joined_table(config)
        payload = write_json(out, config, traces, table)
    except SurrogateError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(payload["text"])
    typer.echo(f"json: {out}")
