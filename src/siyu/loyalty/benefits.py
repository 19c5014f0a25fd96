"""The one benefit check every channel calls before pricing an order.

Order of application: the tier's exclusive price (e.g. 95折) on the goods, then the member-day
extra (8折) on what is left, then the best coupon combination allowed by the stacking rules;
free shipping from the tier or a coupon. All in integer fen; a discount is rounded down.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, get_scoped
from siyu.core.clock import as_utc, now
from siyu.customers.models import Customer
from siyu.loyalty import ledger
from siyu.loyalty.models import Tier
from siyu.loyalty.service import find_member, get_program, is_member_day, workspace_tz
from siyu.promotions.redemption import Offer, best, offers
from siyu.promotions.schemas import MAX_FEN, CartLine, Channel


class BenefitCheckIn(BaseModel):
    """A cart on some channel, for some customer, about to be priced."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int = Field(strict=True)
    channel: Channel
    lines: list[CartLine] = Field(min_length=1, max_length=500)
    shipping_fen: int = Field(default=0, ge=0, le=MAX_FEN, strict=True)
    # When the items go on sale to everyone; early access opens earlier for some tiers.
    launch_at: datetime | None = None


class CouponOffer(BaseModel):
    code: str
    template_id: int
    name: str
    kind: str
    discount_fen: int
    stackable: bool
    with_tier_discount: bool
    applicable: bool
    reason: str | None


class BenefitCheckOut(BaseModel):
    """What the customer gets on this cart, and what they pay."""

    customer_id: int
    member: bool
    tier_rank: int | None
    tier_name: str | None
    subtotal_fen: int
    tier_discount_fen: int
    member_day: bool
    member_day_discount_fen: int
    coupon_discount_fen: int
    best_coupons: list[str]
    coupons: list[CouponOffer]
    free_shipping: bool
    shipping_discount_fen: int
    early_access_hours: int
    early_access_from: datetime | None
    may_buy_now: bool
    dedicated_service: bool
    points_balance: int
    points_value_fen: int
    total_discount_fen: int
    payable_fen: int


def _member_prices(tier: Tier | None, subtotal: int, member_day: bool) -> tuple[int, int]:
    if tier is None:
        return 0, 0
    tier_off = subtotal * (100 - tier.discount_pct) // 100
    day_off = (subtotal - tier_off) * (100 - tier.member_day_pct) // 100 if member_day else 0
    return tier_off, day_off


def _split(chosen: list[Offer]) -> tuple[int, int]:
    goods = sum(o.discount_fen for o in chosen if o.template.kind != "free_shipping")
    ship = sum(o.discount_fen for o in chosen if o.template.kind == "free_shipping")
    return goods, ship


def check(session: Session, principal: Principal, data: BenefitCheckIn) -> BenefitCheckOut:
    """Discounts in fen, free shipping, early access and coupons for this cart."""
    ws = principal.workspace_id
    get_scoped(session, Customer, data.customer_id, principal)
    member = find_member(session, ws, data.customer_id)
    program = get_program(session, ws)
    tier = None
    if member is not None:
        tier = session.scalars(
            select(Tier).where(Tier.workspace_id == ws, Tier.rank == member.tier_rank)
        ).first()
    t = now()
    member_day = member is not None and is_member_day(program, t, workspace_tz(session, ws))
    subtotal = sum(line.amount_fen for line in data.lines)
    tier_off, day_off = _member_prices(tier, subtotal, member_day)
    shipping_free = bool(tier and tier.free_shipping)
    after_tier_ship = 0 if shipping_free else data.shipping_fen
    held = offers(session, ws, data.customer_id, data.lines, after_tier_ship, t)
    # Either the member prices with the coupons that combine with them, or no member prices
    # and any coupons: whichever leaves less to pay.
    with_member = best(held, with_tier=True)
    without = best(held, with_tier=False)
    goods_a, ship_a = _split(with_member)
    goods_b, ship_b = _split(without)
    saving_a = tier_off + day_off + goods_a + ship_a
    saving_b = goods_b + ship_b
    if tier is not None and saving_b > saving_a:
        tier_off = day_off = 0
        chosen, goods, ship = without, goods_b, ship_b
    else:
        chosen, goods, ship = with_member, goods_a, ship_a
    goods = min(goods, subtotal - tier_off - day_off)
    shipping_off = data.shipping_fen if shipping_free else ship
    early = tier.early_access_hours if tier else 0
    opens = as_utc(data.launch_at) - timedelta(hours=early) if data.launch_at else None
    balance = ledger.balance_of(session, ws, data.customer_id)
    total = tier_off + day_off + goods + shipping_off
    return BenefitCheckOut(
        customer_id=data.customer_id,
        member=member is not None,
        tier_rank=tier.rank if tier else None,
        tier_name=tier.name if tier else None,
        subtotal_fen=subtotal,
        tier_discount_fen=tier_off,
        member_day=member_day,
        member_day_discount_fen=day_off,
        coupon_discount_fen=goods + (0 if shipping_free else ship),
        best_coupons=[o.coupon.code for o in chosen],
        coupons=[_offer_out(o) for o in held],
        free_shipping=shipping_free or ship >= data.shipping_fen > 0,
        shipping_discount_fen=shipping_off,
        early_access_hours=early,
        early_access_from=opens,
        may_buy_now=opens is None or t >= opens,
        dedicated_service=bool(tier and tier.dedicated_service),
        points_balance=balance,
        points_value_fen=balance * program.point_value_fen,
        total_discount_fen=total,
        payable_fen=subtotal + data.shipping_fen - total,
    )


def _offer_out(offer: Offer) -> CouponOffer:
    return CouponOffer(
        code=offer.coupon.code,
        template_id=offer.template.id,
        name=offer.template.name,
        kind=offer.template.kind,
        discount_fen=offer.discount_fen,
        stackable=offer.template.stackable,
        with_tier_discount=offer.template.with_tier_discount,
        applicable=offer.applicable,
        reason=offer.reason,
    )
