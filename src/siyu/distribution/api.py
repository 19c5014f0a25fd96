"""Distribution endpoints: distributors, keys, share links and visits, commission rules,
the ledger and payouts, the monthly ranking, and touchpoints with their funnels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from siyu.core.auth import scoped
from siyu.core.errors import InvalidField
from siyu.core.http import Caller, DbSession
from siyu.core.pagination import Page, check_limit, decode_cursor, encode_cursor
from siyu.distribution import commissions, ranking, service, tasks, touchpoints  # noqa: F401
from siyu.distribution.models import ENTRY_STATUSES, CommissionEntry, CommissionRule, ShareLink
from siyu.distribution.schemas import (
    DistributorIn,
    DistributorOrderOut,
    DistributorOut,
    EntryOut,
    FunnelOut,
    LinkIn,
    LinkOut,
    PayoutIn,
    PayoutOut,
    RankRow,
    RuleIn,
    RuleOut,
    StepIn,
    TouchpointIn,
    TouchpointOut,
    VisitIn,
    VisitOut,
)
from siyu.distribution.web import created
from siyu.ingest.models import ORDER_STATUSES, Order
from siyu.workspaces.models import Role

router = APIRouter(tags=["distribution"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]


@router.get("/distribution/settings")
def get_settings(session: DbSession, caller: Caller) -> dict[str, int]:
    """The attribution window and the return window, in days."""
    return service.settings_of(session, caller.workspace_id)


@router.put("/distribution/settings")
def put_settings(body: dict[str, int], session: DbSession, caller: Caller) -> dict[str, int]:
    """Change attribution_days (last touch, 1–90) and/or return_days (settlement, 0–90)."""
    return service.save_settings(session, caller, body)


@router.post("/distributors", status_code=201, response_model=DistributorOut)
def create_distributor(
    body: DistributorIn, request: Request, session: DbSession, caller: Caller, key: IdemKey = None
) -> JSONResponse:
    """Onboard a distributor (店主), optionally under an upline."""
    return created(
        request,
        session,
        caller,
        key,
        body,
        lambda: DistributorOut.model_validate(service.onboard(session, caller, body)),
    )


@router.get("/distributors", response_model=Page[DistributorOut])
def list_distributors(
    session: DbSession, caller: Caller, cursor: str | None = None, limit: int = 50
) -> Page[DistributorOut]:
    """Distributors, oldest first; a distributor's key sees only its own profile."""
    rows = service.list_distributors(session, caller, decode_cursor(cursor), check_limit(limit))
    return Page[DistributorOut](
        items=[DistributorOut.model_validate(d) for d in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get("/distributors/{distributor_id}", response_model=DistributorOut)
def get_distributor(distributor_id: int, session: DbSession, caller: Caller) -> DistributorOut:
    """One distributor's profile (404 for anyone else's, to a distributor)."""
    return DistributorOut.model_validate(service.get_distributor(session, caller, distributor_id))


@router.post("/distributors/{distributor_id}/keys", status_code=201)
def create_key(distributor_id: int, session: DbSession, caller: Caller) -> dict[str, object]:
    """An API key for the distributor's own app (shown once)."""
    key, raw = service.issue_key(session, caller, distributor_id)
    return {"id": key.id, "key": raw, "distributor_id": distributor_id}


@router.post("/distributors/{distributor_id}/links", status_code=201, response_model=LinkOut)
def create_link(
    distributor_id: int,
    body: LinkIn,
    request: Request,
    session: DbSession,
    caller: Caller,
    key: IdemKey = None,
) -> JSONResponse:
    """A share link, poster or mini-program code for a product."""
    return created(
        request,
        session,
        caller,
        key,
        body,
        lambda: LinkOut.model_validate(service.create_link(session, caller, distributor_id, body)),
    )


@router.get("/share-links", response_model=list[LinkOut])
def list_links(session: DbSession, caller: Caller) -> list[LinkOut]:
    """Share links the caller may see, newest first."""
    stmt = scoped(select(ShareLink), ShareLink, caller).order_by(ShareLink.id.desc()).limit(200)
    return [LinkOut.model_validate(link) for link in session.scalars(stmt)]


@router.post("/share-links/{code}/visits", status_code=201, response_model=VisitOut)
def record_visit(code: str, body: VisitIn, session: DbSession, caller: Caller) -> VisitOut:
    """A customer opened a share link (the touch last-touch attribution looks back to)."""
    return service.record_visit(session, caller, code, body)


@router.post("/commission-rules", status_code=201, response_model=RuleOut)
def create_rule(
    body: RuleIn, request: Request, session: DbSession, caller: Caller, key: IdemKey = None
) -> JSONResponse:
    """A commission rule; rates in percent, at most two levels."""
    return created(
        request,
        session,
        caller,
        key,
        body,
        lambda: commissions.rule_out(commissions.create_rule(session, caller, body)),
    )


@router.get("/commission-rules", response_model=list[RuleOut])
def list_rules(session: DbSession, caller: Caller) -> list[RuleOut]:
    """Active rules of the workspace."""
    caller.require(Role.operator, Role.analyst)
    stmt = select(CommissionRule).where(CommissionRule.workspace_id == caller.workspace_id)
    return [commissions.rule_out(r) for r in session.scalars(stmt.order_by(CommissionRule.id))]


def _filtered(
    stmt: Any, model: Any, statuses: Sequence[str], status: str | None, distributor_id: int | None
) -> Any:
    """The listing narrowed to a known status and to one distributor, when asked."""
    if status is not None:
        if status not in statuses:
            raise InvalidField("status", "未知状态", f"one of {', '.join(statuses)}")
        stmt = stmt.where(model.status == status)
    if distributor_id is not None:
        stmt = stmt.where(model.distributor_id == distributor_id)
    return stmt


@router.get("/commissions", response_model=Page[EntryOut])
def list_entries(
    session: DbSession,
    caller: Caller,
    distributor_id: int | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[EntryOut]:
    """Ledger lines, oldest first; a distributor's key sees only its own."""
    limit = check_limit(limit)
    stmt = scoped(select(CommissionEntry), CommissionEntry, caller).order_by(CommissionEntry.id)
    stmt = _filtered(stmt, CommissionEntry, ENTRY_STATUSES, status, distributor_id)
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(CommissionEntry.id > after)
    rows = list(session.scalars(stmt.limit(limit)))
    return Page[EntryOut](
        items=[EntryOut.model_validate(e) for e in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get("/distribution/orders", response_model=Page[DistributorOrderOut])
def list_orders(
    session: DbSession,
    caller: Caller,
    distributor_id: int | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[DistributorOrderOut]:
    """Orders attributed to distributors, newest first; a distributor's key sees only its own."""
    caller.require(Role.operator, Role.analyst, Role.distributor)
    limit = check_limit(limit)
    stmt = scoped(select(Order), Order, caller).where(Order.distributor_id.is_not(None))
    stmt = _filtered(stmt, Order, ORDER_STATUSES, status, distributor_id)
    after = decode_cursor(cursor)
    if after is not None:
        stmt = stmt.where(Order.id < after)
    rows = list(session.scalars(stmt.order_by(Order.id.desc()).limit(limit)))
    return Page[DistributorOrderOut](
        items=[DistributorOrderOut.model_validate(o) for o in rows],
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None,
    )


@router.get("/distributors/{distributor_id}/balance")
def get_balance(distributor_id: int, session: DbSession, caller: Caller) -> dict[str, int]:
    """Net commission by status: pending, settled (payable), paid."""
    service.get_distributor(session, caller, distributor_id)
    return commissions.balance(session, caller, distributor_id)


@router.post("/distributors/{distributor_id}/payouts", status_code=201, response_model=PayoutOut)
def pay_out(
    distributor_id: int,
    body: PayoutIn,
    request: Request,
    session: DbSession,
    caller: Caller,
    key: IdemKey = None,
) -> JSONResponse:
    """Pay the settled balance (refused when clawbacks leave nothing to pay)."""
    return created(
        request,
        session,
        caller,
        key,
        body,
        lambda: PayoutOut.model_validate(
            commissions.pay_out(session, caller, distributor_id, body.reference)
        ),
    )


@router.post("/commissions:settle")
def settle(session: DbSession, caller: Caller) -> dict[str, int]:
    """Settle every pending entry past its return window now (the worker also does daily)."""
    caller.require(Role.operator)
    return {"settled": commissions.settle_due(session, caller.workspace_id)}


@router.get("/distribution/ranking", response_model=list[RankRow])
def get_ranking(month: str, session: DbSession, caller: Caller) -> list[RankRow]:
    """The month's ranking by sales with the nurture tier each rank suggests."""
    return ranking.ranking(session, caller, month)


@router.post("/distribution/ranking:apply")
def apply_ranking(month: str, session: DbSession, caller: Caller) -> dict[str, int]:
    """Move distributors to the nurture tiers the month suggests."""
    return {"moved": ranking.apply_tiers(session, caller, month)}


@router.post("/touchpoints", status_code=201, response_model=TouchpointOut)
def create_touchpoint(
    body: TouchpointIn, request: Request, session: DbSession, caller: Caller, key: IdemKey = None
) -> JSONResponse:
    """A package card, red-packet card, KOL comment link, shopping guide or store poster."""
    return created(
        request,
        session,
        caller,
        key,
        body,
        lambda: TouchpointOut.model_validate(touchpoints.create(session, caller, body)),
    )


@router.get("/touchpoints/funnels", response_model=list[FunnelOut])
def get_funnels(session: DbSession, caller: Caller) -> list[FunnelOut]:
    """Every touchpoint's funnel beside the seeds' reference conversion range."""
    return touchpoints.funnels(session, caller)


@router.post("/touchpoints/{code}/steps", status_code=201)
def record_step(code: str, body: StepIn, session: DbSession, caller: Caller) -> dict[str, int]:
    """A customer scanned a card (or reached a later step) through a touchpoint."""
    return {"customer_id": touchpoints.record(session, caller, code, body)}
