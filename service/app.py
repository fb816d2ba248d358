"""The app factory: `create_app(settings)` builds the FastAPI app; nothing is built at import.

The lifespan opens the database, refuses to serve a schema that is not at the migration head
(the message says to run ``bonas db upgrade``), and runs the controller loop (the BONAS loop
as a service) beside the API for as long as the app lives.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service.api import ERROR_RESPONSES, api_router, metrics
from service.api_docs import install_docs
from service.auth import TokenCache
from service.dashboard import dashboard_router
from service.errors import install_error_handlers
from service.http_limits import RequestLimits, SecurityHeaders
from service.settings import Settings
from service.store import make_engine, safe_url, utcnow
from service.store.migrate import ensure_at_head

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Neural architecture search by Bayesian optimisation (BONAS) as a service.

Users submit searches and read their progress; worker daemons lease batches of architectures,
evaluate them and report; the controller proposes the next batches from a GCN surrogate.
Every endpoint but `/api/v1/health` needs `Authorization: Bearer <token>`
(tokens come from `bonas token create` or `POST /api/v1/tokens`); the token is checked before
the request body is read. Request bodies are limited to `BONAS_MAX_BODY_BYTES` (1 MiB by default;
413 above), and NUL characters are refused anywhere in a request (422).
"""


def create_app(settings: Settings | None = None, *, run_controller: bool = True) -> FastAPI:
    """Build the API.

    Args:
        settings: The service's settings (default: read from the environment and ``.env``).
        run_controller: Run the controller loop in the lifespan. Tests of the API alone turn it
            off and put batches in the store themselves.

    Returns:
        The app. Its lifespan opens the database when the server starts.
    """
    settings = settings or Settings()
    app = FastAPI(
        title="bonas",
        version=_version(),
        description=DESCRIPTION,
        lifespan=_lifespan(settings, run_controller),
        docs_url=None,  # served from the package by `install_docs`, not from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = None
    app.state.controller = None
    app.state.clock = utcnow  # `service.api.deps.ClockDep`; tests may set a fake
    app.state.request_stats = metrics.RequestStats()
    app.state.token_cache = TokenCache(settings.token_cache_seconds)
    install_error_handlers(app)
    app.include_router(api_router())
    app.include_router(metrics.router)
    app.include_router(dashboard_router(settings.data_roots), responses=ERROR_RESPONSES)
    install_docs(app)
    # Outermost last: metrics count every answer, the security headers go on refusals too, and
    # the token and the body's size are checked before anything reads the body.
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(metrics.RequestMetrics, stats=app.state.request_stats)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


def _lifespan(settings: Settings, run_controller: bool) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url,
            echo=settings.db_echo,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        controller = None
        try:
            ensure_at_head(engine)  # DatabaseNotAtHeadError says to run `bonas db upgrade`
            app.state.engine = engine
            if run_controller:
                from service.controller import Controller

                controller = Controller(engine, settings)
                await controller.start()
                app.state.controller = controller
            logger.info("serving %s", safe_url(settings.database_url))
            yield
        finally:
            app.state.controller = None
            if controller is not None:
                await controller.stop()
            app.state.engine = None
            engine.dispose()

    return lifespan


def _version() -> str:
    from workers.version import bonas_version

    return bonas_version()
