"""The customer profile: identities by channel, attributes, order summary and a timeline."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.pii import mask_phone
from siyu.customers.identifiers import PII_TYPES
from siyu.customers.models import Customer, Identity
from siyu.customers.schemas import IdentityOut, OrderSummary, ProfileOut, TimelineItem
from siyu.customers.service import FULL_PII_ROLES, to_out
from siyu.ingest.models import Event, Order

TIMELINE = 100


def profile(session: Session, principal: Principal, customer: Customer) -> ProfileOut:
    """Everything known about one (already authorized) customer."""
    full = principal.role in FULL_PII_ROLES
    by_type: dict[str, list[IdentityOut]] = defaultdict(list)
    for identity in session.scalars(
        select(Identity).where(Identity.customer_id == customer.id).order_by(Identity.first_seen_at)
    ):
        out = IdentityOut.model_validate(identity, from_attributes=True)
        if identity.type in PII_TYPES and not full:
            out.value = mask_phone(identity.value) if identity.type == "phone" else "***"
        by_type[identity.type].append(out)
    base = to_out(customer, principal).model_dump()
    return ProfileOut(
        **base,
        gender=customer.gender,
        birthday=customer.birthday,
        province=customer.province,
        city=customer.city,
        address=customer.address if full else None,
        merged_into_id=customer.merged_into_id,
        first_seen_at=customer.first_seen_at,
        last_seen_at=customer.last_seen_at,
        identities=dict(by_type),
        order_summary=order_summary(session, customer.id),
        timeline=timeline(session, customer.id),
    )


def order_summary(session: Session, customer_id: int) -> OrderSummary:
    """Orders, money and channels of one customer, counted from the rows themselves."""
    row = session.execute(
        select(
            func.count(Order.id),
            func.coalesce(func.sum(Order.paid_fen), 0),
            func.coalesce(func.sum(Order.refunded_fen), 0),
            func.min(Order.ordered_at),
            func.max(Order.ordered_at),
        ).where(Order.customer_id == customer_id)
    ).one()
    per_channel = session.execute(
        select(Order.channel, func.count(Order.id))
        .where(Order.customer_id == customer_id)
        .group_by(Order.channel)
    )
    channels = {channel: n for channel, n in per_channel}
    return OrderSummary(
        orders=row[0],
        paid_fen=row[1],
        refunded_fen=row[2],
        first_order_at=row[3],
        last_order_at=row[4],
        channels=channels,
    )


def timeline(session: Session, customer_id: int, limit: int = TIMELINE) -> list[TimelineItem]:
    """Newest-first events and orders of one customer."""
    events = session.scalars(
        select(Event)
        .where(Event.customer_id == customer_id)
        .order_by(Event.occurred_at.desc())
        .limit(limit)
    )
    orders = session.scalars(
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.ordered_at.desc())
        .limit(limit)
    )
    items = [
        TimelineItem(
            at=e.occurred_at,
            kind="event",
            type=e.type,
            source=e.source,
            ref=e.event_id,
            amount_fen=e.amount_fen,
        )
        for e in events
    ] + [
        TimelineItem(
            at=o.ordered_at,
            kind="order",
            type=o.status,
            source=o.channel,
            ref=o.external_id,
            amount_fen=o.paid_fen,
        )
        for o in orders
    ]
    return sorted(items, key=lambda i: i.at, reverse=True)[:limit]
