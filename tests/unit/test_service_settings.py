"""Service settings: environment variables, refused placeholder secrets, derived intervals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_defaults_and_derived_intervals() -> None:
    plain = settings()
    assert plain.database_url == "sqlite:///./bonas-data/bonas.db"
    assert plain.admin_token is None and plain.cors_origins == []
    assert plain.heartbeat_seconds == pytest.approx(plain.lease_seconds / 4)
    assert plain.stale_seconds == plain.lease_seconds
    tuned = settings(lease_seconds=60, heartbeat_interval_s=5, worker_stale_seconds=20)
    assert (tuned.heartbeat_seconds, tuned.stale_seconds) == (5, 20)


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BONAS_PORT", "9001")
    monkeypatch.setenv("BONAS_ADMIN_TOKEN", "k3y-" + "q" * 30)
    monkeypatch.setenv("BONAS_CORS_ORIGINS", '["https://lab.example.org"]')
    read = settings()
    assert read.port == 9001
    assert read.admin_token is not None and read.admin_token.get_secret_value().startswith("k3y-")
    assert "k3y" not in repr(read)  # secrets never show in logs
    assert read.cors_origins == ["https://lab.example.org"]


@pytest.mark.parametrize("token", ["changeme", "changethis-please-now-123", "secret12345678901234"])
def test_placeholder_admin_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        settings(admin_token=token)


def test_short_admin_tokens_are_refused_and_empty_means_none() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        settings(admin_token="x7Gq")
    assert settings(admin_token="").admin_token is None


def test_a_heartbeat_must_fit_in_a_lease() -> None:
    with pytest.raises(ValidationError, match="shorter than lease_seconds"):
        settings(lease_seconds=10, heartbeat_interval_s=10)
    with pytest.raises(ValidationError):
        settings(port=0)
