"""`siyu fission ...`: settle commissions, close timed-out groups and reservations, pull stock."""

from __future__ import annotations

import typer
from sqlalchemy import select

from siyu.catalog import pull as catalog_pull
from siyu.catalog import service as catalog
from siyu.catalog.models import Supplier
from siyu.customers.cli import pick_workspace
from siyu.distribution import commissions
from siyu.distribution import tasks as _tasks  # noqa: F401  (subscribes to ingest's signals)
from siyu.promotions.groupbuy import service as groupbuy
from siyu.promotions.invites import tasks as _invite_tasks  # noqa: F401

fission_app = typer.Typer(help="Fission and S2b2C: commissions, group-buy, stock")


@fission_app.command("settle")
def settle_command(workspace: int | None = typer.Option(None, help="Workspace id")) -> None:
    """Settle commissions whose return window has passed (the worker also does it daily)."""
    from siyu.cli import open_db

    db = open_db()
    ws = pick_workspace(db, workspace)
    with db.transaction() as session:
        settled = commissions.settle_due(session, ws)
    print(f"fission settle settled={settled}")


@fission_app.command("expire")
def expire_command(workspace: int | None = typer.Option(None, help="Workspace id")) -> None:
    """Fail timed-out groups (refunding payers) and release timed-out reservations."""
    from siyu.cli import open_db

    db = open_db()
    ws = pick_workspace(db, workspace)
    with db.transaction() as session:
        failed = groupbuy.expire_due(session, ws)
        released = catalog.release_due(session, ws)
    print(f"fission expire groups_failed={failed} reservations_released={released}")


@fission_app.command("pull")
def pull_command(workspace: int | None = typer.Option(None, help="Workspace id")) -> None:
    """Pull every supplier's inventory endpoint now."""
    from siyu.cli import open_db

    db = open_db()
    ws = pick_workspace(db, workspace)
    with db.transaction() as session:
        suppliers = session.scalars(
            select(Supplier).where(Supplier.workspace_id == ws, Supplier.inventory_url.is_not(None))
        ).all()
        results = [catalog_pull.pull(session, s) for s in suppliers]
    print(f"fission pull suppliers={len(suppliers)} skus={sum(len(r) for r in results)}")
