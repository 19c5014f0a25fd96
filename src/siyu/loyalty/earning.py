"""Points from orders on any channel, and the proportional clawback when one is refunded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from itertools import groupby

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.errors import SiyuError
from siyu.ingest.models import Order, OrderLine, Refund
from siyu.loyalty import ledger
from siyu.loyalty.grants import credit_many
from siyu.loyalty.ledger import Entry, Posted
from siyu.loyalty.models import LoyaltyProgram, Member, PointsTransfer, Tier
from siyu.loyalty.service import (
    expires_at,
    get_program,
    is_member_day,
    workspace_tz,
)
from siyu.loyalty.tiers import COUNTED, evaluate_many

EARNING = ("paid", "shipped", "completed")
# Ids per IN list (SQLite allows 32,766 parameters).
CHUNK = 5000


def members_of(session: Session, workspace_id: int, customer_ids: set[int]) -> dict[int, Member]:
    """The members among these customers, by customer id."""
    found = session.scalars(
        select(Member).where(
            Member.workspace_id == workspace_id, Member.customer_id.in_(customer_ids)
        )
    )
    return {m.customer_id: m for m in found}


def order_points(
    program: LoyaltyProgram,
    tier: Tier | None,
    order: Order,
    lines: list[OrderLine],
    member_day: bool,
) -> int:
    """Points for an order: paid yuan × rate × category, tier and member-day multipliers.

    Integer arithmetic end to end with one floor at the end (no float): the paid amount is
    spread over the lines by their amounts, each weighted by its category's percent.
    """
    weights = program.category_multiplier_pct or {}
    gross = sum(line.amount_fen for line in lines)
    if gross > 0:
        weighted = sum(line.amount_fen * weights.get(line.category or "", 100) for line in lines)
    else:
        gross, weighted = 1, 100
    tier_pct = tier.points_multiplier_pct if tier else 100
    day_pct = program.member_day_multiplier_pct if member_day else 100
    numerator = order.paid_fen * program.points_per_yuan * weighted * tier_pct * day_pct
    return numerator // (100 * gross * 100 * 100 * 100)


def earn_for_order(session: Session, workspace_id: int, order_id: int) -> Posted | None:
    """Credit a member's points for a paid order once (key order:<id>); then re-tier."""
    return earn_for_orders(session, workspace_id, [order_id]).get(order_id)


def earn_for_orders(
    session: Session, workspace_id: int, order_ids: Sequence[int]
) -> dict[int, Posted]:
    """Credit members' points for paid orders once each (key order:<id>), then re-tier each.

    The program, ladder, members and lines are read once for the batch, and each member is
    re-tiered once after all of their orders: an upgrade counts from the next batch on.
    """
    posted: dict[int, Posted] = {}
    ids = list(dict.fromkeys(order_ids))
    for start in range(0, len(ids), CHUNK):
        posted |= _earn_chunk(session, workspace_id, ids[start : start + CHUNK])
    return posted


def _earn_chunk(session: Session, workspace_id: int, ids: list[int]) -> dict[int, Posted]:
    orders = session.scalars(
        select(Order)
        .where(Order.workspace_id == workspace_id, Order.id.in_(ids), Order.status.in_(EARNING))
        .order_by(Order.ordered_at, Order.id)
    ).all()
    members = members_of(session, workspace_id, {o.customer_id for o in orders})
    orders = [o for o in orders if o.customer_id in members]
    if not orders:
        return {}
    program = get_program(session, workspace_id)
    tz = workspace_tz(session, workspace_id)
    tiers = session.scalars(select(Tier).where(Tier.workspace_id == workspace_id))
    ladder = {t.rank: t for t in tiers}
    lines: dict[int, list[OrderLine]] = defaultdict(list)
    for line in session.scalars(
        select(OrderLine).where(OrderLine.order_id.in_([o.id for o in orders]))
    ):
        lines[line.order_id].append(line)
    due: list[tuple[int, Entry, datetime | None]] = []
    for order in orders:
        member = members[order.customer_id]
        at = order.paid_at or order.ordered_at
        member_day = is_member_day(program, at, tz)
        tier = ladder.get(member.tier_rank)
        points = order_points(program, tier, order, lines[order.id], member_day)
        if points <= 0:
            continue
        entry = Entry(
            order.customer_id,
            points,
            "earn",
            f"order:{order.id}",
            order_id=order.id,
            channel=order.channel,
            detail={"paid_fen": order.paid_fen, "tier": member.tier_rank, "member_day": member_day},
        )
        due.append((order.id, entry, expires_at(program.expiry, at, tz)))
    posted = _credit_in_order(session, workspace_id, due)
    counted = dict.fromkeys(o.customer_id for o in orders if o.status in COUNTED)
    evaluate_many(session, workspace_id, [members[c] for c in counted])
    return posted


