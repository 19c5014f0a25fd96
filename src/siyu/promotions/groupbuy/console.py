"""Console: group-buy offers, their groups and outcomes, and the refunds still to make."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from siyu.core.console import ConsoleCaller, labeler, local_clock, page, yuan
from siyu.core.http import DbSession
from siyu.promotions.groupbuy import strings  # noqa: F401
from siyu.promotions.groupbuy.models import GroupBuy, GroupRefund, GroupTemplate
from siyu.workspaces.models import Role

router = APIRouter(include_in_schema=False)


@router.get("/promotions/groups")
def groups(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """Offers, the latest groups, outcome counts (chart) and pending refunds."""
    if caller.role not in (Role.admin, Role.operator, Role.analyst):
        return RedirectResponse("/fission", status_code=303)
    ws = caller.workspace_id
    templates = session.scalars(select(GroupTemplate).where(GroupTemplate.workspace_id == ws)).all()
    latest = session.scalars(
        select(GroupBuy).where(GroupBuy.workspace_id == ws).order_by(GroupBuy.id.desc()).limit(50)
    ).all()
    outcomes = dict(
        session.execute(
            select(GroupBuy.status, func.count())
            .where(GroupBuy.workspace_id == ws)
            .group_by(GroupBuy.status)
        ).all()
    )
    refunds = session.scalars(
        select(GroupRefund)
        .where(GroupRefund.workspace_id == ws, GroupRefund.status == "pending")
        .limit(50)
    ).all()
    label = labeler(caller.locale)
    chart = [
        {"name": label("gb_status", s), "value": int(outcomes.get(s, 0))}
        for s in ("open", "succeeded", "failed")
    ]
    return page(
        request,
        session,
        caller,
        "groupbuy_index.html",
        "fission",
        tab="groups",
        templates=templates,
        groups=latest,
        refunds=refunds,
        chart=chart,
        label=label,
        when=local_clock(session, request, caller),
        yuan=yuan,
    )
