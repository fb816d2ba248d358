"""What a daemon knows about its machine: device, capabilities, GPU lock, scratch directory.

Several daemons may run on one host (one per GPU, or several CPU ones). They never collide:
each has its own scratch directory keyed by name and process id, and a daemon that trains on a
GPU holds an exclusive lock on that GPU for its lifetime, so a second daemon on the same GPU
refuses to start.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from protocol import EvaluatorKind, WorkerCapabilities
from workers.exceptions import WorkerSetupError

logger = logging.getLogger(__name__)

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")
_OWNER_FILE = "owner.json"


def normalise_device(device: str) -> str:
    """``"cpu"`` or ``"cuda:N"`` (``"cuda"`` means ``"cuda:0"``).

    Raises:
        WorkerSetupError: Not a device a daemon can train on.
    """
    device = device.strip().lower()
    if not _DEVICE.match(device):
        raise WorkerSetupError(f"unsupported device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    return "cuda:0" if device == "cuda" else device


def safe_name(text: str) -> str:
    """`text` reduced to characters safe in file names and worker names."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned[:100] or "worker"


def default_worker_name(device: str) -> str:
    """``<host>-<device>``, e.g. ``gpu07-cuda0``: unique per host as long as one daemon per GPU."""
    return safe_name(f"{socket.gethostname()}-{device.replace(':', '')}")


def default_scratch_base() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bonas" / "workers"


def describe_host(
    device: str, evaluators: tuple[EvaluatorKind, ...], version: str
) -> WorkerCapabilities:
    """The capabilities a daemon registers with.

    Raises:
        WorkerSetupError: A CUDA device was asked for and is not usable here.
    """
    device_name: str | None = None
    memory: int | None = None
    if device.startswith("cuda"):
        import torch  # only GPU daemons pay for importing torch before the first batch

        index = int(device.split(":")[1])
        if not torch.cuda.is_available():
            raise WorkerSetupError(f"device {device} asked for, but CUDA is not available here")
        if index >= torch.cuda.device_count():
            raise WorkerSetupError(
                f"device {device} asked for, but this host has {torch.cuda.device_count()} GPU(s)"
            )
        properties = torch.cuda.get_device_properties(index)
        device_name, memory = properties.name, int(properties.total_memory)
    else:
        from workers.latency import device_label  # imports torch, as the trainer does anyway

        # The CPU's model, so that a latency a CPU worker measures can be traced to the
        # hardware that measured it (a GPU daemon names its GPU above).
        device_name = device_label("cpu")
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            memory = None
    return WorkerCapabilities(
        device=device,
        device_name=device_name,
        memory_bytes=memory,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        version=version,
        evaluators=evaluators,
    )


@dataclass
class HostResources:
    """The scratch directory and device lock one daemon holds; `close` gives them back."""

    scratch_dir: Path
    _lock_handle: IO[str] | None = None

    def close(self) -> None:
        shutil.rmtree(self.scratch_dir, ignore_errors=True)
        if self._lock_handle is not None:
            self._lock_handle.close()  # closing the descriptor drops the flock
            self._lock_handle = None


def acquire_host_resources(base: Path, name: str, device: str) -> HostResources:
    """Create this daemon's scratch directory and, for a GPU, lock the GPU.

    The scratch directory is ``base/<name>-<pid>``; directories left by daemons of this host
    that died without cleaning up (SIGKILL) are removed first.

    Raises:
        WorkerSetupError: The base directory is unusable, or another daemon holds the GPU.
    """
    hostname = socket.gethostname()
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WorkerSetupError(f"cannot create scratch base {str(base)!r}: {error}") from error
    lock_handle = _lock_device(base, hostname, device) if device.startswith("cuda") else None
    _remove_stale_scratch(base, hostname)
    scratch = base / f"{safe_name(name)}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)  # same pid on this host: left by a dead daemon
    scratch.mkdir(parents=True)
    (scratch / _OWNER_FILE).write_text(json.dumps({"hostname": hostname, "pid": os.getpid()}))
    logger.info("scratch directory %s", scratch)
    return HostResources(scratch_dir=scratch, _lock_handle=lock_handle)


def _lock_device(base: Path, hostname: str, device: str) -> IO[str]:
    path = base / f"{safe_name(hostname)}-{device.replace(':', '')}.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise WorkerSetupError(
            f"{device} on {hostname} is already used by a bonas worker ({holder}); run one "
            f"daemon per GPU (lock file {path})"
        ) from error
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


def _remove_stale_scratch(base: Path, hostname: str) -> None:
    for owner_file in base.glob(f"*/{_OWNER_FILE}"):
        try:
            owner = json.loads(owner_file.read_text())
            pid = int(owner["pid"])
            same_host = owner["hostname"] == hostname
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if same_host and pid != os.getpid() and not _alive(pid):
            logger.info("removing %s, left by dead worker pid %d", owner_file.parent, pid)
            shutil.rmtree(owner_file.parent, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
