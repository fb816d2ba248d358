"""Serve a bonas app with uvicorn on a free port from a background thread, for API tests.

A real server (rather than an in-process transport) runs the app's lifespan, speaks real HTTP to
the worker client and the CLI, and answers from uvicorn's own threads, as in production.
"""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI

from tests.support.processes import free_port


class ServiceServer:
    """Runs `app` under uvicorn in a daemon thread until `stop`.

    Args:
        app: The app (from `service.app.create_app`).
        port: Port to bind (default: a free one).
    """

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="api-server")
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the bonas app did not start on port {self.port}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bonas app took over {timeout_s} s to start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(30)
        self._server = None
        self._thread = None

    def __enter__(self) -> ServiceServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
