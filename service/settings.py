"""Service settings, read from the environment (prefix ``BONAS_``) or a ``.env`` file.

Only the edges (the CLI, the app factory) build a `Settings`; library code receives plain values.
Secrets are refused when they look like a placeholder copied from an example file: a service
that starts with ``changeme`` as its admin token is worse than one that refuses to start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.states import DEFAULT_MAX_ATTEMPTS

DEFAULT_DATABASE_URL = "sqlite:///./bonas-data/bonas.db"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""Largest request body by default: a search spec or a batch report is a few kilobytes."""
MIN_SECRET_LENGTH = 16
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "changethis",
        "change-me",
        "change_me",
        "secret",
        "password",
        "admin",
        "token",
        "example",
        "xxx",
        "todo",
    }
)
"""Lower-cased values (or prefixes) that mark a secret as copied from an example."""


def _path_list(value: object) -> object:
    """``a:b`` (as `PATH` is written) or a JSON list, from the environment; lists as they are."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part for part in text.split(os.pathsep) if part]
    return value


class Settings(BaseSettings):
    """Everything the service reads from its environment.

    Attributes:
        database_url: SQLAlchemy URL. SQLite files (the default, under ``./bonas-data/``, whose
            directory is created on first use) or PostgreSQL (``postgresql+psycopg://...``; a bare
            ``postgresql://`` is read as psycopg 3).
        db_pool_size: Connections kept open per process (PostgreSQL).
        db_max_overflow: Extra connections allowed under load (PostgreSQL).
        db_echo: Log every SQL statement (debugging).
        host: Address the API binds to.
        port: Port the API binds to.
        lease_seconds: How long a worker's lease on a batch lasts without a heartbeat.
        heartbeat_interval_s: How often workers are told to heartbeat (default: a quarter of
            ``lease_seconds``, so three heartbeats may be lost before a lease lapses).
        poll_interval_s: How long a worker without work waits before asking again.
        max_attempts: How many leases a batch gets before it is marked failed.
        round_timeout_s: Longest a controller round (one search's refit and proposal, run in
            its own process) may take before it is killed and counted as a failed round
            (docs/limits.md).
        worker_stale_seconds: A worker not seen for this long is flagged stale (default:
            ``lease_seconds``).
        token_cache_seconds: How long a verified token is trusted without a database lookup
            (0: look it up on every request). A token revoked outside the API stops working
            within this time.
        admin_token: A bootstrap admin token (BONAS_ADMIN_TOKEN), accepted besides the tokens in
            the store, so that a fresh deployment can create the first tokens over HTTP. At least
            16 characters and not a placeholder.
        admin_name: Owner name the bootstrap admin token acts as.
        cors_origins: Origins allowed by CORS (empty: CORS is off, the default).
        data_roots: Directories (BONAS_DATA_ROOTS: a JSON list, or paths separated by ``:``)
            under which the service reads the benchmark tables that searches name, for the
            dashboard's random-search baseline. Table paths are names relative to these roots
            (`workers.data_roots`); with none (the default) the service reads no file at all
            and the baseline answers "not available". Workers have their own roots
            (``bonas worker --data-root``).
        max_body_bytes: Largest request body the API reads, in bytes (default 1 MiB); a larger
            ``Content-Length`` or streamed body is answered 413 before it is parsed.
    """

    model_config = SettingsConfigDict(
        env_prefix="BONAS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = DEFAULT_DATABASE_URL
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=40, ge=0)
    db_echo: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    lease_seconds: float = Field(default=120.0, gt=0)
    heartbeat_interval_s: float | None = Field(default=None, gt=0)
    poll_interval_s: float = Field(default=2.0, gt=0)
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1)
    round_timeout_s: float = Field(default=900.0, gt=0, le=86_400)
    worker_stale_seconds: float | None = Field(default=None, gt=0)
    token_cache_seconds: float = Field(default=5.0, ge=0)
    admin_token: SecretStr | None = None
    admin_name: str = Field(default="admin", min_length=1, max_length=200)
    cors_origins: list[str] = Field(default_factory=list)
    data_roots: Annotated[list[Path], NoDecode, BeforeValidator(_path_list)] = Field(
        default_factory=list
    )
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024, le=2**30)

    @field_validator("admin_token")
    @classmethod
    def _real_secret(cls, token: SecretStr | None) -> SecretStr | None:
        if token is None or token.get_secret_value() == "":
            return None
        value = token.get_secret_value()
        lowered = value.lower()
        if any(lowered.startswith(p) for p in PLACEHOLDER_SECRETS):
            raise ValueError(
                "BONAS_ADMIN_TOKEN looks like a placeholder; set a random value, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"BONAS_ADMIN_TOKEN must be at least {MIN_SECRET_LENGTH} characters long"
            )
        return token

    @model_validator(mode="after")
    def _heartbeat_fits_lease(self) -> Settings:
        if (
            self.heartbeat_interval_s is not None
            and self.heartbeat_interval_s >= self.lease_seconds
        ):
            raise ValueError(
                f"heartbeat_interval_s ({self.heartbeat_interval_s}) must be shorter than "
                f"lease_seconds ({self.lease_seconds})"
            )
        return self

    @property
    def heartbeat_seconds(self) -> float:
        """The heartbeat interval told to workers."""
        return self.heartbeat_interval_s or self.lease_seconds / 4

    @property
    def stale_seconds(self) -> float:
        """How long a worker may stay silent before it is flagged stale."""
        return self.worker_stale_seconds or self.lease_seconds
