"""Service settings, read from the environment (prefix ``BONAS_``) or a ``.env`` file.

Only the edges (the CLI, the app factory) build a `Settings`; library code receives plain values.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./bonas-data/bonas.db"


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
        max_attempts: How many leases a batch gets before it is marked failed.
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
    max_attempts: int = Field(default=3, ge=1)
