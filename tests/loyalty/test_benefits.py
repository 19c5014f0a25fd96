"""The benefit check and scheduled gifts on both stores: non-members, coupons that do not
combine with tier prices, 黑金 early access and service, birthday points and coupon once."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.loyalty import benefits, service
from siyu.loyalty.models import PointsTransfer
from siyu.loyalty.schedule import run_day
from siyu.promotions.models import Coupon
from siyu.promotions.schemas import CartLine
from tests.conftest import Tenant
from tests.loyalty.helpers import customer, member, order
from tests.promotions.test_coupons import issue, template

MEMBER_DAY = datetime(2026, 1, 18, 3, 0, tzinfo=UTC)
FIXED_30 = {"kind": "fixed", "threshold_fen": 0, "discount_fen": 3000}


def check(
    db: Database, tenant: Tenant, who: int, launch_at: str | None = None
) -> benefits.BenefitCheckOut:
    data = benefits.BenefitCheckIn(
        customer_id=who,
        channel="youzan",
        lines=[CartLine(sku="LIP", category="口红", quantity=1, unit_price_fen=10000)],
        shipping_fen=1000,
        launch_at=datetime.fromisoformat(launch_at) if launch_at else None,
    )
    with db.transaction() as session:
        return benefits.check(session, tenant.principal, data)


def summary(out: benefits.BenefitCheckOut) -> tuple[object, ...]:
    return (
        out.member,
        out.tier_name,
        out.tier_discount_fen,
        out.member_day,
        out.member_day_discount_fen,
        out.coupon_discount_fen,
        out.free_shipping,
        out.shipping_discount_fen,
        out.payable_fen,
    )


def test_a_customer_who_is_not_a_member_gets_coupons_but_no_member_prices(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(MEMBER_DAY)
    who = customer(db, tenant)
    issue(db, tenant, template(db, tenant, name="立减30", **FIXED_30), who, "k1")
    out = check(db, tenant, who, launch_at="2026-01-20T10:00:00+08:00")
    assert summary(out) == (False, None, 0, False, 0, 3000, False, 0, 8000)
    assert (out.early_access_hours, out.may_buy_now, out.points_balance) == (0, False, 0)


def test_a_coupon_that_does_not_combine_with_tier_prices_wins_when_it_saves_more(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 1, 10, tzinfo=UTC))
    who = member(db, tenant)
    order(db, tenant, who, "TM-1", 100_000, at="2026-01-09T10:00:00+08:00")  # 银卡: 98折, 包邮
    alone = issue(
        db,
        tenant,
        template(db, tenant, name="独享30", with_tier_discount=False, **FIXED_30),
        who,
        "k1",
    )
    out = check(db, tenant, who)
    # 98折 saves 2.00; the ¥30 coupon alone saves more, so no tier price. Shipping stays free.
    assert summary(out) == (True, "银卡", 0, False, 0, 3000, True, 1000, 7000)
    assert out.best_coupons == [alone.code]
    # A ¥1 coupon of the same kind saves less than 98折: the tier price wins, the coupon waits.
    with db.transaction() as session:
        session.get(Coupon, alone.id).status = "void"  # type: ignore[union-attr]
    small = template(
        db, tenant, name="独享1", with_tier_discount=False, kind="fixed", discount_fen=100
    )
    issue(db, tenant, small, who, "k2")
    out = check(db, tenant, who)
    assert summary(out) == (True, "银卡", 200, False, 0, 0, True, 1000, 9800)
    assert out.best_coupons == []


def test_black_gold_opens_early_access_48_hours_before_a_launch_with_dedicated_service(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 1, 10, tzinfo=UTC))
    who = member(db, tenant)
    order(db, tenant, who, "TM-1", 1_000_000, at="2026-01-09T10:00:00+08:00")
    clock.set(datetime(2026, 1, 10, 2, 0, tzinfo=UTC))  # 10:00 on the 10th in Shanghai
    opening = check(db, tenant, who, launch_at="2026-01-12T10:00:00+08:00")
    too_soon = check(db, tenant, who, launch_at="2026-01-12T10:00:01+08:00")
    assert (opening.tier_name, opening.early_access_hours, opening.dedicated_service) == (
        "黑金",
        48,
        True,
    )
    assert opening.early_access_from == datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
    assert (opening.may_buy_now, too_soon.may_buy_now) == (True, False)
    assert (opening.tier_discount_fen, opening.payable_fen) == (1000, 9000)  # 9折, 包邮


def test_birthday_points_follow_the_tier_and_the_birthday_coupon_comes_once(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 1, 10, tzinfo=UTC))
    silver = member(db, tenant, "甲", birthday="1990-01-12")
    plain = member(db, tenant, "乙", birthday="1995-01-12")
    other_day = member(db, tenant, "丙", birthday="1990-01-13")
    order(db, tenant, silver, "TM-1", 100_000, at="2026-01-09T10:00:00+08:00")
    tid = template(db, tenant, name="生日券", per_customer_limit=5, **FIXED_30)
    with db.transaction() as session:
        service.get_program(session, tenant.workspace_id).birthday_template_id = tid
    clock.set(datetime(2026, 1, 12, 1, 0, tzinfo=UTC))  # the 12th in Shanghai
    for _ in range(2):  # a retried tick gives nothing twice
        with db.transaction() as session:
            assert run_day(session, tenant.workspace_id)["birthdays"] == 2
    with db.transaction() as session:
        gifts = session.execute(
            select(PointsTransfer.customer_id, PointsTransfer.points)
            .where(PointsTransfer.kind == "birthday")
            .order_by(PointsTransfer.customer_id)
        ).all()
        held = session.execute(
            select(Coupon.customer_id, Coupon.source).order_by(Coupon.customer_id)
        ).all()
    assert [tuple(g) for g in gifts] == sorted([(silver, 100), (plain, 50)])
    assert [tuple(h) for h in held] == sorted([(silver, "birthday"), (plain, "birthday")])
    assert other_day not in {c for c, _ in held}


def test_scheduled_coupons_must_be_this_workspaces_templates(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = template(db, other_tenant, name="别家券")
    mine = template(db, tenant, name="会员日券")
    refused = client.patch(
        "/api/v1/loyalty/program",
        json={"member_day_template_id": theirs, "member_day": 8},
        headers=tenant.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "member_day_template_id"
    with db.transaction() as session:
        program = service.get_program(session, tenant.workspace_id)
        assert (program.member_day_template_id, program.member_day) == (None, 18)
    ok = client.patch(
        "/api/v1/loyalty/program",
        json={"member_day_template_id": mine, "birthday_template_id": mine},
        headers=tenant.headers,
    )
    assert ok.status_code == 200, ok.text
    assert (ok.json()["member_day_template_id"], ok.json()["birthday_template_id"]) == (mine, mine)
