"""Order cancellation end to end: ingest closes the order, stock goes back, commission reversed."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from siyu.catalog import service as catalog
from siyu.catalog import tasks as catalog_tasks
from siyu.catalog.models import Reservation
from siyu.catalog.schemas import ReserveIn
from siyu.core import outbox
from siyu.core.auth import Principal
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import Conflict
from siyu.core.outbox import OutboxMessage
from siyu.distribution import commissions
from siyu.ingest import service as ingest
from siyu.ingest.models import Order
from siyu.ingest.schemas import LineIn, OrderIn
from tests.catalog.test_inventory import make_catalog, stock_row
from tests.conftest import Tenant
from tests.distribution.helpers import distributors, refund, rule
from tests.distribution.test_commissions import ledger


def report(
    db: Database,
    p: Principal,
    external_id: str,
    at: datetime,
    status: str = "paid",
    distributor_id: int | None = None,
    paid_fen: int = 10000,
) -> int:
    """The channel reports an order (again) with this status; the worker reacts."""
    data = OrderIn(
        external_id=external_id,
        channel="tmall",
        status=status,  # type: ignore[arg-type]
        ordered_at=at,
        paid_at=at,
        total_fen=paid_fen,
        paid_fen=paid_fen,
        identifiers={"phone": "13800000009"},
        distributor_id=distributor_id,
        lines=[
            LineIn(
                sku="LIP-01",
                product="丝绒口红",
                category="美妆",
                quantity=2,
                unit_price_fen=paid_fen // 2,
                amount_fen=paid_fen,
            )
        ],
    )
    with db.transaction() as session:
        order_id = ingest.upsert_order(session, p, data)[0].id
    outbox.run_due(db)
    return order_id


def hold(db: Database, p: Principal, ref: str, quantity: int) -> None:
    with db.transaction() as session:
        catalog.reserve(session, p, ReserveIn(ref=ref, sku="LIP-01", quantity=quantity))


def cancel_messages(db: Database) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.topic == catalog_tasks.CANCEL_TOPIC)
            )
            or 0
        )


def state(db: Database) -> tuple[str, list[tuple[str, str]]]:
    with db.transaction() as session:
        status = session.scalars(select(Order.status)).one()
        holds = session.execute(
            select(Reservation.ref, Reservation.status).order_by(Reservation.ref)
        ).all()
    return status, [tuple(h) for h in holds]  # type: ignore[misc]


def test_a_cancelled_order_gives_back_its_stock_and_reverses_its_pending_commission_once(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    upline, a, _ = distributors(db, p)
    rule(db, p, "10", "2")
    make_catalog(db, p, on_hand=10)
    hold(db, p, "T1#1", 2)
    hold(db, p, "T1#2", 1)
    hold(db, p, "T10", 3)  # another order whose number starts alike: untouched
    order_id = report(db, p, "T1", clock.now(), distributor_id=a)
    assert stock_row(db)[:2] == (10, 6)
    report(db, p, "T1", clock.now(), status="cancelled", distributor_id=a)
    with db.transaction() as session:
        assert session.get(Order, order_id).status == "cancelled"  # type: ignore[union-attr]
        refs = dict(session.execute(select(Reservation.ref, Reservation.status)).all())
    assert refs == {"T1#1": "released", "T1#2": "released", "T10": "held"}
    assert stock_row(db)[:2] == (10, 3)
    entries = [
        (a, 1, "commission", 1000, "pending"),
        (upline, 2, "commission", 200, "pending"),
        (a, 1, "reversal", -1000, "pending"),
        (upline, 2, "reversal", -200, "pending"),
    ]
    assert ledger(db) == entries
    with db.transaction() as session:
        assert commissions.balance(session, p, a) == {"pending": 0, "settled": 0, "paid": 0}
    # A replayed report signals nothing; replayed reactions write nothing.
    report(db, p, "T1", clock.now(), status="cancelled", distributor_id=a)
    assert cancel_messages(db) == 1
    with db.transaction() as session:
        assert commissions.reverse(session, tenant.workspace_id, [order_id]) == []
        assert catalog_tasks.release_for_orders(session, tenant.workspace_id, [order_id]) == 0
    assert ledger(db) == entries
    assert stock_row(db)[:2] == (10, 3)


def test_a_cancel_after_payout_writes_a_settled_debt_that_blocks_the_next_payout(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    upline, a, _ = distributors(db, p)
    rule(db, p, "10", "2")
    report(db, p, "T2", clock.now(), distributor_id=a)
    clock.advance(days=16)
    with db.transaction() as session:
        assert commissions.settle_due(session, tenant.workspace_id) == 2
        commissions.pay_out(session, p, a, "BANK-1")
    report(db, p, "T2", clock.now(), status="cancelled", distributor_id=a)
    assert ledger(db)[2:] == [
        (a, 1, "reversal", -1000, "settled"),
        (upline, 2, "reversal", -200, "settled"),
    ]
    with db.transaction() as session:
        assert commissions.balance(session, p, a) == {"pending": 0, "settled": -1000, "paid": 1000}
        assert commissions.balance(session, p, upline) == {"pending": 0, "settled": 0, "paid": 0}
    with pytest.raises(Conflict), db.transaction() as session:
        commissions.pay_out(session, p, a, "BANK-2")


def test_a_cancel_after_a_partial_refund_reverses_only_the_rest_and_later_refunds_take_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    _, a, b = distributors(db, p)
    rule(db, p, "10")
    order_id = report(db, p, "T3", clock.now(), distributor_id=b)
    refund(db, p, order_id, "RF1", 3333)
    report(db, p, "T3", clock.now(), status="cancelled")
    refund(db, p, order_id, "RF2", 6667)
    assert ledger(db) == [
        (b, 1, "commission", 1000, "pending"),
        (b, 1, "clawback", -333, "pending"),
        (b, 1, "reversal", -667, "pending"),
    ]


def test_a_refunded_order_reported_closed_changes_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    _, a, _ = distributors(db, p)
    rule(db, p, "10")
    make_catalog(db, p, on_hand=10)
    order_id = report(db, p, "T4", clock.now(), distributor_id=a)
    hold(db, p, "T4", 1)
    refund(db, p, order_id, "RF", 10000)
    before = ledger(db), state(db), stock_row(db)
    report(db, p, "T4", clock.now(), status="cancelled", distributor_id=a)
    assert (ledger(db), state(db), stock_row(db)) == before
    assert state(db) == ("refunded", [("T4", "held")])
    assert cancel_messages(db) == 0


def test_an_order_that_arrives_cancelled_frees_its_hold_and_earns_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    _, a, _ = distributors(db, p)
    rule(db, p, "10")
    make_catalog(db, p, on_hand=10)
    hold(db, p, "T5", 2)
    hold(db, p, "T6", 1)
    with db.transaction() as session:
        catalog.confirm(session, catalog.reservation_by_ref(session, p, "T6"))
    report(db, p, "T5", clock.now(), status="cancelled", distributor_id=a)
    report(db, p, "T6", clock.now(), status="cancelled", distributor_id=a)
    assert ledger(db) == []
    with db.transaction() as session:
        refs = dict(session.execute(select(Reservation.ref, Reservation.status)).all())
    # A confirmed reservation already left stock: the supplier's next count says what is back.
    assert refs == {"T5": "released", "T6": "confirmed"}
    assert stock_row(db)[:2] == (9, 0)
