"""Tiers on both stores: upgrade at once, downgrade only after a review and its grace period;
the daily schedule (member day, birthdays) run by the outbox under a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.loyalty import service
from siyu.loyalty.models import Member, PointsTransfer
from siyu.loyalty.schedule import run_day
from siyu.promotions import coupons
from siyu.promotions.models import Coupon
from siyu.promotions.schemas import TemplateIn
from tests.conftest import Tenant
from tests.loyalty.helpers import member, order, refund


def standing(db: Database, tenant: Tenant, customer_id: int) -> tuple[int, datetime | None]:
    with db.transaction() as session:
        row = service.find_member(session, tenant.workspace_id, customer_id)
        assert row is not None
        return row.tier_rank, row.downgrade_due_at


def test_spend_upgrades_at_once(db: Database, tenant: Tenant, clock: SimulatedClock) -> None:
    clock.set(datetime(2026, 1, 10, tzinfo=UTC))
    who = member(db, tenant)
    order(db, tenant, who, "TM-1", 99_999, at="2026-01-09T10:00:00+08:00")
    assert standing(db, tenant, who) == (0, None)
    order(db, tenant, who, "TM-2", 1, at="2026-01-09T11:00:00+08:00")
    assert standing(db, tenant, who) == (1, None)  # ¥1,000 in 12 months: 银卡


def test_a_lapsed_member_keeps_the_tier_through_the_grace_period(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 1, 10, tzinfo=UTC))
    who = member(db, tenant)
    order_id = order(db, tenant, who, "TM-1", 120_000, at="2026-01-09T10:00:00+08:00")
    assert standing(db, tenant, who) == (1, None)
    # A refund drops the spend below 银卡, but nothing changes before a review.
    refund(db, tenant, order_id, "R1", 30_000)
    assert standing(db, tenant, who) == (1, None)
    clock.set(datetime(2026, 1, 20, tzinfo=UTC))
    with db.transaction() as session:
        assert run_day(session, tenant.workspace_id)["tiers"]["grace"] == 0  # not review day
    clock.set(datetime(2026, 1, 31, 17, 0, tzinfo=UTC))  # 1 Feb, 01:00 in Shanghai
    with db.transaction() as session:
        run_day(session, tenant.workspace_id)
    due = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
    assert standing(db, tenant, who) == (1, due)
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    with db.transaction() as session:
        run_day(session, tenant.workspace_id)
    assert standing(db, tenant, who) == (1, due)
    clock.set(due)
    with db.transaction() as session:
        assert run_day(session, tenant.workspace_id)["tiers"]["downgraded"] == 1
    assert standing(db, tenant, who) == (0, None)


def test_qualifying_again_during_grace_keeps_the_tier(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 1, 10, tzinfo=UTC))
    who = member(db, tenant)
    order_id = order(db, tenant, who, "TM-1", 120_000, at="2026-01-09T10:00:00+08:00")
    refund(db, tenant, order_id, "R1", 30_000)
    clock.set(datetime(2026, 1, 31, 17, 0, tzinfo=UTC))
    with db.transaction() as session:
        run_day(session, tenant.workspace_id)
    assert standing(db, tenant, who)[1] is not None
    clock.set(datetime(2026, 2, 1, 3, 0, tzinfo=UTC))
    order(db, tenant, who, "TM-2", 20_000, at="2026-02-01T10:00:00+08:00")
    assert standing(db, tenant, who) == (1, None)


def test_the_daily_tick_runs_member_day_and_birthdays_once_each(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    a = member(db, tenant, "甲", birthday="1990-01-12")
    b = member(db, tenant, "乙")
    with db.transaction() as session:
        template = coupons.create_template(
            session,
            tenant.principal,
            TemplateIn(name="会员日券", kind="fixed", discount_fen=1000, per_customer_limit=12),
        )
        service.get_program(session, tenant.workspace_id).member_day_template_id = template.id
    for _ in range(20):  # 1 → 21 January, one worker pass a day (twice, to prove it is once)
        clock.advance(days=1)
        outbox.run_due(db)
        outbox.run_due(db)
    with db.transaction() as session:
        gifts = session.execute(
            select(PointsTransfer.customer_id, PointsTransfer.kind, PointsTransfer.points)
        ).all()
        held = session.execute(
            select(Coupon.customer_id, Coupon.source, Coupon.issued_at).order_by(Coupon.id)
        ).all()
        pending = session.scalars(
            select(outbox.OutboxMessage.run_at).where(
                outbox.OutboxMessage.topic == "loyalty.daily",
                outbox.OutboxMessage.status == "pending",
            )
        ).all()
        members = session.scalars(select(Member.customer_id).order_by(Member.id)).all()
    assert [tuple(g) for g in gifts] == [(a, "birthday", 50)]
    assert [(c, s) for c, s, _ in held] == [(a, "member_day"), (b, "member_day")]
    # The worker passes at 08:00 Shanghai; the 18th's tick ran on its first pass that day.
    assert {at for _, _, at in held} == {datetime(2026, 1, 18, tzinfo=UTC)}
    assert pending == [datetime(2026, 1, 21, 16, 5, tzinfo=UTC)]
    assert members == [a, b]
