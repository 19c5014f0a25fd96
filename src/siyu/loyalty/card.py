"""The member card and the ladder's configuration, as the API and console show them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal
from siyu.core.errors import InvalidField, NotFound
from siyu.loyalty import ledger
from siyu.loyalty.models import LoyaltyProgram, PointsLot, Tier
from siyu.loyalty.schemas import CardOut, MemberOut, ProgramIn, TierIn, TierOut, TransferOut
from siyu.loyalty.service import get_member, get_program, statement, tiers
from siyu.loyalty.tiers import standing
from siyu.promotions.coupons import customer_coupons
from siyu.promotions.models import CouponTemplate
from siyu.promotions.schemas import CouponOut
from siyu.workspaces.models import Role


def card(session: Session, principal: Principal, customer_id: int, history: int = 20) -> CardOut:
    """Tier, points, benefits, expiring points, recent history and coupons of one member."""
    member = get_member(session, principal, customer_id)
    ws = principal.workspace_id
    ladder = tiers(session, ws)
    program = get_program(session, ws)
    tier = next(t for t in ladder if t.rank == member.tier_rank)
    above = [t for t in ladder if t.rank > member.tier_rank]
    spend, _, _ = standing(session, ws, customer_id)
    balance = ledger.balance_of(session, ws, customer_id)
    expiring = session.execute(
        select(PointsLot.expires_at, func.sum(PointsLot.remaining))
        .where(
            PointsLot.workspace_id == ws,
            PointsLot.customer_id == customer_id,
            PointsLot.remaining > 0,
        )
        .group_by(PointsLot.expires_at)
        .order_by(PointsLot.expires_at)
    ).all()
    return CardOut(
        member=MemberOut.model_validate(member, from_attributes=True),
        tier=TierOut.model_validate(tier, from_attributes=True),
        next_tier=TierOut.model_validate(above[0], from_attributes=True) if above else None,
        spend_12m_fen=spend,
        points_balance=balance,
        points_value_fen=balance * program.point_value_fen,
        points_expiring=[{"expires_at": e, "points": int(p)} for e, p in expiring],
        history=[
            TransferOut.model_validate(t, from_attributes=True)
            for t in statement(session, principal, customer_id, None, history)
        ],
        coupons=[
            CouponOut.model_validate(c, from_attributes=True)
            for c in customer_coupons(session, principal, customer_id)
        ],
    )


def update_tier(session: Session, principal: Principal, rank: int, data: TierIn) -> Tier:
    """Change one rung; the ladder must stay ordered by spend. Audited."""
    principal.require(Role.operator)
    ladder = {t.rank: t for t in tiers(session, principal.workspace_id)}
    tier = ladder.get(rank)
    if tier is None:
        raise NotFound(zh="没有这个等级", en="No such tier")
    below, above = ladder.get(rank - 1), ladder.get(rank + 1)
    if rank == 0 and data.min_spend_fen != 0:
        raise InvalidField("min_spend_fen", "最低等级的门槛必须为0", "the lowest tier starts at 0")
    if (below and data.min_spend_fen <= below.min_spend_fen) or (
        above and data.min_spend_fen >= above.min_spend_fen
    ):
        raise InvalidField(
            "min_spend_fen",
            "门槛须高于下一级、低于上一级",
            "must sit between the neighbouring tiers",
        )
    for field, value in data.model_dump().items():
        setattr(tier, field, value)
    session.flush()
    audit.record(
        session, principal, "update", "loyalty_tier", rank, fields=sorted(type(data).model_fields)
    )
    return tier


def update_program(session: Session, principal: Principal, data: ProgramIn) -> LoyaltyProgram:
    """Change the points rules given; templates must be this workspace's. Audited."""
    principal.require(Role.operator)
    program = get_program(session, principal.workspace_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("category_multiplier_pct", "action_points"):
        for name, value in (changes.get(field) or {}).items():
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
                raise InvalidField(f"{field}.{name}", "须为0到10000的整数", "must be 0..10000")
    for field in ("member_day_template_id", "birthday_template_id"):
        template_id = changes.get(field)
        if template_id is not None:
            template = session.get(CouponTemplate, template_id)
            if template is None or template.workspace_id != principal.workspace_id:
                raise InvalidField(field, "没有这个券模板", "no such coupon template")
    for field, value in changes.items():
        setattr(program, field, value)
    session.flush()
    audit.record(
        session, principal, "update", "loyalty_program", program.id, fields=sorted(changes)
    )
    return program


def tier_counts(session: Session, workspace_id: int) -> dict[int, int]:
    """Members per tier rank."""
    from siyu.loyalty.models import Member

    rows = session.execute(
        select(Member.tier_rank, func.count(Member.id))
        .where(Member.workspace_id == workspace_id)
        .group_by(Member.tier_rank)
    ).all()
    return {int(rank): int(n) for rank, n in rows}


def points_totals(session: Session, workspace_id: int) -> dict[str, Any]:
    """Points issued, redeemed, expired and adjusted across the workspace (system accounts)."""
    return {
        "issued": -ledger.ledger_balance(session, workspace_id, ledger.ISSUED),
        "redeemed": ledger.ledger_balance(session, workspace_id, ledger.REDEEMED),
        "expired": ledger.ledger_balance(session, workspace_id, ledger.EXPIRED),
        "adjusted": -ledger.ledger_balance(session, workspace_id, ledger.ADJUSTMENT),
    }
