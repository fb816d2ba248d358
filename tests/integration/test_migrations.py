"""Migrations on SQLite and PostgreSQL: upgrade, drift check, downgrade/upgrade, head refusal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from service.cli import db_commands
from service.exceptions import DatabaseNotAtHeadError, SchemaDriftError
from service.store import make_engine
from service.store.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    check,
    current,
    downgrade,
    drift,
    ensure_at_head,
    head,
    upgrade,
)
from service.store.tables import metadata

TABLES = {table.name for table in metadata.sorted_tables}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_every_table_without_drift(database_url: str) -> None:
    assert current(database_url) is None
    upgrade(database_url)
    assert current(database_url) == head()
    assert _tables(database_url) == TABLES | {"alembic_version"}
    assert drift(database_url) == []
    check(database_url)


def test_downgrade_to_base_then_upgrade_again(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "base")
    assert current(database_url) is None
    assert _tables(database_url) <= {"alembic_version"}
    upgrade(database_url)
    assert current(database_url) == head()
    check(database_url)


def test_evaluator_kind_is_filled_in_from_existing_specs(database_url: str) -> None:
    upgrade(database_url, "0001")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            for name, spec in [
                ("trains", '{"evaluator": {"kind": "weight_sharing", "train": {}}}'),
                ("looks-up", '{"evaluator": {"kind": "table", "path": "t.csv"}}'),
                ("bare", '{"space": "nb201"}'),
            ]:
                connection.execute(
                    text(
                        "INSERT INTO searches (name, owner, state, spec, space_spec, created_at,"
                        " updated_at) VALUES (:name, 'o', 'created', :spec, '{}',"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    ),
                    {"name": name, "spec": spec},
                )
        upgrade(database_url)
        with engine.connect() as connection:
            kinds: dict[str, str | None] = dict(
                connection.execute(text("SELECT name, evaluator_kind FROM searches")).all()
            )
        assert kinds == {"trains": "weight_sharing", "looks-up": "table", "bare": None}
        downgrade(database_url, "0001")
        assert current(database_url) == "0001"
    finally:
        engine.dispose()


def test_check_reports_drift(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE searches ADD COLUMN stray INTEGER"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaDriftError, match="stray"):
        check(database_url)


def test_ensure_at_head_refuses_empty_database(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with pytest.raises(DatabaseNotAtHeadError, match="bonas db upgrade") as caught:
            ensure_at_head(engine)
        assert caught.value.current is None
        assert "no bonas schema" in str(caught.value)
    finally:
        engine.dispose()


def test_ensure_at_head_refuses_outdated_database(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        ensure_at_head(engine)
        with engine.begin() as connection:  # pretend the database predates the head revision
            connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
        with pytest.raises(DatabaseNotAtHeadError, match="bonas db upgrade") as caught:
            ensure_at_head(engine)
        assert caught.value.current == "older"
        with pytest.raises(DatabaseNotAtHeadError):
            check(database_url)
    finally:
        engine.dispose()


BROKEN_MIGRATION = """
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("half_done", sa.Column("id", sa.Integer(), primary_key=True))
    raise RuntimeError("this migration fails half way")


def downgrade():
    pass
"""


def test_failed_migration_rolls_back_entirely(database_url: str, tmp_path: Path) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9999_broken.py").write_text(BROKEN_MIGRATION.format(down=head()))
    upgrade(database_url)
    config = alembic_config(database_url)
    config.set_main_option("script_location", str(scripts))
    with pytest.raises(RuntimeError, match="half way"):
        command.upgrade(config, "head")
    assert current(database_url) == head()
    assert "half_done" not in _tables(database_url)


def test_cli_upgrade_current_check_downgrade(database_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(db_commands.app, ["current", "--url", database_url])
    assert result.exit_code == 0, result.output
    assert "no bonas schema" in result.output

    result = runner.invoke(db_commands.app, ["upgrade", "--url", database_url])
    assert result.exit_code == 0, result.output
    assert head() in result.output
    assert current(database_url) == head()

    result = runner.invoke(db_commands.app, ["check", "--url", database_url])
    assert result.exit_code == 0, result.output

    result = runner.invoke(db_commands.app, ["downgrade", "base", "--url", database_url])
    assert result.exit_code == 0, result.output
    assert current(database_url) is None

    result = runner.invoke(db_commands.app, ["check", "--url", database_url])
    assert result.exit_code == 1
    assert "bonas db upgrade" in result.output


def test_cli_help_names_every_command() -> None:
    result = CliRunner().invoke(db_commands.app, ["--help"])
    assert result.exit_code == 0
    for name in ("upgrade", "current", "check", "downgrade"):
        assert name in result.output
