"""Coupons on both stores: templates, issuance limits and budget, codes, redemption, reversal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import InvalidField, NotFound
from siyu.promotions import codes, coupons, redemption
from siyu.promotions.coupons import CouponRefused
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.promotions.schemas import CartLine, RedeemIn, TemplateIn
from tests.conftest import Tenant
from tests.loyalty.helpers import customer, member, order, refund, snapshot

JAN6 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
FULL_50_MINUS_20 = {
    "name": "满50减20",
    "kind": "threshold",
    "threshold_fen": 5000,
    "discount_fen": 2000,
}


def template(db: Database, tenant: Tenant, **fields: object) -> int:
    with db.transaction() as session:
        made = coupons.create_template(
            session, tenant.principal, TemplateIn.model_validate(FULL_50_MINUS_20 | fields)
        )
        return made.id


def issue(db: Database, tenant: Tenant, template_id: int, customer_id: int, key: str) -> Coupon:
    with db.transaction() as session:
        return coupons.issue_coupon(session, tenant.principal, template_id, customer_id, key)


def cart(*lines: tuple[str, str, int], shipping: int = 0, ref: str = "TM-9") -> RedeemIn:
    return RedeemIn(
        customer_id=0,
        channel="tmall",
        order_external_id=ref,
        lines=[CartLine(sku=s, category=c, quantity=1, unit_price_fen=p) for s, c, p in lines],
        shipping_fen=shipping,
    )


def redeem(db: Database, tenant: Tenant, code: str, customer_id: int, data: RedeemIn) -> Coupon:
    with db.transaction() as session:
        return redemption.redeem_coupon(
            session, tenant.principal, code, data.model_copy(update={"customer_id": customer_id})
        )


def test_codes_are_random_and_carry_a_check_character() -> None:
    made = {codes.new_code() for _ in range(2000)}
    assert len(made) == 2000 and all(len(c) == 16 for c in made)
    code = next(iter(made))
    assert codes.normalize(codes.pretty(code).lower()) == code
    wrong = code[:3] + ("1" if code[3] != "1" else "2") + code[4:]
    with pytest.raises(InvalidField) as refused:
        codes.normalize(wrong)
    assert refused.value.detail["errors"][0] == {
        "field": "code",
        "reason": "check character does not match",
    }


def test_50_minus_20_applies_at_the_threshold_and_is_used_once(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = customer(db, tenant)
    coupon = issue(db, tenant, template(db, tenant), who, "j-1")
    below = cart(("LIP", "口红", 4999))
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(CouponRefused) as refused:
        redeem(db, tenant, coupon.code, who, below)
    assert refused.value.reason == "below_threshold"
    assert snapshot(db, tenant.workspace_id) == before
    used = redeem(db, tenant, coupon.code, who, cart(("LIP", "口红", 5000)))
    assert (used.status, used.discount_fen, used.order_ref) == ("redeemed", 2000, "tmall:TM-9")
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(CouponRefused) as again:
        redeem(db, tenant, coupon.code, who, cart(("LIP", "口红", 9000), ref="TM-10"))
    assert again.value.reason == "used" and "已使用" in again.value.zh_message
    assert snapshot(db, tenant.workspace_id) == before
    with db.transaction() as session:
        row = session.get(CouponTemplate, coupon.template_id)
        assert row is not None
        assert (row.issued_count, row.redeemed_count, row.redeemed_fen) == (1, 1, 2000)


def test_an_expired_coupon_is_refused_and_nothing_changes(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = customer(db, tenant)
    coupon = issue(db, tenant, template(db, tenant, valid_days=7), who, "j-1")
    assert coupon.valid_until == datetime(2026, 1, 13, 2, 0, tzinfo=UTC)
    clock.advance(days=7)
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(CouponRefused) as refused:
        redeem(db, tenant, coupon.code, who, cart(("LIP", "口红", 9000)))
    assert refused.value.reason == "expired"
    assert snapshot(db, tenant.workspace_id) == before


def test_another_customers_or_workspaces_coupon_is_not_found(
    db: Database, tenant: Tenant, other_tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    mine, theirs = customer(db, tenant, "甲"), customer(db, tenant, "乙")
    coupon = issue(db, tenant, template(db, tenant), mine, "j-1")
    stranger = customer(db, other_tenant, "丙")
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(NotFound):
        redeem(db, tenant, coupon.code, theirs, cart(("LIP", "口红", 9000)))
    with pytest.raises(NotFound):
        redeem(db, other_tenant, coupon.code, stranger, cart(("LIP", "口红", 9000)))
    assert snapshot(db, tenant.workspace_id) == before


def test_per_customer_limit_and_budget_cap_issuance(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    a, b, c = (customer(db, tenant, n) for n in "甲乙丙")
    tid = template(db, tenant, per_customer_limit=1, budget_fen=4000)
    assert issue(db, tenant, tid, a, "k1").status == "issued"
    # The same key again is the same coupon, not a second one.
    assert issue(db, tenant, tid, a, "k1").id == issue(db, tenant, tid, a, "k1").id
    with pytest.raises(CouponRefused) as limit:
        issue(db, tenant, tid, a, "k2")
    assert limit.value.reason == "limit"
    issue(db, tenant, tid, b, "k3")
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(CouponRefused) as budget:
        issue(db, tenant, tid, c, "k4")
    assert budget.value.reason == "budget"
    assert snapshot(db, tenant.workspace_id) == before


def test_bulk_issue_counts_what_it_refused(
    db: Database, tenant: Tenant, other_tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    people = [customer(db, tenant, f"客{i}") for i in range(3)]
    stranger = customer(db, other_tenant, "外")
    tid = template(db, tenant, budget_fen=4000)
    with db.transaction() as session:
        result = coupons.issue_many(
            session, tenant.principal, tid, [*people, stranger, people[0]], "wave-1"
        )
    assert result == {"issued": 2, "already": 0, "refused": {"not_found": 1, "budget": 1}}
    with db.transaction() as session:
        again = coupons.issue_many(session, tenant.principal, tid, people[:2], "wave-1")
    assert again == {"issued": 0, "already": 2, "refused": {}}


def test_percent_off_is_scoped_to_its_category_and_capped(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = customer(db, tenant)
    tid = template(
        db,
        tenant,
        name="精华8折",
        kind="percent",
        threshold_fen=0,
        discount_fen=0,
        percent_off=20,
        max_discount_fen=5000,
        categories=["精华"],
    )
    coupon = issue(db, tenant, tid, who, "k1")
    used = redeem(
        db, tenant, coupon.code, who, cart(("SER", "精华", 36900), ("LIP", "口红", 16900))
    )
    assert used.discount_fen == 5000  # 20% of 369.00 is 73.80, capped at 50.00
    other = issue(
        db,
        tenant,
        template(
            db,
            tenant,
            name="精华8折B",
            kind="percent",
            threshold_fen=0,
            discount_fen=0,
            percent_off=20,
            categories=["精华"],
        ),
        who,
        "k2",
    )
    with pytest.raises(CouponRefused) as refused:
        redeem(db, tenant, other.code, who, cart(("LIP", "口红", 16900), ref="TM-11"))
    assert refused.value.reason == "no_eligible_items"


def test_a_full_refund_gives_the_coupon_back(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    coupon = issue(db, tenant, template(db, tenant), who, "k1")
    order_id = order(db, tenant, who, "TM-9", 6000)
    redeem(db, tenant, coupon.code, who, cart(("LIP", "口红", 8000)))
    refund(db, tenant, order_id, "R1", 3000)
    with db.transaction() as session:
        assert session.get(Coupon, coupon.id).status == "redeemed"  # type: ignore[union-attr]
    refund(db, tenant, order_id, "R2", 3000)
    with db.transaction() as session:
        back = session.get(Coupon, coupon.id)
        row = session.get(CouponTemplate, coupon.template_id)
    assert back is not None and row is not None
    assert (back.status, back.order_ref is not None, back.discount_fen) == ("issued", True, 0)
    assert (row.redeemed_count, row.redeemed_fen) == (0, 0)


def test_bad_templates_name_the_field_and_nothing_is_written(db: Database, tenant: Tenant) -> None:
    before = snapshot(db, tenant.workspace_id)
    for fields, field in (
        ({"discount_fen": 6000}, "discount_fen"),
        ({"kind": "percent", "percent_off": 0}, "percent_off"),
        ({"kind": "percent", "percent_off": 10, "budget_fen": 100}, "max_discount_fen"),
    ):
        with pytest.raises(InvalidField) as refused, db.transaction() as session:
            coupons.create_template(
                session, tenant.principal, TemplateIn.model_validate(FULL_50_MINUS_20 | fields)
            )
        assert refused.value.detail["errors"][0]["field"] == field
    assert snapshot(db, tenant.workspace_id) == before


def test_coupons_issue_on_an_event(db: Database, tenant: Tenant, clock: SimulatedClock) -> None:
    from siyu.core import outbox
    from siyu.ingest import service as ingest
    from tests.loyalty.helpers import PHONES

    clock.set(JAN6)
    who = customer(db, tenant)
    tid = template(db, tenant, name="入群礼", trigger_event="join_group")
    event = {
        "event_id": "e1",
        "type": "join_group",
        "occurred_at": "2026-01-06T10:00:00+08:00",
        "identifiers": {"phone": PHONES[who]},
    }
    for _ in range(2):
        with db.transaction() as session:
            ingest.ingest_events(session, tenant.principal, [event])
        outbox.run_due(db)
    with db.transaction() as session:
        held = session.execute(select(Coupon.template_id, Coupon.customer_id, Coupon.source)).all()
    assert [tuple(h) for h in held] == [(tid, who, "event")]


def test_a_journey_step_issues_by_template_name_once_per_key(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    from siyu.promotions import service

    clock.set(JAN6)
    who = customer(db, tenant)
    tid = template(db, tenant, name="birthday", per_customer_limit=5)
    with db.transaction() as session:
        first = service.issue_coupon(session, tenant.principal, "birthday", who, "j2:run1")
        again = service.issue_coupon(session, tenant.principal, tid, who, "j2:run1")
    assert (first.id, first.source, first.template_id) == (again.id, "journey", tid)
    with pytest.raises(NotFound), db.transaction() as session:
        service.issue_coupon(session, tenant.principal, "no-such", who, "j2:run2")


def test_a_second_coupon_on_one_order_needs_both_to_stack(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = customer(db, tenant)
    plain = issue(db, tenant, template(db, tenant), who, "k1")
    other = issue(db, tenant, template(db, tenant, name="满50减20B"), who, "k2")
    ship_a = issue(
        db,
        tenant,
        template(
            db,
            tenant,
            name="包邮A",
            kind="free_shipping",
            threshold_fen=0,
            discount_fen=800,
            stackable=True,
        ),
        who,
        "k3",
    )
    ship_b = issue(db, tenant, template(db, tenant, name="满50减20S", stackable=True), who, "k4")
    redeem(db, tenant, plain.code, who, cart(("LIP", "口红", 9000), shipping=800))
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(CouponRefused) as refused:
        redeem(db, tenant, other.code, who, cart(("LIP", "口红", 9000), shipping=800))
    assert refused.value.reason == "not_stackable"
    assert snapshot(db, tenant.workspace_id) == before
    # On another order, two stackable coupons combine.
    redeem(db, tenant, ship_a.code, who, cart(("LIP", "口红", 9000), shipping=800, ref="TM-20"))
    used = redeem(
        db, tenant, ship_b.code, who, cart(("LIP", "口红", 9000), shipping=800, ref="TM-20")
    )
    assert (used.status, used.discount_fen) == ("redeemed", 2000)


def test_bulk_issue_to_a_segment(
    client: object, db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    from fastapi.testclient import TestClient

    from siyu.customers.models import Customer
    from siyu.segments import service as segments
    from siyu.segments.schemas import SegmentIn

    assert isinstance(client, TestClient)
    clock.set(JAN6)
    people = [customer(db, tenant, f"客{i}") for i in range(3)]
    with db.transaction() as session:
        for customer_id in people[:2]:
            row = session.get(Customer, customer_id)
            assert row is not None
            row.city = "上海"
        segment = segments.create_segment(
            session,
            tenant.principal,
            SegmentIn(
                name="上海客户",
                rule={"type": "attribute", "field": "city", "op": "eq", "value": "上海"},
            ),
        )
        segment_id = segment.id
    tid = template(db, tenant)
    answer = client.post(
        f"/api/v1/coupon-templates/{tid}/issue:bulk",
        json={"segment_id": segment_id, "batch_key": "sh-1"},
        headers=tenant.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"issued": 2, "already": 0, "refused": {}}
    with db.transaction() as session:
        held = sorted(session.scalars(select(Coupon.customer_id).where(Coupon.source == "segment")))
    assert held == people[:2]


def test_coupons_follow_a_merge_and_go_back_on_undo(db: Database, tenant: Tenant) -> None:
    from siyu.customers.merge import merge, unmerge

    template_id = template(db, tenant, per_customer_limit=5)
    keep, gone = customer(db, tenant, "甲"), customer(db, tenant, "乙")
    mine = issue(db, tenant, template_id, keep, "merge-keep").id
    theirs = issue(db, tenant, template_id, gone, "merge-gone").id
    with db.transaction() as session:
        record = merge(session, tenant.principal, keep, gone, "manual")
    with db.transaction() as session:
        held = dict(session.execute(select(Coupon.id, Coupon.customer_id)).all())
    assert held == {mine: keep, theirs: keep}
    with db.transaction() as session:
        unmerge(session, tenant.principal, record.id)
    with db.transaction() as session:
        held = dict(session.execute(select(Coupon.id, Coupon.customer_id)).all())
    assert held == {mine: keep, theirs: gone}
