"""The ``dronecoop`` command line: serve a node, migrate its database, mint dev tokens."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from dronecoop import __version__
from dronecoop.fleet_cli import app as fleet_app
from dronecoop.flights_cli import app as flights_app
from dronecoop.logs_cli import app as logs_app
from dronecoop.mro_cli import app as mro_app
from dronecoop.settings import Settings

if TYPE_CHECKING:
    from dronecoop.trust.audit import AuditEntry

app = typer.Typer(
    name="dronecoop",
    help="Drone cooperation between allied organizations: shared airspace (ASTM F3548-21 DSS), "
    "live picture, maintenance and simulation.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
audit_app = typer.Typer(
    help="The tamper-evident audit log: verify its hash chain, print its head, export it.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
partners_app = typer.Typer(
    help="The partners of this node: who they are, what each may see, their keys.",
    no_args_is_help=True,
)
app.add_typer(partners_app, name="partners")
app.add_typer(flights_app, name="flights")
app.add_typer(logs_app, name="logs")
app.add_typer(fleet_app, name="fleet")
app.add_typer(mro_app, name="mro")
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
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line each
    from dronecoop.app import create_served_app

    console.print(f"[bold]dronecoop {__version__}[/bold] on [cyan]{settings.base_url}[/cyan]")
    console.print(f"  store:    {_redacted(settings.db_url)}")
    console.print(f"  DSS:      {settings.base_url}/dss/v1   API docs: {settings.base_url}/docs")
    if settings.partners_file is not None:
        from dronecoop.trust.partners_file import load_partners

        ids = ", ".join(load_partners(settings.partners_file).ids())
        console.print(f"  partners: {ids}  (from {settings.partners_file})")
    elif settings.dev_signing_key_file is not None:
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
        if settings.partners_file is not None:
            os.environ["DRONECOOP_PARTNERS_FILE"] = str(settings.partners_file)
        uvicorn.run(
            "dronecoop.app:create_served_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level="warning",
            access_log=access_log,
        )
        return
    uvicorn.run(
        create_served_app(settings),
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
    kid: Annotated[
        str | None, typer.Option(help="Key id for the token header (a registered partner key).")
    ] = None,
) -> None:
    """Mint a development RS256 access token and print it."""
    from dronecoop.auth.devkeys import load_or_create_private_key, mint_token

    key = load_or_create_private_key(key_file)
    typer.echo(
        mint_token(
            key,
            sub=sub,
            scopes=scope,
            audience=audience,
            issuer=issuer,
            lifetime_s=lifetime_s,
            kid=kid,
        )
    )


@audit_app.command("verify")
def audit_verify(
    db_url: DbUrl = None,
    anchor: Annotated[
        str | None,
        typer.Option(
            help="SEQ:HASH printed by an earlier `dronecoop audit head` and kept elsewhere: "
            "the chain must still pass through it (detects a rewritten database).",
        ),
    ] = None,
) -> None:
    """Check every entry against its hash chain; exit 1 and say where if it is broken."""
    from rich.progress import Progress

    from dronecoop.store.audit_sql import SqlAuditLog
    from dronecoop.trust.audit import verify_chain

    expected = _parse_anchor(anchor) if anchor else None
    log = SqlAuditLog.from_url(_settings(db_url).db_url)
    try:
        head = log.head()
        if head is None:
            console.print("[bold red]audit chain BROKEN[/]: its head row is gone (tampering)")
            raise typer.Exit(1)
        pending = log.pending()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("verifying the audit chain", total=head[0] or None)

            def tracked() -> Iterator[AuditEntry]:
                for entry in log.entries():
                    progress.advance(task)
                    yield entry

            report = verify_chain(tracked(), head=head, anchor=expected)
    finally:
        log.close()
    if report.ok:
        console.print(
            f"audit chain intact: {report.entries} entries, head {report.head_seq}:"
            f"{report.head_hash.hex()}"
        )
        if pending:
            console.print(f"{pending} newer events await sealing (`dronecoop audit seal`)")
        return
    console.print(
        f"[bold red]audit chain BROKEN[/] at entry {report.first_bad_seq}: {report.problem}"
    )
    console.print(f"the chain is intact up to entry {report.head_seq}")
    raise typer.Exit(1)


@audit_app.command("seal")
def audit_seal(db_url: DbUrl = None) -> None:
    """Link every pending audit event into the chain now (a running node does it each second)."""
    from dronecoop.store.audit_sql import SqlAuditLog

    log = SqlAuditLog.from_url(_settings(db_url).db_url)
    try:
        total = 0
        while sealed := log.seal():
            total += sealed
    finally:
        log.close()
    console.print(f"sealed {total} audit events")


@audit_app.command("head")
def audit_head(db_url: DbUrl = None) -> None:
    """Print the chain's head as SEQ:HASH, an anchor to keep elsewhere (give it to partners)."""
    from dronecoop.store.audit_sql import SqlAuditLog

    log = SqlAuditLog.from_url(_settings(db_url).db_url)
    try:
        head = log.head()
    finally:
        log.close()
    if head is None:
        console.print("[bold red]the audit chain's head row is gone[/]")
        raise typer.Exit(1)
    typer.echo(f"{head[0]}:{head[1].hex()}")


@audit_app.command("export")
def audit_export(
    db_url: DbUrl = None,
    out: Annotated[
        Path | None, typer.Option(help="File to write (JSON Lines); default: standard output.")
    ] = None,
    partner: Annotated[str | None, typer.Option(help="Only this partner's entries.")] = None,
) -> None:
    """Write the audit entries as JSON Lines, one entry per line, in sequence order."""
    from dronecoop.store.audit_sql import SqlAuditLog
    from dronecoop.trust.audit import entry_json

    log = SqlAuditLog.from_url(_settings(db_url).db_url)
    try:
        with contextlib.ExitStack() as stack:
            sink = stack.enter_context(out.open("wb")) if out else sys.stdout.buffer
            for entry in log.entries(partner=partner):
                sink.write(entry_json(entry) + b"\n")
    finally:
        log.close()


