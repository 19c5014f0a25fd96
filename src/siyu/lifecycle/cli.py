"""`siyu lifecycle`: full refresh now, and the nightly schedule."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy import select

from siyu.lifecycle import tasks
from siyu.lifecycle.refresh import refresh_workspace
from siyu.workspaces.models import Workspace

lifecycle_app = typer.Typer(help="Lifecycle: RFM, stages, dormancy and CLV")
console = Console()


@lifecycle_app.command("refresh")
def refresh(
    workspace_id: int | None = typer.Option(None, "--workspace", help="Default: every workspace"),
) -> None:
    """Recompute customer_metrics (DuckDB over the store), then keep the nightly pass scheduled."""
    from siyu.cli import open_db

    db = open_db()
    with db.transaction() as session:
        ids = [workspace_id] if workspace_id else list(session.scalars(select(Workspace.id)))
    for ws in ids:
        with console.status(f"workspace {ws}: refreshing"), db.transaction() as session:
            result = refresh_workspace(db, session, ws)
            tasks.ensure_nightly(session, ws)
        print(
            f"lifecycle workspace={ws} customers={result.customers} buyers={result.buyers} "
            f"changes={result.changes} clv_fitted={result.fitted} seconds={result.seconds}",
            flush=True,
        )
