"""`siyu loyalty ...`: run the daily tick now, show a member's points."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy import select

from siyu.core.auth import system_principal
from siyu.customers.cli import pick_workspace
from siyu.loyalty import tasks as _tasks  # noqa: F401  (registers handlers and subscriptions)
from siyu.promotions import tasks as _promotions_tasks  # noqa: F401

loyalty_app = typer.Typer(help="Membership: points, tiers, member day, coupons")
console = Console()


@loyalty_app.command("tick")
def tick_command(workspace: int | None = typer.Option(None, help="Workspace id")) -> None:
    """Run today's expiry, tier review, member-day and birthday benefits now (idempotent)."""
    from siyu.cli import open_db
    from siyu.loyalty.schedule import run_day, start

    db = open_db()
    workspace_id = pick_workspace(db, workspace)
    with console.status("loyalty tick…"), db.transaction() as session:
        done = run_day(session, workspace_id)
        start(session, workspace_id)
    tiers = done["tiers"]
    print(
        f"loyalty tick date={done['date']} expired={done['expired']} "
        f"upgraded={tiers['upgraded']} grace={tiers['grace']} downgraded={tiers['downgraded']} "
        f"member_day_coupons={done['member_day_coupons']} birthdays={done['birthdays']}"
    )


@loyalty_app.command("card")
def card_command(
    customer_id: int, workspace: int | None = typer.Option(None, help="Workspace id")
) -> None:
    """A member's tier, points and latest postings."""
    from siyu.cli import fail, open_db
    from siyu.core.errors import SiyuError
    from siyu.loyalty.card import card
    from siyu.loyalty.models import Tier

    db = open_db()
    principal = system_principal(pick_workspace(db, workspace))
    with db.transaction() as session:
        try:
            shown = card(session, principal, customer_id, history=10)
        except SiyuError as exc:
            fail(exc)
            return
        names = dict(
            session.execute(
                select(Tier.rank, Tier.name).where(Tier.workspace_id == principal.workspace_id)
            ).tuples()
        )
    console.print(f"{names[shown.tier.rank]} · points {shown.points_balance}")
    for h in shown.history:
        console.print(f"  {h.at:%Y-%m-%d %H:%M} {h.kind:<9} {h.points:>8} → {h.balance_after}")
    print(
        f"loyalty card customer={customer_id} tier={shown.tier.rank} points={shown.points_balance}"
    )
