"""Tiers: qualification by rolling 12-month spend or activity, upgrades now, reviewed downgrades."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import system_principal
from siyu.core.clock import now
from siyu.ingest.models import Event, Order
from siyu.loyalty.models import Member, Tier

WINDOW = timedelta(days=365)
COUNTED = ("paid", "shipped", "completed", "partially_refunded", "refunded")
# Activity score: one point per engagement event, ten per order, over the same 12 months.
ACTIVITY_EVENTS = ("sign_in", "share", "join_group", "feedback")
ORDER_ACTIVITY = 10


def spend_by_customer(
    session: Session, workspace_id: int, at: datetime, customer_ids: list[int] | None = None
) -> dict[int, tuple[int, int]]:
    """Rolling 12-month net spend (paid − refunded, fen) and order count per customer."""
    stmt = (
        select(
            Order.customer_id,
            func.coalesce(func.sum(Order.paid_fen - Order.refunded_fen), 0),
            func.count(Order.id),
        )
        .where(
            Order.workspace_id == workspace_id,
            Order.ordered_at > at - WINDOW,
            Order.ordered_at <= at,
            Order.status.in_(COUNTED),
        )
        .group_by(Order.customer_id)
    )
    if customer_ids is not None:
        stmt = stmt.where(Order.customer_id.in_(customer_ids))
    return {row[0]: (int(row[1]), int(row[2])) for row in session.execute(stmt)}


def events_by_customer(
    session: Session, workspace_id: int, at: datetime, customer_ids: list[int] | None = None
) -> dict[int, int]:
    """Engagement events per customer over the rolling 12 months."""
    stmt = (
        select(Event.customer_id, func.count(Event.id))
        .where(
            Event.workspace_id == workspace_id,
            Event.occurred_at > at - WINDOW,
            Event.occurred_at <= at,
            Event.type.in_(ACTIVITY_EVENTS),
        )
        .group_by(Event.customer_id)
    )
    if customer_ids is not None:
        stmt = stmt.where(Event.customer_id.in_(customer_ids))
    return {row[0]: int(row[1]) for row in session.execute(stmt)}


def qualifying_rank(ladder: list[Tier], spend_fen: int, activity: int) -> int:
    """The highest tier whose spend, or (when it has one) activity threshold, is met."""
    rank = 0
    for tier in ladder:
        by_spend = spend_fen >= tier.min_spend_fen
        by_activity = tier.min_activity > 0 and activity >= tier.min_activity
        if by_spend or by_activity:
            rank = max(rank, tier.rank)
    return rank


def _ladder(session: Session, workspace_id: int) -> list[Tier]:
    from siyu.loyalty.service import tiers

    return tiers(session, workspace_id)


def standings(
    session: Session, workspace_id: int, customer_ids: list[int]
) -> dict[int, tuple[int, int, int]]:
    """(12-month spend in fen, activity score, qualifying rank) of each customer now."""
    t, ladder = now(), _ladder(session, workspace_id)
    spend = spend_by_customer(session, workspace_id, t, customer_ids)
    events = events_by_customer(session, workspace_id, t, customer_ids)
    found = {}
    for customer_id in customer_ids:
        money, orders = spend.get(customer_id, (0, 0))
        activity = events.get(customer_id, 0) + orders * ORDER_ACTIVITY
        found[customer_id] = (money, activity, qualifying_rank(ladder, money, activity))
    return found


def standing(session: Session, workspace_id: int, customer_id: int) -> tuple[int, int, int]:
    """(12-month spend in fen, activity score, qualifying rank) of one customer now."""
    return standings(session, workspace_id, [customer_id])[customer_id]


def evaluate(session: Session, workspace_id: int, member: Member) -> bool:
    """Upgrade at once when the member qualifies higher; returns whether the tier rose."""
    return bool(evaluate_many(session, workspace_id, [member]))


def evaluate_many(session: Session, workspace_id: int, members: Sequence[Member]) -> list[Member]:
    """Re-tier members from one read of their standing: upgrade at once; returns who rose."""
    found = standings(session, workspace_id, [m.customer_id for m in members])
    risen = []
    for member in members:
        _, activity, rank = found[member.customer_id]
        member.activity_score = activity
        if rank >= member.tier_rank:
            member.downgrade_due_at = None
        if rank <= member.tier_rank:
            continue
        before = member.tier_rank
        member.tier_rank, member.tier_since = rank, now()
        audit.record(
            session,
            system_principal(workspace_id),
            "tier_upgrade",
            "loyalty_member",
            member.id,
            before=before,
            after=rank,
        )
        risen.append(member)
    return risen


def review(
    session: Session, workspace_id: int, review_day: bool, grace_days: int
) -> dict[str, int]:
    """Start grace periods on review day; downgrade members whose grace ran out."""
    t = now()
    ladder = _ladder(session, workspace_id)
    spend = spend_by_customer(session, workspace_id, t)
    events = events_by_customer(session, workspace_id, t)
    counts = {"upgraded": 0, "grace": 0, "downgraded": 0, "restored": 0}
    members = session.scalars(select(Member).where(Member.workspace_id == workspace_id))
    for member in members:
        money, orders = spend.get(member.customer_id, (0, 0))
        activity = events.get(member.customer_id, 0) + orders * ORDER_ACTIVITY
        member.activity_score = activity
        rank = qualifying_rank(ladder, money, activity)
        outcome = _review_one(member, rank, t, review_day, grace_days)
        if outcome:
            counts[outcome] += 1
            if outcome in ("upgraded", "downgraded"):
                audit.record(
                    session,
                    system_principal(workspace_id),
                    f"tier_{outcome[:-1]}",
                    "loyalty_member",
                    member.id,
                    after=rank,
                )
    session.flush()
    return counts


def _review_one(
    member: Member, rank: int, t: datetime, review_day: bool, grace_days: int
) -> str | None:
    if rank > member.tier_rank:
        member.tier_rank, member.tier_since, member.downgrade_due_at = rank, t, None
        return "upgraded"
    if rank == member.tier_rank:
        if member.downgrade_due_at is not None:
            member.downgrade_due_at = None
            return "restored"
        return None
    if member.downgrade_due_at is None:
        if review_day:
            member.downgrade_due_at = t + timedelta(days=grace_days)
            return "grace"
        return None
    if member.downgrade_due_at <= t:
        member.tier_rank, member.tier_since, member.downgrade_due_at = rank, t, None
        return "downgraded"
    return None
