"""Console: the membership overview and tier configuration, member cards, the points ledger."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, scoped
from siyu.core.console import ConsoleCaller, attempt, labeler, local_clock, page, yuan
from siyu.core.errors import InvalidField, NotFound, SiyuError
from siyu.core.http import DbSession
from siyu.core.i18n import translator
from siyu.core.pagination import decode_cursor, encode_cursor
from siyu.loyalty import card as cards
from siyu.loyalty import service
from siyu.loyalty import strings as _strings  # noqa: F401  (registers the console strings)
from siyu.loyalty.models import TRANSFER_KINDS, Member, PointsTransfer, Tier
from siyu.loyalty.schemas import TierIn
from siyu.workspaces.models import Role

router = APIRouter(include_in_schema=False)
PAGE = 50
TIER_FIELDS = (
    "min_activity",
    "points_multiplier_pct",
    "discount_pct",
    "birthday_points",
    "early_access_hours",
    "member_day_pct",
)


def _fen(raw: object) -> int:
    """Yuan typed by a person as whole fen; a fraction of a fen, a negative or inf is refused."""
    value = Decimal(str(raw or "0").strip() or "0") * 100
    if not value.is_finite() or value != value.to_integral_value() or value < 0:
        raise ValueError(raw)
    return int(value)


def can_act(caller: Principal) -> bool:
    """Admins and operators change tiers and adjust points."""
    return caller.role in (Role.admin, Role.operator)


def helpers(request: Request, session: Session, caller: Principal) -> dict[str, Any]:
    """What the loyalty templates use to label, time and price."""
    return {
        "label": labeler(caller.locale),
        "when": local_clock(session, request, caller),
        "yuan": yuan,
        "can_act": can_act(caller),
        "benefits": lambda tier: benefit_lines(tier, caller.locale),
    }


def benefit_lines(tier: Any, locale: str) -> list[str]:
    """A tier's benefits as the member card lists them."""
    t = translator(locale)
    lines = [t("benefit.multiplier").format(pct=tier.points_multiplier_pct)]
    if tier.discount_pct < 100:
        lines.append(t("benefit.discount").format(pct=tier.discount_pct))
    if tier.free_shipping:
        lines.append(t("benefit.free_shipping"))
    if tier.birthday_points:
        lines.append(t("benefit.birthday").format(n=tier.birthday_points))
    if tier.early_access_hours:
        lines.append(t("benefit.early").format(n=tier.early_access_hours))
    if tier.member_day_pct < 100:
        lines.append(t("benefit.member_day").format(pct=tier.member_day_pct))
    if tier.dedicated_service:
        lines.append(t("benefit.service"))
    return lines


@router.get("/loyalty", response_class=HTMLResponse)
def overview(
    request: Request, session: DbSession, caller: ConsoleCaller, notice: str = ""
) -> Response:
    """Members per tier (ECharts), points totals, the ladder and its benefits."""
    return _overview(request, session, caller, notice=notice)


def _overview(
    request: Request, session: Session, caller: Principal, status_code: int = 200, **extra: Any
) -> Response:
    ws = caller.workspace_id
    ladder = service.tiers(session, ws)
    counts = cards.tier_counts(session, ws)
    program = service.get_program(session, ws)
    chart = {"tiers": [t.name for t in ladder], "members": [counts.get(t.rank, 0) for t in ladder]}
    return page(
        request,
        session,
        caller,
        "loyalty_overview.html",
        "loyalty",
        status_code,
        ladder=ladder,
        chart=chart,
        totals=cards.points_totals(session, ws),
        members=sum(counts.values()),
        program=program,
        fields=TIER_FIELDS,
        **helpers(request, session, caller),
        **extra,
    )


@router.post("/loyalty/tiers/{rank}", response_class=HTMLResponse)
async def save_tier(
    rank: int, request: Request, session: DbSession, caller: ConsoleCaller
) -> Response:
    """Change one rung from the configuration table."""
    form = await request.form()
    try:
        values: dict[str, Any] = {f: int(str(form.get(f, "0"))) for f in TIER_FIELDS}
        values["min_spend_fen"] = _fen(form.get("min_spend_yuan"))
    except (ValueError, InvalidOperation):
        error: SiyuError = InvalidField(
            "tier", "请填写整数，金额最多两位小数", "whole numbers; yuan with at most 2 decimals"
        )
        return _overview(request, session, caller, 422, error=error.message(caller.locale))
    values |= {
        "name": str(form.get("name", "")).strip(),
        "free_shipping": form.get("free_shipping") == "on",
        "dedicated_service": form.get("dedicated_service") == "on",
    }
    try:
        data = TierIn.model_validate(values)
    except ValueError:
        error = InvalidField("tier", "数值超出范围", "a value is out of range")
        return _overview(request, session, caller, 422, error=error.message(caller.locale))
    result = attempt(session, lambda: cards.update_tier(session, caller, rank, data))
    if isinstance(result, SiyuError):
        return _overview(request, session, caller, 422, error=result.message(caller.locale))
    return RedirectResponse("/loyalty?notice=saved", status_code=303)


