"""Commissions: rule checks, two levels, last-touch attribution, settlement, clawback, payout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from siyu.catalog.models import Sku
from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import Conflict, InvalidField
from siyu.customers.models import Customer
from siyu.distribution import commissions, service
from siyu.distribution.ledger import Ledger
from siyu.distribution.models import CommissionEntry, CommissionRule
from siyu.distribution.schemas import LinkIn, RuleIn, VisitIn
from siyu.ingest import service as ingest
from siyu.ingest.models import Order
from siyu.ingest.schemas import LineIn, OrderIn
from tests.catalog.test_inventory import make_catalog
from tests.conftest import Tenant
from tests.distribution.helpers import distributors, order, refund, rule

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ledger(db: Database) -> list[tuple[int, int, str, int, str]]:
    with db.transaction() as session:
        rows = session.execute(
            select(
                CommissionEntry.distributor_id,
                CommissionEntry.level,
                CommissionEntry.kind,
                CommissionEntry.amount_fen,
                CommissionEntry.status,
            ).order_by(CommissionEntry.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("rates", "field"),
    [
        (["10", "5", "1"], "rates"),
        (["100.01"], "rates.0"),
        (["-1"], "rates.0"),
        (["5.555"], "rates.0"),
    ],
)
def test_a_rule_with_three_levels_or_a_rate_outside_0_100_is_refused(
    db: Database, tenant: Tenant, rates: list[str], field: str
) -> None:
    with pytest.raises(InvalidField) as err, db.transaction() as session:
        data = RuleIn(name="bad", rates=[Decimal(r) for r in rates])
        commissions.create_rule(session, tenant.principal, data)
    assert err.value.detail["errors"][0]["field"] == field
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(CommissionRule)) == 0


def test_two_levels_by_the_most_specific_rule_rounded_down(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    upline, a, _ = distributors(db, p)
    rule(db, p, "10", "2")
    rule(db, p, "12.5", "3", category="美妆")
    order(db, p, "W1", 9999, "13800000001", T0, distributor_id=a, category="美妆")
    order(db, p, "W2", 10001, "13800000002", T0, distributor_id=a, category="食品")
    assert ledger(db) == [
        (a, 1, "commission", 1249, "pending"),  # 9999 × 12.5% = 1249.875
        (upline, 2, "commission", 299, "pending"),  # 9999 × 3% = 299.97
        (a, 1, "commission", 1000, "pending"),  # 10001 × 10% = 1000.1
        (upline, 2, "commission", 200, "pending"),
    ]


def test_last_touch_within_the_window_attributes_the_order_and_the_customer(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    _, a, b = distributors(db, p)
    rule(db, p, "10")
    with db.transaction() as session:
        link_a = service.create_link(session, p, a, LinkIn()).code
        link_b = service.create_link(session, p, b, LinkIn()).code
        ident = {"phone": "13900000001"}
        service.record_visit(session, p, link_a, VisitIn(identifiers=ident, at=T0))
        service.record_visit(
            session, p, link_b, VisitIn(identifiers=ident, at=T0 + timedelta(days=1))
        )
        service.record_visit(
            session, p, link_a, VisitIn(identifiers={"phone": "13900000002"}, at=T0)
        )
    first = order(db, p, "O1", 5000, "13900000001", T0 + timedelta(days=3))
    late = order(db, p, "O2", 5000, "13900000002", T0 + timedelta(days=8))
    with db.transaction() as session:
        owners = dict(session.execute(select(Order.id, Order.distributor_id)).all())
        customer = session.scalars(select(Customer).order_by(Customer.id)).first()
        assert customer is not None
        assert customer.distributor_id == b
    assert owners == {first: b, late: None}
    assert ledger(db) == [(b, 1, "commission", 500, "pending")]


def test_a_refund_after_settlement_claws_back_and_a_debt_blocks_the_payout(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    upline, a, _ = distributors(db, p)
    rule(db, p, "10", "2")
    paid = order(db, p, "R1", 10000, "13700000001", clock.now(), distributor_id=a)
    clock.advance(days=16)
    with db.transaction() as session:
        assert commissions.settle_due(session, tenant.workspace_id) == 2
    refund(db, p, paid, "RF1", 3333)
    assert ledger(db)[2:] == [
        (a, 1, "clawback", -333, "settled"),
        (upline, 2, "clawback", -66, "settled"),
    ]
    with db.transaction() as session:
        assert commissions.balance(session, p, a) == {"pending": 0, "settled": 667, "paid": 0}
        payout = commissions.pay_out(session, p, a, "BANK-1")
        assert (payout.amount_fen, payout.entries) == (667, 2)
    refund(db, p, paid, "RF2", 6667)
    with db.transaction() as session:
        assert commissions.balance(session, p, a) == {"pending": 0, "settled": -667, "paid": 667}
        assert commissions.balance(session, p, upline) == {"pending": 0, "settled": 0, "paid": 0}
    with pytest.raises(Conflict), db.transaction() as session:
        commissions.pay_out(session, p, a, "BANK-2")
    with db.transaction() as session:
        net = session.scalar(
            select(func.sum(CommissionEntry.amount_fen)).where(CommissionEntry.distributor_id == a)
        )
    assert net == 0


def test_a_replayed_refund_signal_claws_back_once(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    _, a, _ = distributors(db, p)
    rule(db, p, "10")
    paid = order(db, p, "X1", 1000, "13600000001", clock.now(), distributor_id=a)
    refund(db, p, paid, "RX", 1000)
    with db.transaction() as session:
        refund_id = session.scalar(
            select(CommissionEntry.refund_id).where(CommissionEntry.kind == "clawback")
        )
        assert refund_id is not None
        assert commissions.claw_back(session, tenant.workspace_id, paid, refund_id) == []
    assert ledger(db) == [(a, 1, "commission", 100, "pending"), (a, 1, "clawback", -100, "pending")]


def test_each_line_takes_its_share_of_the_paid_money_at_its_own_rule_and_a_replay_writes_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    upline, a, _ = distributors(db, p)
    make_catalog(db, p)
    with db.transaction() as session:
        product_id = session.scalars(select(Sku.product_id).where(Sku.code == "LIP-01")).one()
    rule(db, p, "10", "2")
    rule(db, p, "12", "3", category="美妆")
    rule(db, p, "20", "5", product_id=product_id)
    lines = [
        LineIn(
            sku="LIP-01",
            product="口红",
            category="美妆",
            quantity=1,
            unit_price_fen=6000,
            amount_fen=6000,
        ),
        LineIn(
            sku="TEA-9",
            product="茶",
            category="食品",
            quantity=2,
            unit_price_fen=2000,
            amount_fen=4000,
        ),
    ]
    data = OrderIn(
        external_id="M1",
        channel="wechat",
        ordered_at=clock.now(),
        total_fen=10000,
        paid_fen=9000,  # a coupon: each line's share is 9000 × line ÷ 10000, rounded down
        identifiers={"phone": "13500000001"},
        distributor_id=a,
        lines=lines,
    )
    with db.transaction() as session:
        order_id = ingest.upsert_order(session, p, data)[0].id
    outbox.run_due(db)
    # 5400 × 20% + 3600 × 10% = 1440; 5400 × 5% + 3600 × 2% = 342
    expected = [(a, 1, "commission", 1440, "pending"), (upline, 2, "commission", 342, "pending")]
    assert ledger(db) == expected
    with db.transaction() as session:
        assert Ledger(session, tenant.workspace_id).run([order_id, order_id]) == 0
    assert ledger(db) == expected
