"""Issuing coupons in a batch (journey steps) on both stores: the same outcomes as one by one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import Conflict, SiyuError
from siyu.promotions import coupons, service
from siyu.promotions.coupons import CouponRefused
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.promotions.schemas import TemplateIn
from tests.conftest import Tenant
from tests.loyalty.helpers import customer, snapshot

JAN6 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


def _template(db: Database, tenant: Tenant, **fields: object) -> int:
    data = {"name": "满50减20", "kind": "threshold", "threshold_fen": 5000, "discount_fen": 2000}
    with db.transaction() as session:
        made = coupons.create_template(
            session, tenant.principal, TemplateIn.model_validate(data | fields)
        )
        return made.id


def _issue(
    db: Database, tenant: Tenant, template: int | str, wants: list[tuple[int, str]]
) -> list[tuple[str, object]]:
    """(coupon: its customer, or the refusal's class and reason) per want, in order."""
    with db.transaction() as session:
        found = service.issue_coupons(session, tenant.principal, template, wants)
        return [_outcome(f) for f in found]


def _outcome(found: Coupon | SiyuError) -> tuple[str, object]:
    if isinstance(found, SiyuError):
        return type(found).__name__, getattr(found, "reason", found.code)
    return "coupon", (found.id, found.customer_id, found.idempotency_key)


def _counters(db: Database, template_id: int) -> tuple[int, int]:
    with db.transaction() as session:
        t = session.get(CouponTemplate, template_id)
        assert t is not None
        return t.issued_count, t.committed_fen


def _coupons(db: Database, tenant: Tenant) -> list[tuple[int, int, str, str]]:
    with db.transaction() as session:
        stmt = select(Coupon.id, Coupon.customer_id, Coupon.idempotency_key, Coupon.source)
        stmt = stmt.where(Coupon.workspace_id == tenant.workspace_id).order_by(Coupon.id)
        return [tuple(r) for r in session.execute(stmt)]  # type: ignore[misc]


def test_the_budget_and_the_per_customer_limit_refuse_in_request_order(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    a, b, c = (customer(db, tenant, n) for n in "甲乙丙")
    tid = _template(db, tenant, budget_fen=6000)
    assert _issue(db, tenant, tid, [(a, "r0")])[0][0] == "coupon"  # a holds one already
    found = _issue(db, tenant, tid, [(a, "r1"), (b, "r2"), (b, "r3"), (c, "r4"), (a, "r5")])
    made = _coupons(db, tenant)
    assert [(cust, key) for _, cust, key, _ in made] == [
        (a, "journey:r0"),
        (b, "journey:r2"),
        (c, "journey:r4"),
    ]
    assert found == [
        ("CouponRefused", "limit"),
        ("coupon", (made[1][0], b, "journey:r2")),
        ("CouponRefused", "limit"),  # b's first in this batch counts against the second
        ("coupon", (made[2][0], c, "journey:r4")),
        ("CouponRefused", "limit"),
    ]
    assert _counters(db, tid) == (3, 6000)
    before = snapshot(db, tenant.workspace_id)
    d = customer(db, tenant, "丁")
    assert _issue(db, tenant, tid, [(d, "r6")]) == [("CouponRefused", "budget")]
    with pytest.raises(CouponRefused) as one, db.transaction() as session:
        service.issue_coupon(session, tenant.principal, tid, d, "r7")
    assert one.value.reason == "budget"
    assert snapshot(db, tenant.workspace_id) == before
    assert _counters(db, tid) == (3, 6000)


def test_a_replay_answers_the_first_coupon_and_changes_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    a, b = customer(db, tenant, "甲"), customer(db, tenant, "乙")
    tid = _template(db, tenant, per_customer_limit=5)
    first = _issue(db, tenant, "满50减20", [(a, "k1"), (b, "k2"), (a, "k1"), (b, "k1")])
    made = _coupons(db, tenant)
    assert made == [
        (made[0][0], a, "journey:k1", "journey"),
        (made[1][0], b, "journey:k2", "journey"),
    ]
    assert first == [
        ("coupon", (made[0][0], a, "journey:k1")),
        ("coupon", (made[1][0], b, "journey:k2")),
        ("coupon", (made[0][0], a, "journey:k1")),  # the same key again: the same coupon
        ("Conflict", "conflict"),  # the same key for someone else
    ]
    before, counters = snapshot(db, tenant.workspace_id), _counters(db, tid)
    assert _issue(db, tenant, tid, [(b, "k2"), (a, "k1"), (b, "k1")]) == [
        first[1],
        first[0],
        ("Conflict", "conflict"),
    ]
    with db.transaction() as session:
        one = service.issue_coupon(session, tenant.principal, tid, a, "k1")
        assert (one.id, one.customer_id) == (made[0][0], a)
    with pytest.raises(Conflict), db.transaction() as session:
        service.issue_coupon(session, tenant.principal, tid, b, "k1")
    assert (snapshot(db, tenant.workspace_id), _counters(db, tid)) == (before, counters)
    assert counters == (2, 4000)


def test_refusals_of_the_template_or_the_customer_match_one_by_one(
    db: Database, tenant: Tenant, other_tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    a, stranger = customer(db, tenant, "甲"), customer(db, other_tenant, "外")
    tid = _template(db, tenant)
    paused = _template(db, tenant, name="停用券")
    with db.transaction() as session:
        made = session.get(CouponTemplate, paused)
        assert made is not None
        made.active = False
    before = snapshot(db, tenant.workspace_id)
    cases: list[tuple[int | str, list[tuple[int, str]], list[tuple[str, object]]]] = [
        ("没有这张券", [(a, "k1"), (a, "k2")], [("NotFound", "not_found")] * 2),
        (paused, [(a, "k1")], [("CouponRefused", "inactive")]),
        (tid, [(stranger, "k1")], [("NotFound", "not_found")]),
        (tid, [(a, "x" * 113)], [("InvalidField", "validation_error")]),
    ]
    for template, wants, expected in cases:
        assert _issue(db, tenant, template, wants) == expected
        with pytest.raises(SiyuError) as one, db.transaction() as session:
            service.issue_coupon(session, tenant.principal, template, *wants[0])
        assert _outcome(one.value) == expected[0]
    assert snapshot(db, tenant.workspace_id) == before
    mixed = _issue(db, tenant, tid, [(stranger, "k3"), (a, "k4")])
    assert mixed[0] == ("NotFound", "not_found") and mixed[1][0] == "coupon"
    assert _counters(db, tid) == (1, 2000)
