"""Coupons under concurrency on both stores, each attempt its own committed transaction: a
budget cap is never overrun, one customer's limit holds, and one code is used only once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import func, select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.promotions import coupons, redemption
from siyu.promotions.coupons import CouponRefused
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.promotions.schemas import CartLine, RedeemIn, TemplateIn
from tests.conftest import Tenant, make_tenant
from tests.loyalty.helpers import customer

THREADS = 8


def outcomes(attempts: list[Callable[[], object]]) -> Counter[str]:
    """Run the attempts on THREADS threads; 'ok' or the refusal's reason, counted."""

    def run(attempt: Callable[[], object]) -> str:
        try:
            attempt()
        except CouponRefused as refused:
            return refused.reason
        return "ok"

    with ThreadPoolExecutor(THREADS) as pool:
        return Counter(pool.map(run, attempts))


def made_template(db: Database, tenant: Tenant, **fields: object) -> int:
    data = {"name": "立减10", "kind": "fixed", "discount_fen": 1000} | fields
    with db.transaction() as session:
        return coupons.create_template(
            session, tenant.principal, TemplateIn.model_validate(data)
        ).id


def test_a_budget_and_a_per_customer_limit_hold_under_concurrent_issuance(
    committed_db: Database, clock: SimulatedClock
) -> None:
    db = committed_db
    clock.set(datetime(2026, 1, 6, 2, 0, tzinfo=UTC))
    tenant = make_tenant(db, "并发券")
    people = [customer(db, tenant, f"客{i}") for i in range(24)]
    capped = made_template(db, tenant, budget_fen=10_000)  # ten coupons' worth
    limited = made_template(db, tenant, name="每人三张", per_customer_limit=3)

    def issue(template_id: int, who: int, key: str) -> Callable[[], object]:
        def attempt() -> object:
            with db.transaction() as session:
                return coupons.issue_coupon(session, tenant.principal, template_id, who, key)

        return attempt

    assert outcomes([issue(capped, p, f"b{p}") for p in people]) == {"ok": 10, "budget": 14}
    one = people[0]
    assert outcomes([issue(limited, one, f"l{n}") for n in range(12)]) == {"ok": 3, "limit": 9}
    with db.transaction() as session:
        rows = {
            t.id: (t.issued_count, t.committed_fen) for t in session.scalars(select(CouponTemplate))
        }
        held = dict(
            session.execute(
                select(Coupon.template_id, func.count(Coupon.id)).group_by(Coupon.template_id)
            ).all()
        )
    assert rows == {capped: (10, 10_000), limited: (3, 3000)}
    assert held == {capped: 10, limited: 3}


def test_one_code_redeemed_on_many_orders_at_once_is_used_once(
    committed_db: Database, clock: SimulatedClock
) -> None:
    db = committed_db
    clock.set(datetime(2026, 1, 6, 2, 0, tzinfo=UTC))
    tenant = make_tenant(db, "并发用券")
    who = customer(db, tenant)
    tid = made_template(db, tenant)
    with db.transaction() as session:
        code = coupons.issue_coupon(session, tenant.principal, tid, who, "k1").code

    def use(n: int) -> Callable[[], object]:
        data = RedeemIn(
            customer_id=who,
            channel="tmall",
            order_external_id=f"TM-{n}",
            lines=[CartLine(sku="LIP", quantity=1, unit_price_fen=5000)],
        )

        def attempt() -> object:
            with db.transaction() as session:
                return redemption.redeem_coupon(session, tenant.principal, code, data)

        return attempt

    assert outcomes([use(n) for n in range(16)]) == {"ok": 1, "used": 15}
    with db.transaction() as session:
        row = session.get(CouponTemplate, tid)
        assert row is not None
        assert (row.redeemed_count, row.redeemed_fen) == (1, 1000)
        used = session.scalars(select(Coupon)).one()
        assert (used.status, used.discount_fen) == ("redeemed", 1000)
