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


@segments_app.command("lookalike")
def lookalike_command(
    segment: int = typer.Argument(..., help="Seed segment id"),
    workspace: int | None = typer.Option(None, help="Workspace id"),
    top_n: int = typer.Option(20, "--top-n", help="How many look-alikes (1-1000)"),
    holdout: float = typer.Option(0.2, help="Share of the seed held out (0.05-0.5)"),
) -> None:
    """Customers most like a segment's members, with the held-out precision."""
    from pydantic import ValidationError

    from siyu.cli import fail, open_db
    from siyu.core.errors import InvalidField, SiyuError
    from siyu.segments import lookalike
    from siyu.segments.schemas import LookalikeRequest

    db = open_db()
    principal = system_principal(pick_workspace(db, workspace))
    try:
        request = LookalikeRequest(top_n=top_n, holdout=holdout)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(InvalidField(str(first["loc"][0]), first["msg"], first["msg"]))
        return
    with db.transaction() as session:
        try:
            found = lookalike.expand(session, principal, segment, request)
        except SiyuError as exc:
            fail(exc)
            return
    for rank, item in enumerate(found.items, 1):
        print(f"{rank:>4} customer={item['customer_id']} score={item['score']:.6f}")
    print(
        f"lookalike segment={segment} seed={found.seed_size} holdout={found.holdout_size} "
        f"precision={found.holdout_precision} recall={found.holdout_recall} "
        f"base_rate={found.base_rate} top={len(found.items)}"
    )


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
