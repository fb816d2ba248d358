"""The data-parallel path on a CPU: 2 processes under `torchrun` with the gloo backend.

Run as a script by `torchrun` (see `_worker`), this file is also the per-rank program of the
first test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from surrogate.spaces import get_space
from workers.datasets import DatasetSpec, TrainBatches, load_dataset
from workers.supernets import build_supernet
from workers.training import TrainingStopped, TrainOptions, TrainProgress
from workers.training.ddp import run_ddp
from workers.training.distributed import init_from_env
from workers.training.trainer import TrainingSession, supernet_config

REPO = Path(__file__).resolve().parents[2]
OPTIONS = TrainOptions(batch_size=32, eval_batch_size=128, channels=4, log_every=1)

pytestmark = pytest.mark.slow


def _archs(k: int) -> list[tuple[str, ...]]:
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    return [space.sample(rng) for _ in range(k)]


def _worker(out: Path) -> None:
    """One rank: different initial weights per rank, then three steps, then save."""
    import torch.distributed as dist

    context = init_from_env("gloo")
    dataset = load_dataset(DatasetSpec(max_train=128))
    archs = _archs(3)
    torch.manual_seed(100 + context.rank)  # DDP must broadcast rank 0's weights
    net = build_supernet(get_space("nb201"), archs, supernet_config(dataset, OPTIONS))
    torch.save(net.state_dict(), out / f"init{context.rank}.pt")
    session = TrainingSession(net, dataset, OPTIONS, context.device, distributed=context)
    session.total_steps = 3
    first_shard = next(
        TrainBatches(dataset, OPTIONS.batch_size, "cpu", OPTIONS.seed, context.rank, 2)
    )
    torch.save(first_shard, out / f"batch{context.rank}.pt")  # what this rank trains on first
    for arch in (archs[0], None, archs[1]):
        session.train_step(arch)
    torch.save(dict(net.named_parameters()), out / f"rank{context.rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def test_two_gloo_ranks_hold_the_same_weights_after_steps(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        __file__, str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    init = [torch.load(tmp_path / f"init{r}.pt") for r in range(2)]
    final = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    batches = [torch.load(tmp_path / f"batch{r}.pt") for r in range(2)]
    assert not torch.equal(batches[0][0], batches[1][0])  # each rank saw its own shard
    assert any(not torch.equal(init[0][n], init[1][n]) for n in final[0])  # started apart
    for name, value in final[0].items():
        assert torch.equal(value, final[1][name]), name
    assert any(not torch.equal(value, init[0][name]) for name, value in final[0].items())


def test_run_ddp_trains_a_batch_and_reports_progress(tmp_path: Path) -> None:
    archs = _archs(3)
    options = TrainOptions(**{**OPTIONS.to_dict(), "steps_per_member": 2, "warmup_epochs": 1})
    reports: list[TrainProgress] = []
    results = run_ddp(
        get_space("nb201"),
        archs,
        DatasetSpec(max_train=128),
        options,
        nproc=2,
        progress=reports.append,
        backend="gloo",
        workdir=tmp_path,
        extra_env={"PYTHONPATH": str(REPO)},
    )
    assert [r.arch for r in results] == archs
    assert all(0 <= r.metrics["val_accuracy"] <= 100 for r in results)
    assert [r.phase for r in reports][:1] == ["warmup"]
    assert reports[-1].phase == "evaluate" and reports[-1].member == 2
    assert list(tmp_path.iterdir()) == []  # the scratch directory is cleaned up


def test_run_ddp_stops_every_rank_at_the_flag(tmp_path: Path) -> None:
    reports: list[TrainProgress] = []
    options = TrainOptions(**{**OPTIONS.to_dict(), "steps_per_member": 500})
    with pytest.raises(TrainingStopped):
        run_ddp(
            get_space("nb201"),
            _archs(2),
            DatasetSpec(max_train=128),
            options,
            nproc=2,
            progress=reports.append,
            should_stop=lambda: bool(reports),
            backend="gloo",
            workdir=tmp_path,
            extra_env={"PYTHONPATH": str(REPO)},
        )
    assert reports and reports[-1].step < 1000


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
