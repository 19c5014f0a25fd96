"""`siyu segments ...` and `siyu tags ...`: full recompute and the built-in tag library."""

from __future__ import annotations

import typer
from rich.console import Console

from siyu.core.auth import system_principal
from siyu.customers.cli import pick_workspace
from siyu.segments import tasks  # noqa: F401  (signal subscriptions and outbox handlers)

segments_app = typer.Typer(help="Segments: rules, members, recompute")
tags_app = typer.Typer(help="Tags: the built-in library")
console = Console()


@segments_app.command("refresh")
def refresh_command(
    workspace: int | None = typer.Option(None, help="Workspace id"),
    segment: int | None = typer.Option(None, help="Only this segment"),
) -> None:
    """Recompute rule tags and every segment now (or one segment)."""
    from siyu.cli import open_db
    from siyu.segments import full, service

    db = open_db()
    workspace_id = pick_workspace(db, workspace)
    with console.status("recomputing segments…"), db.transaction() as session:
        if segment is not None:
            one = service.get_segment(session, system_principal(workspace_id), segment)
            came, left = service.refresh(session, one)
            result = {one.id: (len(came), len(left))}
        else:
            result = full.refresh_all(db, session, workspace_id).changes
    for segment_id, (entered, exited) in sorted(result.items()):
        print(f"segment {segment_id} entered={entered} exited={exited}")
    print(f"segments refreshed={len(result)}")


@tags_app.command("install")
def install_command(workspace: int | None = typer.Option(None, help="Workspace id")) -> None:
    """Install the built-in tag library into a workspace."""
    from siyu.cli import open_db
    from siyu.tags import service

    db = open_db()
    principal = system_principal(pick_workspace(db, workspace))
    with console.status("installing tags…"), db.transaction() as session:
        made = service.install(session, principal)
    print(f"tags installed={len(made)}")
