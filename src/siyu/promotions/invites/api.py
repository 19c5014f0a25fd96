"""Invite endpoints: campaigns, inviter links, accepting an invite, the tree and the report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from siyu.core.http import Caller, DbSession
from siyu.distribution.web import created
from siyu.promotions.invites import service, tasks  # noqa: F401
from siyu.promotions.invites.schemas import (
    AcceptIn,
    CampaignIn,
    CampaignOut,
    InviteOut,
    LinkIn,
    LinkOut,
    ReportOut,
)

router = APIRouter(tags=["invites"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]


@router.post("/invite-campaigns", status_code=201, response_model=CampaignOut)
def create_campaign(
    body: CampaignIn, request: Request, session: DbSession, caller: Caller, key: IdemKey = None
) -> JSONResponse:
    """An invite campaign: goal, rewards for both sides, daily cap per inviter."""
    return created(
        request,
        session,
        caller,
        key,
        body,
        lambda: CampaignOut.model_validate(service.create_campaign(session, caller, body)),
    )


@router.post("/invite-campaigns/{campaign_id}/links", status_code=201, response_model=LinkOut)
def create_link(campaign_id: int, body: LinkIn, session: DbSession, caller: Caller) -> LinkOut:
    """The inviter's personal link (the same one on every call)."""
    return LinkOut.model_validate(service.link_for(session, caller, campaign_id, body.inviter_id))


@router.post("/invites/{code}/accept", status_code=201, response_model=InviteOut)
def accept(code: str, body: AcceptIn, session: DbSession, caller: Caller) -> InviteOut:
    """An invitee arrives; the answer says registered, converted, or rejected and why."""
    return InviteOut.model_validate(service.accept(session, caller, code, body))


@router.get("/invite-campaigns/{campaign_id}/report", response_model=ReportOut)
def get_report(campaign_id: int, session: DbSession, caller: Caller) -> ReportOut:
    """Invites, conversions, rejections by reason, cost per new customer."""
    return service.report(session, caller, campaign_id)


@router.get("/customers/{customer_id}/referrals")
def referrals(
    customer_id: int, session: DbSession, caller: Caller, depth: int = 3
) -> dict[str, Any]:
    """The referral tree below a customer."""
    return service.tree(session, caller, customer_id, depth)
