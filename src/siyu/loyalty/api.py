"""Membership endpoints under /api/v1/loyalty: enrollment, member card, points, tiers, benefits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from siyu.core.auth import scoped
from siyu.core.http import Caller, DbSession
from siyu.core.idempotency import once, request_hash
from siyu.core.pagination import Page, check_limit, decode_cursor, encode_cursor
from siyu.loyalty import benefits, card, service
from siyu.loyalty import tasks as _tasks  # noqa: F401  (registers handlers and subscriptions)
from siyu.loyalty.ledger import Posted
from siyu.loyalty.models import PointsTransfer
from siyu.loyalty.schemas import (
    ActionIn,
    AdjustIn,
    CardOut,
    EnrollIn,
    MemberOut,
    PostedOut,
    ProgramIn,
    ProgramOut,
    RedeemPointsIn,
    TierIn,
    TierOut,
    TransferOut,
)
from siyu.promotions import tasks as _promotions_tasks  # noqa: F401

router = APIRouter(prefix="/loyalty", tags=["loyalty"])


@router.post("/members", status_code=201, response_model=MemberOut)
def enroll(
    body: EnrollIn,
    request: Request,
    session: DbSession,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Free enrollment (0元入会) with consent; enrolling a member again returns them (200)."""

    def produce() -> tuple[int, object]:
        member, created = service.enroll(
            session, caller, body.customer_id, body.channel, body.consent
        )
        out = MemberOut.model_validate(member, from_attributes=True)
        return (201 if created else 200), out.model_dump(mode="json")

    digest = request_hash("POST", request.url.path, body.model_dump())
    status, payload = once(session, caller.workspace_id, idempotency_key, digest, produce)
    return JSONResponse(payload, status_code=status)


@router.get("/members/{customer_id}", response_model=CardOut)
def member_card(customer_id: int, session: DbSession, caller: Caller) -> CardOut:
    """The member card: tier, points, benefits, expiring points, history and coupons."""
    return card.card(session, caller, customer_id)


@router.get("/members/{customer_id}/statement", response_model=Page[TransferOut])
def member_statement(
    customer_id: int,
    session: DbSession,
    caller: Caller,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[TransferOut]:
    """The customer's points postings, newest first, cursor-paginated."""
    limit = check_limit(limit)
    rows = service.statement(session, caller, customer_id, decode_cursor(cursor), limit)
    return Page[TransferOut](
        items=[TransferOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


def _posted(posted: Posted) -> PostedOut:
    return PostedOut(**posted.__dict__)


@router.post("/members/{customer_id}/points:redeem", response_model=PostedOut)
def redeem_points(
    customer_id: int, body: RedeemPointsIn, session: DbSession, caller: Caller
) -> PostedOut:
    """Spend points on any channel; more than the balance is 409 and nothing changes."""
    return _posted(
        service.redeem(
            session,
            caller,
            customer_id,
            body.points,
            body.idempotency_key,
            body.channel,
            body.reason,
        )
    )


@router.post("/members/{customer_id}/points:adjust", response_model=PostedOut)
def adjust_points(
    customer_id: int, body: AdjustIn, session: DbSession, caller: Caller
) -> PostedOut:
    """A manual correction with a reason (audited)."""
    return _posted(
        service.adjust(session, caller, customer_id, body.delta, body.reason, body.idempotency_key)
    )


@router.post("/members/{customer_id}/actions", response_model=PostedOut)
def award_action(customer_id: int, body: ActionIn, session: DbSession, caller: Caller) -> PostedOut:
    """Bonus points for sign-in, review, share or joining a group, once per key."""
    return _posted(
        service.award_action(session, caller, customer_id, body.action, body.idempotency_key)
    )


@router.get("/ledger", response_model=Page[TransferOut])
def ledger_entries(
    session: DbSession,
    caller: Caller,
    kind: str | None = None,
    customer_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[TransferOut]:
    """Every posting in the workspace, newest first, by kind and customer."""
    limit = check_limit(limit)
    stmt = scoped(select(PointsTransfer), PointsTransfer, caller)
    if kind:
        stmt = stmt.where(PointsTransfer.kind == kind)
    if customer_id:
        stmt = stmt.where(PointsTransfer.customer_id == customer_id)
    before = decode_cursor(cursor)
    if before:
        stmt = stmt.where(PointsTransfer.id < before)
    rows = list(session.scalars(stmt.order_by(PointsTransfer.id.desc()).limit(limit)))
    return Page[TransferOut](
        items=[TransferOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get("/tiers", response_model=list[TierOut])
def list_tiers(session: DbSession, caller: Caller) -> list[TierOut]:
    """The ladder, lowest first."""
    return [
        TierOut.model_validate(t, from_attributes=True)
        for t in service.tiers(session, caller.workspace_id)
    ]


@router.put("/tiers/{rank}", response_model=TierOut)
def put_tier(rank: int, body: TierIn, session: DbSession, caller: Caller) -> TierOut:
    """Change one rung's thresholds and benefits."""
    return TierOut.model_validate(
        card.update_tier(session, caller, rank, body), from_attributes=True
    )


@router.get("/program", response_model=ProgramOut)
def get_program(session: DbSession, caller: Caller) -> ProgramOut:
    """The points rules."""
    program = service.get_program(session, caller.workspace_id)
    return ProgramOut.model_validate(program, from_attributes=True)


@router.patch("/program", response_model=ProgramOut)
def patch_program(body: ProgramIn, session: DbSession, caller: Caller) -> ProgramOut:
    """Change some of the points rules."""
    program = card.update_program(session, caller, body)
    return ProgramOut.model_validate(program, from_attributes=True)


@router.post("/benefits:check", response_model=benefits.BenefitCheckOut)
def check_benefits(
    body: benefits.BenefitCheckIn, session: DbSession, caller: Caller
) -> benefits.BenefitCheckOut:
    """What this customer gets on this cart on this channel: call it before pricing."""
    return benefits.check(session, caller, body)
