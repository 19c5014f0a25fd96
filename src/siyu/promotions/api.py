"""Coupon endpoints under /api/v1: templates, issuance, a customer's coupons, redemption."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from siyu.core.auth import get_scoped
from siyu.core.http import Caller, DbSession
from siyu.core.idempotency import once, request_hash
from siyu.customers.models import Customer
from siyu.promotions import coupons, redemption
from siyu.promotions import tasks as _tasks  # noqa: F401  (registers handlers and subscriptions)
from siyu.promotions.models import CouponTemplate
from siyu.promotions.schemas import (
    BulkIssueIn,
    BulkIssueOut,
    CouponOut,
    IssueIn,
    RedeemIn,
    TemplateIn,
    TemplateOut,
)

router = APIRouter(tags=["promotions"])


@router.post("/coupon-templates", status_code=201, response_model=TemplateOut)
def create_template(
    body: TemplateIn,
    request: Request,
    session: DbSession,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """A new coupon template (满减, percent, fixed, free shipping)."""

    def produce() -> tuple[int, object]:
        template = coupons.create_template(session, caller, body)
        return 201, coupons.template_out(template).model_dump(mode="json")

    digest = request_hash("POST", request.url.path, body.model_dump(mode="json"))
    status, payload = once(session, caller.workspace_id, idempotency_key, digest, produce)
    return JSONResponse(payload, status_code=status)


@router.get("/coupon-templates", response_model=list[TemplateOut])
def list_templates(session: DbSession, caller: Caller) -> list[TemplateOut]:
    """Templates with issued, redeemed, redemption rate and cost."""
    return [coupons.template_out(t) for t in coupons.list_templates(session, caller)]


@router.get("/coupon-templates/{template_id}", response_model=TemplateOut)
def get_template(template_id: int, session: DbSession, caller: Caller) -> TemplateOut:
    """One template and its figures."""
    return coupons.template_out(get_scoped(session, CouponTemplate, template_id, caller))


@router.post("/coupon-templates/{template_id}/issue", status_code=201, response_model=CouponOut)
def issue(template_id: int, body: IssueIn, session: DbSession, caller: Caller) -> CouponOut:
    """One coupon to one customer, once per idempotency_key."""
    coupon = coupons.issue_coupon(
        session, caller, template_id, body.customer_id, body.idempotency_key, source="manual"
    )
    return CouponOut.model_validate(coupon, from_attributes=True)


@router.post("/coupon-templates/{template_id}/issue:bulk", response_model=BulkIssueOut)
def issue_bulk(
    template_id: int, body: BulkIssueIn, session: DbSession, caller: Caller
) -> BulkIssueOut:
    """To a list of customers or a segment's members; refusals are counted by reason."""
    ids = list(body.customer_ids)
    source = "bulk"
    if body.segment_id is not None:
        ids += coupons.segment_members(session, caller, body.segment_id)
        source = "segment"
    result = coupons.issue_many(session, caller, template_id, ids, body.batch_key, source)
    return BulkIssueOut.model_validate(result)


@router.get("/customers/{customer_id}/coupons", response_model=list[CouponOut])
def customer_coupons(
    customer_id: int, session: DbSession, caller: Caller, status: str | None = None
) -> list[CouponOut]:
    """A customer's coupons, newest first."""
    get_scoped(session, Customer, customer_id, caller)
    return [
        CouponOut.model_validate(c, from_attributes=True)
        for c in coupons.customer_coupons(session, caller, customer_id, status)
    ]


@router.post("/coupons/{code}:redeem", response_model=CouponOut)
def redeem(code: str, body: RedeemIn, session: DbSession, caller: Caller) -> CouponOut:
    """Use a coupon on an order; used, expired, another's or inapplicable: refused, unchanged."""
    coupon = redemption.redeem_coupon(session, caller, code, body)
    return CouponOut.model_validate(coupon, from_attributes=True)
