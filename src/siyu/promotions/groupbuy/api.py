"""Group-buy endpoints: templates, open, join by code, report payment, refund instructions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from siyu.core.http import Caller, DbSession
from siyu.distribution.web import created
from siyu.promotions.groupbuy import service
from siyu.promotions.groupbuy.schemas import (
    GroupOut,
    JoinIn,
    MemberOut,
    OpenIn,
    PayIn,
    RefundOut,
    TemplateIn,
    TemplateOut,
)

router = APIRouter(tags=["group-buy"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]


@router.post("/group-templates", status_code=201, response_model=TemplateOut)
def create_template(
    body: TemplateIn, request: Request, session: DbSession, caller: Caller, key: IdemKey = None
) -> JSONResponse:
    """A group-buy offer: group size, group price, time limit."""
    return created(
        request,
        session,
        caller,
        key,
        body,
        lambda: TemplateOut.model_validate(service.create_template(session, caller, body)),
    )


@router.post("/group-templates/{template_id}/groups", status_code=201, response_model=GroupOut)
def open_group(
    template_id: int,
    body: OpenIn,
    request: Request,
    session: DbSession,
    caller: Caller,
    key: IdemKey = None,
) -> JSONResponse:
    """Open a group; the opener takes the first seat and gets the share code."""
    return created(
        request,
        session,
        caller,
        key,
        body,
        lambda: service.group_out(
            session,
            service.open_group(session, caller, template_id, body.customer_id, body.distributor_id),
        ),
    )


@router.get("/groups/{code}", response_model=GroupOut)
def get_group(code: str, session: DbSession, caller: Caller) -> GroupOut:
    """A group by its share code, with its seats."""
    return service.group_out(session, service.group_by_code(session, caller, code))


@router.post("/groups/{code}/join", status_code=201, response_model=MemberOut)
def join(code: str, body: JoinIn, session: DbSession, caller: Caller) -> MemberOut:
    """Join by share link; 409 group_full / group_expired / group_failed."""
    return MemberOut.model_validate(service.join(session, caller, code, body.customer_id))


@router.post("/groups/{code}/payments", response_model=MemberOut)
def pay(code: str, body: PayIn, session: DbSession, caller: Caller) -> MemberOut:
    """The checkout reports a member paid (a payment into a closed group is refunded)."""
    member = service.pay(session, caller, code, body.customer_id, body.payment_ref)
    return MemberOut.model_validate(member)


@router.get("/group-refunds", response_model=list[RefundOut])
def list_refunds(session: DbSession, caller: Caller, status: str = "pending") -> list[RefundOut]:
    """Refunds the checkout must make to members of failed groups."""
    return [RefundOut.model_validate(r) for r in service.refunds(session, caller, status)]


@router.post("/group-refunds/{refund_id}/done", response_model=RefundOut)
def refund_done(refund_id: int, session: DbSession, caller: Caller) -> RefundOut:
    """The checkout has refunded the member."""
    return RefundOut.model_validate(service.refund_done(session, caller, refund_id))
