"""The daily loyalty tick: expiry, tier review, member-day and birthday benefits.

One outbox message per workspace per local day (dedupe key loyalty.daily:<ws>:<date>); each
run enqueues the next at the following local midnight, so the schedule keeps itself going and
a SimulatedClock moved forward runs a month of days in a test. Every benefit it hands out has
its own idempotency key, so a retried tick gives nothing twice.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import outbox
from siyu.core.auth import system_principal
from siyu.core.clock import now
from siyu.customers.models import Customer
from siyu.loyalty import ledger
from siyu.loyalty.ledger import Entry
from siyu.loyalty.models import LoyaltyProgram, Member, PointsLot, Tier
from siyu.loyalty.service import expires_at, get_program, is_member_day, workspace_tz
from siyu.loyalty.tiers import review

TOPIC = "loyalty.daily"


def next_run(tz: str, after: datetime) -> datetime:
    """Five minutes past the next local midnight."""
    local = after.astimezone(ZoneInfo(tz))
    day = local.date() + timedelta(days=1)
    return datetime.combine(day, time(0, 5), tzinfo=ZoneInfo(tz))


def start(session: Session, workspace_id: int) -> None:
    """Make sure the workspace's next daily tick is enqueued (idempotent)."""
    tz = workspace_tz(session, workspace_id)
    run_at = next_run(tz, now())
    key = f"{TOPIC}:{workspace_id}:{run_at.date().isoformat()}"
    if session.scalar(
        select(outbox.OutboxMessage.id).where(outbox.OutboxMessage.dedupe_key == key)
    ):
        return
    outbox.enqueue(
        session,
        TOPIC,
        {"workspace_id": workspace_id},
        workspace_id=workspace_id,
        dedupe_key=key,
        run_at=run_at,
    )


def run_day(session: Session, workspace_id: int) -> dict[str, Any]:
    """Everything due today for one workspace; returns what was done."""
    program = get_program(session, workspace_id)
    tz = workspace_tz(session, workspace_id)
    t = now()
    today = t.astimezone(ZoneInfo(tz)).date()
    done: dict[str, Any] = {"date": today.isoformat(), "expired": expire_due(session, workspace_id)}
    done["tiers"] = review(
        session, workspace_id, today.day == program.review_day, program.grace_days
    )
    done["member_day_coupons"] = (
        member_day(session, program, today) if is_member_day(program, t, tz) else 0
    )
    done["birthdays"] = birthdays(session, program, today, tz)
    return done


def expire_due(session: Session, workspace_id: int) -> int:
    """Expire every lot past its date, customer by customer; returns points expired."""
    customers = session.scalars(
        select(PointsLot.customer_id)
        .where(
            PointsLot.workspace_id == workspace_id,
            PointsLot.expires_at <= now(),
            PointsLot.remaining > 0,
        )
        .distinct()
        .order_by(PointsLot.customer_id)
    ).all()
    return sum(ledger.expire_customer(session, workspace_id, c) for c in customers)


def member_day(session: Session, program: LoyaltyProgram, today: date) -> int:
    """On member day, the member-day coupon to every member (once per member per day)."""
    if program.member_day_template_id is None:
        return 0
    from siyu.promotions.coupons import issue_many

    members = session.scalars(
        select(Member.customer_id).where(Member.workspace_id == program.workspace_id)
    ).all()
    result = issue_many(
        session,
        system_principal(program.workspace_id),
        program.member_day_template_id,
        members,
        f"member_day:{today.isoformat()}",
        source="member_day",
    )
    return int(result["issued"])  # type: ignore[call-overload]


def birthdays(session: Session, program: LoyaltyProgram, today: date, tz: str) -> int:
    """Members born on this day get their tier's birthday points and the birthday coupon."""
    ws = program.workspace_id
    rows = session.execute(
        select(Member.customer_id, Tier.birthday_points)
        .join(Customer, Customer.id == Member.customer_id)
        .join(Tier, (Tier.workspace_id == ws) & (Tier.rank == Member.tier_rank))
        .where(
            Member.workspace_id == ws,
            Customer.birthday.like(f"%-{today.month:02d}-{today.day:02d}"),
        )
    ).all()
    expiry = expires_at(program.expiry, now(), tz)
    for customer_id, points in rows:
        if points:
            key = f"birthday:{today.year}:{customer_id}"
            entry = Entry(customer_id, points, "birthday", key, reason="birthday")
            ledger.credit(session, ws, entry, expiry)
    if program.birthday_template_id is not None and rows:
        from siyu.promotions.coupons import issue_many

        issue_many(
            session,
            system_principal(ws),
            program.birthday_template_id,
            [c for c, _ in rows],
            f"birthday:{today.year}",
            source="birthday",
        )
    return len(rows)


@outbox.handler(TOPIC)
def _daily(session: Session, message: outbox.OutboxMessage) -> None:
    workspace_id = int(message.payload["workspace_id"])
    run_day(session, workspace_id)
    start(session, workspace_id)
