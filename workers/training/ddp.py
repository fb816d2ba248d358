"""Data-parallel training of one batch over the GPUs of one host, under `torchrun`.

A batch whose supernet or data is too large for one GPU trains on several: every process
builds the same supernet (same seed), takes its shard of each global batch, and DDP averages
the gradients, so all ranks hold the same weights after every step. Evaluation shards the
validation part and sums the counts. Rank 0 writes the results.

Two ways in:

* the entry point, run by `torchrun` (one process per GPU)::

      torchrun --standalone --nproc-per-node 4 -m workers.training.ddp \\
          --request batch.json --output results.json [--progress progress.jsonl] \\
          [--stop-file STOP] [--backend gloo]

  where `batch.json` holds `{"space": space.describe(), "archs": [space.to_json(a), ...],
  "dataset": DatasetSpec.to_dict(), "options": TrainOptions.to_dict()}`;

* `run_ddp(...)`, which a daemon calls like `train_batch`: it writes the request, starts
  `torchrun` as a subprocess, relays progress lines, turns `should_stop` into the stop file
  (every rank polls it and they stop together), and reads the results back.

On a CPU the same code runs with the gloo backend (that is how the tests exercise it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import torch.distributed as dist

from surrogate.spaces import space_from_spec
from surrogate.spaces.base import SearchSpace
from workers.datasets import DatasetSpec, load_dataset
from workers.training.distributed import init_from_env
from workers.training.exceptions import TrainingError, TrainingStopped
from workers.training.options import TrainOptions
from workers.training.results import MemberResult, TrainProgress
from workers.training.trainer import train_weight_sharing

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2
STOPPED_EXIT_CODE = 3
"""Exit status of ranks that stopped because the stop file appeared."""


def build_request(
    space: SearchSpace[Any], archs: Sequence[Any], dataset: DatasetSpec, options: TrainOptions
) -> dict[str, Any]:
    """The JSON request that the entry point reads."""
    return {
        "space": space.describe(),
        "archs": [space.to_json(arch) for arch in archs],
        "dataset": dataset.to_dict(),
        "options": options.to_dict(),
    }


def _result_json(space: SearchSpace[Any], result: MemberResult) -> dict[str, Any]:
    return {
        "key": result.key,
        "arch": space.to_json(result.arch),
        "metrics": dict(result.metrics),
        "timings": dict(result.timings),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of each `torchrun` process; returns its exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--request", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--progress", type=Path, default=None)
    parser.add_argument("--stop-file", type=Path, default=None)
    parser.add_argument("--backend", choices=("nccl", "gloo"), default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s rank%(process)d %(message)s")

    request = json.loads(args.request.read_text())
    space = space_from_spec(request["space"])
    archs = [space.from_json(value) for value in request["archs"]]
    dataset = load_dataset(DatasetSpec.from_dict(request["dataset"]))
    options = TrainOptions.from_dict(request["options"])
    context = init_from_env(args.backend)
    progress_file: IO[str] | None = None
    if context.is_main and args.progress is not None:
        progress_file = args.progress.open("a", encoding="utf-8")

    def progress(update: TrainProgress) -> None:
        if progress_file is not None:
            progress_file.write(json.dumps(update.__dict__) + "\n")
            progress_file.flush()

    stop_file = args.stop_file

    def should_stop() -> bool:
        return stop_file is not None and stop_file.exists()

    try:
        results = train_weight_sharing(
            space,
            archs,
            dataset,
            options,
            progress=progress,
            should_stop=should_stop,
            distributed=context,
        )
        if context.is_main:
            payload = {"results": [_result_json(space, r) for r in results]}
            partial = args.output.with_suffix(args.output.suffix + ".part")
            partial.write_text(json.dumps(payload))
            partial.replace(args.output)
        dist.barrier()
    except TrainingStopped:
        logger.info("rank %d stopped", context.rank)
        return STOPPED_EXIT_CODE
    finally:
        if progress_file is not None:
            progress_file.close()
        dist.destroy_process_group()
    return 0


def run_ddp(
    space: SearchSpace[Any],
    archs: Sequence[Any],
    dataset: DatasetSpec,
    options: TrainOptions,
    nproc: int,
    progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    backend: str | None = None,
    workdir: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> list[MemberResult]:
    """Train a batch with `nproc` data-parallel processes on this host and wait for the results.

    Args:
        space: The search space.
        archs: The batch.
        dataset: Description of the dataset (each process loads it).
        options: Training options (`batch_size` is the global batch).
        nproc: Number of processes (one per GPU).
        progress: Receives rank 0's progress reports.
        should_stop: Polled a few times per second; when True, every rank stops at its next
            step and `TrainingStopped` is raised.
        backend: `"nccl"` or `"gloo"`; by default NCCL with CUDA, gloo without.
        workdir: Scratch directory for the request, results and progress files (a fresh
            temporary one by default, so that several daemons on a host never collide).
        extra_env: Extra environment variables for the processes.

    Raises:
        TrainingStopped: `should_stop` returned True.
        TrainingError: The processes failed (the message holds the end of their output).
    """
    if options.batch_size % nproc:
        raise TrainingError(
            f"batch_size {options.batch_size} must be a multiple of the {nproc} processes"
        )
    with tempfile.TemporaryDirectory(prefix="bonas-ddp-", dir=workdir) as scratch:
        root = Path(scratch)
        request, output = root / "request.json", root / "results.json"
        progress_path, stop_path = root / "progress.jsonl", root / "STOP"
        request.write_text(json.dumps(build_request(space, archs, dataset, options)))
        progress_path.touch()
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nproc}", "-m", "workers.training.ddp",
            "--request", str(request), "--output", str(output),
            "--progress", str(progress_path), "--stop-file", str(stop_path),
        ]  # fmt: skip
        if backend is not None:
            command += ["--backend", backend]
        env = {**os.environ, **(extra_env or {})}
        log_path = root / "torchrun.log"
        with log_path.open("wb") as log, progress_path.open(encoding="utf-8") as reader:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            stopped = _follow(process, reader, progress, should_stop, stop_path)
        if stopped:
            raise TrainingStopped("the data-parallel run stopped at the stop flag")
        if process.returncode != 0 or not output.exists():
            tail = log_path.read_bytes()[-4000:].decode("utf-8", errors="replace")
            raise TrainingError(f"torchrun exited with status {process.returncode}:\n{tail}")
        payload = json.loads(output.read_text())
    return [
        MemberResult(
            key=item["key"],
            arch=space.from_json(item["arch"]),
            metrics=item["metrics"],
            timings=item["timings"],
        )
        for item in payload["results"]
    ]


def _follow(
    process: subprocess.Popen[bytes],
    reader: IO[str],
    progress: Callable[[TrainProgress], None] | None,
    should_stop: Callable[[], bool] | None,
    stop_path: Path,
) -> bool:
    """Relay progress until the process exits; returns whether a stop was requested."""
    stop_requested = False
    pending = ""
    while True:
        finished = process.poll() is not None
        pending += reader.read()
        *lines, pending = pending.split("\n")
        for line in lines:
            if line and progress is not None:
                progress(TrainProgress(**json.loads(line)))
        if finished:
            return stop_requested
        if not stop_requested and should_stop is not None and should_stop():
            stop_path.touch()
            stop_requested = True
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
