"""Host resources of a daemon: device names, scratch directories, the one-daemon-per-GPU lock."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from protocol import EvaluatorKind
from workers.exceptions import WorkerSetupError
from workers.host import (
    acquire_host_resources,
    default_worker_name,
    describe_host,
    normalise_device,
    safe_name,
)


@pytest.mark.parametrize(
    ("given", "expected"), [("cpu", "cpu"), ("CUDA", "cuda:0"), ("cuda:3", "cuda:3")]
)
def test_devices_are_normalised(given: str, expected: str) -> None:
    assert normalise_device(given) == expected


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "mps", "cuda:0,1", ""])
def test_unknown_devices_are_refused(bad: str) -> None:
    with pytest.raises(WorkerSetupError, match="unsupported device"):
        normalise_device(bad)


def test_names_are_safe_for_files_and_the_protocol() -> None:
    assert safe_name("gpu 07/../x") == "gpu-07-..-x"
    assert safe_name("///") == "worker"
    assert default_worker_name("cuda:1").endswith("-cuda1")


def test_cpu_capabilities_describe_this_process() -> None:
    capabilities = describe_host("cpu", (EvaluatorKind.TABLE,), "1.2.3")
    assert capabilities.pid == os.getpid() and capabilities.hostname == socket.gethostname()
    assert capabilities.evaluators == (EvaluatorKind.TABLE,)
    assert capabilities.memory_bytes is None or capabilities.memory_bytes > 0
    assert capabilities.device_name  # the CPU's model, so a measured latency names its hardware


def test_each_daemon_gets_its_own_scratch_directory_removed_on_close(tmp_path: Path) -> None:
    first = acquire_host_resources(tmp_path, "w", "cpu")
    other = acquire_host_resources(tmp_path, "other", "cpu")
    assert first.scratch_dir == tmp_path / f"w-{os.getpid()}"
    assert first.scratch_dir != other.scratch_dir
    (first.scratch_dir / "checkpoint.pt").write_bytes(b"x")
    first.close()
    assert not first.scratch_dir.exists() and other.scratch_dir.exists()
    other.close()


def test_scratch_left_by_a_dead_daemon_is_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f"w-{dead_pid}"
    stale.mkdir()
    (stale / "owner.json").write_text(
        json.dumps({"hostname": socket.gethostname(), "pid": dead_pid})
    )
    alive = tmp_path / "w-1"  # pid 1 is alive: left alone
    alive.mkdir()
    (alive / "owner.json").write_text(json.dumps({"hostname": socket.gethostname(), "pid": 1}))
    foreign = tmp_path / f"x-{dead_pid}"  # same pid on another host: left alone
    foreign.mkdir()
    (foreign / "owner.json").write_text(json.dumps({"hostname": "elsewhere", "pid": dead_pid}))
    resources = acquire_host_resources(tmp_path, "w", "cpu")
    assert not stale.exists() and alive.exists() and foreign.exists()
    resources.close()


def test_a_gpu_can_be_held_by_one_daemon_only(tmp_path: Path) -> None:
    holder = acquire_host_resources(tmp_path, "a", "cuda:0")
    with pytest.raises(WorkerSetupError, match="already used by a bonas worker"):
        acquire_host_resources(tmp_path, "b", "cuda:0")
    other_gpu = acquire_host_resources(tmp_path, "c", "cuda:1")  # another GPU is free
    holder.close()
    again = acquire_host_resources(tmp_path, "b", "cuda:0")  # released on close
    again.close()
    other_gpu.close()


def test_many_cpu_daemons_may_share_a_host(tmp_path: Path) -> None:
    held = [acquire_host_resources(tmp_path, f"cpu{i}", "cpu") for i in range(3)]
    assert len({r.scratch_dir for r in held}) == 3
    for resources in held:
        resources.close()


def test_an_unusable_scratch_base_is_a_setup_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(WorkerSetupError, match="scratch base"):
        acquire_host_resources(blocker / "sub", "w", "cpu")