def _credit_in_order(
    session: Session, workspace_id: int, due: list[tuple[int, Entry, datetime | None]]
) -> dict[int, Posted]:
    """Credit in the given order, a batch per run of the same expiry (points lapse at a year
    end by default, so a run is usually a whole year of orders); order id -> posting."""
    posted: dict[int, Posted] = {}
    for expires, group in groupby(due, key=lambda d: d[2]):
        run = list(group)
        done = credit_many(session, workspace_id, [entry for _, entry, _ in run], expires)
        for (order_id, _, _), result in zip(run, done, strict=True):
            if isinstance(result, SiyuError):
                raise result
            posted[order_id] = result
    return posted


def clawback_for_refund(
    session: Session, workspace_id: int, order_id: int, refund_id: int
) -> Posted | None:
    """Take back points in proportion to what was refunded so far (key refund:<id>).

    The target is floor(earned × refunded ÷ paid) over all refunds up to this one, minus what
    earlier refunds already asked for, so partial refunds add up exactly to a full one. If the
    points were already spent, it takes what the balance has (never below zero).
    """
    order = session.get(Order, order_id)
    earned = _earned(session, workspace_id, order_id)
    if order is None or earned is None or order.paid_fen <= 0:
        return None
    refunded = session.scalar(
        select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.order_id == order_id, Refund.id <= refund_id
        )
    )
    target = earned.points * min(int(refunded or 0), order.paid_fen) // order.paid_fen
    return _claw(session, workspace_id, order, earned, target, f"refund:{refund_id}", refund_id)


def clawback_for_cancel(session: Session, workspace_id: int, order_id: int) -> Posted | None:
    """Take back what is left of a cancelled order's points, as a full refund (key cancel:<id>)."""
    order = session.get(Order, order_id)
    earned = _earned(session, workspace_id, order_id)
    if order is None or order.workspace_id != workspace_id or earned is None:
        return None
    return _claw(session, workspace_id, order, earned, earned.points, f"cancel:{order_id}", None)


def _earned(session: Session, workspace_id: int, order_id: int) -> PointsTransfer | None:
    return session.scalars(
        select(PointsTransfer).where(
            PointsTransfer.workspace_id == workspace_id,
            PointsTransfer.idempotency_key == f"order:{order_id}",
        )
    ).first()


def _claw(
    session: Session,
    workspace_id: int,
    order: Order,
    earned: PointsTransfer,
    target: int,
    key: str,
    refund_id: int | None,
) -> Posted | None:
    # What earlier clawbacks asked for (not what they got: spent points stay spent).
    earlier = session.scalars(
        select(PointsTransfer.detail).where(
            PointsTransfer.workspace_id == workspace_id,
            PointsTransfer.order_id == order.id,
            PointsTransfer.kind == "clawback",
            PointsTransfer.idempotency_key != key,
        )
    )
    asked = sum(int(d.get("intended", 0)) for d in earlier)
    intended = target - asked
    if intended <= 0:
        return None
    detail: dict[str, int] = {"intended": intended}
    if refund_id is not None:
        detail["refund_id"] = refund_id
    entry = Entry(
        order.customer_id,
        intended,
        "clawback",
        key,
        order_id=order.id,
        channel=order.channel,
        detail=detail,
    )
    return ledger.debit(
        session, workspace_id, entry, ledger.ISSUED, first_lot_of=earned.id, up_to_balance=True
    )