PartnersFile = Annotated[
    Path | None,
    typer.Option(
        "--partners-file", help="Partners file (default: DRONECOOP_PARTNERS_FILE); none: `local`."
    ),
]


@partners_app.command("list")
def partners_list(partners_file: PartnersFile = None) -> None:
    """List the partners, their token issuers and where their keys come from."""
    from rich.table import Table

    from dronecoop.trust.partners_file import LOCAL_ONLY, load_partners

    path = partners_file or Settings().partners_file
    partners = load_partners(path) if path else LOCAL_ONLY
    table = Table("partner", "name", "issuers", "keys", "depot")
    for partner in partners:
        keys = [str(k) for k in partner.public_key_files] + list(partner.jwks_urls)
        table.add_row(
            partner.id,
            partner.name,
            "\n".join(partner.issuers) or "(any: DRONECOOP_AUTH_*)",
            "\n".join(keys) or "(DRONECOOP_AUTH_* keys)",
            "yes" if partner.depot else "",
        )
    console.print(table)


@partners_app.command("visibility")
def partners_visibility(
    kind: Annotated[str, typer.Option(help="Record kind, e.g. flight, flight_log, aircraft.")],
    owner: Annotated[str, typer.Option(help="The partner that owns the record.")],
    released_to: Annotated[
        list[str] | None, typer.Option(help="A partner the record names; repeat for several.")
    ] = None,
    assigned_to: Annotated[
        list[str] | None, typer.Option(help="A depot a live work order assigns it to.")
    ] = None,
    partners_file: PartnersFile = None,
) -> None:
    """Show which partners may see a record so described, and the fields each would miss."""
    from rich.table import Table

    from dronecoop.trust.http import visibility_report
    from dronecoop.trust.partners_file import LOCAL_ONLY, load_partners, load_policy
    from dronecoop.trust.releasability import RecordKind

    if kind not in set(RecordKind):
        raise typer.BadParameter(
            f"one of {', '.join(k.value for k in RecordKind)}", param_hint="--kind"
        )
    path = partners_file or Settings().partners_file
    partners = load_partners(path) if path else LOCAL_ONLY
    report = visibility_report(
        partners, load_policy(path), kind, owner, released_to or [], assigned_to or []
    )
    table = Table(
        "partner",
        "sees the record",
        "fields withheld",
        title=f"{kind} owned by {owner}: {report['rule']}",
    )
    for partner, view in report["partners"].items():  # type: ignore[attr-defined]
        table.add_row(
            partner, "yes" if view["sees_record"] else "no (404)", ", ".join(view["hidden_fields"])
        )
    console.print(table)


@partners_app.command("new-key")
def partners_new_key(
    partner: Annotated[str, typer.Argument(help="The partner the key is for.")],
    out_dir: Annotated[Path, typer.Option(help="Folder for the key pair.")] = Path("var/keys"),
) -> None:
    """Make a new RSA key pair for a partner's token issuer (to start with, or to rotate).

    Rotation: add the new public key to the partner's public_key_files beside the old one,
    restart the nodes, move the issuer to the new private key, then drop the old public key.
    Partners on JWKS rotate by publishing the new key with a new kid: nodes fetch it on the
    first token that names it.
    """
    import time

    from cryptography.hazmat.primitives import serialization
    from rich.markup import escape

    from dronecoop.auth.devkeys import load_or_create_private_key

    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    private = out_dir / f"{partner}-{stamp}.key.pem"
    public = out_dir / f"{partner}-{stamp}.pem"
    key = load_or_create_private_key(private)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    console.print(f"private key (keep with {partner}'s token issuer): {private}")
    console.print(f"public key: {public}")
    console.print(escape(f'add to [partners.{partner}] public_key_files: "{public.resolve()}"'))


def _parse_anchor(text: str) -> tuple[int, bytes]:
    seq, _, digest = text.partition(":")
    try:
        return int(seq), bytes.fromhex(digest)
    except ValueError as exc:
        raise typer.BadParameter("expected SEQ:HASH as `dronecoop audit head` prints it") from exc


@app.command()
def demo(
    port: Annotated[
        int, typer.Option(help="Port of the shared DSS; the ROK and US USSs take the next two.")
    ] = 8082,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    workdir: Annotated[
        Path, typer.Option(help="Where the nodes keep their stores, keys and partners file.")
    ] = Path("var/demo"),
    keep_running: Annotated[
        bool,
        typer.Option("--keep-running/--exit", help="Leave the nodes running after the story."),
    ] = True,
) -> None:
    """Two allies, one sky: a shared DSS and the ROK and US USS nodes on localhost.

    A morning of planning and maintenance between them; then the nodes keep running.
    """
    import logging as _logging

    from dronecoop.demo import run_demo

    _logging.basicConfig(level=_logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _logging.getLogger("alembic").setLevel(_logging.WARNING)
    try:
        run_demo(
            workdir,
            host=host,
            base_port=port,
            keep_running=keep_running,
            console=console,
            logs_dir=_shared_dir() / "data" / "logs",
        )
    except RuntimeError as exc:
        console.print(f"[bold red]demo failed[/]: {exc}")
        raise typer.Exit(1) from exc


def _shared_dir() -> Path:
    """The allies' shared material beside this checkout (sample logs and plans)."""
    default = Path(__file__).resolve().parents[3] / "shared"
    return Path(os.environ.get("DRONECOOP_SHARED_DIR", str(default)))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
