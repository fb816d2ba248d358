"""`DistributedContext`: this process's place in a data-parallel group, and its collectives.

Under `torchrun` every process trains the same supernet on its own shard of each global batch;
`DistributedDataParallel` averages the gradients. The trainers take an optional context and do
three things differently with one: wrap the supernet in DDP for training steps, shard training
and validation batches by rank, and agree on stopping (if any process's stop flag is raised,
all stop at the same step, so none is left waiting in a collective).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from workers.training.exceptions import TrainingError


@dataclass(frozen=True)
class DistributedContext:
    """Rank, size and device of this process in an initialised process group.

    Attributes:
        rank: Global rank (0 is the one that reports).
        world_size: Number of processes.
        local_rank: Rank on this host (selects the GPU).
        device: This process's device.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """`model` in `DistributedDataParallel`, tolerant of the per-step paths of a supernet.

        Each step trains one member's path, so most parameters are unused in a given step:
        `find_unused_parameters` makes DDP mark them ready instead of waiting for them. Every
        rank runs the same member at the same step (same seed, same schedule).
        """
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)

    def any(self, flag: bool) -> bool:
        """True on every rank if `flag` is true on some rank."""
        value = torch.tensor([1.0 if flag else 0.0], device=self._collective_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum of `values` over all ranks (returned on `values`' device)."""
        reduced = values.detach().to(self._collective_device(), torch.float64).clone()
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        return reduced.to(values.device)

    def _collective_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def init_from_env(backend: str | None = None) -> DistributedContext:
    """Join the process group that `torchrun` describes in the environment.

    Uses NCCL when CUDA is available (one GPU per process, chosen by `LOCAL_RANK`), gloo
    otherwise.

    Raises:
        TrainingError: The process was not started by `torchrun` (no `RANK`/`WORLD_SIZE`).
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise TrainingError("not started by torchrun: RANK and WORLD_SIZE are not set")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and backend != "gloo"
    backend = backend or ("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        device=device,
    )
