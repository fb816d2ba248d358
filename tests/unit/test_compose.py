"""docker-compose.yml and the Dockerfile: the services exist and the commands they run are ours.

No Docker engine runs in CI, so the file is checked for what can go wrong without one: it parses,
declares postgres (with a healthcheck), a one-shot migrate, the api and GPU workers, and every
``bonas`` command line in it parses against the real CLI (unknown options fail here, not at
deployment). The environment variables it sets are ones the settings read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from service.cli.main import app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def bonas_commands(services: dict[str, Any]) -> dict[str, list[str]]:
    """Each service's ``bonas`` command line (without the leading ``bonas``)."""
    commands = {}
    for name, service in services.items():
        command = service.get("command")
        if isinstance(command, list) and command and command[0] == "bonas":
            commands[name] = [str(part) for part in command[1:]]
    return commands


def test_declares_the_four_services(services: dict[str, Any]) -> None:
    assert {"postgres", "migrate", "api", "worker"} <= set(services)
    assert services["postgres"]["healthcheck"]["test"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    api_after = services["api"]["depends_on"]["migrate"]["condition"]
    assert api_after == "service_completed_successfully"
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in device["capabilities"] for device in devices)
    assert "ports" not in services["worker"]  # scaled with --scale worker=N: no fixed port


def test_services_run_the_expected_commands(services: dict[str, Any]) -> None:
    commands = bonas_commands(services)
    assert commands["migrate"][:2] == ["db", "upgrade"]
    assert commands["api"][0] == "serve"
    assert commands["worker"][0] == "worker"
    health = " ".join(services["api"]["healthcheck"]["test"])
    assert "/api/v1/health" in health


def parse_command(service: str, args: list[str]) -> Any:
    """The click context of ``bonas <args>``, parsed as a real run would, without running."""
    # Typer ships its own copy of click, so groups and errors are recognised by behaviour.
    root: Any = typer.main.get_command(app)
    command, parent, rest = root, root.context_class(root, info_name="bonas"), list(args)
    while hasattr(command, "get_command"):
        name, rest = rest[0], rest[1:]
        found = command.get_command(parent, name)
        assert found is not None, f"{service}: `bonas {name}` is not a command"
        command, parent = found, command.context_class(found, info_name=name, parent=parent)
    try:
        return command.make_context(command.name or "", rest, parent=parent.parent)
    except Exception as error:
        names = {cls.__name__ for cls in type(error).__mro__}
        assert "UsageError" not in names, f"{service}: `bonas {' '.join(args)}`: {error}"
        raise


def with_service_environment(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the variables compose would pass to `service`: literal values as written, and a
    stand-in for each value compose takes from the .env (``${NAME...}``)."""
    for variable, value in service.get("environment", {}).items():
        literal = str(value)
        monkeypatch.setenv(variable, f"value-of-{variable}" if "${" in literal else literal)


def test_every_command_line_parses_against_the_cli(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for service, args in bonas_commands(services).items():
        with monkeypatch.context() as patch:
            with_service_environment(services[service], patch)
            parse_command(service, args)


def test_no_secret_is_on_a_command_line(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Command lines are visible to every user of the host (`ps`); the environment is not.
    for service, args in bonas_commands(services).items():
        assert "--token" not in args, f"{service}: the token is on the command line"
        assert not any("TOKEN" in arg for arg in args), (service, args)
    assert "BONAS_WORKER_TOKEN" in services["worker"]["environment"]
    with_service_environment(services["worker"], monkeypatch)
    context = parse_command("worker", bonas_commands(services)["worker"])
    assert context.params["token"] == "value-of-BONAS_WORKER_TOKEN"


def test_each_command_answers_help(services: dict[str, Any]) -> None:
    runner = CliRunner()
    for service, args in bonas_commands(services).items():
        words = [a for a in args if not a.startswith("-")][:2]
        path = words[:2] if words[0] == "db" else words[:1]
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (service, result.output)
        flags = [a for a in args if a.startswith("--")]
        for flag in flags:
            assert flag in result.output, f"{service}: {flag} missing from `bonas {path} --help`"


def test_environment_variables_are_settings(services: dict[str, Any]) -> None:
    fields = {f"BONAS_{name.upper()}" for name in Settings.model_fields}
    for name in ("migrate", "api"):
        for variable in services[name].get("environment", {}):
            assert variable in fields, f"{name}: {variable} is not a setting"


def test_dockerfile_copies_what_exists_and_serves(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = [
        line.split()[1:-1]
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from" not in line
    ]
    assert copied
    for sources in copied:
        for source in sources:
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is missing"
    assert 'CMD ["bonas", "serve"]' in dockerfile
    assert "BONAS_HOST=0.0.0.0" in dockerfile  # inside a container, bind every interface
