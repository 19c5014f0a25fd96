"""The `siyu` command: serve, worker, demo, db, workspace, keys."""

from __future__ import annotations

import logging
import os

import typer
from rich.console import Console
from rich.progress import Progress

from siyu import __version__
from siyu.core.collector import tune_collector
from siyu.core.crypto import get_keyring
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.migrate import upgrade
from siyu.core.settings import get_settings
from siyu.customers.cli import oneid_app
from siyu.distribution.cli import fission_app
from siyu.ingest.cli import import_command
from siyu.lifecycle.cli import lifecycle_app
from siyu.loyalty.cli import loyalty_app
from siyu.segments.cli import segments_app, tags_app

app = typer.Typer(help="siyu (私域): private-domain growth engine", no_args_is_help=True)
db_app = typer.Typer(help="The operational store")
workspace_app = typer.Typer(help="Workspaces (one per brand)")
keys_app = typer.Typer(help="Encryption keys")
user_app = typer.Typer(help="Console users")
app.add_typer(db_app, name="db")
app.add_typer(workspace_app, name="workspace")
app.add_typer(keys_app, name="keys")
app.add_typer(user_app, name="user")
app.add_typer(oneid_app, name="oneid")
app.add_typer(lifecycle_app, name="lifecycle")
app.add_typer(loyalty_app, name="loyalty")
app.add_typer(segments_app, name="segments")
app.add_typer(tags_app, name="tags")
app.add_typer(fission_app, name="fission")
console = Console()


def _version(value: bool) -> None:
    if value:
        console.print(f"siyu {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version"
    ),
) -> None:
    """siyu (私域): private-domain growth engine."""
    logging.basicConfig(
        level=os.environ.get("SIYU_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def open_db(migrate: bool = True) -> Database:
    """The configured store, migrated to head (in a process tuned for batch work)."""
    tune_collector()
    settings = get_settings()
    settings.ensure_data_dir()
    get_keyring()
    db = Database.from_url(settings.resolved_database_url())
    if migrate:
        upgrade(db.engine)
    return db


def fail(exc: SiyuError) -> None:
    """Print a domain error in the configured language and exit 1."""
    console.print(f"[red]{exc.message(get_settings().locale)}[/red]")
    raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to a revision."""
    db = open_db(migrate=False)
    upgrade(db.engine, revision)
    console.print(f"database upgraded to {revision}")


@workspace_app.command("create")
def workspace_create(name: str) -> None:
    """Create a workspace; the last line is workspace=<id> key=<admin api key>."""
    from siyu.workspaces import service

    db = open_db()
    try:
        with db.transaction() as session:
            workspace, key = service.create_workspace(session, name)
    except SiyuError as exc:
        fail(exc)
    console.print("[yellow]The key is shown this once; store it safely.[/yellow]")
    print(f"workspace={workspace.id} key={key}")


@user_app.command("create")
def user_create(
    username: str,
    workspace_id: int = typer.Option(..., "--workspace"),
    role: str = typer.Option("admin"),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
) -> None:
    """Create a console user with a role in a workspace."""
    from siyu.workspaces import service
    from siyu.workspaces.models import Role

    db = open_db()
    try:
        with db.transaction() as session:
            user = service.create_user(session, username, password)
            service.add_member(session, workspace_id, user, Role(role))
    except SiyuError as exc:
        fail(exc)
    console.print(f"user={user.id} workspace={workspace_id} role={role}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt all PII under a new key, then retire the old one."""
    from siyu.core.rotation import rotate

    db = open_db()
    with Progress(console=console) as progress:
        task = progress.add_task("re-encrypting", total=None)
        done = rotate(db, get_keyring(), progress=lambda n: progress.advance(task, n))
    counts = " ".join(f"{table}={n}" for table, n in sorted(done.items()))
    console.print(f"{counts} primary_key={get_keyring().primary}")


app.command("import")(import_command)


@app.command()
def serve(
    host: str | None = None,
    port: int | None = None,
    migrate: bool = True,
    workers: int = typer.Option(1, min=1, help="Server processes (one per core)"),
) -> None:
    """Serve the API and the console."""
    import uvicorn

    from siyu.api import create_app

    settings = get_settings()
    db = open_db(migrate)
    host, port = host or settings.host, port or settings.port
    if workers == 1:
        uvicorn.run(create_app(settings, db), host=host, port=port, access_log=False)
        return
    # Each process builds its own app from the same settings (the store is migrated above).
    db.engine.dispose()
    uvicorn.run(
        "siyu.api:served_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        access_log=False,
    )


@app.command()
def worker(once: bool = typer.Option(False, help="Exit when nothing is due")) -> None:
    """Run due background work from the outbox."""
    from siyu.worker import Worker

    w = Worker(open_db())
    w.install_signals()
    totals = w.run(once=once)
    console.print(f"worker stopped {totals}")


@app.command()
def demo(
    customers: int = typer.Option(20_000, min=1, help="How many people to generate"),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same private domain"),
    serve_after: bool = typer.Option(
        True, "--serve/--no-serve", help="Serve the console afterwards"
    ),
    port: int | None = None,
) -> None:
    """Generate and load a demo beauty-brand private domain, score OneID, serve the console."""
    from siyu.demo.console import print_summary, progress_bars
    from siyu.demo.service import build

    settings = get_settings()
    db = open_db()
    with progress_bars(console) as progress:
        summary = build(
            db,
            customers,
            seed,
            data_dir=settings.data_dir,
            progress=progress,
            on_key=lambda key: console.print(f"api key (shown once): {key}"),
        )
    print_summary(console, summary)
    console.print(
        f"console: http://{settings.host}:{port or settings.port}/ "
        f" user={summary.username} password={summary.password}"
    )
    print(summary.last_line(), flush=True)
    if serve_after:
        serve(port=port, migrate=False)
