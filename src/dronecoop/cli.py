"""The ``dronecoop`` command line: serve a node, migrate its database, mint dev tokens."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dronecoop import __version__
from dronecoop.settings import Settings

app = typer.Typer(
    name="dronecoop",
    help="Drone cooperation between allied organizations: shared airspace (ASTM F3548-21 DSS), "
    "live picture, maintenance and simulation.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console(soft_wrap=True)

DEFAULT_DEV_KEY = Path("var/dev-signing-key.pem")
DbUrl = Annotated[
    str | None,
    typer.Option(
        "--db-url",
        help="SQLAlchemy URL (default: DRONECOOP_DB_URL or sqlite:///var/dronecoop.sqlite3)",
    ),
]


def _settings(db_url: str | None = None, **overrides: object) -> Settings:
    settings = Settings()
    values = {k: v for k, v in {"db_url": db_url, **overrides}.items() if v is not None}
    return settings.model_copy(update=values)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    db_url: DbUrl = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev/--no-dev",
            help=f"Trust a development signing key ({DEFAULT_DEV_KEY}, created if missing) so that "
            "`dronecoop token` can mint tokens for this node.",
        ),
    ] = True,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only).")] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = False,
) -> None:
    """Run a dronecoop node (DSS under /dss/v1, API docs under /docs)."""
    import uvicorn

    settings = _settings(db_url, host=host, port=port)
    if dev and settings.dev_signing_key_file is None:
        settings = settings.model_copy(update={"dev_signing_key_file": DEFAULT_DEV_KEY})
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from dronecoop.app import create_app

    console.print(f"[bold]dronecoop {__version__}[/bold] on [cyan]{settings.base_url}[/cyan]")
    console.print(f"  store:    {_redacted(settings.db_url)}")
    console.print(f"  DSS:      {settings.base_url}/dss/v1   API docs: {settings.base_url}/docs")
    if settings.dev_signing_key_file is not None:
        console.print(
            f"  dev key:  {settings.dev_signing_key_file}  "
            "(mint a token: dronecoop token --sub uss1 --scope utm.strategic_coordination)"
        )
    if workers > 1:
        # Each worker process builds its app from the environment: hand the options down.
        os.environ["DRONECOOP_DB_URL"] = settings.db_url
        os.environ["DRONECOOP_HOST"] = settings.host
        os.environ["DRONECOOP_PORT"] = str(settings.port)
        if settings.dev_signing_key_file is not None:
            os.environ["DRONECOOP_DEV_SIGNING_KEY_FILE"] = str(settings.dev_signing_key_file)
        uvicorn.run(
            "dronecoop.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level="warning",
            access_log=access_log,
        )
        return
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=access_log,
    )


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade(
    db_url: DbUrl = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations (SQLite or PostgreSQL)."""
    from dronecoop.store.migrate import upgrade

    settings = _settings(db_url)
    upgrade(settings.db_url, revision)
    console.print(f"database at {_redacted(settings.db_url)} is at revision {revision}")


@app.command()
def token(
    sub: Annotated[
        str, typer.Option(help="Subject: the client / USS identity (becomes the manager).")
    ],
    scope: Annotated[
        list[str],
        typer.Option(help="Scope to grant; repeat for several (e.g. utm.strategic_coordination)."),
    ],
    audience: Annotated[
        str, typer.Option("--aud", help="Audience (the node's host name).")
    ] = "localhost",
    key_file: Annotated[
        Path, typer.Option(help="Private signing key (created if missing).")
    ] = DEFAULT_DEV_KEY,
    issuer: Annotated[str, typer.Option(help="Issuer claim.")] = "dronecoop-dev",
    lifetime_s: Annotated[
        int, typer.Option(min=1, max=3600, help="Seconds until the token expires (at most 1 h).")
    ] = 3600,
) -> None:
    """Mint a development RS256 access token and print it."""
    from dronecoop.auth.devkeys import load_or_create_private_key, mint_token

    key = load_or_create_private_key(key_file)
    typer.echo(
        mint_token(
            key, sub=sub, scopes=scope, audience=audience, issuer=issuer, lifetime_s=lifetime_s
        )
    )


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
