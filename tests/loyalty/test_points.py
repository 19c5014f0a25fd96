"""The points ledger on both stores: earning on orders, clawback, redemption, FIFO expiry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from siyu.core import outbox
from siyu.core.audit import AuditEntry
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import InvalidField, NotFound
from siyu.loyalty import ledger, service
from siyu.loyalty.earning import earn_for_order
from siyu.loyalty.ledger import InsufficientPoints
from siyu.loyalty.models import LoyaltyProgram, PointsLot, PointsTransfer
from siyu.loyalty.schedule import run_day
from tests.conftest import Tenant
from tests.loyalty.helpers import balances, customer, member, order, refund, snapshot

JAN6 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


def transfers(db: Database, customer_id: int) -> list[tuple[str, int, str, str, int]]:
    with db.transaction() as session:
        rows = session.execute(
            select(
                PointsTransfer.kind,
                PointsTransfer.points,
                PointsTransfer.debit_account,
                PointsTransfer.credit_account,
                PointsTransfer.balance_after,
            )
            .where(PointsTransfer.customer_id == customer_id)
            .order_by(PointsTransfer.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_an_order_earns_once_per_yuan_and_expires_at_the_end_of_next_year(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    order_id = order(db, tenant, who, "TM-1", 12990)
    # A replayed message earns nothing more.
    with db.transaction() as session:
        again = earn_for_order(session, tenant.workspace_id, order_id)
    assert again is not None and again.replay is True
    assert transfers(db, who) == [("earn", 129, "system:issued", f"customer:{who}", 129)]
    assert balances(db, tenant, who) == (129, 129, 129)
    with db.transaction() as session:
        lot = session.scalars(select(PointsLot).where(PointsLot.customer_id == who)).one()
    # Earned 2026-01-05 in Shanghai: lapses when 2028 begins there.
    assert lot.expires_at == datetime(2027, 12, 31, 16, 0, tzinfo=UTC)


def test_category_tier_and_member_day_multiply(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 1, 20, tzinfo=UTC))
    who = member(db, tenant)
    with db.transaction() as session:
        program = service.get_program(session, tenant.workspace_id)
        program.category_multiplier_pct = {"精华": 150}
    order(db, tenant, who, "TM-1", 10000, at="2026-01-05T10:00:00+08:00", category="精华")
    # Member day (the 18th): double points.
    order(db, tenant, who, "TM-2", 10000, at="2026-01-18T10:00:00+08:00", category="口红")
    assert [t[1] for t in transfers(db, who)] == [150, 200]


def test_refunds_claw_back_in_proportion_and_add_up_to_the_whole(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    order_id = order(db, tenant, who, "TM-1", 9900)
    refund(db, tenant, order_id, "R1", 3300)
    assert balances(db, tenant, who) == (66, 66, 66)
    refund(db, tenant, order_id, "R2", 6600)
    assert transfers(db, who) == [
        ("earn", 99, "system:issued", f"customer:{who}", 99),
        ("clawback", 33, f"customer:{who}", "system:issued", 66),
        ("clawback", 66, f"customer:{who}", "system:issued", 0),
    ]
    assert balances(db, tenant, who) == (0, 0, 0)


def test_a_clawback_after_the_points_were_spent_stops_at_zero(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    order_id = order(db, tenant, who, "TM-1", 10000)
    with db.transaction() as session:
        service.redeem(session, tenant.principal, who, 80, "r1")
    refund(db, tenant, order_id, "R1", 10000)
    assert [t[:2] for t in transfers(db, who)] == [("earn", 100), ("redeem", 80), ("clawback", 20)]
    assert balances(db, tenant, who) == (0, 0, 0)


def test_redeeming_more_than_the_balance_is_refused_and_nothing_changes(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    order(db, tenant, who, "TM-1", 5000)
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(InsufficientPoints) as refused, db.transaction() as session:
        service.redeem(session, tenant.principal, who, 51, "r1")
    assert refused.value.detail == {"balance": 50}
    assert "积分不足" in refused.value.zh_message
    assert snapshot(db, tenant.workspace_id) == before


@pytest.mark.parametrize("points", [-5, 0, 2.5, True, "10"])
def test_negative_zero_or_fractional_points_are_refused(
    db: Database, tenant: Tenant, clock: SimulatedClock, points: object
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    order(db, tenant, who, "TM-1", 5000)
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(InvalidField) as refused, db.transaction() as session:
        service.redeem(session, tenant.principal, who, points, "r1")  # type: ignore[arg-type]
    assert refused.value.detail["errors"][0]["field"] == "points"
    assert snapshot(db, tenant.workspace_id) == before


def test_a_replayed_redemption_is_applied_once(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    order(db, tenant, who, "TM-1", 5000)
    with db.transaction() as session:
        first = service.redeem(session, tenant.principal, who, 30, "pos-17")
    with db.transaction() as session:
        second = service.redeem(session, tenant.principal, who, 30, "pos-17")
    assert (first.transfer_id, first.replay) == (second.transfer_id, False) or second.replay
    assert second.replay is True and second.transfer_id == first.transfer_id
    assert balances(db, tenant, who) == (20, 20, 20)


def test_redemption_spends_the_soonest_expiring_points_first(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    with db.transaction() as session:
        service.get_program(session, tenant.workspace_id).expiry = "days:30"
    order(db, tenant, who, "TM-1", 4000)  # 40 points, expire Feb 5
    clock.advance(days=10)
    order(db, tenant, who, "TM-2", 6000, at="2026-01-15T10:00:00+08:00")  # 60, expire Feb 15
    with db.transaction() as session:
        service.redeem(session, tenant.principal, who, 50, "r1")
        lots = session.execute(
            select(PointsLot.points, PointsLot.remaining)
            .where(PointsLot.customer_id == who)
            .order_by(PointsLot.id)
        ).all()
    assert [tuple(lot) for lot in lots] == [(40, 0), (60, 50)]


def test_expired_points_leave_on_the_daily_tick_and_cannot_be_spent(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    with db.transaction() as session:
        service.get_program(session, tenant.workspace_id).expiry = "days:30"
    order(db, tenant, who, "TM-1", 4000)
    clock.advance(days=20)
    order(db, tenant, who, "TM-2", 6000, at="2026-01-26T10:00:00+08:00")
    clock.advance(days=11)  # the first lot is now past its date
    with pytest.raises(InsufficientPoints), db.transaction() as session:
        service.redeem(session, tenant.principal, who, 70, "r1")
    with db.transaction() as session:
        done = run_day(session, tenant.workspace_id)
    assert done["expired"] == 40
    assert [t[:2] for t in transfers(db, who)] == [("earn", 40), ("earn", 60), ("expire", 40)]
    assert balances(db, tenant, who) == (60, 60, 60)
    # A second tick the same day expires nothing more.
    with db.transaction() as session:
        assert run_day(session, tenant.workspace_id)["expired"] == 0


def test_the_whole_ledger_sums_to_zero(db: Database, tenant: Tenant, clock: SimulatedClock) -> None:
    clock.set(JAN6)
    a, b = member(db, tenant, "甲"), member(db, tenant, "乙")
    order(db, tenant, a, "TM-1", 10000)
    order_b = order(db, tenant, b, "TM-2", 20000)
    refund(db, tenant, order_b, "R1", 5000)
    with db.transaction() as session:
        service.redeem(session, tenant.principal, a, 40, "r1")
        service.adjust(session, tenant.principal, b, 7, "补偿：物流延误", "adj-1")
        ws = tenant.workspace_id
        system = {
            code: ledger.ledger_balance(session, ws, code)
            for code in (ledger.ISSUED, ledger.REDEEMED, ledger.EXPIRED, ledger.ADJUSTMENT)
        }
        customers = [ledger.ledger_balance(session, ws, ledger.account_code(c)) for c in (a, b)]
    assert system == {
        ledger.ISSUED: -250,
        ledger.REDEEMED: 40,
        ledger.EXPIRED: 0,
        ledger.ADJUSTMENT: -7,
    }
    assert customers == [60, 157]
    assert sum(system.values()) + sum(customers) == 0


def test_manual_adjustments_need_a_reason_and_are_audited(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(InvalidField) as refused, db.transaction() as session:
        service.adjust(session, tenant.principal, who, 10, "  ", "adj-1")
    assert refused.value.detail["errors"][0]["field"] == "reason"
    assert snapshot(db, tenant.workspace_id) == before
    with db.transaction() as session:
        service.adjust(session, tenant.principal, who, 10, "客服补偿", "adj-1")
        service.adjust(session, tenant.principal, who, -4, "误加", "adj-2")
        entries = session.execute(
            select(AuditEntry.action, AuditEntry.target_id, AuditEntry.detail)
            .where(AuditEntry.action == "adjust_points")
            .order_by(AuditEntry.id)
        ).all()
    assert [(e[0], e[1], e[2]["delta"]) for e in entries] == [
        ("adjust_points", str(who), 10),
        ("adjust_points", str(who), -4),
    ]
    assert balances(db, tenant, who) == (6, 6, 6)


def test_orders_of_customers_who_are_not_members_earn_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = customer(db, tenant)
    order(db, tenant, who, "TM-1", 10000)
    assert transfers(db, who) == []


def test_another_workspaces_member_is_not_found_and_nothing_changes(
    db: Database, tenant: Tenant, other_tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    order(db, tenant, who, "TM-1", 10000)
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(NotFound), db.transaction() as session:
        service.redeem(session, other_tenant.principal, who, 10, "r1")
    assert snapshot(db, tenant.workspace_id) == before


def test_statement_pages_newest_first(db: Database, tenant: Tenant, clock: SimulatedClock) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    for n in range(5):
        with db.transaction() as session:
            service.adjust(session, tenant.principal, who, n + 1, "批量补录", f"a{n}")
    with db.transaction() as session:
        first = service.statement(session, tenant.principal, who, None, 3)
        second = service.statement(session, tenant.principal, who, first[-1].id, 3)
    assert [t.balance_after for t in first] == [15, 10, 6]
    assert [t.balance_after for t in second] == [3, 1]


def test_the_program_is_made_once_with_the_default_ladder(db: Database, tenant: Tenant) -> None:
    with db.transaction() as session:
        service.get_program(session, tenant.workspace_id)
        service.get_program(session, tenant.workspace_id)
        ladder = service.tiers(session, tenant.workspace_id)
        programs = session.scalar(
            select(func.count(LoyaltyProgram.id)).where(
                LoyaltyProgram.workspace_id == tenant.workspace_id
            )
        )
        ticks = session.scalar(
            select(func.count(outbox.OutboxMessage.id)).where(
                outbox.OutboxMessage.topic == "loyalty.daily",
                outbox.OutboxMessage.workspace_id == tenant.workspace_id,
            )
        )
    assert programs == 1 and ticks == 1
    assert [(t.rank, t.name, t.min_spend_fen) for t in ladder] == [
        (0, "普通会员", 0),
        (1, "银卡", 100_000),
        (2, "金卡", 300_000),
        (3, "黑金", 1_000_000),
    ]


def test_a_journey_grant_is_a_bonus_once_per_key_and_members_only(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who, stranger = member(db, tenant), customer(db, tenant, "路人")
    for _ in range(2):
        with db.transaction() as session:
            service.grant_points(session, tenant.principal, who, 30, "生日SOP", "j1:run7:points")
    assert transfers(db, who) == [("bonus", 30, "system:issued", f"customer:{who}", 30)]
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(NotFound), db.transaction() as session:
        service.grant_points(session, tenant.principal, stranger, 30, "生日SOP", "j1:run8:points")
    assert snapshot(db, tenant.workspace_id) == before


def test_a_refund_larger_than_the_order_is_refused_and_no_points_move(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    from siyu.ingest import service as ingest
    from siyu.ingest.schemas import RefundIn

    clock.set(JAN6)
    who = member(db, tenant)
    order_id = order(db, tenant, who, "TM-1", 5000)
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(InvalidField) as refused, db.transaction() as session:
        ingest.refund(
            session, tenant.principal, order_id, RefundIn(external_id="R1", amount_fen=5001)
        )
    assert refused.value.detail["errors"][0]["field"] == "amount_fen"
    outbox.run_due(db)
    assert snapshot(db, tenant.workspace_id) == before
