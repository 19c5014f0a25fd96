"""Group-buy: seats never exceed N, success when N pay in time, otherwise all refunded."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from siyu.catalog.models import Reservation, Stock
from siyu.core import outbox
from siyu.core.auth import Principal
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import InvalidField, NotFound
from siyu.customers.models import Customer
from siyu.promotions.groupbuy import service
from siyu.promotions.groupbuy.models import GroupBuy, GroupMember, GroupRefund
from siyu.promotions.groupbuy.schemas import TemplateIn
from tests.catalog.test_inventory import make_catalog
from tests.conftest import Tenant
from tests.live import committed_workspace, race


def customers(db: Database, workspace_id: int, count: int) -> list[int]:
    with db.transaction() as session:
        rows = [Customer(workspace_id=workspace_id) for _ in range(count)]
        session.add_all(rows)
        session.flush()
        return [c.id for c in rows]


def template(db: Database, principal: Principal, size: int = 3, stock: int = 100) -> int:
    make_catalog(db, principal, on_hand=stock)
    with db.transaction() as session:
        data = TemplateIn(
            name="口红三人团",
            sku="LIP-01",
            group_size=size,
            group_price_fen=9900,
            time_limit_minutes=60,
        )
        return service.create_template(session, principal, data).id


def available(db: Database, workspace_id: int) -> int:
    with db.transaction() as session:
        stock = session.scalars(select(Stock).where(Stock.workspace_id == workspace_id)).one()
        return stock.on_hand - stock.reserved


def test_a_full_group_succeeds_once_everyone_paid_and_refuses_a_fourth(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    tid = template(db, p)
    a, b, c, d = customers(db, tenant.workspace_id, 4)
    with db.transaction() as session:
        code = service.open_group(session, p, tid, a).code
        service.join(session, p, code, b)
        service.join(session, p, code, c)
    with pytest.raises(service.GroupFull), db.transaction() as session:
        service.join(session, p, code, d)
    with db.transaction() as session:
        for n, who in enumerate((a, b, c)):
            service.pay(session, p, code, who, f"PAY-{n}")
        group = service.group_out(session, service.group_by_code(session, p, code))
    assert (group.status, group.seats_taken, group.paid_count) == ("succeeded", 3, 3)
    assert [m.status for m in group.members] == ["paid", "paid", "paid"]
    with db.transaction() as session:
        on_hand = session.scalar(
            select(Stock.on_hand).where(Stock.workspace_id == tenant.workspace_id)
        )
    assert on_hand == 97
    assert available(db, tenant.workspace_id) == 97


def test_time_runs_out_the_group_fails_payers_are_refunded_stock_released(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    p = tenant.principal
    tid = template(db, p)
    a, b, late = customers(db, tenant.workspace_id, 3)
    with db.transaction() as session:
        code = service.open_group(session, p, tid, a).code
        service.join(session, p, code, b)
        service.pay(session, p, code, a, "PAY-A")
    assert available(db, tenant.workspace_id) == 98
    clock.advance(minutes=61)
    with pytest.raises(service.GroupExpired), db.transaction() as session:
        service.join(session, p, code, late)
    outbox.run_due(db)
    with pytest.raises(service.GroupFailed), db.transaction() as session:
        service.join(session, p, code, late)
    with db.transaction() as session:
        late_pay = service.pay(session, p, code, b, "PAY-B")
        group = service.group_out(session, service.group_by_code(session, p, code))
        refunds = session.execute(
            select(
                GroupRefund.customer_id, GroupRefund.amount_fen, GroupRefund.payment_ref
            ).order_by(GroupRefund.id)
        ).all()
    assert group.status == "failed"
    assert late_pay.status == "refunded"
    assert [m.status for m in group.members] == ["refunded", "refunded"]
    assert [tuple(r) for r in refunds] == [(a, 9900, "PAY-A"), (b, 9900, "PAY-B")]
    assert available(db, tenant.workspace_id) == 100


def test_another_workspaces_group_code_is_not_found(
    db: Database, tenant: Tenant, other_tenant: Tenant, clock: SimulatedClock
) -> None:
    tid = template(db, tenant.principal)
    (a,) = customers(db, tenant.workspace_id, 1)
    (x,) = customers(db, other_tenant.workspace_id, 1)
    with db.transaction() as session:
        code = service.open_group(session, tenant.principal, tid, a).code
    with pytest.raises(NotFound), db.transaction() as session:
        service.join(session, other_tenant.principal, code, x)
    with pytest.raises(InvalidField), db.transaction() as session:
        service.join(session, tenant.principal, code, x)
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(GroupMember)) == 1


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_500_concurrent_joins_into_3_person_groups_never_overfill(
    engines,
    kind: str,  # type: ignore[no-untyped-def]
) -> None:
    """100 groups with their openers, 500 joiners racing for the 200 free seats, payments racing
    the expiry: every group ends with exactly 3 paid, or failed with every payer refunded."""
    from siyu.core.clock import set_clock

    clock = SimulatedClock()
    previous = set_clock(clock)
    try:
        with committed_workspace(engines, kind, threads=16) as (live, tenant):
            p = tenant.principal
            tid = template(live, p, size=3, stock=1000)
            leaders = customers(live, tenant.workspace_id, 100)
            joiners = customers(live, tenant.workspace_id, 500)
            with live.transaction() as session:
                codes = [service.open_group(session, p, tid, c).code for c in leaders]
            rng = random.Random(7)
            picks = [codes[rng.randrange(len(codes))] for _ in joiners]

            def join(i: int) -> tuple[str, int]:
                with live.transaction() as session:
                    service.join(session, p, picks[i], joiners[i])
                return picks[i], joiners[i]

            joined = race(16, 500, join)
            seated = [j for j in joined if isinstance(j, tuple)]
            refused = [j for j in joined if not isinstance(j, tuple)]
            assert {type(e) for e in refused} <= {service.GroupFull}
            per_group: dict[str, list[int]] = {c: [leaders[n]] for n, c in enumerate(codes)}
            for code, who in seated:
                per_group[code].append(who)
            assert all(len(v) <= 3 for v in per_group.values())
            # Everyone pays, except one member of every fifth group, who never does.
            payments = [
                (code, who)
                for n, (code, people) in enumerate(per_group.items())
                for k, who in enumerate(people)
                if not (n % 5 == 0 and k == 1)
            ]

            def pay(i: int) -> str:
                code, who = payments[i]
                with live.transaction() as session:
                    return service.pay(session, p, code, who, f"PAY-{code}-{who}").status

            assert {s for s in race(16, len(payments), pay) if isinstance(s, str)} <= {"paid"}
            clock.advance(minutes=61)
            with live.transaction() as session:
                service.expire_due(session, tenant.workspace_id)
            with live.transaction() as session:
                groups = session.scalars(
                    select(GroupBuy).where(GroupBuy.workspace_id == tenant.workspace_id)
                ).all()
                members = session.scalars(
                    select(GroupMember).where(GroupMember.workspace_id == tenant.workspace_id)
                ).all()
                refunded = set(
                    session.scalars(
                        select(GroupRefund.member_id).where(
                            GroupRefund.workspace_id == tenant.workspace_id
                        )
                    )
                )
                held = session.scalar(
                    select(func.count())
                    .select_from(Reservation)
                    .where(
                        Reservation.workspace_id == tenant.workspace_id,
                        Reservation.status == "held",
                    )
                )
            by_group: dict[int, list[GroupMember]] = {}
            for m in members:
                by_group.setdefault(m.group_id, []).append(m)
            succeeded = failed = 0
            for g in groups:
                seats = by_group[g.id]
                assert len(seats) == g.seats_taken <= 3
                if g.status == "succeeded":
                    succeeded += 1
                    assert [m.status for m in seats] == ["paid"] * 3
                else:
                    failed += 1
                    assert g.status == "failed"
                    assert all(m.status in ("refunded", "cancelled") for m in seats)
                    assert {m.id for m in seats if m.payment_ref} <= refunded
            assert succeeded + failed == 100
            assert succeeded >= 1 and failed >= 20
            assert held == 0
            assert available(live, tenant.workspace_id) == 1000 - 3 * succeeded
    finally:
        set_clock(previous)
