"""Coupon rules on both stores: product scope, free shipping, validity windows, paused
templates, reversal after the window, and bad money or codes over HTTP (nothing written)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.ingest.models import Order, Refund
from siyu.promotions.coupons import CouponRefused
from siyu.promotions.models import Coupon, CouponTemplate
from tests.conftest import Tenant
from tests.loyalty.helpers import customer, member, order, refund, snapshot
from tests.promotions.test_coupons import cart, issue, redeem, template

JAN6 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
FIXED = {"kind": "fixed", "threshold_fen": 0, "discount_fen": 3000}


def refused(db: Database, tenant: Tenant, code: str, who: int, data: Any) -> str:
    """Redeem, expect a refusal, prove nothing changed; the reason."""
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(CouponRefused) as caught:
        redeem(db, tenant, code, who, data)
    assert snapshot(db, tenant.workspace_id) == before
    return caught.value.reason


def test_a_fixed_coupon_scoped_to_a_product_takes_off_at_most_that_product(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = customer(db, tenant)
    tid = template(db, tenant, name="精华立减30", skus=["SER-1"], per_customer_limit=2, **FIXED)
    first, second = issue(db, tenant, tid, who, "k1"), issue(db, tenant, tid, who, "k2")
    assert refused(db, tenant, first.code, who, cart(("LIP", "口红", 9000))) == "no_eligible_items"
    used = redeem(db, tenant, first.code, who, cart(("SER-1", "精华", 2000), ("LIP", "口红", 9000)))
    assert used.discount_fen == 2000  # ¥30 off, but the product costs ¥20
    used = redeem(db, tenant, second.code, who, cart(("SER-1", "精华", 5000), ref="TM-10"))
    assert used.discount_fen == 3000


def test_free_shipping_waives_up_to_its_amount_above_its_threshold(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = customer(db, tenant)
    tid = template(
        db, tenant, name="满50包邮", kind="free_shipping", threshold_fen=5000, discount_fen=800
    )
    coupon = issue(db, tenant, tid, who, "k1")
    lip = ("LIP", "口红", 6000)
    assert refused(db, tenant, coupon.code, who, cart(lip)) == "no_shipping"
    assert (
        refused(db, tenant, coupon.code, who, cart(("LIP", "口红", 4999), shipping=1000))
        == "below_threshold"
    )
    used = redeem(db, tenant, coupon.code, who, cart(lip, shipping=1200))
    assert (used.status, used.discount_fen) == ("redeemed", 800)


def test_a_coupon_works_only_inside_its_window_and_issuing_ends_with_it(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = customer(db, tenant)
    tid = template(
        db,
        tenant,
        valid_from="2026-01-10T00:00:00+08:00",
        valid_until="2026-01-20T00:00:00+08:00",
        valid_days=30,
        per_customer_limit=3,
    )
    coupon = issue(db, tenant, tid, who, "k1")
    # The template's end comes before 30 days from its start.
    assert (coupon.valid_from, coupon.valid_until) == (
        datetime(2026, 1, 9, 16, 0, tzinfo=UTC),
        datetime(2026, 1, 19, 16, 0, tzinfo=UTC),
    )
    big = cart(("LIP", "口红", 9000))
    assert refused(db, tenant, coupon.code, who, big) == "not_started"
    clock.set(datetime(2026, 1, 19, 15, 59, tzinfo=UTC))
    assert redeem(db, tenant, coupon.code, who, big).discount_fen == 2000
    clock.set(datetime(2026, 1, 19, 16, 0, tzinfo=UTC))
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(CouponRefused) as ended:
        issue(db, tenant, tid, who, "k2")
    assert ended.value.reason == "ended"
    assert snapshot(db, tenant.workspace_id) == before


def test_a_paused_template_issues_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = customer(db, tenant)
    tid = template(db, tenant)
    with db.transaction() as session:
        row = session.get(CouponTemplate, tid)
        assert row is not None
        row.active = False
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(CouponRefused) as paused:
        issue(db, tenant, tid, who, "k1")
    assert paused.value.reason == "inactive"
    assert snapshot(db, tenant.workspace_id) == before


def test_a_full_refund_after_the_window_closed_leaves_the_coupon_expired(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    coupon = issue(db, tenant, template(db, tenant, valid_days=7), who, "k1")
    order_id = order(db, tenant, who, "TM-9", 6000)
    redeem(db, tenant, coupon.code, who, cart(("LIP", "口红", 8000)))
    clock.advance(days=8)
    refund(db, tenant, order_id, "R1", 6000)
    with db.transaction() as session:
        back = session.get(Coupon, coupon.id)
        row = session.get(CouponTemplate, coupon.template_id)
        assert back is not None and row is not None
        assert (back.status, back.discount_fen, back.reversed_at) == (
            "expired",
            0,
            datetime(2026, 1, 14, 2, 0, tzinfo=UTC),
        )
        assert (row.redeemed_count, row.redeemed_fen, row.issued_count) == (0, 0, 1)


def test_bad_money_and_codes_over_http_are_refused_and_nothing_is_written(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    order_id = order(db, tenant, who, "TM-1", 5000)
    tid = template(db, tenant)
    code = issue(db, tenant, tid, who, "k1").code
    h = tenant.headers
    line = {"sku": "LIP", "category": "口红", "quantity": 1, "unit_price_fen": 9000}
    body = {"customer_id": who, "channel": "tmall", "order_external_id": "TM-2", "lines": [line]}
    wrong_check = code[:-1] + ("0" if code[-1] != "0" else "1")
    before = snapshot(db, tenant.workspace_id)
    calls: list[tuple[str, dict[str, Any], int, str]] = [
        (f"/coupons/{code}:redeem", body | {"lines": [line | {"unit_price_fen": 90.5}]}, 422, ""),
        (f"/coupons/{code}:redeem", body | {"lines": [line | {"unit_price_fen": -1}]}, 422, ""),
        (f"/coupons/{code}:redeem", body | {"shipping_fen": -100}, 422, "shipping_fen"),
        (f"/coupons/{code}:redeem", body | {"shipping_fen": 0.5}, 422, "shipping_fen"),
        (f"/coupons/{wrong_check}:redeem", body, 422, "code"),
        (f"/coupons/{code}:redeem", body | {"customer_id": who + 999}, 404, ""),
        ("/coupon-templates", {"name": "x", "kind": "fixed", "discount_fen": 20.5}, 422, ""),
        ("/coupon-templates", {"name": "x", "kind": "fixed", "discount_fen": -5}, 422, ""),
        (f"/orders/{order_id}/refunds", {"external_id": "R1", "amount_fen": 100.5}, 422, ""),
        (f"/orders/{order_id}/refunds", {"external_id": "R1", "amount_fen": -100}, 422, ""),
        (f"/orders/{order_id}/refunds", {"external_id": "R1", "amount_fen": 5001}, 422, ""),
        (
            "/loyalty/benefits:check",
            {"customer_id": who, "channel": "tmall", "lines": [line | {"unit_price_fen": 9.9}]},
            422,
            "",
        ),
    ]
    for route, payload, status, field in calls:
        answer = client.post(f"/api/v1{route}", json=payload, headers=h)
        assert answer.status_code == status, (route, payload, answer.text)
        if field:
            assert field in {e["field"].split(".")[-1] for e in answer.json()["errors"]}
    # Someone else's workspace cannot use it even with the right customer id.
    elsewhere = client.post(
        f"/api/v1/coupons/{code}:redeem", json=body, headers=other_tenant.headers
    )
    assert elsewhere.status_code == 404
    assert snapshot(db, tenant.workspace_id) == before
    with db.transaction() as session:
        row = session.get(CouponTemplate, tid)
        assert row is not None
        assert (row.issued_count, row.redeemed_count, row.redeemed_fen) == (1, 0, 0)
        paid = session.get(Order, order_id)
        assert paid is not None and (paid.status, paid.refunded_fen) == ("paid", 0)
        assert session.scalars(select(Refund.id).where(Refund.order_id == order_id)).all() == []


def test_another_workspaces_template_cannot_be_issued_from_or_to(
    db: Database, tenant: Tenant, other_tenant: Tenant, clock: SimulatedClock
) -> None:
    from siyu.core.errors import NotFound
    from siyu.promotions import coupons

    clock.set(JAN6)
    mine, theirs = customer(db, tenant, "甲"), customer(db, other_tenant, "乙")
    tid = template(db, tenant)
    before = snapshot(db, tenant.workspace_id), snapshot(db, other_tenant.workspace_id)
    with pytest.raises(NotFound), db.transaction() as session:
        coupons.issue_coupon(session, other_tenant.principal, tid, theirs, "k1")
    with pytest.raises(NotFound), db.transaction() as session:
        coupons.issue_coupon(session, tenant.principal, tid, theirs, "k2")
    with pytest.raises(NotFound), db.transaction() as session:
        coupons.issue_many(session, other_tenant.principal, tid, [mine, theirs], "wave-1")
    assert (snapshot(db, tenant.workspace_id), snapshot(db, other_tenant.workspace_id)) == before
