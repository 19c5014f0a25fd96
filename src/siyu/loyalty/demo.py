"""The demo's membership: members across tiers, points history, coupons issued and redeemed.

Called once after the demo private domain is loaded. Deterministic by seed: four in five
customers who bought join (0元入会); their orders earn points in time order and tiers follow
their spend; some spend points, one gets a manual correction; four coupon templates are issued
and a share redeemed against real orders. Re-running it changes nothing (every posting has its key).
"""

from __future__ import annotations

import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.db import Database
from siyu.ingest.models import Order, OrderLine
from siyu.loyalty import ledger, service
from siyu.loyalty.earning import earn_for_orders
from siyu.loyalty.models import PointsTransfer
from siyu.promotions import coupons, redemption
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.promotions.schemas import CartLine, RedeemIn, TemplateIn

# Buyers enrolled per transaction.
CHUNK = 500
TEMPLATES = (
    {"name": "满50减20", "kind": "threshold", "threshold_fen": 5000, "discount_fen": 2000},
    {
        "name": "会员日8折券",
        "kind": "percent",
        "percent_off": 20,
        "max_discount_fen": 5000,
        "per_customer_limit": 12,
        "stackable": False,
        "with_tier_discount": False,
    },
    {"name": "包邮券", "kind": "free_shipping", "discount_fen": 1200, "stackable": True},
    {"name": "新人立减10元", "kind": "fixed", "discount_fen": 1000, "budget_fen": 200_000},
)


def seed(db: Database, principal: Principal, seed_value: int = 7) -> int:
    """Fill the workspace's membership; returns how many members it has."""
    rng = random.Random(seed_value)
    with db.transaction() as session:
        buyers = sorted(
            set(
                session.scalars(
                    select(Order.customer_id).where(Order.workspace_id == principal.workspace_id)
                )
            )
        )
    joined = [c for c in buyers if rng.random() < 0.8]
    for start in range(0, len(joined), CHUNK):
        with db.transaction() as session:
            _join(session, principal, joined[start : start + CHUNK], rng)
    with db.transaction() as session:
        done = session.scalar(
            select(PointsTransfer.id).where(
                PointsTransfer.workspace_id == principal.workspace_id,
                PointsTransfer.idempotency_key == "adjust:demo-adjust-1",
            )
        )
        if joined and done is None:
            service.adjust(session, principal, joined[0], 88, "演示：客服补偿", "demo-adjust-1")
            _coupons(session, principal, joined, rng)
    return len(joined)


def _join(session: Session, principal: Principal, chunk: list[int], rng: random.Random) -> None:
    """Enroll a chunk of buyers, earn for all their orders in time order, spend some."""
    channels = {c: rng.choice(("wechat", "store", "tmall")) for c in chunk}
    service.enroll_many(session, principal, [(c, channels[c]) for c in chunk], True)
    orders = session.scalars(
        select(Order.id)
        .where(Order.workspace_id == principal.workspace_id, Order.customer_id.in_(chunk))
        .order_by(Order.ordered_at, Order.id)
    ).all()
    earn_for_orders(session, principal.workspace_id, orders)
    for customer_id in chunk:
        _spend_some(session, principal, customer_id, rng)


def _spend_some(
    session: Session, principal: Principal, customer_id: int, rng: random.Random
) -> None:
    if rng.random() < 0.35:
        balance = ledger.balance_of(session, principal.workspace_id, customer_id)
        if balance >= 10:
            service.redeem(
                session,
                principal,
                customer_id,
                balance // 3,
                f"demo-{customer_id}",
                channel=rng.choice(("store", "wechat")),
                reason="积分抵现",
            )


def _coupons(
    session: Session, principal: Principal, members: list[int], rng: random.Random
) -> None:
    made = []
    for spec in TEMPLATES:
        found = session.scalars(
            select(CouponTemplate).where(
                CouponTemplate.workspace_id == principal.workspace_id,
                CouponTemplate.name == spec["name"],
            )
        ).first()
        made.append(
            found or coupons.create_template(session, principal, TemplateIn.model_validate(spec))
        )
    program = service.get_program(session, principal.workspace_id)
    program.member_day_template_id = made[1].id
    for template in made:
        chosen = [m for m in members if rng.random() < 0.5]
        coupons.issue_many(session, principal, template.id, chosen, "demo", "bulk")
    _redeem_some(session, principal, rng)


def _redeem_some(session: Session, principal: Principal, rng: random.Random) -> None:
    held = session.scalars(
        select(Coupon)
        .where(
            Coupon.workspace_id == principal.workspace_id,
            Coupon.status == "issued",
            Coupon.source == "bulk",
        )
        .order_by(Coupon.id)
    ).all()
    for coupon in held:
        if rng.random() >= 0.4:
            continue
        order = session.scalars(
            select(Order)
            .where(
                Order.workspace_id == principal.workspace_id,
                Order.customer_id == coupon.customer_id,
            )
            .order_by(Order.ordered_at.desc())
        ).first()
        if order is None:
            continue
        lines = session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).all()
        cart = [
            CartLine(
                sku=ln.sku,
                category=ln.category,
                quantity=ln.quantity,
                unit_price_fen=ln.unit_price_fen,
            )
            for ln in lines
        ]
        if not cart:
            continue
        data = RedeemIn(
            customer_id=coupon.customer_id,
            channel=order.channel,  # type: ignore[arg-type]
            order_external_id=order.external_id,
            lines=cart,
            shipping_fen=1000,
        )
        try:
            with session.begin_nested():
                redemption.redeem_coupon(session, principal, coupon.code, data)
        except redemption.CouponRefused:
            continue