@router.get("/loyalty/members/{customer_id}", response_class=HTMLResponse)
def member_card(
    customer_id: int, request: Request, session: DbSession, caller: ConsoleCaller, notice: str = ""
) -> Response:
    """The member card: tier, points, benefits, expiring points, history, coupons."""
    return _card(request, session, caller, customer_id, notice=notice)


def _card(
    request: Request,
    session: Session,
    caller: Principal,
    customer_id: int,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    try:
        shown = cards.card(session, caller, customer_id, history=30)
    except NotFound:
        return page(
            request,
            session,
            caller,
            "loyalty_not_member.html",
            "loyalty",
            404,
            customer_id=customer_id,
            **helpers(request, session, caller),
        )
    tier = session.scalars(
        select(Tier).where(Tier.workspace_id == caller.workspace_id, Tier.rank == shown.tier.rank)
    ).one()
    return page(
        request,
        session,
        caller,
        "loyalty_card.html",
        "loyalty",
        status_code,
        c=shown,
        tier=tier,
        **helpers(request, session, caller),
        **extra,
    )


@router.post("/loyalty/members/{customer_id}/enroll", response_class=HTMLResponse)
def enroll(
    customer_id: int, request: Request, session: DbSession, caller: ConsoleCaller
) -> Response:
    """Free enrollment from the console; the operator confirms the customer agreed."""
    result = attempt(session, lambda: service.enroll(session, caller, customer_id, "store", True))
    if isinstance(result, SiyuError):
        return _card(
            request, session, caller, customer_id, 422, error=result.message(caller.locale)
        )
    return RedirectResponse(f"/loyalty/members/{customer_id}", status_code=303)


@router.post("/loyalty/members/{customer_id}/adjust", response_class=HTMLResponse)
async def adjust(
    customer_id: int, request: Request, session: DbSession, caller: ConsoleCaller
) -> Response:
    """A manual, audited adjustment with its reason."""
    form = await request.form()
    raw, reason = str(form.get("delta", "")).strip(), str(form.get("reason", ""))
    key = str(form.get("key") or uuid.uuid4().hex)
    if not raw.lstrip("-").isdigit():
        error = InvalidField("delta", "请填写整数", "a whole number")
        return _card(request, session, caller, customer_id, 422, error=error.message(caller.locale))
    result = attempt(
        session, lambda: service.adjust(session, caller, customer_id, int(raw), reason, key)
    )
    if isinstance(result, SiyuError):
        return _card(
            request, session, caller, customer_id, 422, error=result.message(caller.locale)
        )
    return RedirectResponse(f"/loyalty/members/{customer_id}?notice=adjusted", status_code=303)


@router.get("/loyalty/ledger", response_class=HTMLResponse)
def ledger_page(
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    kind: str = "",
    customer_id: str = "",
    cursor: str | None = None,
) -> Response:
    """Every posting, newest first, by kind and customer, 50 a page."""
    stmt = scoped(select(PointsTransfer), PointsTransfer, caller)
    if kind in TRANSFER_KINDS:
        stmt = stmt.where(PointsTransfer.kind == kind)
    if customer_id.strip().isdigit():
        stmt = stmt.where(PointsTransfer.customer_id == int(customer_id))
    before = decode_cursor(cursor)
    if before:
        stmt = stmt.where(PointsTransfer.id < before)
    rows = list(session.scalars(stmt.order_by(PointsTransfer.id.desc()).limit(PAGE)))
    members = session.scalar(
        select(func.count(Member.id)).where(Member.workspace_id == caller.workspace_id)
    )
    return page(
        request,
        session,
        caller,
        "loyalty_ledger.html",
        "loyalty",
        rows=rows,
        kinds=TRANSFER_KINDS,
        kind=kind,
        customer_id=customer_id.strip(),
        members=members,
        next_cursor=encode_cursor(rows[-1].id) if len(rows) == PAGE else None,
        **helpers(request, session, caller),
    )
