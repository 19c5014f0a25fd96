"""A cancelled order on both stores: its points go back like a full refund, once; coupons too."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.loyalty import ledger
from siyu.loyalty.earning import clawback_for_cancel
from siyu.loyalty.models import PointsTransfer
from siyu.promotions import coupons, redemption
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.promotions.schemas import CartLine, RedeemIn, TemplateIn
from tests.conftest import Tenant
from tests.loyalty.helpers import balances, member, order, refund, snapshot

JAN6 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


def postings(db: Database, who: int) -> list[tuple[str, int, str, int]]:
    with db.transaction() as session:
        rows = session.execute(
            select(
                PointsTransfer.kind,
                PointsTransfer.points,
                PointsTransfer.idempotency_key,
                PointsTransfer.balance_after,
            )
            .where(PointsTransfer.customer_id == who)
            .order_by(PointsTransfer.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def system_sum(db: Database, tenant: Tenant, *customers: int) -> int:
    """The whole ledger: every system account plus the customers' (double entry sums to 0)."""
    with db.transaction() as session:
        ws = tenant.workspace_id
        codes = [ledger.ISSUED, ledger.REDEEMED, ledger.EXPIRED, ledger.ADJUSTMENT]
        codes += [ledger.account_code(c) for c in customers]
        return sum(ledger.ledger_balance(session, ws, code) for code in codes)


def test_a_cancelled_order_takes_its_points_back_once(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    first = order(db, tenant, who, "TM-0", 5000)
    before = balances(db, tenant, who)
    assert before == (50, 50, 50)
    order_id = order(db, tenant, who, "TM-1", 12990)
    assert balances(db, tenant, who) == (179, 179, 179)
    order(db, tenant, who, "TM-1", 12990, status="cancelled")
    assert balances(db, tenant, who) == before
    assert postings(db, who) == [
        ("earn", 50, f"order:{first}", 50),
        ("earn", 129, f"order:{order_id}", 179),
        ("clawback", 129, f"cancel:{order_id}", 50),
    ]
    assert system_sum(db, tenant, who) == 0
    # A replayed cancel (the report again, or the reaction again) changes nothing.
    settled = snapshot(db, tenant.workspace_id)
    order(db, tenant, who, "TM-1", 12990, status="cancelled")
    with db.transaction() as session:
        again = clawback_for_cancel(session, tenant.workspace_id, order_id)
    assert again is not None and (again.replay, again.points, again.balance_after) == (
        True,
        129,
        50,
    )
    outbox.run_due(db)
    assert snapshot(db, tenant.workspace_id) == settled
    assert balances(db, tenant, who) == before


def test_a_cancel_after_a_partial_refund_takes_only_the_rest(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    order_id = order(db, tenant, who, "TM-1", 9900)
    refund(db, tenant, order_id, "R1", 3300)
    order(db, tenant, who, "TM-1", 9900, status="cancelled")
    assert [(kind, n, key.split(":")[0], after) for kind, n, key, after in postings(db, who)] == [
        ("earn", 99, "order", 99),
        ("clawback", 33, "refund", 66),
        ("clawback", 66, "cancel", 0),
    ]
    assert balances(db, tenant, who) == (0, 0, 0)
    assert system_sum(db, tenant, who) == 0


def test_an_order_that_arrives_cancelled_earns_and_claws_back_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    before = snapshot(db, tenant.workspace_id)
    order(db, tenant, who, "TM-1", 9900, status="cancelled")
    assert snapshot(db, tenant.workspace_id) == before


def test_a_cancelled_order_gives_its_coupon_back(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    with db.transaction() as session:
        made = coupons.create_template(
            session,
            tenant.principal,
            TemplateIn.model_validate(
                {
                    "name": "满50减20",
                    "kind": "threshold",
                    "threshold_fen": 5000,
                    "discount_fen": 2000,
                }
            ),
        )
        coupon = coupons.issue_coupon(session, tenant.principal, made.id, who, "k1")
        coupon_id, template_id = coupon.id, made.id
        code = coupon.code
    order(db, tenant, who, "TM-9", 6000)
    with db.transaction() as session:
        line = CartLine(sku="LIP", category="口红", quantity=1, unit_price_fen=8000)
        data = RedeemIn(customer_id=who, channel="tmall", order_external_id="TM-9", lines=[line])
        redemption.redeem_coupon(session, tenant.principal, code, data)
    order(db, tenant, who, "TM-9", 6000, status="cancelled")
    with db.transaction() as session:
        back = session.get(Coupon, coupon_id)
        row = session.get(CouponTemplate, template_id)
        assert back is not None and row is not None
        assert (back.status, back.discount_fen) == ("issued", 0)
        assert (row.redeemed_count, row.redeemed_fen) == (0, 0)
        redeemed = session.scalar(
            select(func.count()).select_from(Coupon).where(Coupon.status == "redeemed")
        )
    assert redeemed == 0
