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


def test_partners_commands_list_show_visibility_and_make_keys(tmp_path: Path) -> None:
    from tests.helpers import write_partners_file

    runner = CliRunner()
    made = runner.invoke(app, ["partners", "new-key", "rok-army", "--out-dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    assert "[partners.rok-army] public_key_files" in made.output
    private = next(tmp_path.glob("rok-army-*.key.pem"))
    assert private.stat().st_mode & 0o077 == 0  # the private half is the owner's alone
    from dronecoop.auth.devkeys import load_or_create_private_key

    keys = {
        "rok-army": load_or_create_private_key(private),
        "us-army": load_or_create_private_key(tmp_path / "us.key.pem"),
    }
    partners_file = write_partners_file(tmp_path, keys)
    listed = runner.invoke(app, ["partners", "list", "--partners-file", str(partners_file)])
    assert listed.exit_code == 0, listed.output
    assert "rok-army" in listed.output
    assert "us-army" in listed.output
    seen = runner.invoke(
        app,
        ["partners", "visibility", "--kind", "flight_log", "--owner", "rok-army",
         "--partners-file", str(partners_file)],
    )  # fmt: skip
    assert seen.exit_code == 0, seen.output
    assert "no (404)" in seen.output
    bad = runner.invoke(app, ["partners", "visibility", "--kind", "gossip", "--owner", "x"])
    assert bad.exit_code == 2


def test_a_served_app_keeps_its_own_objects_out_of_the_collectors_reach(
    tmp_path: Path, public_key_file: Path
) -> None:
    # Full collections that walk every module and route stalled each worker ~100 ms.
    import gc

    from dronecoop.app import create_served_app
    from dronecoop.settings import Settings

    settings = Settings(
        db_url=f"sqlite:///{tmp_path / 'hub.sqlite3'}", auth_public_key_files=[public_key_file]
    )
    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        app_ = create_served_app(settings)
        assert gc.get_freeze_count() > 0
        assert app_.state.dss is not None
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
