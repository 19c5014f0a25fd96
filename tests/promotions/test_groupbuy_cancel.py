"""Group-buy and cancelled orders: an open group frees the seat and its stock, once."""

from __future__ import annotations

from sqlalchemy import select

from siyu.catalog.models import Reservation
from siyu.core import outbox
from siyu.core.auth import Principal
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.ingest import service as ingest
from siyu.ingest.schemas import OrderIn
from siyu.promotions.groupbuy import service
from siyu.promotions.groupbuy.models import GroupMember
from tests.conftest import Tenant
from tests.promotions.test_groupbuy import available, customers, template


def report(db: Database, p: Principal, clock: SimulatedClock, number: str, status: str) -> None:
    """The checkout's order for a seat (its number is the payment_ref), then the worker runs."""
    data = OrderIn(
        external_id=number,
        channel="wechat",
        status=status,  # type: ignore[arg-type]
        ordered_at=clock.now(),
        total_fen=9900,
        paid_fen=9900,
        identifiers={"phone": f"1390000{number[-4:]}"},
    )
    with db.transaction() as session:
        ingest.upsert_order(session, p, data)
    outbox.run_due(db)


def test_a_cancelled_order_frees_its_seat_in_an_open_group_and_the_next_join_takes_it(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    tid = template(db, p, stock=100)
    a, b, c, d = customers(db, tenant.workspace_id, 4)
    with db.transaction() as session:
        code = service.open_group(session, p, tid, a).code
        service.join(session, p, code, b)
        service.join(session, p, code, c)
        service.pay(session, p, code, b, "G-0002")
    report(db, p, clock, "G-0002", "paid")
    assert available(db, tenant.workspace_id) == 97
    report(db, p, clock, "G-0002", "cancelled")
    with db.transaction() as session:
        group = service.group_out(session, service.group_by_code(session, p, code))
        left = session.scalars(select(GroupMember).where(GroupMember.customer_id == b)).one()
        held = session.get(Reservation, left.reservation_id)
        assert held is not None and held.status == "released"
        assert service.leave(session, service.group_by_code(session, p, code), left) is False
    assert (group.status, group.seats_taken, group.paid_count) == ("open", 2, 0)
    assert [(m.customer_id, m.status, m.seat) for m in group.members] == [
        (b, "cancelled", -left.id),
        (a, "joined", 1),
        (c, "joined", 2),
    ]
    assert available(db, tenant.workspace_id) == 98
    with db.transaction() as session:
        assert service.join(session, p, code, d).seat == 3
        for n, who in enumerate((a, c, d)):
            service.pay(session, p, code, who, f"G-1{n:03d}")
        group = service.group_out(session, service.group_by_code(session, p, code))
    assert (group.status, group.seats_taken, group.paid_count) == ("succeeded", 3, 3)
    assert [m.status for m in group.members] == ["cancelled", "paid", "paid", "paid"]
    assert available(db, tenant.workspace_id) == 97


def test_a_cancelled_order_leaves_a_group_that_already_succeeded_as_it_was(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    tid = template(db, p, stock=100)
    a, b, c = customers(db, tenant.workspace_id, 3)
    with db.transaction() as session:
        code = service.open_group(session, p, tid, a).code
        service.join(session, p, code, b)
        service.join(session, p, code, c)
        for n, who in enumerate((a, b, c)):
            service.pay(session, p, code, who, f"G-2{n:03d}")
    report(db, p, clock, "G-2001", "paid")
    report(db, p, clock, "G-2001", "cancelled")
    with db.transaction() as session:
        group = service.group_out(session, service.group_by_code(session, p, code))
    assert (group.status, group.seats_taken, group.paid_count) == ("succeeded", 3, 3)
    assert [(m.status, m.seat) for m in group.members] == [("paid", 1), ("paid", 2), ("paid", 3)]
    assert available(db, tenant.workspace_id) == 97
