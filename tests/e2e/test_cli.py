"""The ``dronecoop`` command line as a user drives it (typer's CliRunner, real files)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dronecoop.auth.devkeys import load_or_create_private_key
from dronecoop.auth.errors import InvalidToken
from dronecoop.auth.tokens import TokenVerifier
from dronecoop.cli import app

runner = CliRunner()


def test_help_lists_the_commands_a_new_user_needs() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "db", "token", "version"):
        assert command in result.output


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    database = tmp_path / "hub.sqlite3"
    result = runner.invoke(app, ["db", "upgrade", "--db-url", f"sqlite:///{database}"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"scd_operational_intents", "scd_subscriptions", "alembic_version"} <= tables


def test_token_mints_what_a_node_trusting_the_key_accepts(tmp_path: Path) -> None:
    key_file = tmp_path / "dev.pem"
    result = runner.invoke(
        app,
        [
            "token",
            "--sub",
            "rok-uss",
            "--scope",
            "utm.strategic_coordination",
            "--scope",
            "utm.constraint_processing",
            "--key-file",
            str(key_file),
        ],
    )
    assert result.exit_code == 0, result.output
    verifier = TokenVerifier(
        [load_or_create_private_key(key_file).public_key()], audiences=["localhost"]
    )
    principal = verifier.verify(result.output.strip())
    assert principal.sub == "rok-uss"
    assert principal.scopes == {"utm.strategic_coordination", "utm.constraint_processing"}
    other = TokenVerifier(
        [load_or_create_private_key(tmp_path / "other.pem").public_key()], audiences=["localhost"]
    )
    with pytest.raises(InvalidToken, match="signature"):
        other.verify(result.output.strip())


def test_token_refuses_a_lifetime_over_an_hour(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "token",
            "--sub",
            "x",
            "--scope",
            "s",
            "--key-file",
            str(tmp_path / "k.pem"),
            "--lifetime-s",
            "7200",
        ],
    )
    assert result.exit_code != 0
