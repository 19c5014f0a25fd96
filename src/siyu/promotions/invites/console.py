"""Console: invite campaigns with their reports (invites, conversions, fraud refused, cost)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from siyu.core.console import ConsoleCaller, labeler, page, yuan
from siyu.core.http import DbSession
from siyu.promotions.invites import service, strings  # noqa: F401
from siyu.promotions.invites.models import InviteCampaign
from siyu.workspaces.models import Role

router = APIRouter(include_in_schema=False)


@router.get("/promotions/invites")
def invites(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """Every campaign with its report."""
    if caller.role not in (Role.admin, Role.operator, Role.analyst):
        return RedirectResponse("/fission", status_code=303)
    campaigns = session.scalars(
        select(InviteCampaign)
        .where(InviteCampaign.workspace_id == caller.workspace_id)
        .order_by(InviteCampaign.id)
    ).all()
    rows = [(c, service.report(session, caller, c.id)) for c in campaigns]
    return page(
        request,
        session,
        caller,
        "invites_index.html",
        "fission",
        tab="invites",
        rows=rows,
        label=labeler(caller.locale),
        yuan=yuan,
    )
