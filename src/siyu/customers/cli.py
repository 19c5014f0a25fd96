"""`siyu oneid ...`: full OneID rebuild and weak-evidence merge suggestions."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy import select

from siyu.core.auth import system_principal
from siyu.core.db import Database
from siyu.core.errors import NotFound
from siyu.workspaces.models import Workspace

oneid_app = typer.Typer(help="OneID: one customer per person")
console = Console()


def pick_workspace(db: Database, workspace_id: int | None) -> int:
    """The given workspace, or the only one there is."""
    with db.transaction() as session:
        ids = list(session.scalars(select(Workspace.id).order_by(Workspace.id)))
    if workspace_id is not None and workspace_id in ids:
        return workspace_id
    if workspace_id is None and len(ids) == 1:
        return ids[0]
    raise NotFound(zh="请用 --workspace 指定工作区", en="Name the workspace with --workspace")


@oneid_app.command("rebuild")
def rebuild_command(workspace: int | None = typer.Option(None, help="Workspace id")) -> None:
    """Re-apply the strong-identifier rules to the whole observation log."""
    from siyu.cli import open_db
    from siyu.customers.rebuild import rebuild

    db = open_db()
    principal = system_principal(pick_workspace(db, workspace))
    with console.status("rebuilding OneID…"), db.transaction() as session:
        merges = rebuild(session, principal)
    print(f"oneid rebuild merges={merges}")


@oneid_app.command("suggest")
def suggest_command(
    workspace: int | None = typer.Option(None, help="Workspace id"),
    threshold: float = typer.Option(0.8, min=0.0, max=1.0),
) -> None:
    """Find likely duplicates on weak evidence (name, address, nick, phone suffix)."""
    from siyu.cli import open_db
    from siyu.customers.suggestions import generate

    db = open_db()
    principal = system_principal(pick_workspace(db, workspace))
    with console.status("scoring weak evidence…"), db.transaction() as session:
        added = generate(session, principal, threshold)
    print(f"oneid suggestions added={added}")
