"""``bonas`` command-line processes for tests: start them, wait for the service, stop them.

The end-to-end and browser tests run what a user runs (``bonas serve``, ``bonas worker``) as
subprocesses of this interpreter, each writing to its own log file in a work directory, so a
failure can show the tail of every log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

BONAS_CLI = [sys.executable, "-c", "from service.cli.main import main; main()"]
"""``bonas`` run by this interpreter, so it needs no installed entry point."""


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bonas_env(**variables: str) -> dict[str, str]:
    """This process's environment with `variables` set on top."""
    return {**os.environ, **variables}


def spawn(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start ``bonas <args>`` in `cwd`, its stdout and stderr going to the file `log`."""
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*BONAS_CLI, *args], env=dict(env), cwd=cwd, stdout=handle, stderr=subprocess.STDOUT
        )


def wait_until_healthy(
    service: subprocess.Popen[bytes], url: str, logs: Callable[[], str], timeout_s: float
) -> None:
    """Poll ``<url>/api/v1/health`` until it answers 200; fail if `service` exits or time runs out.

    Args:
        service: The ``bonas serve`` process.
        url: Its base URL, ``http://host:port``.
        logs: What to show on failure (the processes' log tails).
        timeout_s: How long to wait.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise AssertionError(f"bonas serve exited with {service.returncode}:\n{logs()}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"bonas serve did not answer in time:\n{logs()}")


def worker_args(server: str, name: str, scratch: Path, *extra: str) -> list[str]:
    """The arguments of ``bonas worker`` on the CPU, named `name`, against `server`."""
    return [
        "worker",
        "--server",
        server,
        "--device",
        "cpu",
        "--name",
        name,
        "--scratch",
        str(scratch),
        *extra,
    ]


def stop(processes: Iterable[subprocess.Popen[bytes] | None], timeout_s: float = 30.0) -> None:
    """SIGTERM every live process, then wait for each, killing any that outlasts `timeout_s`."""
    started = [p for p in processes if p is not None]
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_tails(directory: Path, chars: int = 3000) -> str:
    """The last `chars` characters of every ``*.log`` file in `directory`, each under its name."""
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
        for p in sorted(directory.glob("*.log"))
    )


def submit_search(url: str, token: str, spec: dict[str, Any], timeout_s: float) -> int:
    """POST `spec` to the service at `url` as the user holding `token`; return the search id."""
    answer = httpx.post(
        f"{url}/api/v1/searches",
        json=spec,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout_s,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


__all__ = [
    "BONAS_CLI",
    "bonas_env",
    "free_port",
    "log_tails",
    "spawn",
    "stop",
    "submit_search",
    "wait_until_healthy",
    "worker_args",
]
