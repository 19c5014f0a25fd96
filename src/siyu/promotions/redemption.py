"""Pricing coupons against a cart, the best combination under stacking rules, use and reversal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
from siyu.core.errors import NotFound
from siyu.customers.models import Customer
from siyu.promotions import codes
from siyu.promotions.coupons import CouponRefused
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.promotions.schemas import CartLine, RedeemIn
from siyu.workspaces.models import Role


@dataclass
class Offer:
    """What one coupon would take off this cart, or why it does not apply."""

    coupon: Coupon
    template: CouponTemplate
    discount_fen: int
    reason: str | None = None

    @property
    def applicable(self) -> bool:
        """Whether it takes anything off."""
        return self.reason is None and self.discount_fen > 0


def eligible_fen(template: CouponTemplate, lines: list[CartLine]) -> int:
    """The part of the cart the template is scoped to (categories or SKUs; all if neither)."""
    if not template.categories and not template.skus:
        return sum(line.amount_fen for line in lines)
    return sum(
        line.amount_fen
        for line in lines
        if line.sku in template.skus or (line.category or "") in template.categories
    )


def price(template: CouponTemplate, base: int, shipping_fen: int) -> tuple[int, str | None]:
    """(discount in fen, reason it does not apply) for an eligible amount."""
    if template.kind == "free_shipping":
        if shipping_fen == 0:
            return 0, "no_shipping"
        if base < template.threshold_fen:
            return 0, "below_threshold"
        return min(shipping_fen, template.discount_fen), None
    if base <= 0:
        return 0, "no_eligible_items"
    if template.kind == "threshold":
        if base < template.threshold_fen:
            return 0, "below_threshold"
        return min(template.discount_fen, base), None
    if template.kind == "percent":
        off = base * template.percent_off // 100
        return min(off, template.max_discount_fen or off), None
    return min(template.discount_fen, base), None


def _usable(coupon: Coupon, t: datetime) -> str | None:
    if coupon.status == "redeemed":
        return "used"
    if coupon.status != "issued":
        return coupon.status
    if coupon.valid_from > t:
        return "not_started"
    if coupon.valid_until is not None and coupon.valid_until <= t:
        return "expired"
    return None


def offers(
    session: Session,
    workspace_id: int,
    customer_id: int,
    lines: list[CartLine],
    shipping_fen: int,
    at: datetime | None = None,
) -> list[Offer]:
    """Every coupon the customer holds, priced against the cart."""
    t = at or now()
    rows = session.execute(
        select(Coupon, CouponTemplate)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(
            Coupon.workspace_id == workspace_id,
            Coupon.customer_id == customer_id,
            Coupon.status == "issued",
        )
        .order_by(Coupon.id)
    ).all()
    result = []
    for coupon, template in rows:
        why = _usable(coupon, t)
        off, reason = (
            (0, why) if why else price(template, eligible_fen(template, lines), shipping_fen)
        )
        result.append(Offer(coupon, template, off, reason))
    return result


def best(offers_: list[Offer], with_tier: bool) -> list[Offer]:
    """The combination that saves most: one non-stackable coupon, or every stackable one
    (the best per template). with_tier keeps only coupons that combine with tier prices."""
    usable = [
        o for o in offers_ if o.applicable and (o.template.with_tier_discount or not with_tier)
    ]
    per_template: dict[int, Offer] = {}
    for offer in usable:
        if offer.template.stackable:
            held = per_template.get(offer.template.id)
            if held is None or offer.discount_fen > held.discount_fen:
                per_template[offer.template.id] = offer
    stack = list(per_template.values())
    single = max(
        (o for o in usable if not o.template.stackable), key=lambda o: o.discount_fen, default=None
    )
    if single is not None and single.discount_fen > sum(o.discount_fen for o in stack):
        return [single]
    return stack


def redeem_coupon(session: Session, principal: Principal, code: str, data: RedeemIn) -> Coupon:
    """Use a coupon on an order. Another customer's or workspace's coupon answers 404; a used,
    expired or inapplicable one is refused; nothing changes either way."""
    principal.require(Role.operator)
    clean = codes.normalize(code)
    get_scoped(session, Customer, data.customer_id, principal)
    stmt = scoped(select(Coupon), Coupon, principal).where(
        Coupon.code == clean, Coupon.customer_id == data.customer_id
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    coupon = session.scalars(stmt).first()
    if coupon is None:
        raise NotFound(zh="找不到此客户的这张券", en="This customer holds no such coupon")
    template = session.get(CouponTemplate, coupon.template_id)
    assert template is not None
    why = _usable(coupon, now())
    if why is not None:
        raise CouponRefused(why, _ZH.get(why, "此券不可用"), _EN.get(why, "Not usable"))
    off, reason = price(template, eligible_fen(template, data.lines), data.shipping_fen)
    if reason is not None or off <= 0:
        raise CouponRefused(
            reason or "no_discount",
            _ZH.get(reason or "", "此订单不满足用券条件"),
            _EN.get(reason or "", "This order does not qualify"),
        )
    ref = f"{data.channel}:{data.order_external_id}"
    _check_stacking(session, coupon.workspace_id, ref, template)
    coupon.status, coupon.redeemed_at, coupon.discount_fen = "redeemed", now(), off
    coupon.order_ref = ref
    template.redeemed_count += 1
    template.redeemed_fen += off
    session.flush()
    return coupon


def _check_stacking(
    session: Session, workspace_id: int, order_ref: str, template: CouponTemplate
) -> None:
    """A second coupon on one order only if both it and every one already used stack."""
    used = session.scalars(
        select(CouponTemplate.stackable)
        .join(Coupon, Coupon.template_id == CouponTemplate.id)
        .where(
            Coupon.workspace_id == workspace_id,
            Coupon.order_ref == order_ref,
            Coupon.status == "redeemed",
        )
    ).all()
    if used and not (template.stackable and all(used)):
        raise CouponRefused(
            "not_stackable",
            "此订单已使用不可叠加的优惠券",
            "This order already has a coupon that does not stack with this one",
        )


def reverse_for_order(session: Session, workspace_id: int, order_ref: str) -> int:
    """A fully refunded order gives its coupons back (if still valid, else they expire)."""
    t = now()
    coupons = session.scalars(
        select(Coupon).where(
            Coupon.workspace_id == workspace_id,
            Coupon.order_ref == order_ref,
            Coupon.status == "redeemed",
        )
    ).all()
    for coupon in coupons:
        template = session.get(CouponTemplate, coupon.template_id)
        assert template is not None
        template.redeemed_count -= 1
        template.redeemed_fen -= coupon.discount_fen
        expired = coupon.valid_until is not None and coupon.valid_until <= t
        coupon.status = "expired" if expired else "issued"
        coupon.reversed_at, coupon.redeemed_at, coupon.discount_fen = t, None, 0
    session.flush()
    return len(coupons)


_ZH = {
    "used": "此券已使用",
    "expired": "此券已过期",
    "not_started": "此券尚未到使用时间",
    "void": "此券已作废",
    "below_threshold": "订单金额未达到用券门槛",
    "no_eligible_items": "订单中没有适用此券的商品",
    "no_shipping": "此订单没有运费",
}
_EN = {
    "used": "This coupon was already used",
    "expired": "This coupon has expired",
    "not_started": "This coupon is not valid yet",
    "void": "This coupon was voided",
    "below_threshold": "The order is below the coupon's threshold",
    "no_eligible_items": "Nothing in the order is covered by this coupon",
    "no_shipping": "This order has no shipping to waive",
}
